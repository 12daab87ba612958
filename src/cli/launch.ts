/*
 * What `vmpager` runs (dist/vmpager.mjs): sets the heap flags, then runs the
 * bundled command, dist/vmpager.cjs beside it, through the code cache
 * (compile_cache.ts). The flags come first, the command's own included
 * (heap_flags.ts: commandFlags): V8 accepts a code cache only under the
 * flags it was made with, and the command sets these anyway. A `get` of
 * IMAGE / (or any path ending in '/') first starts the two threads the
 * tree's copy needs (warm_worker.ts): they start under V8's defaults, and
 * the bundle is compiled under them too (its cache's profile 'boot'); the
 * command's flags follow once they are up.
 * A cache is made by a run of a command that succeeded: what it holds is
 * what that run compiled, and `--version` or `--help` alone compile next
 * to nothing (a `cat` after such a cache compiled ~5 ms more of its own).
 *   node dist/vmpager.mjs COMMAND ...
 * Only the bundle uses this file: dist/src/cli/main.js runs on its own.
 */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandFlags, flagProfile, keepHeapSmall, setProfileFlags, workersStarting } from './heap_flags.js';
import { compileCacheDir, runCommonJs } from './compile_cache.js';
import { commandOf } from './options.js';
import { prestart } from './warm_worker.js';

const argv = process.argv.slice(2);

/**
 * Is the command a `get` of a tree for certain (IMAGE / or a path ending
 * in '/': a directory or nothing)? Its two host lanes' threads then start
 * now, before any flag is set (warm_worker.ts). Not for any other `get`: a
 * file's copy would only share the cores with their start (measured, `get`
 * of one small file: 105 ms, 135 with the two threads starting beside it);
 * another tree's copy starts them when it meets its directory.
 */
function treeGet(): boolean {
  try {
    const c = commandOf(argv);
    return c?.name === 'get' && c.operands.length >= 2 && c.operands[1].endsWith('/');
  } catch {
    return false; // (the command line is the command's to refuse, in its own words)
  }
}

if (treeGet()) prestart(2, { trackUnmanagedFds: false });

/**
 * The command's V8 flags, set now (heap_flags.ts), or held at V8's defaults
 * while threads start: the profile its cache is made and used under ('boot':
 * the defaults).
 */
const set = commandFlags(argv);
const profile = workersStarting() ? 'boot' : set;

/** Writes the cache at exit, after a command (any operand) that succeeded under the flags it was compiled with. */
function atExit(write: () => void): void {
  if (!argv.some((a) => !a.startsWith('-'))) return;
  process.once('exit', (code) => {
    if (code !== 0 || (profile !== 'boot' && flagProfile() !== profile)) return;
    // (the flags now may be others: a worker thread starting holds V8's at their defaults, and a short command may
    // end before it is up; the cache is stamped with the flags a run starts with)
    setProfileFlags(profile);
    write();
  });
}

keepHeapSmall();
try {
  runCommonJs(join(dirname(fileURLToPath(import.meta.url)), 'vmpager.cjs'), compileCacheDir(process.env), atExit, profile);
} catch (e) {
  // The bundle missing or unreadable (a broken install): one line, as every failure, and exit 2.
  process.stderr.write(`vmpager: internal error: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
  process.exitCode = 2;
}
