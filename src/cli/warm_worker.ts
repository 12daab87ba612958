/*
 * Worker threads started before their work is known, and given it later:
 * each starts under V8's default flags (heap_flags.ts: workerStarting; its
 * isolate then loads Node's own modules from Node's cache), and runs the
 * body of a function it is sent with its data.
 *   const w = startWorker({ trackUnmanagedFds: false });
 *   runIn(w, body, data)   // body: the text of a function body of (require, parentPort, workerData)
 *   prestart(2, opts)      // launch.ts, as the process starts (a tree's `get`: its two host lanes; a tree in: its reader)
 *   takeWorker()           // one of those, or null: host_ops.ts and host_tree_reader.ts take their threads here first
 * A tree copied out (`get`) needs two threads for its host lanes, and a
 * thread takes some 60-90 ms to come up: started as the process starts, it
 * is up by the time the bundle has loaded and the image is mounted, instead
 * of coming up beside the walk with V8's flags at their defaults meanwhile
 * (which let the walk's functions reach the optimising compiler on V8's
 * default budget: measured, 80-110 ms more of the compiler's threads' CPU).
 * A tree copied in (`mkfs --from`, `put -r`) starts its reading thread so.
 * One started and never taken holds nothing: it is unreferenced until taken
 * and ends with the process.
 * The launcher (launch.ts) and the bundle each hold a copy of this module:
 * the threads started are kept where both see them (a global symbol).
 */

import { createRequire } from 'node:module';
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { workerStarting } from './heap_flags.js';

const lazyRequire = createRequire(import.meta.url);

/** What a thread runs until it is given its work: the first message's body, as a function. */
const BOOT = `'use strict';
const { parentPort } = require('node:worker_threads');
parentPort.once('message', (m) => new Function('require', 'parentPort', 'workerData', m.body)(require, parentPort, m.data));`;

/** A thread started, and the call that sets V8's flags again once it is up (see heap_flags.ts), if nothing did before. */
export interface WarmWorker {
  worker: Worker;
  up: () => void;
  /** Its failure, if it failed before a taker listened (its start, as memory runs short): such a thread is never handed out. */
  failure: Error | null;
}

/** Threads started ahead by prestart() and not taken yet (shared by the module's copies). */
const prestarted = ((globalThis as Record<symbol, unknown>)[Symbol.for('vmpager.prestarted')] ??= []) as WarmWorker[];

/** Starts a thread that waits for its work (runIn). */
export function startWorker(opts: WorkerOptions = {}): WarmWorker {
  const threads = lazyRequire('node:worker_threads') as typeof import('node:worker_threads');
  const up = workerStarting();
  let worker: Worker;
  try {
    worker = new threads.Worker(BOOT, { ...opts, eval: true });
  } catch (e) {
    up();
    throw e;
  }
  worker.once('online', up);
  worker.once('exit', up);
  const w: WarmWorker = { worker, up, failure: null };
  // (An 'error' with no listener would end the process with a stack trace; a taker adds its own listener.)
  worker.on('error', (e: Error) => {
    w.failure ??= e;
  });
  return w;
}

/** Gives thread w its work: body runs as a function of (require, parentPort, workerData), workerData being data. */
export function runIn(w: WarmWorker, body: string, data: unknown): void {
  w.worker.postMessage({ body, data });
}

/** Starts n threads now for a taker to come (takeWorker); best effort: a thread that cannot start is left to its taker to fail on. */
export function prestart(n: number, opts: WorkerOptions = {}): void {
  try {
    for (let i = 0; i < n; i++) {
      const w = startWorker(opts);
      w.worker.unref();
      prestarted.push(w);
      w.worker.once('exit', () => {
        const at = prestarted.indexOf(w);
        if (at >= 0) prestarted.splice(at, 1); // (never handed out dead)
      });
    }
  } catch {
    // (the taker starts its own, and reports what stops it)
  }
}

/** A thread prestart() started, referenced again (the taker's now), or null. */
export function takeWorker(): WarmWorker | null {
  for (let w = prestarted.shift(); w !== undefined; w = prestarted.shift()) {
    if (w.failure !== null) continue;
    w.worker.ref();
    return w;
  }
  return null;
}
