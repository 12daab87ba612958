/*
 * One connection to an NBD server: the socket, the bytes coming in, and the
 * requests in flight. The NBD device (dev/nbd.ts) drives it in two phases:
 *   handshake     read(n) hands out exactly n bytes (dev/nbd_handshake.ts);
 *   transmission  request() sends a request with a fresh cookie and resolves
 *                 with an errno when the server's reply with that cookie is
 *                 complete: one simple reply, or structured reply chunks
 *                 (when negotiated) up to the one marked done. Many may be in
 *                 flight; replies, and chunks of different replies, are
 *                 matched by cookie in whatever order they come. A read's
 *                 data is received straight into the caller's buffers (the
 *                 socket reads into them), or copied there from the receive
 *                 buffer for what arrived together with a header; a hole
 *                 chunk zeroes its range; block-status extents go to the
 *                 request's sink. An error chunk fails that request only.
 * Whatever goes wrong (the server drops the connection, a socket error, a
 * reply that breaks the protocol: a bad magic or length, a chunk of unknown
 * type without the error bit, content outside the read or over an earlier
 * chunk, a read answered short, an unknown cookie; a timeout), fail() ends
 * the connection once: every request in flight and every later one resolves EIO, and a
 * pending handshake read rejects with the reason. Nothing here throws at
 * the caller of request() and nothing is left waiting.
 *   const conn = NbdConn.connect(target); ...handshake...; conn.startTransmission()
 *   const error = await conn.request(CMD_READ, offset, length, null, bufs)
 */

import { connect, type Socket } from 'node:net';
import { ECONNREFUSED, EIO, ETIMEDOUT, strerror } from '../kern/errno.js';
import { errnoOf } from './host_errno.js';
import {
  CMD_BLOCK_STATUS,
  CMD_DISC,
  CMD_READ,
  errnoOfServer,
  MAX_BLOCK_STATUS_DESCRIPTORS,
  MAX_STRING,
  NBD_ESHUTDOWN,
  REPLY_FLAG_DONE,
  REPLY_TYPE_BLOCK_STATUS,
  REPLY_TYPE_ERROR_BIT,
  REPLY_TYPE_ERROR_OFFSET,
  REPLY_TYPE_NONE,
  REPLY_TYPE_OFFSET_DATA,
  REPLY_TYPE_OFFSET_HOLE,
  REQUEST_BYTES,
  REQUEST_MAGIC,
  SIMPLE_REPLY_BYTES,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_BYTES,
  STRUCTURED_REPLY_MAGIC,
} from './nbd_proto.js';
import type { NbdTarget } from './nbd_url.js';

/** Why a connection ended (or a handshake failed): an errno and a short phrase. */
export class NbdFailure extends Error {
  constructor(
    readonly error: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Takes a block-status reply's extents: (length, flags) pairs from the request's offset on. */
export type ExtentSink = (extents: Uint32Array) => void;

interface InFlight {
  cmd: number;
  offset: number;
  length: number;
  /** When it was sent (performance.now()), for the request timeout. */
  sent: number;
  /** A read's destination, filled in order. */
  into: readonly Uint8Array[] | null;
  extents: ExtentSink | null;
  done: (error: number) => void;
  /** Structured replies: the first error chunk's errno, the content received so far (sorted [start, end) pairs, bytes), a status chunk seen. */
  error: number;
  covered: Array<[number, number]> | null;
  coveredBytes: number;
  statusSeen: boolean;
}

/** The socket's receive buffer, reused for every chunk (onread): chunks are consumed before the next arrives. */
const RECV_BUFFER = 256 * 1024;
/** A read's payload with at least this much left in its current buffer is received straight into that buffer. */
const DIRECT_MIN = 16 * 1024;
/** A server that sends more than this during the handshake, unasked, is not speaking NBD. */
const MAX_HANDSHAKE_BACKLOG = 1 << 20;
/** The largest error chunk: the code, a message of the protocol's longest string, an offset. */
const MAX_ERROR_CHUNK = 6 + MAX_STRING + 8;
const TWO32 = 2 ** 32;

export class NbdConn {
  /** Set once, when the connection ends for any reason. */
  failure: NbdFailure | null = null;
  /** Structured replies were negotiated; the id of base:allocation, if the server gave it. */
  structured = false;
  allocationContext: number | null = null;
  /** Called once when the connection ends, with why (a device with several connections ends them all). */
  onFail: ((f: NbdFailure) => void) | null = null;
  /** NBD requests sent (transmission phase), for the record. */
  requests = 0;
  /** The most requests that were ever in flight at once. */
  peakInFlight = 0;
  /**
   * Milliseconds a request may wait for its reply before the connection is
   * given up (0: no limit, as a hard NFS mount). A watchdog times the
   * oldest request in flight while any is.
   */
  requestTimeoutMs = 0;
  private watchdog: ReturnType<typeof setTimeout> | null = null;

  private readonly socket: Socket;
  private readonly closed: Promise<void>;
  // Handshake: bytes received and not yet read, and the one read waiting for more.
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private want: { n: number; resolve: (b: Uint8Array) => void; reject: (e: NbdFailure) => void } | null = null;
  private transmitting = false;
  // Transmission: requests by cookie, the reply header being gathered, the read whose payload is arriving.
  private readonly inFlight = new Map<number, InFlight>();
  private nextCookie = 1;
  private readonly header = new Uint8Array(STRUCTURED_REPLY_BYTES);
  private readonly headerView = new DataView(this.header.buffer);
  private headerFill = 0;
  /** The header's length, once its magic is known. */
  private headerNeed = SIMPLE_REPLY_BYTES;
  /** The structured chunk being received, and its fixed part being gathered (into `small` when it fits). */
  private chunk: { r: InFlight; cookie: number; flags: number; type: number; length: number } | null = null;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private readonly small = new Uint8Array(64);
  private payloadSimple = true;
  private payload: InFlight | null = null;
  private payloadBuf = 0;
  private payloadOff = 0;
  private payloadLeft = 0;
  /** The caller's buffer handed to the socket for its next read, if any. */
  private direct: Uint8Array | null = null;
  /** No new requests: closing, or the server said it is shutting down. */
  private stopping = false;
  /** The server answered a request with ESHUTDOWN: it is going away (why its reads fail, for messages). */
  serverShutdown = false;
  /** NBD_CMD_DISC sent: the server closing is the expected end. */
  private ending = false;
  private idleWaiters: Array<() => void> = [];

  private constructor(target: NbdTarget) {
    const recv = Buffer.allocUnsafe(RECV_BUFFER);
    // Node asks for the buffer of each next socket read: the receive buffer,
    // or, in the middle of a read's payload, the caller's own buffer, so the
    // kernel copies the data where it belongs and we copy nothing.
    const onread = {
      buffer: (): Uint8Array => (this.direct = this.directTarget()) ?? this.recvTarget(recv),
      callback: (n: number, buf: Uint8Array): boolean => {
        if (buf === this.direct && this.direct !== null) this.receivedDirect(n);
        else this.received(buf.subarray(0, n));
        return true;
      },
    };
    this.socket = target.kind === 'unix' ? connect({ path: target.path, onread }) : connect({ host: target.host, port: target.port, onread });
    this.socket.setNoDelay(true);
    this.socket.on('error', (e) => this.fail(errnoOf(e), socketReason(e)));
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('close', () => {
      if (this.ending) this.fail(EIO, 'disconnected');
      else this.fail(EIO, this.transmitting ? 'the server closed the connection' : 'the server closed the connection during the handshake');
    });
  }

  /** Starts connecting; a failure to connect surfaces through the first read(). */
  static connect(target: NbdTarget): NbdConn {
    return new NbdConn(target);
  }

  // ---- handshake ----

  /** Exactly n bytes from the server; rejects with an NbdFailure if the connection ends first. */
  read(n: number): Promise<Uint8Array> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.inboxBytes >= n) return Promise.resolve(this.take(n));
    return new Promise((resolve, reject) => {
      this.want = { n, resolve, reject };
    });
  }

  /** Writes bytes as they are (handshake messages). */
  send(...parts: Uint8Array[]): void {
    if (this.failure !== null) return;
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
  }

  /** The handshake is over: from now on what arrives is replies (structured chunks too, when negotiated). */
  startTransmission(structured = false, allocationContext: number | null = null): void {
    this.structured = structured;
    this.allocationContext = allocationContext;
    this.transmitting = true;
    const left = this.inbox;
    this.inbox = [];
    this.inboxBytes = 0;
    for (const b of left) if (this.failure === null) this.replies(b);
  }

  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const b = this.inbox[0];
      const k = Math.min(b.length, n - filled);
      out.set(b.subarray(0, k), filled);
      filled += k;
      if (k === b.length) this.inbox.shift();
      else this.inbox[0] = b.subarray(k);
    }
    this.inboxBytes -= n;
    return out;
  }

  private received(chunk: Uint8Array): void {
    if (this.failure !== null) return;
    if (this.transmitting) {
      this.replies(chunk);
      return;
    }
    this.inbox.push(new Uint8Array(chunk)); // a copy: the receive buffer is reused (and a Buffer's slice() would not copy)
    this.inboxBytes += chunk.length;
    if (this.inboxBytes > MAX_HANDSHAKE_BACKLOG) {
      this.fail(EIO, 'protocol error: the server sends data nobody asked for');
      return;
    }
    const w = this.want;
    if (w !== null && this.inboxBytes >= w.n) {
      this.want = null;
      w.resolve(this.take(w.n));
    }
  }

  // ---- transmission ----

  /**
   * Sends one request: the 28-byte header, then `payload` (a write's buffers,
   * written as they are, no copy). A read's reply payload goes into `into`,
   * whose lengths add up to `length`; a block-status request's extents go to
   * `extents`. => 0 or an errno, never a rejection.
   */
  request(
    cmd: number,
    offset: number,
    length: number,
    payload: readonly Uint8Array[] | null,
    into: readonly Uint8Array[] | null,
    extents: ExtentSink | null = null,
  ): Promise<number> {
    if (this.failure !== null || this.stopping) return Promise.resolve(EIO);
    const cookie = this.nextCookie++;
    const h = requestHeader(cmd, cookie, offset, length);
    return new Promise((resolve) => {
      this.inFlight.set(cookie, { cmd, offset, length, into, extents, done: resolve, sent: performance.now(), error: 0, covered: null, coveredBytes: 0, statusSeen: false });
      this.requests++;
      if (this.inFlight.size > this.peakInFlight) this.peakInFlight = this.inFlight.size;
      if (this.requestTimeoutMs > 0 && this.watchdog === null) this.startWatchdog();
      this.socket.cork();
      this.socket.write(h);
      if (payload !== null) for (const b of payload) if (b.length > 0) this.socket.write(b);
      this.socket.uncork();
    });
  }

  /** Requests in flight now. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Parses replies out of a chunk of the stream: simple replies, and
   * structured reply chunks when negotiated. A read's data is copied to its
   * buffers (or received straight into them, see directTarget); a chunk's
   * small fixed part (an offset, a hole, an error, extents) is gathered first.
   */
  private replies(chunk: Uint8Array): void {
    const n = chunk.length;
    let p = 0;
    while (p < n && this.failure === null) {
      if (this.payload !== null) {
        p = this.copyPayload(chunk, p);
        continue;
      }
      if (this.body !== null) {
        const k = Math.min(this.body.length - this.bodyFill, n - p);
        this.body.set(chunk.subarray(p, p + k), this.bodyFill);
        this.bodyFill += k;
        p += k;
        if (this.bodyFill === this.body.length) this.chunkBody();
        continue;
      }
      const need = this.headerFill < 4 ? 4 : this.headerNeed;
      const k = Math.min(need - this.headerFill, n - p);
      this.header.set(chunk.subarray(p, p + k), this.headerFill);
      this.headerFill += k;
      p += k;
      if (this.headerFill < need) continue;
      if (need === 4) {
        const magic = this.headerView.getUint32(0);
        if (magic === SIMPLE_REPLY_MAGIC) this.headerNeed = SIMPLE_REPLY_BYTES;
        else if (magic === STRUCTURED_REPLY_MAGIC && this.structured) this.headerNeed = STRUCTURED_REPLY_BYTES;
        else {
          this.fail(EIO, magic === STRUCTURED_REPLY_MAGIC ? 'protocol error: a structured reply, never negotiated' : `protocol error: bad reply magic 0x${hex(magic)}`);
          return;
        }
        continue;
      }
      this.headerFill = 0;
      if (need === SIMPLE_REPLY_BYTES) this.simpleReply();
      else this.chunkHeader();
    }
  }

  /** A simple reply's header is in: the request ends, or its payload follows (a read without structured replies). */
  private simpleReply(): void {
    const v = this.headerView;
    const error = v.getUint32(4);
    const cookie = v.getUint32(8) * TWO32 + v.getUint32(12);
    const r = this.inFlight.get(cookie);
    if (r === undefined) return this.fail(EIO, `protocol error: a reply for request ${cookie}, which is not in flight`);
    if (error === 0 && this.structured && (r.cmd === CMD_READ || r.cmd === CMD_BLOCK_STATUS)) {
      return this.fail(EIO, `protocol error: a simple reply to a ${r.cmd === CMD_READ ? 'read' : 'block-status request'}, with structured replies negotiated`);
    }
    if (r.covered !== null || r.statusSeen || r.error !== 0) return this.fail(EIO, `protocol error: a simple reply to request ${cookie} after structured chunks`);
    this.inFlight.delete(cookie);
    if (error !== 0) {
      if (error === NBD_ESHUTDOWN) this.stopping = this.serverShutdown = true;
      this.complete(r, errnoOfServer(error));
    } else if (r.cmd === CMD_READ && r.length > 0) {
      this.startPayload(r, 0, r.length, true);
    } else {
      this.complete(r, 0);
    }
  }

  /** A structured chunk's header is in: check its type and length against the request, then gather its fixed part. */
  private chunkHeader(): void {
    const v = this.headerView;
    const flags = v.getUint16(4);
    const type = v.getUint16(6);
    const cookie = v.getUint32(8) * TWO32 + v.getUint32(12);
    const length = v.getUint32(16);
    const r = this.inFlight.get(cookie);
    if (r === undefined) return this.fail(EIO, `protocol error: a reply for request ${cookie}, which is not in flight`);
    const bad = (what: string) => this.fail(EIO, `protocol error: ${what} (reply to request ${cookie})`);
    let fixed: number;
    if ((type & REPLY_TYPE_ERROR_BIT) !== 0) {
      if (length < 6 || length > MAX_ERROR_CHUNK) return bad(`an error chunk of ${length} bytes`);
      fixed = length;
    } else if (type === REPLY_TYPE_NONE) {
      if (length !== 0) return bad(`a NONE chunk of ${length} bytes`);
      if ((flags & REPLY_FLAG_DONE) === 0) return bad('a NONE chunk that is not the last');
      fixed = 0;
    } else if (type === REPLY_TYPE_OFFSET_DATA) {
      if (r.cmd !== CMD_READ) return bad('data for a request that is not a read');
      if (length < 9 || length - 8 > r.length) return bad(`a data chunk of ${length} bytes for a read of ${r.length}`);
      fixed = 8;
    } else if (type === REPLY_TYPE_OFFSET_HOLE) {
      if (r.cmd !== CMD_READ) return bad('a hole for a request that is not a read');
      if (length !== 12) return bad(`a hole chunk of ${length} bytes`);
      fixed = 12;
    } else if (type === REPLY_TYPE_BLOCK_STATUS) {
      if (r.cmd !== CMD_BLOCK_STATUS) return bad('block status for a request that is not a block-status request');
      if (length < 12 || (length - 4) % 8 !== 0 || (length - 4) / 8 > MAX_BLOCK_STATUS_DESCRIPTORS) return bad(`a block-status chunk of ${length} bytes`);
      fixed = length;
    } else {
      return bad(`a chunk of unknown type ${type}`);
    }
    this.chunk = { r, cookie, flags, type, length };
    if (fixed === 0) return this.chunkEnd();
    this.body = fixed <= this.small.length ? this.small.subarray(0, fixed) : new Uint8Array(fixed);
    this.bodyFill = 0;
  }

  /** A chunk's fixed part is in: check it and act on it. */
  private chunkBody(): void {
    const c = this.chunk!;
    const r = c.r;
    const b = this.body!;
    this.body = null;
    const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const bad = (what: string) => this.fail(EIO, `protocol error: ${what} (reply to request ${c.cookie})`);
    if ((c.type & REPLY_TYPE_ERROR_BIT) !== 0) {
      const error = d.getUint32(0);
      const msgLen = d.getUint16(4);
      const rest = c.type === REPLY_TYPE_ERROR_OFFSET ? 14 : 6;
      if (c.length < rest || msgLen > c.length - rest) return bad(`an error message of ${msgLen} bytes in a chunk of ${c.length}`);
      if (c.type === REPLY_TYPE_ERROR_OFFSET) {
        const at = u64(d, 6 + msgLen);
        if (at < r.offset || at >= r.offset + Math.max(1, r.length)) return bad(`an error at offset ${at}, outside the request`);
      }
      if (r.error === 0) r.error = error === 0 ? EIO : errnoOfServer(error);
      if (error === NBD_ESHUTDOWN) this.stopping = this.serverShutdown = true;
      return this.chunkEnd();
    }
    if (c.type === REPLY_TYPE_OFFSET_DATA) {
      const at = u64(d, 0) - r.offset;
      const len = c.length - 8;
      if (!this.cover(r, at, len)) return bad(`data at offset ${at + r.offset} for ${len} bytes, outside the read or over earlier chunks`);
      this.startPayload(r, at, len, false);
      return;
    }
    if (c.type === REPLY_TYPE_OFFSET_HOLE) {
      const at = u64(d, 0) - r.offset;
      const len = d.getUint32(8);
      if (len === 0 || !this.cover(r, at, len)) return bad(`a hole at offset ${at + r.offset} for ${len} bytes, outside the read or over earlier chunks`);
      zeroRange(r.into!, at, len);
      return this.chunkEnd();
    }
    // REPLY_TYPE_BLOCK_STATUS
    const ctx = d.getUint32(0);
    if (ctx !== this.allocationContext) return bad(`block status for metadata context ${ctx}, which was not negotiated`);
    if (r.statusSeen) return bad('two block-status chunks for one context');
    r.statusSeen = true;
    const count = (c.length - 4) / 8;
    const ext = new Uint32Array(count * 2);
    for (let i = 0; i < count; i++) {
      ext[2 * i] = d.getUint32(4 + 8 * i);
      ext[2 * i + 1] = d.getUint32(8 + 8 * i);
      if (ext[2 * i] === 0) return bad('an extent of length 0');
    }
    if (r.error === 0) r.extents?.(ext);
    this.chunkEnd();
  }

  /** The current chunk is done; the request is too when it was the last. */
  private chunkEnd(): void {
    const c = this.chunk!;
    this.chunk = null;
    if ((c.flags & REPLY_FLAG_DONE) === 0) return;
    const r = c.r;
    // Checked while r is still in flight, so that fail() answers it too.
    if (r.error === 0 && r.cmd === CMD_READ && r.coveredBytes !== r.length) {
      return this.fail(EIO, `protocol error: a read of ${r.length} bytes answered for ${r.coveredBytes} (reply to request ${c.cookie})`);
    }
    if (r.error === 0 && r.cmd === CMD_BLOCK_STATUS && !r.statusSeen) {
      return this.fail(EIO, `protocol error: a block-status reply without extents (reply to request ${c.cookie})`);
    }
    this.inFlight.delete(c.cookie);
    this.complete(r, r.error);
  }

  /** Records that [at, at+len) of the read r arrived; false when it lies outside r or over what already did. */
  private cover(r: InFlight, at: number, len: number): boolean {
    if (!Number.isSafeInteger(at) || at < 0 || at + len > r.length) return false;
    const cv = (r.covered ??= []);
    // Sorted, disjoint [start, end) pairs; chunks mostly arrive in order, so the search starts at the end.
    let i = cv.length;
    while (i > 0 && cv[i - 1][0] > at) i--;
    if (i > 0 && cv[i - 1][1] > at) return false;
    if (i < cv.length && cv[i][0] < at + len) return false;
    cv.splice(i, 0, [at, at + len]);
    r.coveredBytes += len;
    return true;
  }

  /** The next `len` bytes of the stream are r's data from byte `at` of its buffers. */
  private startPayload(r: InFlight, at: number, len: number, simple: boolean): void {
    const into = r.into!;
    let i = 0;
    while (i < into.length && at >= into[i].length) at -= into[i++].length;
    this.payload = r;
    this.payloadBuf = i;
    this.payloadOff = at;
    this.payloadLeft = len;
    this.payloadSimple = simple;
  }

  /**
   * Where the next socket read lands when it is not into a payload's buffer
   * (none is current, or its buffer is too small to be worth a read of its
   * own). Node asks for it right after the previous read is parsed, before
   * we know what comes next, so in transmission it is only up to the end of
   * the next header and a data chunk's offset (what replies() needs to know
   * where data goes): the read after it goes straight into the caller's
   * buffers instead of through here and a copy. A reply without data (a
   * write's) costs a read of its own. In the handshake: the whole buffer.
   */
  private recvTarget(recv: Uint8Array): Uint8Array {
    if (!this.transmitting) return recv;
    if (this.payload !== null) {
      // The current buffer is small: the run of small buffers from it, up to the next one worth a read of its own.
      const into = this.payload.into!;
      let k = 0;
      let left = this.payloadLeft;
      for (let i = this.payloadBuf, off = this.payloadOff; left > 0 && i < into.length && k < recv.length; i++, off = 0) {
        const room = Math.min(into[i].length - off, left);
        if (room >= DIRECT_MIN && k > 0) break;
        k += room;
        left -= room;
      }
      return recv.subarray(0, Math.min(Math.max(k, 1), recv.length));
    }
    let need: number;
    if (this.body !== null) need = this.body.length - this.bodyFill;
    else if (this.headerFill > 0) need = (this.headerFill < 4 ? (this.structured ? STRUCTURED_REPLY_BYTES : SIMPLE_REPLY_BYTES) : this.headerNeed) - this.headerFill + (this.structured ? 8 : 0);
    else need = this.structured ? STRUCTURED_REPLY_BYTES + 8 : SIMPLE_REPLY_BYTES;
    return recv.subarray(0, Math.max(need, 1));
  }

  /** Where the next socket read should land: the rest of the current payload buffer, when it is worth a read of its own. */
  private directTarget(): Uint8Array | null {
    if (this.payload === null || this.failure !== null) return null;
    const b = this.payload.into![this.payloadBuf];
    const k = Math.min(b.length - this.payloadOff, this.payloadLeft);
    return k >= DIRECT_MIN ? b.subarray(this.payloadOff, this.payloadOff + k) : null;
  }

  /** n bytes of the current payload arrived in place (see directTarget). */
  private receivedDirect(n: number): void {
    if (this.failure === null) this.payloadMoved(n);
  }

  /** Copies what chunk holds of the current read's payload from p; returns the new p. */
  private copyPayload(chunk: Uint8Array, p: number): number {
    const into = this.payload!.into!;
    while (this.payload !== null && p < chunk.length) {
      const b = into[this.payloadBuf];
      const k = Math.min(b.length - this.payloadOff, chunk.length - p, this.payloadLeft);
      b.set(k === chunk.length ? chunk : chunk.subarray(p, p + k), this.payloadOff);
      p += k;
      this.payloadMoved(k);
    }
    return p;
  }

  /** k more bytes of the current payload are in place: on to the next buffer at the end of one; the read (or its chunk) ends when whole. */
  private payloadMoved(k: number): void {
    const r = this.payload!;
    this.payloadOff += k;
    this.payloadLeft -= k;
    if (this.payloadLeft === 0) {
      this.payload = null;
      if (this.payloadSimple) this.complete(r, 0);
      else this.chunkEnd();
    } else if (this.payloadOff === r.into![this.payloadBuf].length) {
      this.payloadBuf++;
      this.payloadOff = 0;
    }
  }

  /**
   * Gives the connection up when its oldest request has waited
   * requestTimeoutMs: a timer set for the moment the oldest in flight comes
   * due (requests are kept in the order they were sent), set again for the
   * next oldest when that one has had its reply, none while nothing is in
   * flight. The failure comes at the limit, not up to a polling period late.
   */
  private startWatchdog(): void {
    const oldest = this.inFlight.values().next();
    if (oldest.done || this.failure !== null) return;
    const limit = this.requestTimeoutMs;
    const due = oldest.value.sent + limit - performance.now();
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      const o = this.inFlight.values().next();
      if (o.done) return;
      if (performance.now() - o.value.sent >= limit) this.fail(ETIMEDOUT, `no reply from the server within ${limit / 1000} s`);
      else this.startWatchdog();
    }, Math.max(0, Math.ceil(due)));
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private complete(r: InFlight, error: number): void {
    r.done(error);
    if (this.idle()) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private idle(): boolean {
    return this.inFlight.size === 0 && this.payload === null;
  }

  /** Resolves when no request is in flight (at once if none is, or the connection has ended). */
  whenIdle(): Promise<void> {
    if (this.idle() || this.failure !== null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- the end ----

  /**
   * A clean end: no new requests, wait for those in flight, NBD_CMD_DISC,
   * then close our side once the kernel has it (at most waitMs). The server
   * answers NBD_CMD_DISC with nothing and every request already has its
   * reply, so its own close is not waited for: what a server takes to tear
   * a connection down (nbdkit: 1 to 20 ms, joining its threads) is not the
   * client's to wait out.
   */
  async disconnect(waitMs = 5000): Promise<void> {
    this.stopping = true;
    await this.whenIdle();
    if (this.failure === null) {
      this.requests++;
      this.ending = true;
      let timer: NodeJS.Timeout | undefined;
      const sent = new Promise<void>((resolve) => this.socket.end(requestHeader(CMD_DISC, 0, 0, 0), () => resolve()));
      await Promise.race([sent, this.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    }
    this.fail(EIO, 'disconnected');
  }

  /**
   * Ends the connection now (a hard disconnect) with this reason: every
   * request in flight resolves EIO, a waiting handshake read rejects. Once.
   */
  fail(error: number, reason: string): void {
    if (this.failure !== null) return;
    const f = new NbdFailure(error, reason);
    this.failure = f;
    this.stopWatchdog();
    this.socket.destroy();
    const w = this.want;
    this.want = null;
    w?.reject(f);
    // The read whose payload is arriving (no longer in flight for a simple reply, still in flight for a data chunk) and the rest.
    const rs = new Set(this.inFlight.values());
    if (this.payload !== null) rs.add(this.payload);
    this.payload = null;
    this.chunk = null;
    this.body = null;
    this.inFlight.clear();
    for (const r of rs) r.done(EIO);
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const i of ws) i();
    this.onFail?.(f);
  }
}

/** The 28-byte header of a request (no command flags). */
function requestHeader(cmd: number, cookie: number, offset: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(REQUEST_BYTES);
  h.writeUInt32BE(REQUEST_MAGIC, 0);
  h.writeUInt16BE(0, 4); // command flags
  h.writeUInt16BE(cmd, 6);
  h.writeUInt32BE(Math.floor(cookie / TWO32), 8);
  h.writeUInt32BE(cookie >>> 0, 12);
  h.writeUInt32BE(Math.floor(offset / TWO32), 16);
  h.writeUInt32BE(offset >>> 0, 20);
  h.writeUInt32BE(length, 24);
  return h;
}

/** A socket error as a short phrase: 'connection refused', 'host not found', ... */
function socketReason(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return strerror(ECONNREFUSED);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ENOENT':
      return 'no such socket';
    case 'ETIMEDOUT':
      return strerror(ETIMEDOUT);
    default: {
      const n = errnoOf(e);
      if (n !== EIO) return strerror(n);
      return e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
  }
}

/** A 64-bit big-endian value at off (beyond 2^53 it is no longer exact, and no offset of ours is that large). */
function u64(d: DataView, off: number): number {
  return d.getUint32(off) * TWO32 + d.getUint32(off + 4);
}

/** Zeroes bytes [at, at+len) of the buffers taken as one. */
function zeroRange(into: readonly Uint8Array[], at: number, len: number): void {
  for (const b of into) {
    if (len === 0) return;
    if (at >= b.length) {
      at -= b.length;
      continue;
    }
    const k = Math.min(b.length - at, len);
    b.fill(0, at, at + k);
    len -= k;
    at = 0;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
