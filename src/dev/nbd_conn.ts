/*
 * One connection to an NBD server: the socket, the bytes coming in, and the
 * requests in flight. The NBD device (dev/nbd.ts) drives it in two phases:
 *   handshake     read(n) hands out exactly n bytes (dev/nbd_handshake.ts);
 *   transmission  request() sends a request with a fresh cookie and resolves
 *                 with an errno when the server's simple reply with that
 *                 cookie arrives. Many may be in flight; replies are matched
 *                 by cookie in whatever order they come. A read's payload is
 *                 received straight into the caller's buffers (the socket
 *                 reads into them), or copied there from the receive buffer
 *                 for what arrived together with a reply header.
 * Whatever goes wrong (the server drops the connection, a socket error, a
 * reply that breaks the protocol, a timeout), fail() ends the connection
 * once: every request in flight and every later one resolves EIO, and a
 * pending handshake read rejects with the reason. Nothing here throws at
 * the caller of request() and nothing is left waiting.
 *   const conn = NbdConn.connect(target); ...handshake...; conn.startTransmission()
 *   const error = await conn.request(CMD_READ, offset, length, null, bufs)
 */

import { connect, type Socket } from 'node:net';
import { ECONNREFUSED, EIO, ETIMEDOUT, strerror } from '../kern/errno.js';
import { errnoOf } from './host_errno.js';
import {
  CMD_DISC,
  CMD_READ,
  errnoOfServer,
  NBD_ESHUTDOWN,
  REQUEST_BYTES,
  REQUEST_MAGIC,
  SIMPLE_REPLY_BYTES,
  SIMPLE_REPLY_MAGIC,
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

interface InFlight {
  cmd: number;
  length: number;
  /** When it was sent (performance.now()), for the request timeout. */
  sent: number;
  /** A read's destination, filled in order. */
  into: readonly Uint8Array[] | null;
  done: (error: number) => void;
}

/** The socket's receive buffer, reused for every chunk (onread): chunks are consumed before the next arrives. */
const RECV_BUFFER = 256 * 1024;
/** A read's payload with at least this much left in its current buffer is received straight into that buffer. */
const DIRECT_MIN = 16 * 1024;
/** A server that sends more than this during the handshake, unasked, is not speaking NBD. */
const MAX_HANDSHAKE_BACKLOG = 1 << 20;
const TWO32 = 2 ** 32;

export class NbdConn {
  /** Set once, when the connection ends for any reason. */
  failure: NbdFailure | null = null;
  /** NBD requests sent (transmission phase), for the record. */
  requests = 0;
  /** The most requests that were ever in flight at once. */
  peakInFlight = 0;
  /**
   * Milliseconds a request may wait for its reply before the connection is
   * given up (0: no limit, as a hard NFS mount). A watchdog looks at the
   * oldest request in flight while any is.
   */
  requestTimeoutMs = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;

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
  private readonly header = new Uint8Array(SIMPLE_REPLY_BYTES);
  private readonly headerView = new DataView(this.header.buffer);
  private headerFill = 0;
  private payload: InFlight | null = null;
  private payloadBuf = 0;
  private payloadOff = 0;
  private payloadLeft = 0;
  /** The caller's buffer handed to the socket for its next read, if any. */
  private direct: Uint8Array | null = null;
  /** No new requests: closing, or the server said it is shutting down. */
  private stopping = false;
  /** NBD_CMD_DISC sent: the server closing is the expected end. */
  private ending = false;
  private idleWaiters: Array<() => void> = [];

  private constructor(target: NbdTarget) {
    const recv = Buffer.allocUnsafe(RECV_BUFFER);
    // Node asks for the buffer of each next socket read: the receive buffer,
    // or, in the middle of a read's payload, the caller's own buffer, so the
    // kernel copies the data where it belongs and we copy nothing.
    const onread = {
      buffer: (): Uint8Array => (this.direct = this.directTarget()) ?? recv,
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

  /** The handshake is over: from now on what arrives is replies. */
  startTransmission(): void {
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
   * whose lengths add up to `length`. => 0 or an errno, never a rejection.
   */
  request(cmd: number, offset: number, length: number, payload: readonly Uint8Array[] | null, into: readonly Uint8Array[] | null): Promise<number> {
    if (this.failure !== null || this.stopping) return Promise.resolve(EIO);
    const cookie = this.nextCookie++;
    const h = requestHeader(cmd, cookie, offset, length);
    if (this.requestTimeoutMs > 0 && this.watchdog === null) this.startWatchdog();
    return new Promise((resolve) => {
      this.inFlight.set(cookie, { cmd, length, into, done: resolve, sent: performance.now() });
      this.requests++;
      if (this.inFlight.size > this.peakInFlight) this.peakInFlight = this.inFlight.size;
      this.socket.cork();
      this.socket.write(h);
      if (payload !== null) for (const b of payload) if (b.length > 0) this.socket.write(b);
      this.socket.uncork();
    });
  }

  /** Parses simple replies out of a chunk; a read's payload is copied to its buffers. */
  private replies(chunk: Uint8Array): void {
    const n = chunk.length;
    let p = 0;
    while (p < n) {
      if (this.payload !== null) {
        p = this.copyPayload(chunk, p);
        continue;
      }
      const k = Math.min(SIMPLE_REPLY_BYTES - this.headerFill, n - p);
      this.header.set(chunk.subarray(p, p + k), this.headerFill);
      this.headerFill += k;
      p += k;
      if (this.headerFill < SIMPLE_REPLY_BYTES) return;
      this.headerFill = 0;
      const v = this.headerView;
      const magic = v.getUint32(0);
      if (magic !== SIMPLE_REPLY_MAGIC) {
        this.fail(EIO, magic === STRUCTURED_REPLY_MAGIC ? 'protocol error: a structured reply, never negotiated' : `protocol error: bad reply magic 0x${hex(magic)}`);
        return;
      }
      const error = v.getUint32(4);
      const cookie = v.getUint32(8) * TWO32 + v.getUint32(12);
      const r = this.inFlight.get(cookie);
      if (r === undefined) {
        this.fail(EIO, `protocol error: a reply for request ${cookie}, which is not in flight`);
        return;
      }
      this.inFlight.delete(cookie);
      if (error !== 0) {
        if (error === NBD_ESHUTDOWN) this.stopping = true;
        this.complete(r, errnoOfServer(error));
      } else if (r.cmd === CMD_READ && r.length > 0) {
        this.payload = r;
        this.payloadBuf = 0;
        this.payloadOff = 0;
        this.payloadLeft = r.length;
      } else {
        this.complete(r, 0);
      }
    }
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

  /** k more bytes of the current payload are in place: on to the next buffer at the end of one; the read completes when whole. */
  private payloadMoved(k: number): void {
    const r = this.payload!;
    this.payloadOff += k;
    this.payloadLeft -= k;
    if (this.payloadLeft === 0) {
      this.payload = null;
      this.complete(r, 0);
    } else if (this.payloadOff === r.into![this.payloadBuf].length) {
      this.payloadBuf++;
      this.payloadOff = 0;
    }
  }

  /** Gives the connection up when its oldest request has waited past requestTimeoutMs; stops when nothing is in flight. */
  private startWatchdog(): void {
    const limit = this.requestTimeoutMs;
    this.watchdog = setInterval(() => {
      const oldest = this.inFlight.values().next();
      if (oldest.done) {
        this.stopWatchdog();
        return;
      }
      if (performance.now() - oldest.value.sent > limit) this.fail(ETIMEDOUT, `no reply from the server within ${limit / 1000} s`);
    }, Math.max(10, Math.min(1000, limit / 4)));
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
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
   * then close our side and wait (at most waitMs) for the server to close.
   */
  async disconnect(waitMs = 5000): Promise<void> {
    this.stopping = true;
    await this.whenIdle();
    if (this.failure === null) {
      this.requests++;
      this.ending = true;
      this.socket.end(requestHeader(CMD_DISC, 0, 0, 0));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
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
    const cur = this.payload;
    this.payload = null;
    cur?.done(EIO);
    const rs = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const r of rs) r.done(EIO);
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const i of ws) i();
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

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
