/*
 * The host side of a tree copied out (vmpager get), run beside the reading:
 * the reader queues what the host must do (make a directory, create a file,
 * write bytes, set owner, mode and times, make a symlink or a link) with the
 * file bytes copied into a batch buffer, and a worker thread carries each
 * batch out with plain system calls, in order, while the reader goes on.
 *   const h = HostOps.start(worker); h.mkdir(p); h.open(p, mode); h.write(pos, bytes); h.close(...);
 *   ...; await h.finish()   // throws the first host error, as its Node error with path
 * Order is the queue's: a directory's attributes queued after its contents
 * are set after them, a link queued after its first name's file comes after
 * it. The first failing call stops everything after it (a file being
 * written is closed, left as it is) and is thrown by the next call that
 * waits, or by finish(). Bytes in flight are bounded: BATCHES buffers of
 * BATCH_BYTES cycle between the two threads; a full queue waits for one.
 * Without a worker (one file) the same calls run inline when a batch is
 * full, before each write (which then goes straight from the caller's
 * bytes) and at finish().
 */

import * as nodeFs from 'node:fs';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { keepHeapSmall } from './heap_flags.js';

/** node:worker_threads, loaded by the first threaded queue only: every other command starts without it. */
const lazyRequire = createRequire(import.meta.url);

/** The calls queued, by number (passed to the worker's copy of runOps as they are). */
const OP = { MKDIR: 1, OPEN: 2, WRITE: 3, CLOSE: 4, SYMLINK: 5, LINK: 6, ATTRS: 7, DROP: 8 } as const;

/** CLOSE's and ATTRS's flags: which calls to make. */
export const SET_OWNER = 1;
export const SET_MODE = 2;
export const SET_SIZE = 4;

const BATCH_BYTES = 1 << 20;
const BATCHES = 4;
/**
 * Numbers queued per batch at most (op codes and arguments), so that a tree
 * of small files keeps the worker busy; strings (paths, link targets) go as
 * one string joined by NULs, which no path holds: a batch crosses to the
 * worker as two transferred buffers and one string, nothing cloned per call.
 */
const BATCH_NUMS = 8192;

/** A host error as it crosses threads: enough to make the Node error again. */
interface HostFailure {
  code: string;
  errno: number;
  syscall: string;
  path: string;
  message: string;
}

interface Batch {
  /** Op codes and their number arguments. */
  nums: ArrayBuffer;
  count: number;
  /** Their string arguments in order, joined by NULs. */
  strs: string;
  /** The written bytes, in the order of the writes. */
  buf: ArrayBuffer;
}

/** Calls' state across batches: the file being written. */
interface RunState {
  fd: number;
  path: string;
  failure: HostFailure | null;
}

/**
 * Carries out one batch's calls in order with `fs`'s synchronous calls;
 * stops at the first failure (closing the file being written) and keeps it
 * in st. Self-contained: the worker runs its source text.
 */
function runOps(fs: typeof nodeFs, OP: { readonly [k: string]: number }, st: RunState, b: Batch): void {
  const bytes = new Uint8Array(b.buf);
  const nums = new Float64Array(b.nums, 0, b.count);
  const strs = b.strs.split('\0');
  let at = 0;
  let path = '';
  let i = 0;
  let j = 0;
  try {
    while (i < nums.length) {
      const op = nums[i];
      if (op === OP.MKDIR) {
        path = strs[j++];
        fs.mkdirSync(path, { recursive: true });
        i += 1;
      } else if (op === OP.OPEN) {
        path = strs[j++];
        st.fd = fs.openSync(path, 'wx', nums[i + 1]);
        st.path = path;
        i += 2;
      } else if (op === OP.WRITE) {
        path = st.path;
        const pos = nums[i + 1];
        const len = nums[i + 2];
        for (let done = 0; done < len; ) done += fs.writeSync(st.fd, bytes, at + done, len - done, pos + done);
        at += len;
        i += 3;
      } else if (op === OP.CLOSE) {
        path = st.path;
        const flags = nums[i + 2];
        const a = nums[i + 6];
        const m = nums[i + 7];
        if ((flags & 4) !== 0) fs.ftruncateSync(st.fd, nums[i + 1]);
        if ((flags & 1) !== 0) fs.fchownSync(st.fd, nums[i + 3], nums[i + 4]);
        if ((flags & 2) !== 0) fs.fchmodSync(st.fd, nums[i + 5]);
        fs.futimesSync(st.fd, a >= 0 ? a : new Date(a * 1000), m >= 0 ? m : new Date(m * 1000));
        const fd = st.fd;
        st.fd = -1;
        fs.closeSync(fd);
        i += 8;
      } else if (op === OP.SYMLINK) {
        const target = strs[j++];
        path = strs[j++];
        const a = nums[i + 4];
        const m = nums[i + 5];
        fs.symlinkSync(target, path);
        if ((nums[i + 1] & 1) !== 0) fs.lchownSync(path, nums[i + 2], nums[i + 3]);
        fs.lutimesSync(path, a >= 0 ? a : new Date(a * 1000), m >= 0 ? m : new Date(m * 1000));
        i += 8;
      } else if (op === OP.LINK) {
        const existing = strs[j++];
        path = strs[j++];
        fs.linkSync(existing, path);
        i += 1;
      } else if (op === OP.ATTRS) {
        path = strs[j++];
        const flags = nums[i + 1];
        const a = nums[i + 5];
        const m = nums[i + 6];
        if ((flags & 1) !== 0) fs.chownSync(path, nums[i + 2], nums[i + 3]);
        if ((flags & 2) !== 0) fs.chmodSync(path, nums[i + 4]);
        fs.utimesSync(path, a >= 0 ? a : new Date(a * 1000), m >= 0 ? m : new Date(m * 1000));
        i += 8;
      } else if (op === OP.DROP) {
        if (st.fd >= 0) fs.closeSync(st.fd);
        st.fd = -1;
        i += 1;
      } else {
        throw new Error(`host ops: bad call ${op}`);
      }
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    st.failure = { code: err.code ?? 'EIO', errno: err.errno ?? 0, syscall: err.syscall ?? 'write', path, message: err.message };
    if (st.fd >= 0) {
      try {
        fs.closeSync(st.fd);
      } catch {
        // the failure above is the one reported
      }
      st.fd = -1;
    }
  }
}

/** The worker: runs each batch it is sent, sends the buffers back with the first failure. */
const workerSource = `'use strict';
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const runOps = ${runOps.toString()};
const OP = ${JSON.stringify(OP)};
const st = { fd: -1, path: '', failure: null };
parentPort.on('message', (b) => {
  if (st.failure === null) runOps(fs, OP, st, b);
  parentPort.postMessage({ nums: b.nums, buf: b.buf, failure: st.failure }, [b.nums, b.buf]);
});`;

/** A batch's two buffers, cycling between the threads. */
interface Slot {
  nums: Float64Array;
  buf: ArrayBuffer;
}

export class HostOps {
  /** The batch being filled; null until room() finds one. */
  private slot: Slot | null = null;
  /** Numbers queued in the slot. */
  private n = 0;
  private strs: string[] = [];
  /** Bytes queued in the slot. */
  private at = 0;
  /** Where the last call queued starts if it is a write (the next write may join it), else -1. */
  private lastWrite = -1;
  private readonly free: Slot[] = [];
  /** Slots made (BATCHES at most). */
  private made = 0;
  /** Batches sent and not back yet. */
  private outstanding = 0;
  private waiter: (() => void) | null = null;
  private failure: HostFailure | null = null;
  private readonly inline: RunState = { fd: -1, path: '', failure: null };

  private constructor(private readonly worker: Worker | null) {
    worker?.once('online', keepHeapSmall); // its start set V8's heap flags back (heap_flags.ts)
    worker?.on('message', (r: { nums: ArrayBuffer; buf: ArrayBuffer; failure: HostFailure | null }) => {
      this.outstanding--;
      this.free.push({ nums: new Float64Array(r.nums), buf: r.buf });
      this.failure ??= r.failure;
      this.wake();
    });
    worker?.on('error', (e: Error) => {
      this.outstanding = 0;
      this.failure ??= { code: 'EIO', errno: 0, syscall: 'write', path: '', message: e.message };
      this.wake();
    });
  }

  /** A queue run by a worker thread (`threaded`), or inline by the calling thread. */
  static start(threaded: boolean): HostOps {
    if (!threaded) return new HostOps(null);
    const threads = lazyRequire('node:worker_threads') as typeof import('node:worker_threads');
    return new HostOps(new threads.Worker(workerSource, { eval: true }));
  }

  /** Makes a directory (and missing parents; an existing one is kept). */
  mkdir(path: string): Promise<void> | void {
    const r = this.room();
    if (r !== null) return r.then(() => this.mkdir(path));
    this.strs.push(path);
    this.slot!.nums[this.n++] = OP.MKDIR;
    return this.queued();
  }

  /** Creates a new file (exclusively) with mode, to be written and closed next. */
  open(path: string, mode: number): Promise<void> | void {
    const r = this.room();
    if (r !== null) return r.then(() => this.open(path, mode));
    this.strs.push(path);
    const v = this.slot!.nums;
    v[this.n] = OP.OPEN;
    v[this.n + 1] = mode;
    this.n += 2;
    return this.queued();
  }

  /**
   * Bytes of the open file at pos: copied now (the caller may reuse them
   * once this returns, or once its promise resolves). Bytes that go on
   * where the last write ended join it (one system call).
   */
  write(pos: number, bytes: Uint8Array): Promise<void> | void {
    if (this.worker === null) return this.writeNow(pos, bytes);
    for (let done = 0; done < bytes.length; ) {
      const r = this.room();
      if (r !== null) return r.then(() => this.write(pos + done, bytes.subarray(done)));
      const n = Math.min(bytes.length - done, BATCH_BYTES - this.at);
      new Uint8Array(this.slot!.buf, this.at, n).set(done === 0 && n === bytes.length ? bytes : bytes.subarray(done, done + n));
      this.at += n;
      const v = this.slot!.nums;
      const k = this.n - 3;
      if (k === this.lastWrite && v[k + 1] + v[k + 2] === pos + done) {
        v[k + 2] += n;
      } else {
        this.lastWrite = this.n;
        v[this.n] = OP.WRITE;
        v[this.n + 1] = pos + done;
        v[this.n + 2] = n;
        this.n += 3;
      }
      done += n;
      if (this.at === BATCH_BYTES) {
        this.send();
        continue;
      }
      const q = this.queued();
      if (q !== undefined) return q.then(() => this.write(pos + done, bytes.subarray(done)));
    }
  }

  /**
   * Inline: what is queued runs first (the file's creation), then the bytes
   * go straight from the caller's buffer (no copy into a batch).
   */
  private writeNow(pos: number, bytes: Uint8Array): void {
    this.send();
    this.check();
    const st = this.inline;
    try {
      for (let done = 0; done < bytes.length; ) done += nodeFs.writeSync(st.fd, bytes, done, bytes.length - done, pos + done);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.failure = { code: err.code ?? 'EIO', errno: err.errno ?? 0, syscall: err.syscall ?? 'write', path: st.path, message: err.message };
      st.failure = this.failure;
      try {
        nodeFs.closeSync(st.fd);
      } catch {
        // the failure above is the one reported
      }
      st.fd = -1;
      this.check();
    }
  }

  /** Sets the open file's size (SET_SIZE), owner (SET_OWNER), mode (SET_MODE) and times; closes it. */
  close(size: number, flags: number, uid: number, gid: number, mode: number, atime: number, mtime: number): Promise<void> | void {
    const r = this.room();
    if (r !== null) return r.then(() => this.close(size, flags, uid, gid, mode, atime, mtime));
    this.nums7(OP.CLOSE, size, flags, uid, gid, mode, atime, mtime);
    return this.queued();
  }

  /** Makes a symlink and sets its owner (SET_OWNER) and times. */
  symlink(target: string, path: string, flags: number, uid: number, gid: number, atime: number, mtime: number): Promise<void> | void {
    const r = this.room();
    if (r !== null) return r.then(() => this.symlink(target, path, flags, uid, gid, atime, mtime));
    this.strs.push(target, path);
    this.nums7(OP.SYMLINK, flags, uid, gid, atime, mtime, 0, 0);
    return this.queued();
  }

  /** Makes path a hard link to existing. */
  link(existing: string, path: string): Promise<void> | void {
    const r = this.room();
    if (r !== null) return r.then(() => this.link(existing, path));
    this.strs.push(existing, path);
    this.slot!.nums[this.n++] = OP.LINK;
    return this.queued();
  }

  /** A path's owner (SET_OWNER), mode (SET_MODE) and times. */
  attrs(path: string, flags: number, uid: number, gid: number, mode: number, atime: number, mtime: number): Promise<void> | void {
    const r = this.room();
    if (r !== null) return r.then(() => this.attrs(path, flags, uid, gid, mode, atime, mtime));
    this.strs.push(path);
    this.nums7(OP.ATTRS, flags, uid, gid, mode, atime, mtime, 0);
    return this.queued();
  }

  /** Runs what is queued and waits for all of it; throws the first failure. */
  async finish(): Promise<void> {
    this.send();
    while (this.outstanding > 0) await this.wait();
    this.check();
  }

  /**
   * After a failure on the reading side: what is queued is carried out (the
   * files before it are complete) and the file being written is closed as
   * it is. A host failure already known came first: it is thrown instead;
   * one met while carrying the rest out is left to the reader's.
   */
  async drop(): Promise<void> {
    this.check();
    try {
      const r = this.room();
      if (r !== null) await r;
    } catch {
      return; // a host failure came first
    }
    this.slot!.nums[this.n++] = OP.DROP;
    this.send();
    while (this.outstanding > 0) await this.wait();
  }

  /** Lets the worker go (after finish, or after a failure on either side). */
  async stop(): Promise<void> {
    if (this.worker === null) return;
    while (this.outstanding > 0 && this.failure === null) await this.wait();
    await this.worker.terminate();
  }

  /** Queues a call of op with seven numbers (CLOSE, SYMLINK, ATTRS; the unused ones 0): eight slots. */
  private nums7(op: number, a: number, b: number, c: number, d: number, e: number, f: number, g: number): void {
    const v = this.slot!.nums;
    const i = this.n;
    v[i] = op;
    v[i + 1] = a;
    v[i + 2] = b;
    v[i + 3] = c;
    v[i + 4] = d;
    v[i + 5] = e;
    v[i + 6] = f;
    v[i + 7] = g;
    this.n = i + 8;
  }

  /**
   * After queueing a call: sends the batch when another call might not fit;
   * a promise only when the caller must wait for room. Throws the first
   * host failure.
   */
  private queued(): Promise<void> | undefined {
    this.check();
    if (this.n <= BATCH_NUMS - 8) return undefined;
    this.send();
    return this.room() ?? undefined;
  }

  /** Null when a batch is at hand to fill; else a promise resolved once one is (or a failure came). */
  private room(): Promise<void> | null {
    this.check();
    if (this.slot !== null) return null;
    let s = this.free.pop();
    if (s === undefined && this.made < BATCHES) {
      s = { nums: new Float64Array(BATCH_NUMS), buf: new ArrayBuffer(BATCH_BYTES) };
      this.made++;
    }
    if (s === undefined) return this.wait().then(() => this.room() ?? undefined);
    this.slot = s;
    this.n = 0;
    this.at = 0;
    this.lastWrite = -1;
    return null;
  }

  private send(): void {
    const s = this.slot;
    if (s === null || this.n === 0) return;
    const batch: Batch = { nums: s.nums.buffer as ArrayBuffer, count: this.n, strs: this.strs.join('\0'), buf: s.buf };
    this.slot = null;
    this.strs = [];
    if (this.worker === null) {
      if (this.inline.failure === null) runOps(nodeFs, OP, this.inline, batch);
      this.failure ??= this.inline.failure;
      this.free.push(s);
      return;
    }
    this.outstanding++;
    this.worker.postMessage(batch, [batch.nums, batch.buf]);
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Throws the first host failure as a Node error (code, errno, syscall, path). */
  private check(): void {
    const f = this.failure;
    if (f === null) return;
    throw Object.assign(new Error(f.message), { code: f.code, errno: f.errno, syscall: f.syscall, path: f.path });
  }
}
