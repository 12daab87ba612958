/*
 * Node streams over a File for the node:fs/promises facade:
 *   createReadStream: a Readable fed by File.sendfile, a call per _read;
 *   createWriteStream: a Writable writing each chunk through File.write
 *   (File.append in append mode),
 *   with Writable's own back-pressure; its File is closed before 'finish'
 *   (the last close of a written file writes it back).
 */

import { Buffer } from 'node:buffer';
import { Readable, Writable } from 'node:stream';
import type { File } from './file.js';
import { fsError } from './fs_error.js';

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
}

/**
 * The read stream hands out copies. sendfile's views are frames of the page
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
  /** _read was called while a pump ran: go on after it. */
  private again = false;

  constructor(
    private readonly opener: () => Promise<File>,
    readonly path: string,
    opts: ReadStreamOptions = {},
    /** What is done with the file at the end: closed (a FileHandle's stream closes its handle). */
    private readonly release: (f: File) => Promise<void> = (f) => f.close(),
  ) {
    super({ highWaterMark: opts.highWaterMark ?? 64 * 1024, encoding: opts.encoding });
    this.pos = opts.start ?? 0;
    this.last = opts.end ?? Infinity;
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

  override _read(size: number): void {
    if (this.pumping !== null) {
      this.again = true;
      return;
    }
    this.pumping = this.pump(size)
      .catch((e: unknown) => void this.destroy(fsError(e, 'read', this.path) as Error))
      .finally(() => (this.pumping = null));
  }

  /** Sends up to `size` bytes at a time until the Readable's buffer is full, or EOF. */
  private async pump(size: number): Promise<void> {
    const f = this.file!;
    let more = true;
    while ((more || this.again) && !this.destroyed) {
      this.again = false;
      const want = Math.min(Math.max(size, 1), Math.min(this.last + 1, f.size) - this.pos);
      if (want <= 0) {
        this.push(null);
        return;
      }
      const sent = await f.sendfile((frames) => {
        let n = 0;
        for (const v of frames) n += v.length;
        const chunk = Buffer.allocUnsafe(n);
        let at = 0;
        for (const v of frames) {
          chunk.set(v, at);
          at += v.length;
        }
        this.pos += n;
        this.bytesRead += n;
        if (!this.destroyed) more = this.push(chunk);
      }, this.pos, want);
      if (sent === 0) {
        this.push(null); // the file shrank under us: EOF
        return;
      }
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    void (async () => {
      await this.pumping;
      if (this.file !== null) await this.release(this.file);
      this.file = null;
    })().then(
      () => callback(err),
      (e: unknown) => callback(err ?? (fsError(e, 'close', this.path) as Error)),
    );
  }
}

export class VmWriteStream extends Writable {
  bytesWritten = 0;
  pending = true;
  private file: File | null = null;
  private pos: number;
  /** Each chunk goes at the end as its write finds it (O_APPEND). */
  private append = false;

  constructor(
    private readonly opener: () => Promise<{ file: File; append: boolean }>,
    readonly path: string,
    opts: WriteStreamOptions = {},
  ) {
    super({ highWaterMark: opts.highWaterMark ?? 16 * 1024, decodeStrings: true });
    this.pos = opts.start ?? 0;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.opener().then(
      ({ file, append }) => {
        this.file = file;
        this.append = append;
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
    if (this.append) await this.file!.append(chunk);
    else {
      await this.file!.write(this.pos, chunk);
      this.pos += chunk.length;
    }
    this.bytesWritten += chunk.length;
  }

  /** Closes the file before 'finish': the last close writes it back, so 'finish' means on disk. */
  override _final(callback: (error?: Error | null) => void): void {
    const f = this.file;
    this.file = null;
    (f?.close() ?? Promise.resolve()).then(() => callback(), (e: unknown) => callback(fsError(e, 'close', this.path) as Error));
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const f = this.file;
    this.file = null;
    (f?.close() ?? Promise.resolve()).then(() => callback(err), (e: unknown) => callback(err ?? (fsError(e, 'close', this.path) as Error)));
  }
}
