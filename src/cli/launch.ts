/*
 * What `vmpager` runs (dist/vmpager.mjs): sets the heap flags, then runs the
 * bundled command, dist/vmpager.cjs beside it, through the code cache
 * (compile_cache.ts). The flags come first, the command's own included
 * (heap_flags.ts: commandFlags): V8 accepts a code cache only under the
 * flags it was made with, and the command sets these anyway. A command
 * that will need worker threads for certain (a `get` of IMAGE / or of any
 * path ending in '/', a tree into an ext2/3/4 image) first starts them
 * (warm_worker.ts): they start under V8's defaults, and the bundle is
 * compiled under them too (its cache's profile 'boot-' and the command's);
 * the command's flags follow once they are up.
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
import { type Command, commandOf } from './options.js';
import { prestart } from './warm_worker.js';

const argv = process.argv.slice(2);

/**
 * The threads the command will need for certain, started now, before any
 * flag is set (warm_worker.ts): a `get` of a tree (IMAGE / or a path
 * ending in '/': a directory or nothing) its two host lanes'; a tree into
 * ext2/3/4 (`mkfs --from`, not FAT's; `put -r`) its reading thread. Not for
 * any other `get`: a file's copy would only share the cores with their
 * start (measured, `get` of one small file: 105 ms, 135 with the two
 * threads starting beside it); another tree's copy starts them when it
 * meets its directory.
 */
function prestartThreads(c: Command | null): void {
  if (c?.name === 'get' && c.operands.length >= 2 && c.operands[1].endsWith('/')) prestart(2, { trackUnmanagedFds: false });
  const fat = c?.values.type === 'fat' || c?.values.fat !== undefined;
  if ((c?.name === 'mkfs' && typeof c.values.from === 'string' && !fat) || (c?.name === 'put' && c.values.recurse === true)) prestart(1);
}

/** The command line as read, or null (none named, or unreadable: the command's to refuse, in its own words). */
function commandLine(): Command | null {
  try {
    return commandOf(argv);
  } catch {
    return null;
  }
}

const command = commandLine();
prestartThreads(command);

/**
 * The command's V8 flags, set now (heap_flags.ts), or held at V8's defaults
 * while threads start: the profile its cache is made and used under ('boot-'
 * and the command's own: the defaults, and still a cache per kind of
 * command, each holding what its runs compile).
 */
const set = commandFlags(command);
const profile = workersStarting() ? `boot-${set}` : set;

/** Writes the cache at exit, after a command (any operand) that succeeded under the flags it was compiled with. */
function atExit(write: () => void): void {
  if (!argv.some((a) => !a.startsWith('-'))) return;
  process.once('exit', (code) => {
    if (code !== 0 || (!profile.startsWith('boot') && flagProfile() !== profile)) return;
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
