/*
 * FileHandle: node:fs/promises' handle over a File, with a file position,
 * the open flags' rules (read-only, write-only, append) and Node's results.
 *   const h = await root.promises.open('/x', 'r+'); await h.read(buf, 0, n, null); await h.close()
 * fd is a number of our own, not a host descriptor.
 */

import { Buffer } from 'node:buffer';
import { constants } from 'node:fs';
import { EBADF, EINVAL } from '../kern/errno.js';
import { VmError, check } from './errors.js';
import type { File } from './file.js';
import { FsError, nodeCall } from './fs_error.js';
import { fileType, type MountedFs } from './mounted_fs.js';
import { Stats } from './stats.js';

/** What an open flag asks for. */
export interface OpenFlags {
  read: boolean;
  write: boolean;
  create: boolean;
  truncate: boolean;
  exclusive: boolean;
  append: boolean;
}

/** Node's string flags ('r', 'r+', 'w', 'wx', 'a', 'a+', ...) or O_* bits. */
export function parseFlags(flags: string | number): OpenFlags {
  if (typeof flags === 'number') {
    const acc = flags & 3;
    return {
      read: acc === constants.O_RDONLY || acc === constants.O_RDWR,
      write: acc === constants.O_WRONLY || acc === constants.O_RDWR,
      create: (flags & constants.O_CREAT) !== 0,
      truncate: (flags & constants.O_TRUNC) !== 0,
      exclusive: (flags & constants.O_EXCL) !== 0,
      append: (flags & constants.O_APPEND) !== 0,
    };
  }
  const f = flags.replace(/s/g, '');
  const kind = f.replace(/[x+]/g, '');
  const plus = f.includes('+');
  if (!/^[rwa][x+]{0,2}$|^x[wa]\+?$/.test(f) || (kind === 'r' && f.includes('x'))) {
    throw new FsError('ERR_INVALID_ARG_VALUE', EINVAL, 'open', '', undefined, `invalid flags '${flags}'`);
  }
  return {
    read: kind === 'r' || plus,
    write: kind !== 'r' || plus,
    create: kind !== 'r',
    truncate: kind === 'w',
    exclusive: f.includes('x'),
    append: kind === 'a',
  };
}

/** Bytes from what writeFile and write take. */
export function bytesOf(data: string | ArrayBufferView, encoding: BufferEncoding = 'utf8'): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The encoding of a readFile/writeFile option (a string is the encoding). */
export function encodingOf(opts: unknown): BufferEncoding | undefined {
  if (typeof opts === 'string') return opts as BufferEncoding;
  if (opts !== null && typeof opts === 'object' && 'encoding' in opts) return (opts.encoding ?? undefined) as BufferEncoding | undefined;
  return undefined;
}

let nextFd = 1 << 20;

export class FileHandle {
  /** A number naming this handle (not a host descriptor). */
  readonly fd = nextFd++;
  private position = 0;
  private closed = false;

  /** @internal made by the facade's open */
  constructor(
    private readonly fs: MountedFs,
    /** The File under this handle. */
    readonly file: File,
    private readonly flags: OpenFlags,
  ) {}

  /**
   * read(buffer, offset?, length?, position?) or read({ buffer, offset, length, position }):
   * a null position reads at the file position and moves it; a number leaves it.
   */
  async read(
    buffer?: ArrayBufferView | { buffer?: ArrayBufferView; offset?: number; length?: number; position?: number | null },
    offset?: number | null,
    length?: number | null,
    position?: number | null,
  ): Promise<{ bytesRead: number; buffer: ArrayBufferView }> {
    let buf: ArrayBufferView;
    if (buffer === undefined || !ArrayBuffer.isView(buffer)) {
      const o = buffer ?? {};
      buf = o.buffer ?? Buffer.alloc(16384);
      offset = o.offset;
      length = o.length;
      position = o.position;
    } else {
      buf = buffer;
    }
    const view = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    const off = offset ?? 0;
    const len = length ?? view.length - off;
    this.need('read', this.flags.read);
    const target = view.subarray(off, off + len);
    const given = typeof position === 'number' && position >= 0;
    const at = given ? position! : this.position;
    const n = await nodeCall('read', this.file.path, () => this.file.readInto(target, at));
    if (!given) this.position = at + n;
    return { bytesRead: n, buffer: buf };
  }

  /**
   * write(buffer, offset?, length?, position?) or write(string, position?, encoding?):
   * at the file position (moving it) unless a position is given; always at the end in append mode.
   */
  async write(data: string | ArrayBufferView, a?: number | null, b?: number | BufferEncoding | null, c?: number | null): Promise<{ bytesWritten: number; buffer: string | ArrayBufferView }> {
    let bytes: Uint8Array;
    let position: number | null | undefined;
    if (typeof data === 'string') {
      bytes = bytesOf(data, (typeof b === 'string' ? b : undefined) ?? 'utf8');
      position = a;
    } else {
      const all = bytesOf(data);
      const off = a ?? 0;
      bytes = all.subarray(off, off + (typeof b === 'number' ? b : all.length - off));
      position = c;
    }
    this.need('write', this.flags.write);
    const given = typeof position === 'number' && position >= 0;
    const at = this.flags.append ? this.file.size : given ? position! : this.position;
    await nodeCall('write', this.file.path, () => this.file.write(at, bytes));
    if (!given || this.flags.append) this.position = at + bytes.length;
    return { bytesWritten: bytes.length, buffer: data };
  }

  /** The rest of the file from the position, as a Buffer, or a string with an encoding. */
  readFile(opts?: null | { encoding?: null }): Promise<Buffer>;
  readFile(opts: BufferEncoding | { encoding: BufferEncoding }): Promise<string>;
  readFile(opts?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<Buffer | string>;
  async readFile(opts?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<Buffer | string> {
    this.need('read', this.flags.read);
    const rest = Math.max(0, this.file.size - this.position);
    const buf = Buffer.allocUnsafe(rest);
    const n = await nodeCall('read', this.file.path, () => this.file.readInto(buf, this.position));
    this.position += n;
    const out = n === rest ? buf : buf.subarray(0, n);
    const enc = encodingOf(opts);
    return enc !== undefined ? out.toString(enc) : out;
  }

  /** Writes data from the position on (at the end in append mode). */
  async writeFile(data: string | ArrayBufferView, opts?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<void> {
    await this.write(bytesOf(data, encodingOf(opts) ?? 'utf8'));
  }

  async appendFile(data: string | ArrayBufferView, opts?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<void> {
    this.need('write', this.flags.write);
    const bytes = bytesOf(data, encodingOf(opts) ?? 'utf8');
    const at = this.file.size;
    await nodeCall('write', this.file.path, () => this.file.write(at, bytes));
    this.position = at + bytes.length;
  }

  async stat(): Promise<Stats> {
    this.need('fstat', true);
    return nodeCall('fstat', this.file.path, async () => {
      const vp = this.file.vp;
      const { error, va } = await vp.op.getattr(vp);
      check(error, 'fstat', this.fs.image, this.file.path);
      if (fileType(va!.type) === 'file') va!.size = this.file.size;
      return new Stats(va!);
    });
  }

  async truncate(len = 0): Promise<void> {
    this.need('ftruncate', this.flags.write);
    await nodeCall('ftruncate', this.file.path, () => this.file.truncate(len));
  }

  async sync(): Promise<void> {
    this.need('fsync', true);
    await nodeCall('fsync', this.file.path, () => this.file.sync());
  }

  async datasync(): Promise<void> {
    await this.sync();
  }

  async chmod(mode: number): Promise<void> {
    this.need('fchmod', true);
    await nodeCall('fchmod', this.file.path, () => this.fs.chmod(this.file.path, mode));
  }

  async chown(uid: number, gid: number): Promise<void> {
    this.need('fchown', true);
    await nodeCall('fchown', this.file.path, () => this.fs.chown(this.file.path, uid, gid));
  }

  async utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    this.need('futime', true);
    await nodeCall('futime', this.file.path, () => this.fs.utimes(this.file.path, toTime(atime), toTime(mtime)));
  }

  /** Closes the handle; the last close of a written file writes it back (File.close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await nodeCall('close', this.file.path, () => this.file.close());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Throws EBADF when closed, or when the flags do not allow the operation. */
  private need(syscall: string, allowed: boolean): void {
    if (this.closed || !allowed) throw new FsError('EBADF', EBADF, syscall, this.fs.image, undefined, new VmError(EBADF, syscall, '', null).reason);
  }
}

/** A time as MountedFs.utimes takes it: Node's numbers and numeric strings are seconds. */
export function toTime(t: number | string | Date): number | Date {
  return typeof t === 'string' ? Number(t) : t;
}
