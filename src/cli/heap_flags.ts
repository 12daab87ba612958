/*
 * The command line's V8 heap settings: the process's memory is --memory plus
 * a fixed margin. V8's young generation stays at its first size instead of
 * growing up to 16 MiB per semi-space under a walk's many short-lived
 * objects, and the old generation grows by a fifth past what the last full
 * collection kept (flags V8 reads as it grows).
 *   keepHeapSmall()   // at start (main.ts), and again once a worker thread is up:
 * starting a worker thread sets V8's flags back to the command line's
 * (measured: a tree `get` with its host worker went from 1637 scavenges of
 * 1 MiB to 95 of 16 MiB, and 36 MB more RSS).
 */

import { setFlagsFromString } from 'node:v8';

export function keepHeapSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=20');
}
