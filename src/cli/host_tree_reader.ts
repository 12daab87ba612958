/*
 * A host tree read ahead by a worker thread, for VOP_POPULATE (host_tree.ts):
 * the worker walks the tree in the order the file system makes it (each
 * directory's entries by name with their lstat, then each entry in turn: a
 * file's bytes, a symlink's target, a directory's own walk) and puts what
 * it reads into a ring of shared memory; the main thread takes it out as
 * the walk asks, so the host's system calls run on the other core beside
 * the image's making. Both sides number the entries alike (the top ones
 * first, then each listing's in order), and a record carries its entry's
 * number: what the walk does not ask for (a second name of a file already
 * read) is passed over. The first host failure ends the worker's walk and
 * is thrown, as its Node error with path, by the ask that reaches it (the
 * walk's asks come in the worker's order, so a failure before what is
 * asked for means it will never come).
 *   HostTreeReader.prewarm();   // optional, early: the thread's start beside other work
 *   const r = HostTreeReader.start(tops, knownKeys, leave); r.list(seq); r.open(seq); r.read(buf); r.readlink(seq); r.stop()
 * Records: [kind i32][length i32][entry number f64] in a header of HDR bytes,
 * then the payload, padded to HDR bytes; a record never wraps the ring's
 * end (WRAP sends the reader back to its start). Heads and tails are byte
 * offsets in the ring, one waits on the other with Atomics.wait. The ring
 * lies in memory placed as the page frames are (kern/kmem.ts) and every
 * payload starts on a cache line: the host copies into such memory up to
 * four times as fast as to where a SharedArrayBuffer of its own (16 bytes
 * past a page boundary) and 8-byte steps put them (measured, mkfs --from of
 * the bench's tree: the worker's copies 55 ms of CPU, 39 ms aligned).
 */

import type { Worker } from 'node:worker_threads';
import { escapedBytes, nameDecode } from '../api/names.js';
import { ioBuffer } from '../api/io_buffer.js';
import { runIn, startWorker, takeWorker, type WarmWorker } from './warm_worker.js';

const K = { LIST: 1, LIST_MORE: 2, DATA: 3, LAST: 4, LINK: 5, ERROR: 6, DONE: 7, WRAP: 8 } as const;
/**
 * Control words: the producer's head, the consumer's tail, stop (set by the
 * consumer), and who is waiting (so that a wake is sent only to a sleeper).
 * Those the producer writes and those the consumer writes lie in cache lines
 * of their own: a store by one side does not take the other's line away.
 */
const C = { HEAD: 0, TAIL_WAITER: 1, WAKE: 2, TAIL: 16, CONSUMED: 17, STOP: 18, HEAD_WAITER: 19 } as const;
/** The control words' bytes, before the ring. */
const CTRL = 128;
/**
 * The consumer tells how far it has read (its tail) once it has passed this
 * many bytes since it last told, when the producer waits for room, or
 * before it waits itself: not at each record (a shared store each).
 */
const PUBLISH_EVERY = 1 << 20;
/** CONSUMED and WAKE count bytes modulo this (a waiting producer is woken once the consumer has passed WAKE). */
const MOD = 1 << 30;
/** A file's first read: its size and one byte more, in these units (so that every read but the last is whole units). */
export const VIEW_UNIT = 64 << 10;
const RING = 8 << 20;
const CHUNK = 1 << 20;
/** A record's header, and the unit records are padded to: a cache line. */
const HDR = 64;
/** Numbers per listed entry (the last its name's length), then its name's bytes. */
const FIELDS = 14;

/** A source listed as a regular file that is something else when opened. */
export const changedReason = 'no longer a regular file: it changed while the tree was copied';

/** One listed entry as the worker saw it (lstat's fields the tree uses). */
export interface ListedEntry {
  name: string;
  /** 1 file, 2 dir, 3 symlink, 4 chardev, 5 blockdev, 6 fifo, 7 socket. */
  type: number;
  mode: number;
  uid: number;
  gid: number;
  /** Times in seconds and nanoseconds, whole (lstat in bigint nanoseconds: a double of milliseconds keeps microseconds). */
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  size: number;
  rdev: number;
  dev: number;
  ino: number;
  nlink: number;
}

/** The worker's walk (stringified into its source: no closure, its own requires). */
function produce(fs: typeof import('node:fs'), named: (p: string) => Buffer, mem: Uint8Array, tops: Array<{ path: string; type: number; key: string | null; size: number }>, known: string[], leave: string[], k: typeof K, c: typeof C, ring: number, chunk: number, hdr: number, fields: number, unit: number, mod: number): void {
  const ctrl = new Int32Array(mem.buffer, mem.byteOffset, 32);
  const base = mem.byteOffset + 128;
  const u8 = new Uint8Array(mem.buffer, base, ring);
  const dv = new DataView(mem.buffer, base, ring);
  const enc = new TextEncoder();
  const slash = Buffer.from('/');
  const seen = new Set(known);
  const left = new Set(leave);
  let head = 0;
  let seq = tops.length;
  class Stopped extends Error {}
  const pad = (n: number) => (n + 7) & ~7;
  const padRec = (n: number) => (n + hdr - 1) & -hdr;
  /** Room for a record of `len` payload bytes at head (wrapping first if needed); its payload offset. */
  const room = (len: number): number => {
    const need = hdr + padRec(len);
    for (;;) {
      if (Atomics.load(ctrl, c.STOP) !== 0) throw new Stopped();
      const tail = Atomics.load(ctrl, c.TAIL);
      if (head >= tail) {
        if (head + need <= ring && !(head + need === ring && tail === 0)) return head + hdr;
        if (tail > 0) {
          // Not enough before the end: WRAP (implied where no header fits), then on from the start.
          if (head + hdr <= ring) dv.setInt32(head, k.WRAP, true);
          head = 0;
          Atomics.store(ctrl, c.HEAD, head);
          if (Atomics.load(ctrl, c.HEAD_WAITER) !== 0) Atomics.notify(ctrl, c.HEAD);
          continue;
        }
      } else if (head + need < tail) {
        return head + hdr;
      }
      // Woken once the consumer has passed a quarter of the ring (or what this record needs, if more) or has emptied it: not at each record it takes.
      Atomics.store(ctrl, c.WAKE, (Atomics.load(ctrl, c.CONSUMED) + Math.max(need, ring >> 2)) % mod);
      Atomics.store(ctrl, c.TAIL_WAITER, 1);
      if (Atomics.load(ctrl, c.TAIL) === tail) Atomics.wait(ctrl, c.TAIL, tail, 50);
      Atomics.store(ctrl, c.TAIL_WAITER, 0);
    }
  };
  const publish = (kind: number, s: number, len: number): void => {
    dv.setInt32(head, kind, true);
    dv.setInt32(head + 4, len, true);
    dv.setFloat64(head + 8, s, true);
    head += hdr + padRec(len);
    if (head === ring) head = 0;
    Atomics.store(ctrl, c.HEAD, head);
    if (Atomics.load(ctrl, c.HEAD_WAITER) !== 0) Atomics.notify(ctrl, c.HEAD);
  };
  const fail = (e: unknown, s: number): void => {
    const err = e as { code?: string; errno?: number; syscall?: string; path?: string; message?: string; reason?: string };
    const b = enc.encode(JSON.stringify({ code: err.code ?? 'EIO', errno: err.errno ?? 0, syscall: err.syscall ?? '', path: String(err.path ?? ''), message: String(err.message ?? e), reason: err.reason }));
    const at = room(b.length);
    u8.set(b, at);
    publish(k.ERROR, s, b.length);
  };
  /** Nanoseconds since the epoch as whole seconds and nanoseconds (0 to 999 999 999, before 1970 too). */
  const split = (ns: bigint): [number, number] => {
    const r = ns % 1_000_000_000n;
    return r < 0n ? [Number(ns / 1_000_000_000n) - 1, Number(r) + 1e9] : [Number(ns / 1_000_000_000n), Number(r)];
  };
  const typeOf = (st: import('node:fs').BigIntStats): number => st.isFile() ? 1 : st.isDirectory() ? 2 : st.isSymbolicLink() ? 3 : st.isCharacterDevice() ? 4 : st.isBlockDevice() ? 5 : st.isFIFO() ? 6 : 7;
  // Paths are bytes (Buffers) from the tops down: a name that is not UTF-8 is read and sent as it is (api/names.ts).
  // As host_tree.ts openTreeFile: no symlink followed, no wait for a FIFO's writer, nothing but a regular file read.
  const openFlags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;
  /** Files a listing opened ahead (their fds held for their turn), at most MAX_AHEAD at once. */
  let ahead = 0;
  const MAX_AHEAD = 256;
  /** fd (opened ahead) closed, unread: a second name, an entry left out, or a walk stopped. */
  const unread = (fd: number): void => {
    if (fd < 0) return;
    ahead--;
    try {
      fs.closeSync(fd);
    } catch {
      // (nothing was read from it)
    }
  };
  const file = (path: Buffer, s: number, size: number, opened: number): void => {
    const changed = (): Error => Object.assign(new Error(changedReason), { code: 'EINVAL', errno: -22, syscall: 'open', path: path.toString(), reason: changedReason });
    let fd = opened;
    if (fd >= 0) {
      ahead--;
    } else {
      try {
        fd = fs.openSync(path, openFlags);
      } catch (e) {
        throw (e as { code?: string }).code === 'ELOOP' ? changed() : e;
      }
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw changed();
      }
    }
    try {
      let pos = 0;
      for (;;) {
        const want = pos === 0 ? Math.min(chunk, Math.ceil((size + 1) / unit) * unit) : chunk;
        const at = room(want);
        const n = fs.readSync(fd, u8, at, want, pos);
        pos += n;
        publish(n < want ? k.LAST : k.DATA, s, n);
        if (n < want) return;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  const dir = (path: Buffer, s: number): void => {
    const ents = fs.readdirSync(path, { encoding: 'buffer', withFileTypes: true }).sort((a, b) => Buffer.compare(a.name as unknown as Buffer, b.name as unknown as Buffer));
    const kids: Array<{ path: Buffer; type: number; seq: number; key: string | null; size: number; fd: number }> = [];
    let part: Uint8Array[] = [];
    let partBytes = 0;
    const flush = (last: boolean): void => {
      const at = room(partBytes);
      let o = at;
      for (const p of part) {
        u8.set(p, o);
        o += p.length;
      }
      publish(last ? k.LIST : k.LIST_MORE, s, partBytes);
      part = [];
      partBytes = 0;
    };
    try {
      for (const ent of ents) {
        const name = ent.name as unknown as Buffer;
        const p = Buffer.concat(path[path.length - 1] === 0x2f ? [path, name] : [path, slash, name]);
        // A regular file (as the directory's entry types say) is opened now and its fstat is its listing: one
        // path walk and one stat fewer than lstat now and open later. It is read at its turn, from this fd.
        let fd = -1;
        let st: import('node:fs').BigIntStats | undefined;
        if (ent.isFile() && ahead < MAX_AHEAD) {
          try {
            fd = fs.openSync(p, openFlags);
            ahead++;
            st = fs.fstatSync(fd, { bigint: true });
          } catch {
            // (lstat below says what it is; its turn opens it again, and tells any failure then)
          }
          if (st === undefined || !st.isFile()) {
            unread(fd);
            fd = -1;
            st = undefined;
          }
        }
        st ??= fs.lstatSync(p, { bigint: true });
        const t = typeOf(st);
        const nb = name;
        const rec = new Uint8Array(fields * 8 + 8 + pad(nb.length));
        const rv = new DataView(rec.buffer);
        const [as, an] = split(st.atimeNs);
        const [ms, mn] = split(st.mtimeNs);
        const [nlink, size, dev, ino] = [Number(st.nlink), Number(st.size), Number(st.dev), Number(st.ino)];
        if (left.size > 0 && left.has(`${dev}:${ino}`)) {
          unread(fd);
          continue; // (the image written, or its lock: not listed)
        }
        const vals = [t, Number(st.mode), Number(st.uid), Number(st.gid), as, an, ms, mn, size, Number(st.rdev), dev, ino, nlink, nb.length];
        for (let i = 0; i < fields; i++) rv.setFloat64(i * 8, vals[i], true);
        rec.set(nb, fields * 8 + 8);
        if (partBytes + rec.length > chunk) flush(false);
        part.push(rec);
        partBytes += rec.length;
        kids.push({ path: p, type: t, seq: seq++, key: nlink > 1 && t !== 2 ? `${dev}:${ino}` : null, size, fd });
      }
      flush(true);
      for (const kid of kids) {
        const fd = kid.fd;
        kid.fd = -1; // (the visit's from here)
        visit(kid.path, kid.type, kid.seq, kid.key, kid.size, fd);
      }
    } finally {
      for (const kid of kids) unread(kid.fd); // (those a failure or a stop left unread)
    }
  };
  const visit = (path: Buffer, type: number, s: number, key: string | null, size: number, fd = -1): void => {
    if (key !== null) {
      if (seen.has(key)) {
        unread(fd);
        return; // a second name: the walk links it, reads nothing
      }
      seen.add(key);
    }
    try {
      if (type === 1) file(path, s, size, fd);
      else if (type === 2) dir(path, s);
      else if (type === 3) {
        const b = fs.readlinkSync(path, 'buffer');
        const at = room(b.length);
        u8.set(b, at);
        publish(k.LINK, s, b.length);
      }
    } catch (e) {
      if (e instanceof Stopped) throw e;
      fail(e, s);
      throw new Stopped();
    }
  };
  try {
    tops.forEach((t, i) => visit(named(t.path), t.type, i, t.key, t.size));
    room(0);
    publish(k.DONE, -1, 0);
  } catch (e) {
    if (!(e instanceof Stopped)) throw e;
  }
}

/** The worker's work (warm_worker.ts: the body of a function of require and parentPort): waits for its walk (one message), then reads it. */
const workerBody = `'use strict';
const fs = require('node:fs');
const changedReason = ${JSON.stringify(changedReason)};
const escapedBytes = ${escapedBytes.toString()};
const named = (p) => Buffer.from(escapedBytes(p));
const produce = ${produce.toString()};
parentPort.once('message', (w) => {
  parentPort.close();
  produce(fs, named, w.mem, w.tops, w.known, w.leave, w.K, w.C, w.RING, w.CHUNK, w.HDR, w.FIELDS, w.VIEW_UNIT, w.MOD);
});`;

/** A worker started ahead of its walk by prewarm(), not yet given one. */
let warm: WarmWorker | null = null;

/**
 * A thread for a walk: one the launcher started as the process started
 * (warm_worker.ts), else one started now; it waits for its walk. (Up: once
 * online, or once its first record is read: next(), where a reader waiting
 * on the ring hears no event.)
 */
function newWorker(): WarmWorker {
  const w = takeWorker() ?? startWorker();
  runIn(w, workerBody, null);
  w.worker.unref();
  return w;
}

/** A host failure as it crossed from the worker: enough for hostError. */
export interface HostFailure {
  code: string;
  errno: number;
  syscall: string;
  path: string;
  message: string;
  /** Why, where no errno says it (a file that changed since it was listed). */
  reason?: string;
}

export class HostTreeReader {
  private readonly ctrl: Int32Array;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private tail = 0;
  /** The producer's head as last read: the records before it are complete. */
  private head = 0;
  /** The number the next listed entry gets. */
  private nextSeq: number;
  private failure: HostFailure | null = null;
  private readonly dec = new TextDecoder();
  /** Sets V8's flags again once the worker is up (its first record read), if nothing did before. */
  private up: (() => void) | null;

  private constructor(private readonly worker: Worker, up: () => void, mem: Uint8Array, tops: number) {
    this.up = up;
    this.ctrl = new Int32Array(mem.buffer, mem.byteOffset, CTRL / 4);
    this.u8 = new Uint8Array(mem.buffer, mem.byteOffset + CTRL, RING);
    this.dv = new DataView(mem.buffer, mem.byteOffset + CTRL, RING);
    this.nextSeq = tops;
  }

  /** Starts reading `tops` (numbered 0, 1, ... in this order); `known`: link keys whose file is in the image already. */
  static start(tops: ReadonlyArray<{ path: string; type: number; key: string | null; size: number }>, known: readonly string[], leave: readonly string[] = []): HostTreeReader {
    const mem = ioBuffer(CTRL + RING, { shared: true });
    const w = warm ?? newWorker();
    warm = null;
    w.worker.postMessage({ mem, tops, known, leave, K, C, RING, CHUNK, HDR, FIELDS, VIEW_UNIT, MOD });
    return new HostTreeReader(w.worker, w.up, mem, tops.length);
  }

  /**
   * Starts a worker for the next walk now (a thread's start, some 30 ms,
   * beside the caller's own work: a format, a mount); it waits for start().
   * One unused ends with the process.
   */
  static prewarm(): void {
    warm ??= newWorker();
  }

  /** The next record of entry seq (waiting for it), passing over those of entries the walk did not ask for. */
  private next(seq: number): { kind: number; len: number; seq: number; off: number } {
    for (;;) {
      // The producer's head is read again only when the records known complete are all taken (a line the producer keeps writing).
      let head = this.head;
      if (head === this.tail) head = this.head = Atomics.load(this.ctrl, C.HEAD);
      while (head === this.tail) {
        this.publish();
        if (Atomics.load(this.ctrl, C.TAIL_WAITER) !== 0) Atomics.notify(this.ctrl, C.TAIL); // empty: whatever it waits for is free
        Atomics.store(this.ctrl, C.HEAD_WAITER, 1);
        head = Atomics.load(this.ctrl, C.HEAD);
        if (head === this.tail) Atomics.wait(this.ctrl, C.HEAD, head);
        Atomics.store(this.ctrl, C.HEAD_WAITER, 0);
        head = this.head = Atomics.load(this.ctrl, C.HEAD);
      }
      if (this.up !== null) {
        this.up();
        this.up = null;
      }
      const kind = this.tail + HDR > RING ? K.WRAP : this.dv.getInt32(this.tail, true);
      if (kind === K.WRAP) {
        this.advance(0, true);
        continue;
      }
      const len = this.dv.getInt32(this.tail + 4, true);
      const s = this.dv.getFloat64(this.tail + 8, true);
      if (kind === K.ERROR) {
        this.failure = JSON.parse(this.dec.decode(this.u8.subarray(this.tail + HDR, this.tail + HDR + len))) as HostFailure;
        throw this.failure;
      }
      if (kind === K.DONE || s === seq) return { kind, len, seq: s, off: this.tail + HDR };
      this.advance(len, false);
    }
  }

  /** Past the record at tail (payload len), or back to the ring's start. */
  private advance(len: number, wrap: boolean): void {
    const step = wrap ? RING - this.tail : HDR + ((len + HDR - 1) & -HDR);
    this.tail = wrap ? 0 : this.tail + step;
    if (this.tail === RING) this.tail = 0;
    this.consumed = (this.consumed + step) % MOD;
    if (Atomics.load(this.ctrl, C.TAIL_WAITER) !== 0 || (this.consumed - this.published + MOD) % MOD >= PUBLISH_EVERY) this.publish();
  }

  /** Tells the producer how far the ring is read, and wakes it if it waits for what that frees. */
  private publish(): void {
    if (this.published === this.consumed) return;
    this.published = this.consumed;
    Atomics.store(this.ctrl, C.CONSUMED, this.consumed);
    Atomics.store(this.ctrl, C.TAIL, this.tail);
    if (Atomics.load(this.ctrl, C.TAIL_WAITER) !== 0 && (this.consumed - Atomics.load(this.ctrl, C.WAKE) + MOD) % MOD < MOD / 2) {
      Atomics.notify(this.ctrl, C.TAIL);
    }
  }

  /** What publish() last told. */
  private published = 0;

  /** Bytes passed, modulo MOD (what a waiting producer's WAKE is counted in). */
  private consumed = 0;

  private expect(seq: number, kinds: readonly number[]): { kind: number; len: number; off: number } {
    if (this.failure !== null) throw this.failure;
    const r = this.next(seq);
    if (r.seq !== seq || !kinds.includes(r.kind)) throw new Error(`host tree reader: entry ${seq} expected, ${r.seq} (kind ${r.kind}) found`);
    return r;
  }

  /** Directory entry seq's listing; its entries get their numbers here. */
  list(seq: number): ListedEntry[] {
    const out: ListedEntry[] = [];
    for (;;) {
      const r = this.expect(seq, [K.LIST, K.LIST_MORE]);
      let o = r.off;
      const end = r.off + r.len;
      while (o < end) {
        const dv = this.dv;
        const nameLen = dv.getFloat64(o + (FIELDS - 1) * 8, true);
        const name = nameDecode(this.u8, o + FIELDS * 8 + 8, nameLen);
        out.push({
          name, type: dv.getFloat64(o, true), mode: dv.getFloat64(o + 8, true), uid: dv.getFloat64(o + 16, true), gid: dv.getFloat64(o + 24, true),
          atimeSec: dv.getFloat64(o + 32, true), atimeNsec: dv.getFloat64(o + 40, true), mtimeSec: dv.getFloat64(o + 48, true), mtimeNsec: dv.getFloat64(o + 56, true),
          size: dv.getFloat64(o + 64, true), rdev: dv.getFloat64(o + 72, true), dev: dv.getFloat64(o + 80, true), ino: dv.getFloat64(o + 88, true), nlink: dv.getFloat64(o + 96, true),
        });
        o += FIELDS * 8 + 8 + ((nameLen + 7) & ~7);
      }
      this.advance(r.len, false);
      if (r.kind === K.LIST) break;
    }
    this.nextSeq += out.length;
    return out;
  }

  /** The number the next listing's first entry gets. */
  get listedUpTo(): number {
    return this.nextSeq;
  }

  /** A symlink's target bytes as a string. */
  readlink(seq: number): string {
    const r = this.expect(seq, [K.LINK]);
    const t = nameDecode(this.u8, r.off, r.len);
    this.advance(r.len, false);
    return t;
  }

  /** The file being read, its record not yet passed (cur), how much of cur read() took, and whether its last record is passed. */
  private openSeq = -1;
  private cur: { off: number; len: number; last: boolean } | null = null;
  private used = 0;
  private given = false;
  private ended = false;

  /** Starts reading file seq's bytes (a failure to open it is thrown here, as the open's). */
  open(seq: number): void {
    this.close();
    this.openSeq = seq;
    this.ended = false;
    this.cur = this.pull();
  }

  private pull(): { off: number; len: number; last: boolean } {
    const r = this.expect(this.openSeq, [K.DATA, K.LAST]);
    this.used = 0;
    this.given = false;
    return { off: r.off, len: r.len, last: r.kind === K.LAST };
  }

  /** Past the current record; the next one (or the end) is pulled at the next ask. */
  private release(): void {
    const c = this.cur;
    if (c === null) return;
    this.cur = null;
    this.advance(c.len, false);
    if (c.last) this.ended = true;
  }

  /** The open file's next bytes into buf; 0 at its end. */
  read(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && !this.ended) {
      if (this.cur === null) this.cur = this.pull();
      const c = this.cur;
      const take = Math.min(buf.length - n, c.len - this.used);
      buf.set(this.u8.subarray(c.off + this.used, c.off + this.used + take), n);
      n += take;
      this.used += take;
      if (this.used === c.len) this.release();
    }
    return n;
  }

  /**
   * The open file's next bytes in place (valid until the next ask); empty at
   * its end. Every view but the last is a whole number of VIEW_UNIT bytes.
   */
  view(): Uint8Array {
    if (this.cur !== null && this.given) this.release();
    if (this.ended) return this.u8.subarray(0, 0);
    if (this.cur === null) this.cur = this.pull();
    this.given = true;
    return this.u8.subarray(this.cur.off, this.cur.off + this.cur.len);
  }

  /** The open file is done with (what is left of it passed over at the next ask). */
  close(): void {
    this.release();
    this.openSeq = -1;
    this.ended = true;
  }

  /** Ends the worker (its walk stops at its next record). */
  async stop(): Promise<void> {
    Atomics.store(this.ctrl, C.STOP, 1);
    Atomics.notify(this.ctrl, C.TAIL);
    await this.worker.terminate();
  }
}
