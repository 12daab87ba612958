/*
 * What `vmpager` runs (dist/vmpager.mjs): sets the heap flags, then runs the
 * bundled command, dist/vmpager.cjs beside it, through the code cache
 * (compile_cache.ts). The flags come first: V8 accepts a code cache only
 * under the flags it was made with, and the command sets these anyway.
 * A cache is made by a run of a command that succeeded: what it holds is
 * what that run compiled, and `--version` or `--help` alone compile next
 * to nothing (a `cat` after such a cache compiled ~5 ms more of its own).
 *   node dist/vmpager.mjs COMMAND ...
 * Only the bundle uses this file: dist/src/cli/main.js runs on its own.
 */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keepHeapSmall } from './heap_flags.js';
import { compileCacheDir, runCommonJs } from './compile_cache.js';

/** Writes the cache at exit, after a command (any operand) that succeeded. */
function atExit(write: () => void): void {
  if (!process.argv.slice(2).some((a) => !a.startsWith('-'))) return;
  process.once('exit', (code) => {
    if (code === 0) write();
  });
}

keepHeapSmall();
try {
  runCommonJs(join(dirname(fileURLToPath(import.meta.url)), 'vmpager.cjs'), compileCacheDir(process.env), atExit);
} catch (e) {
  // The bundle missing or unreadable (a broken install): one line, as every failure, and exit 2.
  process.stderr.write(`vmpager: internal error: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
  process.exitCode = 2;
}
