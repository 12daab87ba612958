/*
 * Node streams over a File for the node:fs/promises facade:
 *   createReadStream: a Readable fed by File.sendfile, a call per _read;
 *   createWriteStream: a Writable writing each chunk to a WriteTarget (a
 *   File: File.write, File.append in append mode; or a FileHandle's write),
 *   with Writable's own back-pressure; the target is closed before 'finish'
 *   (the last close of a written file writes it back).
 */

import { Buffer } from 'node:buffer';
import { Readable, Writable } from 'node:stream';
import type { File } from './file.js';
import { argTypeError, checkEncoding, fsError, outOfRange } from './fs_error.js';

export interface ReadStreamOptions {
  /** First byte (default 0). */
  start?: number;
  /** Last byte, inclusive, as Node's (default: to EOF). */
  end?: number;
  highWaterMark?: number;
  encoding?: BufferEncoding;
}

export interface WriteStreamOptions {
  /** 'w' (default: create or truncate), 'a' (append), 'wx', 'r+' ... */
  flags?: string;
  /** Permission bits of a file the stream creates. */
  mode?: number;
  /** First byte to write (default 0; ignored in append mode). */
  start?: number;
  highWaterMark?: number;
  /** How string chunks written without an encoding of their own are turned into bytes (default 'utf8'). */
  encoding?: BufferEncoding;
}

/** A byte offset option (start, end) checked as Node's streams check it: an integer from 0 to 2^53 - 1. */
function offsetOption(name: string, v: unknown): number {
  if (typeof v !== 'number') throw argTypeError(name, 'of type number', v);
  if (!Number.isInteger(v)) throw outOfRange(name, 'an integer', v);
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) throw outOfRange(name, `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, v);
  return v;
}

/** A read stream's [start, end] (end inclusive, none or Infinity: to EOF), refused as Node refuses it when the stream is made. */
function readRange(opts: ReadStreamOptions): [number | undefined, number] {
  const start = opts.start === undefined ? undefined : offsetOption('start', opts.start);
  if (opts.end == null || opts.end === Infinity) return [start, Infinity];
  const end = offsetOption('end', opts.end);
  if (start !== undefined && start > end) throw outOfRange('start', `<= "end" (here: ${end})`, start);
  return [start, end];
}

/** A write stream's first byte, checked as Node checks it; undefined when not given. */
export function writeStart(opts: WriteStreamOptions): number | undefined {
  checkEncoding(opts.encoding);
  return opts.start === undefined ? undefined : offsetOption('start', opts.start);
}

/**
 * The read stream pushes one chunk per _read, of up to highWaterMark bytes
 * (Node's chunk sizes: a consumer reading with read() never gets two joined).
 * It hands out copies. sendfile's views are frames of the page
 * cache, reused once the batch resolves; a pushed chunk, though, lives on
 * for as long as the consumer likes (buffered in the Readable, kept in an
 * array, queued on a socket), and nothing tells us when it lets go. Holding
 * the batch until then would keep its pages busy, stalling every write and
 * truncation of the file and deadlocking a consumer that writes it. So each
 * batch is copied into one Buffer, the chunk the consumer owns, and the
 * batch resolves at once: one copy, the one a Readable needs anyway.
 */
export class VmReadStream extends Readable {
  bytesRead = 0;
  pending = true;
  private file: File | null = null;
  private pos: number;
  private readonly last: number;
  private pumping: Promise<void> | null = null;
  /** _read was called while a pump ran (as its chunk was pushed): one more chunk after it. */
  private again = false;
  /** The sendfile in flight, which the file must outlive. */
  private sending: Promise<number> | null = null;

  constructor(
    private readonly opener: () => Promise<File>,
    readonly path: string,
    opts: ReadStreamOptions = {},
    /** What is done with the file at the end: closed (a FileHandle's stream closes its handle). */
    private readonly release: (f: File) => Promise<void> = (f) => f.close(),
  ) {
    checkEncoding(opts.encoding);
    const [start, end] = readRange(opts);
    super({ highWaterMark: opts.highWaterMark ?? 64 * 1024, encoding: opts.encoding });
    this.pos = start ?? 0;
    this.last = end;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.opener().then(
      (f) => {
        this.file = f;
        f.advise('sequential');
        this.pending = false;
        this.emit('open');
        this.emit('ready');
        callback();
      },
      (e: Error) => callback(e),
    );
  }

  override _read(): void {
    if (this.pumping !== null) {
      this.again = true;
      return;
    }
    this.pumping = this.pump()
      .catch((e: unknown) => void this.destroy(fsError(e, 'read', this.path) as Error))
      .finally(() => (this.pumping = null));
  }

  /** Pushes the next chunk (up to highWaterMark bytes, or EOF), and one more for each _read that came meanwhile. */
  private async pump(): Promise<void> {
    const f = this.file!;
    do {
      this.again = false;
      const want = Math.min(Math.max(this.readableHighWaterMark, 1), Math.min(this.last + 1, f.size) - this.pos);
      if (want <= 0) {
        this.push(null);
        return;
      }
      // sendfile's batches (a cluster each) are copied into the one chunk; each batch resolves at once.
      const chunk = Buffer.allocUnsafe(want);
      let n = 0;
      this.sending = f.sendfile((frames) => {
        for (const v of frames) {
          chunk.set(v, n);
          n += v.length;
        }
      }, this.pos, want);
      try {
        await this.sending;
      } finally {
        this.sending = null;
      }
      if (this.destroyed) return;
      if (n === 0) {
        this.push(null); // the file shrank under us: EOF
        return;
      }
      this.pos += n;
      this.bytesRead += n;
      this.push(n === want ? chunk : chunk.subarray(0, n));
    } while (this.again && !this.destroyed);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const sending = this.sending;
    void (async () => {
      // (Nothing in flight: released at once, so a FileHandle's fd is -1 by the time 'end' is seen, as Node's.)
      if (sending !== null) await sending.catch(() => 0); // (its error is the pump's to report)
      if (this.file !== null) await this.release(this.file);
      this.file = null;
    })().then(
      () => callback(err),
      (e: unknown) => callback(err ?? (fsError(e, 'close', this.path) as Error)),
    );
  }
}

/**
 * Where a write stream's chunks go: write() puts a chunk at byte `at`, or
 * (null) at the target's own place, a FileHandle's position; close() is
 * called once at the end or on an error.
 */
export interface WriteTarget {
  write(chunk: Uint8Array, at: number | null): Promise<void>;
  close(): Promise<void>;
}

/** A target over a File the stream opened itself (closed at the end); in append mode each chunk goes at the end as its write finds it. */
export function fileTarget(file: File, append: boolean): WriteTarget {
  return {
    write: (chunk, at) => (append ? file.append(chunk).then(() => {}) : file.write(at ?? 0, chunk)),
    close: () => file.close(),
  };
}

export class VmWriteStream extends Writable {
  bytesWritten = 0;
  pending = true;
  private target: WriteTarget | null = null;
  /** Where the next chunk goes; null: where the target says. */
  private pos: number | null;

  /** `fromTarget`: without a `start` option, chunks go where the target says (a FileHandle's position), else from byte 0. */
  constructor(
    private readonly opener: () => Promise<WriteTarget>,
    readonly path: string,
    opts: WriteStreamOptions = {},
    fromTarget = false,
  ) {
    const start = writeStart(opts);
    super({ highWaterMark: opts.highWaterMark ?? 16 * 1024, decodeStrings: true, defaultEncoding: opts.encoding || 'utf8' });
    this.pos = start ?? (fromTarget ? null : 0);
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.opener().then(
      (target) => {
        this.target = target;
        this.pending = false;
        this.emit('open');
        this.emit('ready');
        callback();
      },
      (e: Error) => callback(e),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.put(chunk).then(() => callback(), (e: unknown) => callback(fsError(e, 'write', this.path) as Error));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    void (async () => {
      for (const { chunk } of chunks) await this.put(chunk);
    })().then(() => callback(), (e: unknown) => callback(fsError(e, 'write', this.path) as Error));
  }

  private async put(chunk: Buffer): Promise<void> {
    await this.target!.write(chunk, this.pos);
    if (this.pos !== null) this.pos += chunk.length;
    this.bytesWritten += chunk.length;
  }

  /** Closes the target before 'finish': the last close of a file writes it back, so 'finish' means on disk. */
  override _final(callback: (error?: Error | null) => void): void {
    const t = this.target;
    this.target = null;
    (t?.close() ?? Promise.resolve()).then(() => callback(), (e: unknown) => callback(fsError(e, 'close', this.path) as Error));
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const t = this.target;
    this.target = null;
    (t?.close() ?? Promise.resolve()).then(() => callback(err), (e: unknown) => callback(err ?? (fsError(e, 'close', this.path) as Error)));
  }
}
