/*
 * An NBD export as a block device: the client side of the network block
 * device protocol, over TCP or a Unix socket.
 *   const { error, dev, reason } = await NbdDevice.open('nbd://host:10809/disk', readOnly, { connections: 2 })
 * Every transfer is one NBD request, or several when it is larger than the
 * server's maximum payload (or, with several connections, a piece for each
 * of them), sent at once without waiting for earlier ones, so the pager's
 * concurrent reads are all in flight together and complete in whatever
 * order the server answers; at most MAX_IN_FLIGHT per connection, later
 * ones queue (cf. the pbuf pool's bound). A read's data goes from the socket
 * straight into the caller's buffers; a write's buffers are handed to the
 * socket as they are.
 * When the server offers NBD_FLAG_CAN_MULTI_CONN, up to `connections`
 * connections (DEFAULT_CONNECTIONS unless asked) share the requests, each to
 * the one with the fewest in flight (a large transfer cut into a piece for
 * each connection that has nothing in flight); a flush goes on one of them
 * once every write has its reply, which the flag makes cover them all.
 * With structured replies, holes in a read's reply arrive as a length, not
 * as zeros; with base:allocation, a read of runs the server reports as
 * zeros is answered here without a request (dev/nbd_extents.ts).
 * Read-only when asked or when the server exports read-only: writev answers
 * EROFS without asking the server. A server error answers that transfer with
 * its errno; a lost connection answers every transfer in flight, and every
 * later one, EIO (all connections end together). close() waits for the
 * transfers in flight, then disconnects cleanly (NBD_CMD_DISC).
 */

import { EINVAL, EIO, EROFS, ETIMEDOUT } from '../kern/errno.js';
import { byteLength, iovSplit } from '../kern/iovec.js';
import { type BlockDevice, newDeviceStats } from './device.js';
import { NbdConn, type NbdFailure } from './nbd_conn.js';
import { ZeroMap } from './nbd_extents.js';
import { nbdHandshake, type NbdExport } from './nbd_handshake.js';
import { CMD_BLOCK_STATUS, CMD_FLUSH, CMD_READ, CMD_WRITE, TFLAG_CAN_MULTI_CONN, TFLAG_READ_ONLY, TFLAG_SEND_FLUSH } from './nbd_proto.js';
import { describeTarget, parseNbdUrl, type NbdTarget } from './nbd_url.js';

export interface NbdOpenOptions {
  /** Milliseconds allowed to connect and finish the handshake (default 10 s). */
  timeoutMs?: number;
  /** Milliseconds a transfer may wait for the server's reply before the connection is given up and it fails EIO (default: no limit). */
  requestTimeoutMs?: number;
  /** Connections to open when the server offers NBD_FLAG_CAN_MULTI_CONN, 1 to MAX_CONNECTIONS (default DEFAULT_CONNECTIONS); one otherwise. */
  connections?: number;
  /** Negotiate structured replies and base:allocation (default true); false keeps to simple replies. */
  structuredReplies?: boolean;
}

export const NBD_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECTIONS = 2;
export const MAX_CONNECTIONS = 4;
/** Requests in flight on one connection; more wait their turn. */
export const MAX_IN_FLIGHT = 16;
/** With several connections, a transfer of at least twice this is cut into a piece per idle connection (pieces no smaller than this). */
const SPREAD_MIN = 128 * 1024;

export class NbdDevice implements BlockDevice {
  readonly stats = newDeviceStats();
  readonly size: number;
  readonly readOnly: boolean;
  /** The server itself exports read-only (NBD_FLAG_READ_ONLY). */
  readonly exportReadOnly: boolean;
  /** The largest payload of one request. */
  readonly maxPayload: number;
  /** Which option opened the export: 'go' (NBD_OPT_GO) or 'export-name' (the older NBD_OPT_EXPORT_NAME). */
  readonly negotiatedWith: NbdExport['via'];
  /** Structured replies were negotiated. */
  readonly structured: boolean;
  /** The server offers NBD_FLAG_CAN_MULTI_CONN. */
  readonly multiConn: boolean;
  /** Bytes of reads answered from block status (zero runs), never asked of the server. */
  zeroBytesSkipped = 0;
  private readonly flushes: boolean;
  private readonly zeros: ZeroMap | null;
  private closing: Promise<number> | null = null;
  private inFlight = 0;
  private peak = 0;
  private readonly waiting: Array<() => void> = [];
  private writesInFlight = 0;
  private writesDone: Array<() => void> = [];
  private next = 0;

  private constructor(
    private readonly conns: NbdConn[],
    readonly name: string,
    exp: NbdExport,
    readOnly: boolean,
  ) {
    this.size = exp.size;
    this.exportReadOnly = (exp.flags & TFLAG_READ_ONLY) !== 0;
    this.readOnly = readOnly || this.exportReadOnly;
    this.flushes = (exp.flags & TFLAG_SEND_FLUSH) !== 0;
    this.multiConn = (exp.flags & TFLAG_CAN_MULTI_CONN) !== 0;
    this.maxPayload = exp.maxPayload;
    this.negotiatedWith = exp.via;
    this.structured = exp.structured;
    this.zeros =
      exp.allocationContext === null
        ? null
        : new ZeroMap(exp.size, (offset, length, sink) => this.submit((c) => c.request(CMD_BLOCK_STATUS, offset, length, null, null, sink)));
    // One connection lost ends them all: the device's transfers fail together, as with one.
    for (const c of conns) c.onFail = (f) => this.connectionLost(f);
  }

  /** Connects and negotiates (more connections when the server allows); on failure an errno and a short reason ('connection refused', ...). */
  static async open(url: string, readOnly: boolean, opts: NbdOpenOptions = {}): Promise<{ error: number; dev: NbdDevice | null; reason?: string }> {
    const { target, reason } = parseNbdUrl(url);
    if (target === null) return { error: EINVAL, dev: null, reason };
    const want = opts.connections ?? DEFAULT_CONNECTIONS;
    if (!Number.isInteger(want) || want < 1 || want > MAX_CONNECTIONS) return { error: EINVAL, dev: null, reason: `connections must be 1 to ${MAX_CONNECTIONS}, not ${want}` };
    const first = await connectOne(target, opts);
    if (first.exp === null) return { error: first.error, dev: null, reason: first.reason };
    const conns = [first.conn];
    if ((first.exp.flags & TFLAG_CAN_MULTI_CONN) !== 0 && want > 1) {
      // More connections to the same export; one that fails or differs is closed, the device goes on with the rest.
      const more = await Promise.all(Array.from({ length: want - 1 }, () => connectOne(target, opts)));
      for (const m of more) {
        const e = m.exp;
        if (e !== null && e.size === first.exp.size && e.flags === first.exp.flags && e.structured === first.exp.structured && (e.allocationContext === null) === (first.exp.allocationContext === null)) conns.push(m.conn);
        else if (e !== null) void m.conn.disconnect(1000);
      }
    }
    return { error: 0, dev: new NbdDevice(conns, url, first.exp, readOnly) };
  }

  /** NBD requests sent so far (reads, writes, flushes, block-status queries and the disconnects). */
  get requests(): number {
    return this.conns.reduce((n, c) => n + c.requests, 0);
  }

  /** The most requests that were in flight at once (the pipelining the pager got). */
  get peakInFlight(): number {
    return this.peak;
  }

  /** Connections in use. */
  get connections(): number {
    return this.conns.length;
  }

  /** Block-status requests sent. */
  get blockStatusQueries(): number {
    return this.zeros?.queries ?? 0;
  }

  /** Why the connection ended, if it has (for messages and tests). */
  get failure(): string | null {
    for (const c of this.conns) if (c.failure !== null) return c.failure.reason;
    // (nbdkit told to stop answers ESHUTDOWN and keeps the connection open: no failure of the connection's own)
    for (const c of this.conns) if (c.serverShutdown) return 'the server is shutting down';
    return null;
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    const total = byteLength(bufs);
    if (!this.inBounds(offset, total)) return EIO;
    let error: number;
    const zeros = this.zeros === null || total === 0 ? [] : await this.zeros.zeroRuns(offset, total);
    if (zeros.length === 0) error = await this.transfer(CMD_READ, bufs, offset, total);
    else error = this.failure !== null ? EIO : await this.readAround(bufs, offset, total, zeros);
    if (error !== 0) return error;
    this.stats.reads++;
    this.stats.bytesRead += total;
    return 0;
  }

  async writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.readOnly) return EROFS;
    const total = byteLength(bufs);
    if (!this.inBounds(offset, total)) return EIO;
    this.writesInFlight++;
    this.zeros?.writing(offset, total);
    const error = await this.transfer(CMD_WRITE, bufs, offset, total);
    this.zeros?.written(offset, total);
    if (--this.writesInFlight === 0) {
      const ws = this.writesDone;
      this.writesDone = [];
      for (const w of ws) w();
    }
    if (error !== 0) return error;
    this.stats.writes++;
    this.stats.bytesWritten += total;
    return 0;
  }

  /**
   * NBD_CMD_FLUSH when the server takes it; otherwise there is nothing we
   * could ask for. With several connections it waits until every write has
   * its reply (the protocol's rule), then flushes on one: CAN_MULTI_CONN
   * makes a flush cover what every connection wrote.
   */
  async flush(): Promise<number> {
    if (this.readOnly || !this.flushes) return 0;
    if (this.conns.length > 1 && this.writesInFlight > 0) await new Promise<void>((resolve) => this.writesDone.push(resolve));
    return this.submit((c) => c.request(CMD_FLUSH, 0, 0, null, null));
  }

  /** Waits for the transfers in flight, then disconnects every connection. Once; later transfers answer EIO. */
  close(): Promise<number> {
    this.closing ??= Promise.all(this.conns.map((c) => c.disconnect())).then(() => 0);
    return this.closing;
  }

  private connectionLost(f: NbdFailure): void {
    if (this.closing !== null) return;
    for (const c of this.conns) c.fail(f.error, f.reason);
  }

  private inBounds(offset: number, total: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && offset + total <= this.size;
  }

  /** A read whose range holds zero runs: the runs are zero-filled here, the rest read from the server. */
  private async readAround(bufs: readonly Uint8Array[], offset: number, total: number, zeros: number[]): Promise<number> {
    const parts: Array<Promise<number>> = [];
    let at = 0;
    for (let k = 0; k <= zeros.length; k += 2) {
      const zs = k < zeros.length ? zeros[k] - offset : total;
      const ze = k < zeros.length ? zeros[k + 1] - offset : total;
      if (zs > at) parts.push(this.transfer(CMD_READ, iovRange(bufs, at, zs - at), offset + at, zs - at));
      if (ze > zs) {
        for (const b of iovRange(bufs, zs, ze - zs)) b.fill(0);
        this.zeroBytesSkipped += ze - zs;
      }
      at = ze;
    }
    const errors = await Promise.all(parts);
    return errors.find((e) => e !== 0) ?? 0;
  }

  /** One request, or several: at most maxPayload bytes each, and with several connections a piece for each. The first error wins. */
  private async transfer(cmd: number, bufs: readonly Uint8Array[], offset: number, total: number): Promise<number> {
    if (total === 0) return this.failure === null ? 0 : EIO;
    const isRead = cmd === CMD_READ;
    let piece = this.maxPayload;
    const idle = this.conns.length > 1 && total >= 2 * SPREAD_MIN ? this.idleConnections() : 0;
    if (idle > 1) piece = Math.min(piece, Math.max(SPREAD_MIN, roundUp(Math.ceil(total / idle), 4096)));
    if (total <= piece) return this.submit((c) => c.request(cmd, offset, total, isRead ? null : bufs, isRead ? bufs : null));
    const parts: Array<Promise<number>> = [];
    for (const p of iovSplit(bufs, piece)) {
      parts.push(this.submit((c) => c.request(cmd, offset + p.at, p.length, isRead ? null : p.iov, isRead ? p.iov : null)));
    }
    const errors = await Promise.all(parts);
    return errors.find((e) => e !== 0) ?? 0;
  }

  /**
   * Connections with nothing in flight. A transfer is cut into a piece for
   * each of them and no more: a connection already busy gains nothing from a
   * piece, and every request costs a header each way and its reply's
   * handling on both sides (a sequential reader's next window, sent while
   * the one before is in flight, goes whole to the idle connection).
   */
  private idleConnections(): number {
    let n = 0;
    for (const c of this.conns) if (c.inFlightCount === 0) n++;
    return n;
  }

  /** Sends a request on the connection with the fewest in flight, once the device has room for it (MAX_IN_FLIGHT a connection). */
  private async submit(send: (c: NbdConn) => Promise<number>): Promise<number> {
    while (this.inFlight >= MAX_IN_FLIGHT * this.conns.length) await new Promise<void>((resolve) => this.waiting.push(resolve));
    let best = this.conns[this.next];
    for (let i = 1; i < this.conns.length; i++) {
      const c = this.conns[(this.next + i) % this.conns.length];
      if (c.inFlightCount < best.inFlightCount) best = c;
    }
    this.next = (this.next + 1) % this.conns.length;
    this.inFlight++;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
    try {
      return await send(best);
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}

/** Connects one connection and negotiates; the connection is ready for transmission when exp is not null. */
async function connectOne(target: NbdTarget, opts: NbdOpenOptions): Promise<{ conn: NbdConn; exp: NbdExport | null; error: number; reason: string }> {
  const timeoutMs = opts.timeoutMs ?? NBD_CONNECT_TIMEOUT_MS;
  const conn = NbdConn.connect(target);
  const timer = setTimeout(() => conn.fail(ETIMEDOUT, `no answer from ${describeTarget(target)} within ${timeoutMs / 1000} s`), timeoutMs);
  try {
    const r = await nbdHandshake(conn, target.exportName, { structured: opts.structuredReplies ?? true });
    if (r.exp === null) {
      conn.fail(r.error, r.reason);
      return { conn, exp: null, error: r.error, reason: r.reason };
    }
    conn.startTransmission(r.exp.structured, r.exp.allocationContext);
    conn.requestTimeoutMs = opts.requestTimeoutMs ?? 0;
    return { conn, exp: r.exp, error: 0, reason: '' };
  } finally {
    clearTimeout(timer);
  }
}

/** The views of bytes [at, at+len) of iov taken as one. */
function iovRange(iov: readonly Uint8Array[], at: number, len: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of iov) {
    if (len === 0) break;
    if (at >= b.length) {
      at -= b.length;
      continue;
    }
    const k = Math.min(b.length - at, len);
    out.push(at === 0 && k === b.length ? b : b.subarray(at, at + k));
    len -= k;
    at = 0;
  }
  return out;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
