/*
 * The command line's V8 settings: the process's memory is --memory plus
 * a fixed margin. V8's young generation stays at its first size instead of
 * growing up to 16 MiB per semi-space under a walk's many short-lived
 * objects, and the old generation grows by a fifth past what the last full
 * collection kept (flags V8 reads as it grows).
 *   keepHeapSmall()   // at start (main.ts), and again once a worker thread is up:
 * starting a worker thread sets V8's flags back to the command line's
 * (measured: a tree `get` with its host worker went from 1637 scavenges of
 * 1 MiB to 95 of 16 MiB, and 36 MB more RSS).
 *   compileLess()     // a tree made at once (copy_in.ts), before its walk
 * A tree made at once runs a second or two, most of it in the few functions
 * that make entries; optimising them with callees inlined cost a third of a
 * core beside the walk (the optimising compiler's threads: 0.34-0.48 s of
 * CPU for 20 000 files), inlining nothing 0.20-0.25 s, and the walk itself
 * no slower (measured, mkfs --from of the bench's tree: 1.41-1.50 s of CPU
 * where it was 1.61-1.96).
 *   compileHotOnly()  // a tree copied out (get.ts), before its walk
 * A tree copied out runs through much more code (the VFS, the VM for its
 * directories, the host queue): with V8's default budget, some 130
 * functions reached the optimising compiler, whose threads then took
 * 0.35-0.44 s of CPU beside a walk of 0.42-0.50 s. Counting about twelve
 * times as much bytecode (V8's default budget is 66 KiB) before a function
 * is considered for optimising, only the hottest are (measured, get of
 * the bench's tree on tmpfs, 4 alternated runs: the compiler's threads
 * 0.11-0.12 s, the walk 0.56-0.60 s, all threads 1.20-1.28 s of CPU where
 * they were 1.30-1.49).
 *   const profile = commandFlags(commandOf(argv))   // launch.ts, before the bundle is compiled
 * V8 takes a code cache only under the flags it was made with, and the
 * cache is made at exit (compile_cache.ts): one made after compileHotOnly()
 * or compileLess() was refused by every later run, which compiled the
 * bundle again and wrote another (measured: 55-60 ms of CPU more for each
 * `get` of a tree). So the command a command line names gets its flags
 * before the bundle is compiled, its cache is its own (profile, in the
 * cache's key), and a cache is written only where the flags at exit are
 * still those (flagProfile()).
 * Node checks the code cache of its own modules against V8's flags as well,
 * and compiles a module from source under any others: so commandFlags()
 * first loads the Node modules the command will load on its way (fs/promises
 * and os, which every command loads; net, which standard output through a
 * pipe loads; worker_threads and what it loads, for a tree's
 * threads; child_process for getfattr; Web Crypto for a new file system's
 * UUID), each from Node's cache while the flags are still the defaults
 * (measured, those a tree's `get` loads: 2.6-2.9 ms from the cache, 9.2-11.2
 * ms compiled under the flags; all of them 4.8 and 17.6 ms).
 *   const up = workerStarting(); new Worker(...).once('online', up)   // warm_worker.ts, host_tree_reader.ts
 * A worker thread's start loads Node's modules of its own, in its own
 * isolate, and they too come from Node's cache only under the default
 * flags: so the flags go back to V8's defaults while a worker starts (the
 * hash V8 checks is of the flags that differ from their defaults), and
 * ours are set again once no worker is starting (measured, two workers
 * started under the flags: 70-90 ms of CPU each, up after 100 ms; under
 * the defaults 30 ms each, up after 60-70 ms). What runs meanwhile runs
 * under the defaults: a `get` starts its threads as the process starts
 * (launch.ts), before the walk, whose functions would otherwise reach the
 * optimising compiler on V8's default budget.
 */

import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { Command } from './options.js';

const nodeRequire = createRequire(import.meta.url);

/**
 * What is set, and how many worker threads are starting. V8's flags are the
 * process's, and so is this: the launcher (launch.ts) and the bundle each
 * hold a copy of this module, and share it.
 */
interface FlagState {
  hotOnly: boolean;
  inlineNothing: boolean;
  starting: number;
  /** Flags of ours are set (not V8's defaults). */
  set: boolean;
}
const state = ((globalThis as Record<symbol, unknown>)[Symbol.for('vmpager.v8-flags')] ??= { hotOnly: false, inlineNothing: false, starting: 0, set: false }) as FlagState;

/** V8's interrupt budget (bytes of bytecode run between a function's tier-up checks) for a tree copied out. */
const HOT_BUDGET = 800_000;

/**
 * The defaults (V8 11, Node 20) of the flags set here: setting a flag back
 * to its default takes it out of V8's hash. (The test asserts a code cache
 * made under the defaults is accepted after them: a V8 with other defaults
 * fails it.)
 */
const DEFAULT_FLAGS = ['--semi-space-growth-factor=2', '--heap-growing-percent=0', '--turbo-inlining', '--interrupt-budget=67584'];

export function keepHeapSmall(): void {
  if (state.starting > 0) return; // (set when the last worker starting is up)
  setOurs(state.hotOnly, state.inlineNothing);
}

/** Our flags: the heap's, and those of a tree copied out (`hot`) or made at once (`less`). */
function setOurs(hot: boolean, less: boolean): void {
  state.set = true;
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=20');
  if (less) setFlagsFromString('--no-turbo-inlining');
  if (hot) setFlagsFromString(`--interrupt-budget=${HOT_BUDGET}`);
}

/** Sets every flag set here back to V8's default (a code cache made now holds for a start under them). */
export function defaultFlags(): void {
  for (const f of DEFAULT_FLAGS) setFlagsFromString(f);
  state.set = false;
}

/**
 * Sets V8's flags back to their defaults for a worker thread about to
 * start; the function returned sets ours again, once no worker is
 * starting: call it when the worker is online (or failed to start).
 */
export function workerStarting(): () => void {
  if (state.starting++ === 0 && state.set) defaultFlags();
  let up = false;
  return () => {
    if (up) return;
    up = true;
    state.starting--;
    keepHeapSmall();
  };
}

export function compileHotOnly(): void {
  state.hotOnly = true;
  keepHeapSmall();
}

export function compileLess(): void {
  state.inlineNothing = true;
  keepHeapSmall();
}

/** Whether a worker thread is starting (V8's flags at their defaults meanwhile). */
export function workersStarting(): boolean {
  return state.starting > 0;
}

/**
 * Sets the flags of profile (flagProfile(), or 'boot-' and one of those:
 * V8's defaults, those a code cache made while worker threads started holds
 * for), whatever is starting: the launcher's, before it writes a code cache
 * at exit.
 */
export function setProfileFlags(profile: string): void {
  defaultFlags();
  if (!profile.startsWith('boot')) setOurs(profile === 'hot', profile === 'less');
}

/** Which of the flag sets above is in force: '' (neither), 'hot' (compileHotOnly) or 'less' (compileLess). */
export function flagProfile(): string {
  return state.hotOnly ? 'hot' : state.inlineNothing ? 'less' : '';
}

/**
 * Sets the flags the command c (commandOf the command line: null where it
 * names none or cannot be read) sets itself on its way (a tree copied out:
 * any `get`; a tree made at once: `mkfs --from`, `put -r`); flagProfile()
 * after.
 */
export function commandFlags(c: Command | null): string {
  const tree = (c?.name === 'mkfs' && typeof c.values.from === 'string') || (c?.name === 'put' && c.values.recurse === true);
  preload(c?.name ?? '', tree);
  if (c?.name === 'get') compileHotOnly();
  else if (tree) compileLess();
  return flagProfile();
}

/**
 * Is standard output a pipe or a socket (Node writes to one through
 * node:net)? A terminal's stream loads node:net too; there it is left to
 * load when used (a few ms a person at a terminal does not see), and a
 * file or /dev/null needs none: loading it costs some 3 ms.
 */
function stdoutIsPipe(): boolean {
  try {
    const st = fstatSync(1);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false; // (no standard output)
  }
}

/** Loads the Node modules command `name` loads on its way (see above), before any flag is set; `tree`: a tree copied in. */
function preload(name: string, tree: boolean): void {
  for (const m of ['node:fs/promises', 'node:os']) nodeRequire(m);
  if (stdoutIsPipe()) nodeRequire('node:net');
  if (name === 'get' || tree) nodeRequire('node:worker_threads');
  if (tree) nodeRequire('node:child_process'); // getfattr (host_xattr.ts)
  if (name === 'mkfs') globalThis.crypto.getRandomValues(new Uint8Array(1)); // a new file system's UUID and hash seed: Web Crypto, as its first use loads it
}
