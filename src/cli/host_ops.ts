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
 * Without a worker (one file, a small tree) the same calls run inline when
 * each batch is full or finish() is called.
 */

import * as nodeFs from 'node:fs';
import { Worker } from 'node:worker_threads';

/** The calls queued, by number (passed to the worker's copy of runOps as they are). */
const OP = { MKDIR: 1, OPEN: 2, WRITE: 3, CLOSE: 4, SYMLINK: 5, LINK: 6, ATTRS: 7, DROP: 8 } as const;

/** CLOSE's and ATTRS's flags: which calls to make. */
export const SET_OWNER = 1;
export const SET_MODE = 2;
export const SET_SIZE = 4;

const BATCH_BYTES = 1 << 20;
const BATCHES = 4;
/** Queued calls per batch at most, so that a tree of small files keeps the worker busy. */
const BATCH_OPS = 2048;

/** A host error as it crosses threads: enough to make the Node error again. */
interface HostFailure {
  code: string;
  errno: number;
  syscall: string;
  path: string;
  message: string;
}

interface Batch {
  ops: (string | number)[];
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
function runOps(fs: typeof nodeFs, OP: { readonly [k: string]: number }, st: RunState, ops: (string | number)[], buf: ArrayBuffer): void {
  const bytes = new Uint8Array(buf);
  let at = 0;
  let path = '';
  let i = 0;
  try {
    while (i < ops.length) {
      const op = ops[i];
      if (op === OP.MKDIR) {
        path = ops[i + 1] as string;
        fs.mkdirSync(path, { recursive: true });
        i += 2;
      } else if (op === OP.OPEN) {
        path = ops[i + 1] as string;
        st.fd = fs.openSync(path, 'wx', ops[i + 2] as number);
        st.path = path;
        i += 3;
      } else if (op === OP.WRITE) {
        path = st.path;
        const pos = ops[i + 1] as number;
        const len = ops[i + 2] as number;
        for (let done = 0; done < len; ) done += fs.writeSync(st.fd, bytes, at + done, len - done, pos + done);
        at += len;
        i += 3;
      } else if (op === OP.CLOSE) {
        path = st.path;
        const flags = ops[i + 2] as number;
        const a = ops[i + 6] as number;
        const m = ops[i + 7] as number;
        if ((flags & 4) !== 0) fs.ftruncateSync(st.fd, ops[i + 1] as number);
        if ((flags & 1) !== 0) fs.fchownSync(st.fd, ops[i + 3] as number, ops[i + 4] as number);
        if ((flags & 2) !== 0) fs.fchmodSync(st.fd, ops[i + 5] as number);
        fs.futimesSync(st.fd, a >= 0 ? a : new Date(a * 1000), m >= 0 ? m : new Date(m * 1000));
        const fd = st.fd;
        st.fd = -1;
        fs.closeSync(fd);
        i += 8;
      } else if (op === OP.SYMLINK) {
        path = ops[i + 2] as string;
        const a = ops[i + 6] as number;
        const m = ops[i + 7] as number;
        fs.symlinkSync(ops[i + 1] as string, path);
        if (((ops[i + 3] as number) & 1) !== 0) fs.lchownSync(path, ops[i + 4] as number, ops[i + 5] as number);
        fs.lutimesSync(path, a >= 0 ? a : new Date(a * 1000), m >= 0 ? m : new Date(m * 1000));
        i += 8;
      } else if (op === OP.LINK) {
        path = ops[i + 2] as string;
        fs.linkSync(ops[i + 1] as string, path);
        i += 3;
      } else if (op === OP.ATTRS) {
        path = ops[i + 1] as string;
        const flags = ops[i + 2] as number;
        const a = ops[i + 6] as number;
        const m = ops[i + 7] as number;
        if ((flags & 1) !== 0) fs.chownSync(path, ops[i + 3] as number, ops[i + 4] as number);
        if ((flags & 2) !== 0) fs.chmodSync(path, ops[i + 5] as number);
        fs.utimesSync(path, a >= 0 ? a : new Date(a * 1000), m >= 0 ? m : new Date(m * 1000));
        i += 8;
      } else if (op === OP.DROP) {
        if (st.fd >= 0) fs.closeSync(st.fd);
        st.fd = -1;
        i += 1;
      } else {
        throw new Error(`host ops: bad call ${String(op)}`);
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

/** The worker: runs each batch it is sent, sends the buffer back with the first failure. */
const workerSource = `'use strict';
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const runOps = ${runOps.toString()};
const OP = ${JSON.stringify(OP)};
const st = { fd: -1, path: '', failure: null };
parentPort.on('message', (b) => {
  if (st.failure === null) runOps(fs, OP, st, b.ops, b.buf);
  parentPort.postMessage({ buf: b.buf, failure: st.failure }, [b.buf]);
});`;

export class HostOps {
  private ops: (string | number)[] = [];
  private buf: ArrayBuffer | null = null;
  private at = 0;
  private readonly free: ArrayBuffer[] = [];
  /** Batches sent and not back yet. */
  private outstanding = 0;
  /** Where the last call queued starts if it is a write (the next write may join it), else -1. */
  private lastWrite = -1;
  /** Batch buffers made (BATCHES at most). */
  private made = 0;
  private waiter: (() => void) | null = null;
  private failure: HostFailure | null = null;
  private readonly inline: RunState = { fd: -1, path: '', failure: null };

  private constructor(private readonly worker: Worker | null) {
    worker?.on('message', (r: { buf: ArrayBuffer; failure: HostFailure | null }) => {
      this.outstanding--;
      if (r.buf.byteLength === BATCH_BYTES) this.free.push(r.buf);
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
    return new HostOps(threaded ? new Worker(workerSource, { eval: true }) : null);
  }

  mkdir(path: string): Promise<void> | void {
    this.ops.push(OP.MKDIR, path);
    return this.queued();
  }

  /** Creates a new file (exclusively) with mode, to be written and closed next. */
  open(path: string, mode: number): Promise<void> | void {
    this.ops.push(OP.OPEN, path, mode);
    return this.queued();
  }

  /**
   * Bytes of the open file at pos: copied now (the caller may reuse them
   * once this returns, or once its promise resolves). Bytes that go on
   * where the last write ended join it (one system call).
   */
  write(pos: number, bytes: Uint8Array): Promise<void> | void {
    for (let done = 0; done < bytes.length; ) {
      const r = this.room();
      if (r !== null) return r.then(() => this.write(pos + done, bytes.subarray(done)));
      const n = Math.min(bytes.length - done, BATCH_BYTES - this.at);
      new Uint8Array(this.buf!, this.at, n).set(done === 0 && n === bytes.length ? bytes : bytes.subarray(done, done + n));
      this.at += n;
      const k = this.ops.length - 3;
      if (k === this.lastWrite && (this.ops[k + 1] as number) + (this.ops[k + 2] as number) === pos + done) {
        this.ops[k + 2] = (this.ops[k + 2] as number) + n;
      } else {
        this.lastWrite = this.ops.length;
        this.ops.push(OP.WRITE, pos + done, n);
      }
      done += n;
      if (this.at === BATCH_BYTES) this.send();
    }
    return this.queued();
  }

  /** Sets the open file's size (SET_SIZE), owner (SET_OWNER), mode (SET_MODE) and times; closes it. */
  close(size: number, flags: number, uid: number, gid: number, mode: number, atime: number, mtime: number): Promise<void> | void {
    this.ops.push(OP.CLOSE, size, flags, uid, gid, mode, atime, mtime);
    return this.queued();
  }

  symlink(target: string, path: string, flags: number, uid: number, gid: number, atime: number, mtime: number): Promise<void> | void {
    this.ops.push(OP.SYMLINK, target, path, flags, uid, gid, atime, mtime);
    return this.queued();
  }

  link(existing: string, path: string): Promise<void> | void {
    this.ops.push(OP.LINK, existing, path);
    return this.queued();
  }

  /** A path's owner (SET_OWNER), mode (SET_MODE) and times. */
  attrs(path: string, flags: number, uid: number, gid: number, mode: number, atime: number, mtime: number): Promise<void> | void {
    this.ops.push(OP.ATTRS, path, flags, uid, gid, mode, atime, mtime);
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
   * files before it are complete), the file being written is closed as it
   * is, and any host failure is left to the reader's.
   */
  async drop(): Promise<void> {
    if (this.failure !== null) return;
    this.ops.push(OP.DROP);
    this.send();
    while (this.outstanding > 0) await this.wait();
  }

  /** Lets the worker go (after finish, or after a failure on either side). */
  async stop(): Promise<void> {
    if (this.worker === null) return;
    while (this.outstanding > 0 && this.failure === null) await this.wait();
    await this.worker.terminate();
  }

  /** After queueing a call: sends a full batch; a promise only when the caller must wait for room. */
  private queued(): Promise<void> | void {
    this.check();
    if (this.ops.length < BATCH_OPS) return;
    this.send();
    return this.room() ?? undefined;
  }

  /** Null when a batch buffer is at hand; else a promise resolved once one is (or a failure came). */
  private room(): Promise<void> | null {
    this.check();
    if (this.buf !== null) return null;
    let b = this.free.pop();
    if (b === undefined && this.made < BATCHES) {
      b = new ArrayBuffer(BATCH_BYTES);
      this.made++;
    }
    if (b === undefined) return this.wait().then(() => this.room() ?? undefined);
    this.buf = b;
    this.at = 0;
    return null;
  }

  private send(): void {
    if (this.ops.length === 0) return;
    const batch: Batch = { ops: this.ops, buf: this.buf ?? new ArrayBuffer(0) };
    this.ops = [];
    this.lastWrite = -1;
    this.buf = null;
    if (this.worker === null) {
      if (this.inline.failure === null) runOps(nodeFs, OP, this.inline, batch.ops, batch.buf);
      this.failure ??= this.inline.failure;
      if (batch.buf.byteLength === BATCH_BYTES) this.free.push(batch.buf);
      return;
    }
    this.outstanding++;
    this.worker.postMessage(batch, [batch.buf]);
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
