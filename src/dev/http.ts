/*
 * An image on a web server as a read-only block device, read with HTTP
 * range requests (RFC 9110 §14): the browser entry's remote image.
 *   const { error, dev, reason } = await HttpDevice.open('https://host/disk.img')
 * open() asks for the first byte (`Range: bytes=0-0`): the answer must be
 * 206 with `Content-Range: bytes 0-0/SIZE`, which gives the size and shows
 * that the server honours ranges; a 200 (the whole file: no range support)
 * or a size the server does not state is refused with the reason. The
 * validator (ETag, else Last-Modified) seen then is kept.
 * Every transfer is one request for exactly its bytes, sent at once: the
 * pager's concurrent transfers are all in flight together (the browser
 * spreads them over its connections). The body is copied into the frames as
 * it arrives. Each answer is checked: status 206, Content-Range equal to the
 * range asked, the validator unchanged (the image was replaced on the
 * server: refused), exactly the bytes asked. Any failure is EIO, its reason
 * kept in `failure`. Requests bypass the browser's HTTP cache (the pager is
 * the cache). Writes are EROFS. `readAheadDepth` asks the VM for that many
 * read-ahead windows (requests) in flight ahead of a sequential reader.
 */

import { EINVAL, EIO, ENOENT, EACCES, EROFS, ETIMEDOUT } from '../kern/errno.js';
import { byteLength } from '../kern/iovec.js';
import { type BlockDevice, countRead, newDeviceStats } from './device.js';
import { IovFiller } from './iov_copy.js';

export interface HttpOpenOptions {
  /** Milliseconds one request may take before it fails EIO (default 60 s; 0: no limit). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Read-ahead windows (one request each) a sequential reader keeps in
   * flight (default: the VM's, 2). More hides a distant server's round
   * trips; each window needs its own frames.
   */
  readAheadDepth?: number;
}

export const HTTP_TIMEOUT_MS = 60_000;

/** True for an http:// or https:// URL (what the HTTP device opens). */
export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** RequestInit's cache mode (Node's typings of fetch leave it out; its fetch takes it). */
const NO_STORE = { cache: 'no-store' } as RequestInit;

/** `bytes FIRST-LAST/SIZE`, or null. */
function parseContentRange(v: string | null): { first: number; last: number; size: number | null } | null {
  const m = v === null ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (m === null) return null;
  return { first: Number(m[1]), last: Number(m[2]), size: m[3] === '*' ? null : Number(m[3]) };
}

function validatorOf(res: Response): string | null {
  const etag = res.headers.get('etag');
  if (etag !== null) return `ETag ${etag}`;
  const lm = res.headers.get('last-modified');
  return lm === null ? null : `Last-Modified ${lm}`;
}

/**
 * Why a fetch failed, in words: Node's fetch says only "fetch failed" and
 * keeps the socket's error as its cause (connection refused, no such host);
 * a browser's gives nothing more.
 */
function fetchFailure(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const words: Record<string, string> = { ECONNREFUSED: 'connection refused', ENOTFOUND: 'no such host', ECONNRESET: 'connection reset by peer', EHOSTUNREACH: 'no route to host', ENETUNREACH: 'network is unreachable' };
  if (cause?.code !== undefined && words[cause.code] !== undefined) return words[cause.code];
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}

export class HttpDevice implements BlockDevice {
  readonly stats = newDeviceStats();
  readonly readOnly = true;
  /** Transfers done, by size in bytes (a histogram of what the pager asked for). */
  readonly transferSizes = new Map<number, number>();
  /** Why the device failed, for messages; the first failure is kept. */
  failure: string | null = null;
  /** Transfers in flight now, and the most at once. */
  inFlight = 0;
  peakInFlight = 0;
  /** Read-ahead windows a sequential reader keeps in flight here (BlockDevice.readAheadDepth; undefined: the VM's). */
  readAheadDepth: number | undefined;
  private readonly aborter = new AbortController();
  private closed = false;

  private constructor(
    readonly name: string,
    readonly size: number,
    /** ETag or Last-Modified as the probe saw it (null: the server sent neither). */
    readonly validator: string | null,
    private readonly fetchFn: typeof fetch,
    private readonly timeoutMs: number,
    readAheadDepth: number | undefined,
  ) {
    this.readAheadDepth = readAheadDepth;
  }

  /** Probes the URL; on failure an errno and the reason ('the server ignores range requests ...'). */
  static async open(url: string, opts: HttpOpenOptions = {}): Promise<{ error: number; dev: HttpDevice | null; reason?: string }> {
    if (opts.readAheadDepth !== undefined && !(Number.isSafeInteger(opts.readAheadDepth) && opts.readAheadDepth >= 1)) {
      return { error: EINVAL, dev: null, reason: `readAheadDepth ${opts.readAheadDepth}: a whole number of windows, 1 or more` };
    }
    const fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    const timeoutMs = opts.timeoutMs ?? HTTP_TIMEOUT_MS;
    let res: Response;
    try {
      res = await fetchFn(url, { headers: { Range: 'bytes=0-0' }, ...NO_STORE, signal: timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined });
    } catch (e) {
      const timedOut = e instanceof Error && e.name === 'TimeoutError';
      return { error: timedOut ? ETIMEDOUT : EIO, dev: null, reason: timedOut ? `no answer within ${timeoutMs / 1000} s` : `cannot fetch: ${fetchFailure(e)}` };
    }
    // Only the headers matter here: a server that sends the whole image must not be read to its end.
    await res.body?.cancel().catch(() => {});
    if (res.status === 200) {
      return { error: EINVAL, dev: null, reason: 'the server does not answer range requests (200 with the whole file instead of 206 Partial Content)' };
    }
    if (res.status === 404 || res.status === 410) return { error: ENOENT, dev: null, reason: `HTTP ${res.status}` };
    if (res.status === 401 || res.status === 403) return { error: EACCES, dev: null, reason: `HTTP ${res.status}` };
    if (res.status === 416) return { error: EINVAL, dev: null, reason: 'the image is empty (416 Range Not Satisfiable for its first byte)' };
    if (res.status !== 206) return { error: EIO, dev: null, reason: `HTTP ${res.status} to a range request` };
    const cr = parseContentRange(res.headers.get('content-range'));
    if (cr === null || cr.first !== 0 || cr.last !== 0) return { error: EIO, dev: null, reason: `206 without a Content-Range for bytes 0-0 (${res.headers.get('content-range') ?? 'none'})` };
    if (cr.size === null || !Number.isSafeInteger(cr.size)) return { error: EIO, dev: null, reason: 'the server does not state the image size (Content-Range: bytes 0-0/*)' };
    return { error: 0, dev: new HttpDevice(url, cr.size, validatorOf(res), fetchFn, timeoutMs, opts.readAheadDepth) };
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    const total = byteLength(bufs);
    if (this.closed || !Number.isSafeInteger(offset) || offset < 0 || offset + total > this.size) return EIO;
    if (total === 0) return 0;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      const why = await this.get(bufs, offset, total);
      if (why !== null) {
        this.failure ??= `bytes ${offset}-${offset + total - 1}: ${why}`;
        return EIO;
      }
    } finally {
      this.inFlight--;
    }
    countRead(this.stats, this.transferSizes, total);
    return 0;
  }

  writev(): Promise<number> {
    return Promise.resolve(EROFS);
  }

  flush(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Aborts the requests in flight (they answer EIO); later transfers answer EIO. */
  close(): Promise<number> {
    this.closed = true;
    this.aborter.abort();
    return Promise.resolve(0);
  }

  /** One range request into bufs; null when all is well, else what went wrong. */
  private async get(bufs: readonly Uint8Array[], offset: number, total: number): Promise<string | null> {
    const last = offset + total - 1;
    const signals = [this.aborter.signal];
    if (this.timeoutMs > 0) signals.push(AbortSignal.timeout(this.timeoutMs));
    let res: Response;
    try {
      res = await this.fetchFn(this.name, { headers: { Range: `bytes=${offset}-${last}` }, ...NO_STORE, signal: anySignal(signals) });
    } catch (e) {
      return e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : `cannot fetch: ${fetchFailure(e)}`;
    }
    const refuse = async (why: string): Promise<string> => {
      await res.body?.cancel().catch(() => {});
      return why;
    };
    if (res.status === 200) return refuse('the server sent the whole file (200) instead of the range (206)');
    if (res.status !== 206) return refuse(`HTTP ${res.status}`);
    const v = validatorOf(res);
    if (v !== this.validator) return refuse(`the image changed on the server (${this.validator ?? 'no validator'} at open, now ${v ?? 'none'})`);
    const cr = parseContentRange(res.headers.get('content-range'));
    if (cr === null || cr.first !== offset || cr.last !== last || (cr.size !== null && cr.size !== this.size)) {
      return refuse(`Content-Range ${res.headers.get('content-range') ?? 'missing'} for bytes ${offset}-${last}/${this.size}`);
    }
    if (res.body === null) return `an empty body`;
    const fill = new IovFiller(bufs);
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (fill.put(value) < value.length) {
          await reader.cancel().catch(() => {});
          return `more than ${total} bytes came back`;
        }
      }
    } catch (e) {
      return `the body broke off after ${fill.filled} of ${total} bytes: ${e instanceof Error ? e.message : String(e)}`;
    }
    return fill.filled === total ? null : `${fill.filled} of ${total} bytes came back`;
  }
}

/** AbortSignal.any where there is one (Node 20.3+, current browsers); else the first signal. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  return any !== undefined ? any(signals) : signals[0];
}
