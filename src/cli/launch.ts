/*
 * What `vmpager` runs (dist/vmpager.mjs): sets the heap flags, then runs the
 * bundled command, dist/vmpager.cjs beside it, through the code cache
 * (compile_cache.ts). The flags come first, the command's own included
 * (heap_flags.ts: commandFlags): V8 accepts a code cache only under the
 * flags it was made with, and the command sets these anyway.
 * A cache is made by a run of a command that succeeded: what it holds is
 * what that run compiled, and `--version` or `--help` alone compile next
 * to nothing (a `cat` after such a cache compiled ~5 ms more of its own).
 *   node dist/vmpager.mjs COMMAND ...
 * Only the bundle uses this file: dist/src/cli/main.js runs on its own.
 */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandFlags, flagProfile, keepHeapSmall } from './heap_flags.js';
import { compileCacheDir, runCommonJs } from './compile_cache.js';

/** The command's V8 flags, set now (heap_flags.ts): the profile its cache is made and used under. */
const profile = commandFlags(process.argv.slice(2));

/** Writes the cache at exit, after a command (any operand) that succeeded under the flags it was compiled with. */
function atExit(write: () => void): void {
  if (!process.argv.slice(2).some((a) => !a.startsWith('-'))) return;
  process.once('exit', (code) => {
    if (code !== 0 || flagProfile() !== profile) return;
    // (a worker thread's start sets V8's flags back to the command line's, and a short command may end
    // before the worker is up to set them again: V8 would then stamp the cache with flags no run starts with)
    keepHeapSmall();
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
