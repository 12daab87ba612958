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
 */

import { setFlagsFromString } from 'node:v8';

let inlineNothing = false;

export function keepHeapSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=20');
  if (inlineNothing) setFlagsFromString('--no-turbo-inlining');
}

export function compileLess(): void {
  inlineNothing = true;
  setFlagsFromString('--no-turbo-inlining');
}
