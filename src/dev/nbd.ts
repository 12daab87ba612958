/*
 * An NBD export as a block device: the client side of the network block
 * device protocol, over TCP or a Unix socket.
 *   const { error, dev, reason } = await NbdDevice.open('nbd://host:10809/disk', readOnly)
 * One connection; every transfer is one NBD request (several when it is
 * larger than the server's maximum payload), sent at once without waiting
 * for earlier ones, so the pager's concurrent reads are all in flight
 * together and complete in whatever order the server answers. A read's data
 * goes from the socket straight into the caller's buffers; a write's buffers
 * are handed to the socket as they are.
 * Read-only when asked or when the server exports read-only: writev answers
 * EROFS without asking the server. A server error answers that transfer with
 * its errno; a lost connection answers every transfer in flight, and every
 * later one, EIO. close() waits for the transfers in flight, then
 * disconnects cleanly (NBD_CMD_DISC).
 */

import { EINVAL, EIO, EROFS, ETIMEDOUT } from '../kern/errno.js';
import { byteLength, iovSplit } from '../kern/iovec.js';
import { type BlockDevice, newDeviceStats } from './device.js';
import { NbdConn } from './nbd_conn.js';
import { nbdHandshake, type NbdExport } from './nbd_handshake.js';
import { CMD_FLUSH, CMD_READ, CMD_WRITE, TFLAG_READ_ONLY, TFLAG_SEND_FLUSH } from './nbd_proto.js';
import { describeTarget, parseNbdUrl } from './nbd_url.js';

export interface NbdOpenOptions {
  /** Milliseconds allowed to connect and finish the handshake (default 10 s). */
  timeoutMs?: number;
  /** Milliseconds a transfer may wait for the server's reply before the connection is given up and it fails EIO (default: no limit). */
  requestTimeoutMs?: number;
}

export const NBD_CONNECT_TIMEOUT_MS = 10_000;

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
  private readonly flushes: boolean;
  private closing: Promise<number> | null = null;

  private constructor(
    private readonly conn: NbdConn,
    readonly name: string,
    exp: NbdExport,
    readOnly: boolean,
  ) {
    this.size = exp.size;
    this.exportReadOnly = (exp.flags & TFLAG_READ_ONLY) !== 0;
    this.readOnly = readOnly || this.exportReadOnly;
    this.flushes = (exp.flags & TFLAG_SEND_FLUSH) !== 0;
    this.maxPayload = exp.maxPayload;
    this.negotiatedWith = exp.via;
  }

  /** Connects and negotiates; on failure an errno and a short reason ('connection refused', ...). */
  static async open(url: string, readOnly: boolean, opts: NbdOpenOptions = {}): Promise<{ error: number; dev: NbdDevice | null; reason?: string }> {
    const { target, reason } = parseNbdUrl(url);
    if (target === null) return { error: EINVAL, dev: null, reason };
    const timeoutMs = opts.timeoutMs ?? NBD_CONNECT_TIMEOUT_MS;
    const conn = NbdConn.connect(target);
    const timer = setTimeout(() => conn.fail(ETIMEDOUT, `no answer from ${describeTarget(target)} within ${timeoutMs / 1000} s`), timeoutMs);
    try {
      const r = await nbdHandshake(conn, target.exportName);
      if (r.exp === null) {
        conn.fail(r.error, r.reason);
        return { error: r.error, dev: null, reason: r.reason };
      }
      conn.startTransmission();
      conn.requestTimeoutMs = opts.requestTimeoutMs ?? 0;
      return { error: 0, dev: new NbdDevice(conn, url, r.exp, readOnly) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** NBD requests sent so far (reads, writes, flushes and the disconnect). */
  get requests(): number {
    return this.conn.requests;
  }

  /** The most requests that were in flight at once (the pipelining the pager got). */
  get peakInFlight(): number {
    return this.conn.peakInFlight;
  }

  /** Why the connection ended, if it has (for messages and tests). */
  get failure(): string | null {
    return this.conn.failure?.reason ?? null;
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    const total = byteLength(bufs);
    if (!this.inBounds(offset, total)) return EIO;
    const error = await this.transfer(CMD_READ, bufs, offset, total);
    if (error !== 0) return error;
    this.stats.reads++;
    this.stats.bytesRead += total;
    return 0;
  }

  async writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.readOnly) return EROFS;
    const total = byteLength(bufs);
    if (!this.inBounds(offset, total)) return EIO;
    const error = await this.transfer(CMD_WRITE, bufs, offset, total);
    if (error !== 0) return error;
    this.stats.writes++;
    this.stats.bytesWritten += total;
    return 0;
  }

  /** NBD_CMD_FLUSH when the server takes it; otherwise there is nothing we could ask for. */
  async flush(): Promise<number> {
    if (this.readOnly || !this.flushes) return 0;
    return this.conn.request(CMD_FLUSH, 0, 0, null, null);
  }

  /** Waits for the transfers in flight, then disconnects. Once; later transfers answer EIO. */
  close(): Promise<number> {
    this.closing ??= this.conn.disconnect().then(() => 0);
    return this.closing;
  }

  private inBounds(offset: number, total: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && offset + total <= this.size;
  }

  /** One request, or several of at most maxPayload bytes each; the first error wins. */
  private async transfer(cmd: number, bufs: readonly Uint8Array[], offset: number, total: number): Promise<number> {
    if (total === 0) return this.conn.failure === null ? 0 : EIO;
    const isRead = cmd === CMD_READ;
    if (total <= this.maxPayload) return this.conn.request(cmd, offset, total, isRead ? null : bufs, isRead ? bufs : null);
    const parts: Array<Promise<number>> = [];
    for (const p of iovSplit(bufs, this.maxPayload)) {
      parts.push(this.conn.request(cmd, offset + p.at, p.length, isRead ? null : p.iov, isRead ? p.iov : null));
    }
    const errors = await Promise.all(parts);
    return errors.find((e) => e !== 0) ?? 0;
  }
}
