/*
 * The host side of a tree copied out (vmpager get), run beside the reading:
 * the reader queues what the host must do (make a directory, create a file,
 * write bytes, set owner, mode and times, make a symlink or a link) on one
 * of two lanes, the file bytes in a batch buffer of the lane (shared
 * memory), and a worker thread per lane carries its batches out with plain
 * system calls, in order, while the reader goes on (creates in different
 * directories run side by side in the host's kernel).
 *   const h = HostOps.start(threaded);
 *   const l = h.pick();                       // the lane with less work waiting: a directory's lane
 *   h.mkdir(l, p); h.open(l, p, mode); h.write(l, pos, bytes); h.close(l, ...);
 *   const v = h.reserve(l, n, nums); <read into v>; h.write(l, pos, v.subarray(...))   // no copy
 *   const v = h.reserve(l, n, nums); h.read(l, fd, at, v, name); h.sparse(l, pos, v.subarray(...))   // the worker reads
 *   const m = h.mark(l); ...; h.link(l2, first, p, m)   // waits for lane l up to m
 *   ...; await h.finish()   // throws the first host error, as its Node error with path
 * Order: each lane's calls are carried out in queue order; across lanes
 * only where a call says so (link: after its mark). The caller keeps what
 * must follow what on one lane (a directory's contents and then its
 * attributes; a directory's mkdir is also queued on its contents' lane,
 * where it finds it made or makes it). Every call is numbered in the order
 * queued over both lanes: the first failing call (by that number) stops
 * everything queued after it; every call queued before it is carried out
 * (the other lane goes on up to it), and a lane that meets a call queued
 * after it stops there, closing the file being written as it is. What the
 * other lane had done of later calls before the failure stays. finish()
 * (or settled()) reports that first failure once both lanes are done.
 * Bytes in flight are bounded: BATCHES buffers of BATCH_BYTES per lane
 * cycle between the threads; a full lane's queue waits for one.
 * A worker takes some 25 ms of a core to come up: until it says it is up
 * (a shared word: the reader, busy, may not hear of it from its event
 * loop), its lane's batches wait with the reader, which carries the oldest
 * out itself instead of waiting for room; the worker takes the lane over
 * once it is up (with the file the reader had open, and its count of calls
 * done).
 * Without workers (one file) one lane runs inline when a batch is full,
 * before each write (which then goes straight from the caller's bytes) and
 * at finish().
 */

import * as nodeFs from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { escapedBytes, NAME_ESCAPE } from '../api/names.js';
import { hostName } from './host_names.js';
import { ioBuffer } from '../api/io_buffer.js';
import { runIn, startWorker, takeWorker } from './warm_worker.js';

/**
 * The calls queued, by number (passed to the worker's copy of runOps as
 * they are). Each is queued as its code, its number in the queue order of
 * both lanes, then its arguments.
 */
const OP = { MKDIR: 1, OPEN: 2, WRITE: 3, CLOSE: 4, SYMLINK: 5, LINK: 6, ATTRS: 7, DROP: 8, WAIT: 9, READ: 10, SPARSE: 11 } as const;

/**
 * The words the lanes share (Int32Array over a SharedArrayBuffer): per lane
 * the calls it has done (DONE + lane), whether the other lane sleeps
 * waiting on that count (SLEEP + lane), the work it has done (COST + lane,
 * in the units of cost()), whether its worker is up and listening (UP +
 * lane: the reader may be too busy to hear of it from the event loop);
 * the number of the first call that failed (STOP, none: 2^31 - 1); and
 * whether the workers may come up (GATE: 0 holds them, for tests).
 */
const CTL = { DONE: 0, SLEEP: 2, COST: 4, STOP: 6, UP: 7, GATE: 9, WORDS: 10 } as const;
const NO_STOP = 0x7fffffff;

/** CLOSE's and ATTRS's flags: which calls to make. */
export const SET_OWNER = 1;
export const SET_MODE = 2;
export const SET_SIZE = 4;
/** CLOSE: the size, where the file's last write ends short of it (a file whose last bytes are a hole). */
export const SET_SIZE_IF_SHORT = 8;

const BATCH_BYTES = 1 << 20;
/** Where in a batch a reservation starts: a multiple of this (a cache line). */
const RESERVE_ALIGN = 64;
/**
 * Batches per lane. Four held the copy up where the host's writes come in
 * bursts (ext4: a create or a write now and then waits on the journal or
 * on page allocation): measured, `get` of the bench's tree onto ext4 in a
 * RAM-backed loop device, 10 alternated runs, 1.46 s with four, 1.34 s with
 * eight (rdump 1.38 s), sixteen no better; on tmpfs all alike. 8 MiB more of
 * memory (110 MB RSS, 102 with four).
 */
const BATCHES = 8;
/** The bytes a lane holds in flight at most (its batches): past them its queue waits (or the reader carries the oldest out). */
export const LANE_BYTES = BATCHES * BATCH_BYTES;
const LANES = 2;
/**
 * Numbers queued per batch at most (op codes and arguments), so that a tree
 * of small files keeps the workers busy; strings (paths, link targets) go
 * as one string joined by NULs, which no path holds: a batch crosses to a
 * worker as two transferred buffers and one string, nothing cloned per call.
 */
const BATCH_NUMS = 8192;
/** The most numbers one call queues (CLOSE). */
const CALL_NUMS = 9;
/**
 * Work units of a call: one per call and one per 8 KiB written (on tmpfs a
 * create costs about what 8 KiB of writing does). Lanes are picked by the
 * units queued and not yet done.
 */
const COST_SHIFT = 13;

/** A host error as it crosses threads: enough to make the Node error again, and the failing call's number. */
interface HostFailure {
  code: string;
  errno: number;
  syscall: string;
  path: string;
  message: string;
  seq: number;
}

/** A batch as it crosses to a worker: which of its lane's slots holds it (shared memory), how much, and its strings. */
interface Batch {
  slot: number;
  /** Numbers queued in the slot. */
  count: number;
  /** The calls' string arguments in order, joined by NULs. */
  strs: string;
  /** The lane's state where the reader carried out its batches before its worker was up (the first batch the worker gets). */
  st?: { fd: number; path: string; end: number; done: number; cost: number; stopped: boolean };
}

/** A lane's calls' state across batches. */
interface RunState {
  lane: number;
  /** The file being written, and where its last write ended. */
  fd: number;
  path: string;
  end: number;
  /** Calls done, work done (units). */
  done: number;
  cost: number;
  failure: HostFailure | null;
  /** Met a call queued after the first failure (its own or the other lane's): does nothing more. */
  stopped: boolean;
}

/**
 * Carries out one batch's calls in order with `fs`'s synchronous calls,
 * publishing each done in ctl; stops at the first failure (closing the file
 * being written, keeping it in st and lowering ctl's STOP to its number) or
 * at the first call numbered past STOP. Self-contained: the workers run
 * its source text.
 */
function runOps(fs: typeof nodeFs, named: (p: string) => string | Buffer, OP: { readonly [k: string]: number }, CTL: { readonly [k: string]: number }, ctl: Int32Array, st: RunState, nums: Float64Array, count: number, joined: string, bytes: Uint8Array): void {
  const strs = joined.split('\0');
  const DONE = CTL.DONE + st.lane;
  const SLEEP = CTL.SLEEP + st.lane;
  const COST = CTL.COST + st.lane;
  const shared = ctl.buffer instanceof SharedArrayBuffer;
  let path = '';
  let seq = 0;
  let i = 0;
  let j = 0;
  // What is at a name the copy makes, but a directory, is replaced (a new inode: other names of the old one keep its bytes), as cp -a and rdump write over it.
  const anew = <T>(at: string | Buffer, make: () => T): T => {
    try {
      return make();
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST' || fs.lstatSync(at).isDirectory()) throw e;
      fs.unlinkSync(at);
      return make();
    }
  };
  try {
    while (i < count) {
      const op = nums[i];
      seq = nums[i + 1];
      if (seq > Atomics.load(ctl, CTL.STOP)) {
        st.stopped = true;
        break;
      }
      let units = 1;
      if (op === OP.MKDIR) {
        path = strs[j++];
        const at = named(path);
        fs.mkdirSync(at, { recursive: true });
        // A symlink in the way of a directory is not followed out of the tree (mkdir -p finds its target a directory): as cp -a and rdump, refused.
        if (fs.lstatSync(at).isSymbolicLink()) throw Object.assign(new Error(`EEXIST: file exists (a symlink is in the way of a directory), mkdir '${path}'`), { code: 'EEXIST', errno: -17, syscall: 'mkdir', path });
        i += 2;
      } else if (op === OP.OPEN) {
        path = strs[j++];
        const at = named(path);
        st.fd = anew(at, () => fs.openSync(at, 'wx', nums[i + 2]));
        st.path = path;
        st.end = 0;
        i += 3;
      } else if (op === OP.WRITE) {
        path = st.path;
        const pos = nums[i + 2];
        const len = nums[i + 3];
        const at = nums[i + 4];
        for (let done = 0; done < len; ) done += fs.writeSync(st.fd, bytes, at + done, len - done, pos + done);
        st.end = pos + len;
        units += len >>> 13; // (COST_SHIFT)
        i += 5;
      } else if (op === OP.READ) {
        // Bytes of the image (a host file at fd) into the batch, for the writes after it.
        path = strs[j++];
        const fd = nums[i + 2];
        const pos = nums[i + 3];
        const len = nums[i + 4];
        const at = nums[i + 5];
        for (let done = 0; done < len; ) {
          const n = fs.readSync(fd, bytes, at + done, len - done, pos + done);
          if (n === 0) throw Object.assign(new Error(`${path}: ${len - done} bytes missing at ${pos + done} (the image ends there)`), { code: 'EIO', errno: -5, syscall: 'read' });
          done += n;
        }
        units += len >>> 13; // (COST_SHIFT)
        i += 6;
      } else if (op === OP.SPARSE) {
        // A write of bytes read by a READ: each run of 4 KiB pieces with data one write, pieces of zeros left as holes.
        path = st.path;
        const pos = nums[i + 2];
        const len = nums[i + 3];
        const at = nums[i + 4];
        let run = -1;
        for (let p = 0; p < len; p += 4096) {
          const q = Math.min(len, p + 4096);
          let zero = true;
          for (let b = at + p; b < at + q; b++) {
            if (bytes[b] !== 0) {
              zero = false;
              break;
            }
          }
          if (!zero) {
            if (run < 0) run = p;
            continue;
          }
          if (run < 0) continue;
          for (let done = run; done < p; ) done += fs.writeSync(st.fd, bytes, at + done, p - done, pos + done);
          st.end = pos + p;
          run = -1;
        }
        if (run >= 0) {
          for (let done = run; done < len; ) done += fs.writeSync(st.fd, bytes, at + done, len - done, pos + done);
          st.end = pos + len;
        }
        i += 5;
      } else if (op === OP.CLOSE) {
        path = st.path;
        const flags = nums[i + 3];
        const a = nums[i + 7];
        const m = nums[i + 8];
        if ((flags & 4) !== 0 || ((flags & 8) !== 0 && st.end < nums[i + 2])) fs.ftruncateSync(st.fd, nums[i + 2]);
        if ((flags & 1) !== 0) fs.fchownSync(st.fd, nums[i + 4], nums[i + 5]);
        if ((flags & 2) !== 0) fs.fchmodSync(st.fd, nums[i + 6]);
        // (A time before 1970 goes as a numeric string: Node's utimes takes a negative number as now, a Date in milliseconds.)
        fs.futimesSync(st.fd, a >= 0 ? a : String(a), m >= 0 ? m : String(m));
        const fd = st.fd;
        st.fd = -1;
        fs.closeSync(fd);
        i += 9;
      } else if (op === OP.SYMLINK) {
        const target = strs[j++];
        path = strs[j++];
        const a = nums[i + 5];
        const m = nums[i + 6];
        const at = named(path);
        anew(at, () => fs.symlinkSync(named(target), at));
        if ((nums[i + 2] & 1) !== 0) fs.lchownSync(at, nums[i + 3], nums[i + 4]);
        fs.lutimesSync(at, a >= 0 ? a : String(a), m >= 0 ? m : String(m));
        i += 7;
      } else if (op === OP.LINK) {
        const existing = strs[j++];
        path = strs[j++];
        const at = named(path);
        anew(at, () => fs.linkSync(named(existing), at));
        i += 2;
      } else if (op === OP.ATTRS) {
        path = strs[j++];
        const flags = nums[i + 2];
        const a = nums[i + 6];
        const m = nums[i + 7];
        const at = named(path);
        if ((flags & 1) !== 0) fs.chownSync(at, nums[i + 3], nums[i + 4]);
        if ((flags & 2) !== 0) fs.chmodSync(at, nums[i + 5]);
        fs.utimesSync(at, a >= 0 ? a : String(a), m >= 0 ? m : String(m));
        i += 8;
      } else if (op === OP.DROP) {
        if (st.fd >= 0) fs.closeSync(st.fd);
        st.fd = -1;
        i += 2;
      } else if (op === OP.WAIT) {
        // Until lane `other` has done `upTo` calls; a failure numbered before this call ends the wait (and this lane).
        const other = CTL.DONE + nums[i + 2];
        const upTo = nums[i + 3];
        while (Atomics.load(ctl, other) < upTo && !st.stopped) {
          Atomics.store(ctl, CTL.SLEEP + nums[i + 2], 1);
          const now = Atomics.load(ctl, other);
          if (now >= upTo) break;
          if (seq > Atomics.load(ctl, CTL.STOP)) st.stopped = true;
          // (the timeout: a failure's wake-up may come between the test above and the sleep)
          else Atomics.wait(ctl, other, now, 50);
        }
        Atomics.store(ctl, CTL.SLEEP + nums[i + 2], 0);
        if (st.stopped) break;
        i += 4;
      } else {
        throw new Error(`host ops: bad call ${op}`);
      }
      st.cost += units;
      Atomics.store(ctl, COST, st.cost);
      Atomics.store(ctl, DONE, ++st.done);
      if (shared && Atomics.load(ctl, SLEEP) !== 0) Atomics.notify(ctl, DONE);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    st.failure = { code: err.code ?? 'EIO', errno: err.errno ?? 0, syscall: err.syscall ?? 'write', path, message: err.message, seq };
    for (let s = Atomics.load(ctl, CTL.STOP); seq < s; s = Atomics.load(ctl, CTL.STOP)) {
      if (Atomics.compareExchange(ctl, CTL.STOP, s, seq) === s) break;
    }
    if (shared) for (let l = 0; l < 2; l++) Atomics.notify(ctl, CTL.DONE + l);
  }
  if ((st.failure !== null || st.stopped) && st.fd >= 0) {
    try {
      fs.closeSync(st.fd);
    } catch {
      // the failure above is the one reported
    }
    st.fd = -1;
  }
}

/**
 * A worker's work (warm_worker.ts: the body of a function of require,
 * parentPort and workerData): runs each batch it is told of from its lane's slots (shared
 * memory: nothing is transferred, so neither heap counts a megabyte of
 * outside memory per batch, which made V8 collect early), answers with the
 * slot and its failure, if any.
 */
const workerBody = `'use strict';
const fs = require('node:fs');
const escapedBytes = ${escapedBytes.toString()};
const nameEscape = new RegExp(${JSON.stringify(NAME_ESCAPE.source)});
const named = (p) => (nameEscape.test(p) ? Buffer.from(escapedBytes(p)) : p);
const runOps = ${runOps.toString()};
const OP = ${JSON.stringify(OP)};
const CTL = ${JSON.stringify(CTL)};
const ctl = new Int32Array(workerData.ctl);
const nums = workerData.nums.map((b) => new Float64Array(b));
const bytes = workerData.bufs;
const st = { lane: workerData.lane, fd: -1, path: '', end: 0, done: 0, cost: 0, failure: null, stopped: false };
parentPort.on('message', (b) => {
  if (b.st !== undefined) Object.assign(st, b.st);
  if (st.failure === null && !st.stopped) runOps(fs, named, OP, CTL, ctl, st, nums[b.slot], b.count, b.strs, bytes[b.slot]);
  parentPort.postMessage({ slot: b.slot, failure: st.failure });
});
while (Atomics.load(ctl, CTL.GATE) === 0) Atomics.wait(ctl, CTL.GATE, 0);
Atomics.store(ctl, CTL.UP + st.lane, 1);`;

/** A batch's two buffers (shared with the lane's worker), cycling between the threads. */
interface Slot {
  id: number;
  nums: Float64Array;
  buf: Uint8Array;
}

/** Do bytes lie in slot's batch (the slots of a lane share one buffer)? */
function inBatch(slot: Slot, bytes: Uint8Array): boolean {
  const b = slot.buf;
  return bytes.buffer === b.buffer && bytes.byteOffset >= b.byteOffset && bytes.byteOffset + bytes.length <= b.byteOffset + b.length;
}

/** Where a lane's queue stood: calls queued on it so far. */
export interface Mark {
  lane: number;
  calls: number;
}

/** One lane: its worker (none: inline) and the batch being filled. */
class Lane {
  slot: Slot | null = null;
  /** Numbers queued in the slot. */
  n = 0;
  strs: string[] = [];
  /** Bytes queued in the slot. */
  at = 0;
  /** Where the last call queued starts if it is a write (the next write may join it), else -1. */
  lastWrite = -1;
  /** Its slots, and those not in a worker's hands. */
  readonly slots: Slot[] = [];
  readonly free: Slot[] = [];
  /** Batches sent and not back yet. */
  outstanding = 0;
  /** Its worker runs JavaScript (batches sent before wait with the reader, which may carry them out itself). */
  online = false;
  /** Sets the flags again once its worker is up (heap_flags.ts: workerStarting). */
  up: () => void = () => {};
  /** Calls queued; calls in batches sent; work units queued. */
  calls = 0;
  sent = 0;
  cost = 0;

  /** arena: the lane's BATCHES batches of bytes (shared memory), none: one batch of its own (inline). */
  constructor(
    readonly index: number,
    public worker: Worker | null,
    readonly inline: RunState,
    arena: Uint8Array | null,
  ) {
    for (let id = 0; id < (arena !== null ? BATCHES : 1); id++) {
      const nums = arena !== null ? new SharedArrayBuffer(BATCH_NUMS * 8) : new ArrayBuffer(BATCH_NUMS * 8);
      const buf = arena !== null ? arena.subarray(id * BATCH_BYTES, (id + 1) * BATCH_BYTES) : new Uint8Array(BATCH_BYTES);
      this.slots.push({ id, nums: new Float64Array(nums), buf });
    }
    this.free.push(...this.slots);
  }
}

/** The Node error of a host failure (thrown by the queue's calls, finish() and settled()). */
class HostFailureError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;

  constructor(f: HostFailure) {
    super(f.message);
    this.code = f.code;
    this.errno = f.errno;
    this.syscall = f.syscall;
    this.path = f.path;
  }
}

export class HostOps {
  private readonly lanes: Lane[] = [];
  private readonly ctl: Int32Array;
  /** Calls queued over all lanes: the next call's number. */
  private seq = 0;
  /** Lanes run by workers (the second one started by pick()). */
  private threaded = false;
  /** The lane picked last (ties go to the other one). */
  private last = 0;
  private waiter: (() => void) | null = null;
  /** The first failure known (the lowest number). */
  private failure: HostFailure | null = null;
  private carried = 0;
  /** Batches sent to lanes whose worker is not up yet, in the order sent (see send()). */
  private readonly early: { lane: Lane; slot: Slot; batch: Batch }[] = [];
  /**
   * The lanes' batches of bytes, one shared buffer sliced: where the host
   * copies file bytes to and from (kern/kmem.ts: a read from the page cache
   * into memory 16 bytes past a page boundary, where a SharedArrayBuffer
   * of its own lies, ran at a quarter of the speed: on the bench's tree, 0.15 s
   * of the lanes' CPU).
   */
  private arena: Uint8Array | null = null;

  private constructor(threaded: boolean, held: boolean) {
    if (!threaded) {
      this.ctl = new Int32Array(CTL.WORDS);
      this.ctl[CTL.STOP] = NO_STOP;
      this.lanes.push(new Lane(0, null, this.state(0), null));
      return;
    }
    this.ctl = new Int32Array(new SharedArrayBuffer(CTL.WORDS * 4));
    this.ctl[CTL.STOP] = NO_STOP;
    this.ctl[CTL.GATE] = held ? 0 : 1;
    this.threaded = true;
    this.addLane();
  }

  /** Starts the next lane's worker. */
  private addLane(): void {
    const l = this.lanes.length;
    this.arena ??= ioBuffer(LANES * BATCHES * BATCH_BYTES, { shared: true });
    const lane = new Lane(l, null, this.state(l), this.arena.subarray(l * BATCHES * BATCH_BYTES, (l + 1) * BATCHES * BATCH_BYTES));
    const bufs = lane.slots.map((s) => s.buf);
    const nums = lane.slots.map((s) => s.nums.buffer);
    // (Descriptors cross threads: a file the reader opened while the worker came up is written and closed by the
    // worker; Node's tracking of a worker's own descriptors would warn at that close. Every file is closed by the
    // lane's calls, on failures too.)
    // A thread started as the process started, where there is one (warm_worker.ts), else one started now.
    const w = takeWorker() ?? startWorker({ trackUnmanagedFds: false });
    runIn(w, workerBody, { ctl: this.ctl.buffer, lane: l, nums, bufs });
    const worker = w.worker;
    lane.worker = worker;
    lane.up = w.up; // (also once its shared word says so: hand(), where a busy reader may not hear of 'online' for a while)
    this.lanes.push(lane);
    worker.on('message', (r: { slot: number; failure: HostFailure | null }) => {
      lane.outstanding--;
      lane.free.push(lane.slots[r.slot]);
      if (r.failure !== null) this.failed(r.failure);
      this.wake();
    });
    worker.on('error', (e: Error) => {
      lane.outstanding = 0;
      for (let i = this.early.length - 1; i >= 0; i--) if (this.early[i].lane === lane) this.early.splice(i, 1);
      Atomics.store(this.ctl, CTL.STOP, -1); // the other lane stops too
      for (let o = 0; o < LANES; o++) Atomics.notify(this.ctl, CTL.DONE + o);
      this.failed({ code: 'EIO', errno: 0, syscall: 'write', path: '', message: e.message, seq: -1 });
      this.wake();
    });
  }

  /**
   * A queue run by worker threads, one per lane (`threaded`), or by the
   * calling thread on one lane. `held`: the workers do not come up until
   * release() (tests: the reader then carries their batches out itself).
   */
  static start(threaded: boolean, opts: { held?: boolean } = {}): HostOps {
    return new HostOps(threaded, opts.held === true);
  }

  /** Lets workers held at start come up. */
  release(): void {
    Atomics.store(this.ctl, CTL.GATE, 1);
    Atomics.notify(this.ctl, CTL.GATE);
  }

  /** Batches the reader carried out itself while their worker was not up. */
  get carriedHere(): number {
    return this.carried;
  }

  /**
   * The lane with the least work queued and not yet done (a new
   * directory's contents go there); the first lane alone until it has sent
   * a batch.
   */
  pick(): number {
    if (this.lanes.length === 1) {
      // The second lane's worker once the tree proves larger than one batch (a small one is not worth its start).
      if (!this.threaded || this.lanes[0].sent === 0) return 0;
      this.addLane();
    }
    const a = this.lanes[0].cost - Atomics.load(this.ctl, CTL.COST);
    const b = this.lanes[1].cost - Atomics.load(this.ctl, CTL.COST + 1);
    this.last = a < b ? 0 : b < a ? 1 : 1 - this.last;
    return this.last;
  }

  /** Where lane's queue stands now: a call queued later on another lane can wait for it (link). */
  mark(lane: number): Mark {
    return { lane, calls: this.lanes[lane].calls };
  }

  /** Makes a directory (and missing parents; an existing one is kept). */
  mkdir(lane: number, path: string): Promise<void> | void {
    const l = this.lanes[lane];
    const r = this.room(l);
    if (r !== null) return r.then(() => this.mkdir(lane, path));
    l.strs.push(path);
    this.call(l, OP.MKDIR, 2);
    return this.queued(l);
  }

  /** Creates a new file (exclusively) with mode, to be written and closed next on the same lane. */
  open(lane: number, path: string, mode: number): Promise<void> | void {
    const l = this.lanes[lane];
    const r = this.room(l);
    if (r !== null) return r.then(() => this.open(lane, path, mode));
    l.strs.push(path);
    l.slot!.nums[this.call(l, OP.OPEN, 3) + 2] = mode;
    return this.queued(l);
  }

  /**
   * Room in lane's batch for `bytes` bytes to be read into in place, and for
   * calls of `nums` numbers at most (so that the batch is not sent before
   * they are queued): a view of the batch's buffer, whose pieces write()
   * then queues without a copy. Null without a worker (writes go straight
   * from the caller's bytes there).
   */
  reserve(lane: number, bytes: number, nums: number): Uint8Array | Promise<Uint8Array> | null {
    const l = this.lanes[lane];
    if (l.worker === null) return null;
    const r = this.room(l);
    if (r !== null) return r.then(() => this.reserve(lane, bytes, nums)!);
    // (on a cache line: the host copies into it at full speed, as into the batch's start)
    const at = (l.at + RESERVE_ALIGN - 1) & -RESERVE_ALIGN;
    if (at + bytes > BATCH_BYTES || l.n + nums > BATCH_NUMS - 2 * CALL_NUMS) {
      if (l.n === 0 && l.at === 0) throw new Error(`host ops: a reservation of ${bytes} bytes, ${nums} numbers does not fit a batch`);
      this.send(l);
      return this.reserve(lane, bytes, nums);
    }
    const v = l.slot!.buf.subarray(at, at + bytes);
    l.at = at + bytes;
    return v;
  }

  /**
   * Bytes of the lane's open file at pos: copied now (the caller may reuse
   * them once this returns, or once its promise resolves), unless they lie
   * in the batch already (reserve()). Bytes that go on where the last write
   * ended, in the file and in the batch, join it (one system call).
   */
  write(lane: number, pos: number, bytes: Uint8Array): Promise<void> | void {
    const l = this.lanes[lane];
    if (l.worker === null) return this.writeNow(l, pos, bytes);
    if (l.slot !== null && inBatch(l.slot, bytes)) {
      this.queueWrite(l, pos, bytes.length, bytes.byteOffset - l.slot.buf.byteOffset);
      return this.queued(l);
    }
    // (a batch sent while bytes read into it were still to be queued: its reservation counted too few calls)
    if (l.slots.some((s) => inBatch(s, bytes))) throw new Error('host ops: bytes of a batch already sent');
    for (let done = 0; done < bytes.length; ) {
      const r = this.room(l);
      if (r !== null) return r.then(() => this.write(lane, pos + done, bytes.subarray(done)));
      const n = Math.min(bytes.length - done, BATCH_BYTES - l.at);
      l.slot!.buf.set(done === 0 && n === bytes.length ? bytes : bytes.subarray(done, done + n), l.at);
      this.queueWrite(l, pos + done, n, l.at);
      l.at += n;
      done += n;
      if (l.at === BATCH_BYTES) {
        this.send(l);
        continue;
      }
      const q = this.queued(l);
      if (q !== undefined) return q.then(() => this.write(lane, pos + done, bytes.subarray(done)));
    }
  }

  /**
   * Has lane's worker read `into.length` bytes at byte `pos` of host file
   * fd (the image, named `name` in a message) into `into`, a view of the
   * lane's batch reserved for them (reserve()), before the calls queued
   * after this one: true. False where the lane has no worker or into is not
   * in its batch (the caller reads the bytes itself).
   */
  read(lane: number, fd: number, pos: number, into: Uint8Array, name: string): boolean {
    const l = this.lanes[lane];
    if (l.worker === null || l.slot === null || !inBatch(l.slot, into)) return false;
    this.check();
    l.strs.push(name);
    const v = l.slot.nums;
    const i = this.call(l, OP.READ, 6);
    l.lastWrite = -1;
    v[i + 2] = fd;
    v[i + 3] = pos;
    v[i + 4] = into.length;
    v[i + 5] = into.byteOffset - l.slot.buf.byteOffset;
    l.cost += into.length >>> COST_SHIFT;
    return true;
  }

  /**
   * Bytes of the lane's open file at pos, from its batch (a view of what a
   * read() queued there): written by the worker once read, each run of
   * 4 KiB pieces with data one write, pieces of zeros left as holes (the
   * file's size is set at its close with SET_SIZE_IF_SHORT).
   */
  sparse(lane: number, pos: number, bytes: Uint8Array): Promise<void> | void {
    const l = this.lanes[lane];
    if (l.slot === null || !inBatch(l.slot, bytes)) throw new Error('host ops: sparse bytes outside the batch');
    const v = l.slot.nums;
    const i = this.call(l, OP.SPARSE, 5);
    l.lastWrite = -1;
    v[i + 2] = pos;
    v[i + 3] = bytes.length;
    v[i + 4] = bytes.byteOffset - l.slot.buf.byteOffset;
    return this.queued(l);
  }

  /** Queues a write of len bytes at pos from the batch's buffer at `at`, joined to the last call where both go on from it. */
  private queueWrite(l: Lane, pos: number, len: number, at: number): void {
    const v = l.slot!.nums;
    const k = l.n - 5;
    if (k === l.lastWrite && v[k + 2] + v[k + 3] === pos && v[k + 4] + v[k + 3] === at) {
      l.cost += ((v[k + 3] + len) >>> COST_SHIFT) - (v[k + 3] >>> COST_SHIFT); // (as the worker counts the joined write)
      v[k + 3] += len;
      return;
    }
    const i = this.call(l, OP.WRITE, 5);
    l.lastWrite = i;
    v[i + 2] = pos;
    v[i + 3] = len;
    v[i + 4] = at;
    l.cost += len >>> COST_SHIFT;
  }

  /**
   * Inline: what is queued runs first (the file's creation), then the bytes
   * go straight from the caller's buffer (no copy into a batch).
   */
  private writeNow(l: Lane, pos: number, bytes: Uint8Array): void {
    this.send(l);
    this.check();
    const st = l.inline;
    try {
      for (let done = 0; done < bytes.length; ) done += nodeFs.writeSync(st.fd, bytes, done, bytes.length - done, pos + done);
      st.end = pos + bytes.length;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      st.failure = { code: err.code ?? 'EIO', errno: err.errno ?? 0, syscall: err.syscall ?? 'write', path: st.path, message: err.message, seq: this.seq };
      this.failed(st.failure);
      try {
        nodeFs.closeSync(st.fd);
      } catch {
        // the failure above is the one reported
      }
      st.fd = -1;
      this.check();
    }
  }

  /** Sets the lane's open file's size (SET_SIZE), owner (SET_OWNER), mode (SET_MODE) and times; closes it. */
  close(lane: number, size: number, flags: number, uid: number, gid: number, mode: number, atime: number, mtime: number): Promise<void> | void {
    const l = this.lanes[lane];
    const r = this.room(l);
    if (r !== null) return r.then(() => this.close(lane, size, flags, uid, gid, mode, atime, mtime));
    const v = l.slot!.nums;
    const i = this.call(l, OP.CLOSE, 9);
    v[i + 2] = size;
    v[i + 3] = flags;
    v[i + 4] = uid;
    v[i + 5] = gid;
    v[i + 6] = mode;
    v[i + 7] = atime;
    v[i + 8] = mtime;
    return this.queued(l);
  }

  /** Makes a symlink and sets its owner (SET_OWNER) and times. */
  symlink(lane: number, target: string, path: string, flags: number, uid: number, gid: number, atime: number, mtime: number): Promise<void> | void {
    const l = this.lanes[lane];
    const r = this.room(l);
    if (r !== null) return r.then(() => this.symlink(lane, target, path, flags, uid, gid, atime, mtime));
    l.strs.push(target, path);
    const v = l.slot!.nums;
    const i = this.call(l, OP.SYMLINK, 7);
    v[i + 2] = flags;
    v[i + 3] = uid;
    v[i + 4] = gid;
    v[i + 5] = atime;
    v[i + 6] = mtime;
    return this.queued(l);
  }

  /** Makes path a hard link to existing, once the lane `after` names has done what was queued on it up to that mark. */
  link(lane: number, existing: string, path: string, after: Mark): Promise<void> | void {
    const l = this.lanes[lane];
    const r = this.room(l);
    if (r !== null) return r.then(() => this.link(lane, existing, path, after));
    if (after.lane !== lane && Atomics.load(this.ctl, CTL.DONE + after.lane) < after.calls) {
      // What it waits for must be on its way to the other worker (or the two could wait on each other).
      const o = this.lanes[after.lane];
      if (o.sent < after.calls) this.send(o);
      const v = l.slot!.nums;
      const i = this.call(l, OP.WAIT, 4);
      v[i + 2] = after.lane;
      v[i + 3] = after.calls;
    }
    l.strs.push(existing, path);
    this.call(l, OP.LINK, 2);
    return this.queued(l);
  }

  /** A path's owner (SET_OWNER), mode (SET_MODE) and times. */
  attrs(lane: number, path: string, flags: number, uid: number, gid: number, mode: number, atime: number, mtime: number): Promise<void> | void {
    const l = this.lanes[lane];
    const r = this.room(l);
    if (r !== null) return r.then(() => this.attrs(lane, path, flags, uid, gid, mode, atime, mtime));
    l.strs.push(path);
    const v = l.slot!.nums;
    const i = this.call(l, OP.ATTRS, 8);
    v[i + 2] = flags;
    v[i + 3] = uid;
    v[i + 4] = gid;
    v[i + 5] = mode;
    v[i + 6] = atime;
    v[i + 7] = mtime;
    return this.queued(l);
  }

  /** Runs what is queued and waits for all of it; throws the first failure. */
  async finish(): Promise<void> {
    await this.drain();
    this.check();
  }

  /**
   * The error to report for e, thrown by a call of this queue or by the
   * reading: for a host failure, once both lanes are done with what was
   * queued before the first failure, that first one (by queue order).
   */
  async settled(e: unknown): Promise<unknown> {
    if (!(e instanceof HostFailureError)) return e;
    await this.drain();
    return this.failure === null ? e : new HostFailureError(this.failure);
  }

  /**
   * After a failure on the reading side: what is queued is carried out (the
   * files before it are complete) and the file being written is closed as
   * it is. A host failure already known came first: it is thrown instead;
   * one met while carrying the rest out is left to the reader's.
   */
  async drop(): Promise<void> {
    this.check();
    for (const l of this.lanes) {
      try {
        const r = this.room(l);
        if (r !== null) await r;
      } catch {
        break; // a host failure: each lane stops by itself
      }
      this.call(l, OP.DROP, 2);
    }
    await this.drain();
  }

  /** Lets the workers go (after finish, or after a failure on either side). */
  async stop(): Promise<void> {
    this.carryEarly();
    for (const l of this.lanes) {
      while (l.outstanding > 0 && l.worker !== null) await this.wait();
      await l.worker?.terminate();
    }
  }

  /** Sends every lane's batch and waits until all are back (carrying out those of a worker not up yet). */
  private async drain(): Promise<void> {
    for (const l of this.lanes) this.send(l);
    this.carryEarly();
    for (const l of this.lanes) while (l.outstanding > 0) await this.wait();
  }

  /** Starts a call of op taking `nums` numbers in l's batch (room() found one): its code and number are set, its index returned. */
  private call(l: Lane, op: number, nums: number): number {
    const v = l.slot!.nums;
    const i = l.n;
    v[i] = op;
    v[i + 1] = this.seq++;
    l.n = i + nums;
    l.calls++;
    l.cost++;
    return i;
  }

  private state(lane: number): RunState {
    return { lane, fd: -1, path: '', end: 0, done: 0, cost: 0, failure: null, stopped: false };
  }

  /** Keeps the first failure by queue order. */
  private failed(f: HostFailure): void {
    if (this.failure === null || f.seq < this.failure.seq) this.failure = f;
  }

  /**
   * After queueing a call: sends the batch when another call might not fit;
   * a promise only when the caller must wait for room. Throws the first
   * host failure.
   */
  private queued(l: Lane): Promise<void> | undefined {
    this.check();
    if (l.n <= BATCH_NUMS - 2 * CALL_NUMS) return undefined;
    this.send(l);
    return this.room(l) ?? undefined;
  }

  /** Null when a batch of l is at hand to fill; else a promise resolved once one is (or a failure came). */
  private room(l: Lane): Promise<void> | null {
    this.check();
    if (l.slot !== null) return null;
    // While a worker starts (some 25 ms of a core), the reader does its lanes' first batches rather than wait for it.
    while (l.free.length === 0 && this.early.length > 0) this.carryEarly(1);
    const s = l.free.pop();
    if (s === undefined) return this.wait().then(() => this.room(l) ?? undefined);
    l.slot = s;
    l.n = 0;
    l.at = 0;
    l.lastWrite = -1;
    return null;
  }

  private send(l: Lane): void {
    const s = l.slot;
    if (s === null || l.n === 0) return;
    const batch: Batch = { slot: s.id, count: l.n, strs: l.strs.join('\0') };
    l.slot = null;
    l.strs = [];
    l.sent = l.calls;
    if (l.worker === null) {
      if (l.inline.failure === null && !l.inline.stopped) runOps(nodeFs, hostName, OP, CTL, this.ctl, l.inline, s.nums, batch.count, batch.strs, s.buf);
      if (l.inline.failure !== null) this.failed(l.inline.failure);
      l.free.push(s);
      return;
    }
    l.outstanding++;
    this.early.push({ lane: l, slot: s, batch });
    this.hand();
  }

  /**
   * Hands the batches waiting for a worker to it, in order, once it is up:
   * the lane's state goes with the first (the file open, the calls done,
   * counting what the reader carried out before).
   */
  private hand(): void {
    // Whether each worker is up, read once: read per batch, a worker coming up between two batches of its lane
    // would get the second while the first stayed here (and ran after it).
    const up0 = Atomics.load(this.ctl, CTL.UP);
    const up1 = Atomics.load(this.ctl, CTL.UP + 1);
    for (let i = 0; i < this.early.length; ) {
      const { lane: l, batch } = this.early[i];
      if (!l.online && (l.index === 0 ? up0 : up1) === 1) {
        l.online = true;
        l.up();
        const st = l.inline;
        batch.st = { fd: st.fd, path: st.path, end: st.end, done: st.done, cost: st.cost, stopped: st.stopped };
      }
      if (!l.online) {
        i++;
        continue;
      }
      this.early.splice(i, 1);
      l.worker!.postMessage(batch);
    }
  }

  /** Hands what it can to workers up, and carries out here up to `n` of the batches left (oldest first). */
  private carryEarly(n = Infinity): void {
    for (let k = 0; k < n; k++) {
      this.hand();
      if (this.early.length === 0) return;
      this.runEarly();
    }
  }

  /**
   * Carries out the oldest batch sent to a worker not up yet, here, with its
   * lane's state (the worker takes that state over with its first batch).
   * Oldest over both lanes: a link's wait is for calls sent before it.
   */
  private runEarly(): void {
    const { lane: l, slot: s, batch } = this.early.shift()!;
    const st = l.inline;
    if (st.failure === null && !st.stopped) runOps(nodeFs, hostName, OP, CTL, this.ctl, st, s.nums, batch.count, batch.strs, s.buf);
    if (st.failure !== null) this.failed(st.failure);
    l.outstanding--;
    l.free.push(s);
    this.carried++;
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
    throw new HostFailureError(f);
  }
}
