/*
 * FileHandle: node:fs/promises' handle over a File, with a file position,
 * the open flags' rules (read-only, write-only, append) and Node's results.
 *   const h = await root.promises.open('/x', 'r+'); await h.read(buf, 0, n, null); await h.close()
 * fd is a number of our own, not a host descriptor.
 */

import { Buffer } from 'node:buffer';
import { constants } from 'node:fs';
import { createRequire } from 'node:module';
import type { Interface } from 'node:readline';
import { inspect } from 'node:util';
import { EBADF, EINVAL } from '../kern/errno.js';
import { VmError, check } from './errors.js';
import type { File } from './file.js';
import { FsError, argTypeError, checkAborted, checkEncoding, fileMode, nodeCall, outOfRange, ownerId } from './fs_error.js';
import type { SetattrArgs } from '../vfs/vnode_if.js';
import { fileType, type MountedFs } from './mounted_fs.js';
import { BigIntStats, Stats } from './stats.js';
import { VmReadStream, VmWriteStream, type ReadStreamOptions, type WriteStreamOptions, type WriteTarget } from './streams.js';

/** node:readline, loaded by readLines() only (a program that never reads lines does not pay for it). */
const lazyRequire = createRequire(import.meta.url);

/** What an open flag asks for. */
export interface OpenFlags {
  read: boolean;
  write: boolean;
  create: boolean;
  truncate: boolean;
  exclusive: boolean;
  append: boolean;
  /** O_NOFOLLOW: a final symlink is refused (ELOOP), never followed. */
  nofollow: boolean;
  /** O_DIRECTORY: anything but a directory is refused (ENOTDIR). */
  directory: boolean;
}

/** Node's string flags ('r', 'r+', 'w', 'wx', 'a', 'a+', ...; none says O_NOFOLLOW or O_DIRECTORY) or O_* bits. */
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
      nofollow: (flags & constants.O_NOFOLLOW) !== 0,
      directory: (flags & constants.O_DIRECTORY) !== 0,
    };
  }
  const f = flags.replace(/s/g, '');
  const kind = f.replace(/[x+]/g, '');
  const plus = f.includes('+');
  if (!/^[rwa][x+]{0,2}$|^x[wa]\+?$/.test(f) || (kind === 'r' && f.includes('x'))) {
    throw Object.assign(new TypeError(`The argument 'flags' is invalid. Received '${flags}'`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return {
    read: kind === 'r' || plus,
    write: kind !== 'r' || plus,
    create: kind !== 'r',
    truncate: kind === 'w',
    exclusive: f.includes('x'),
    append: kind === 'a',
    nofollow: false,
    directory: false,
  };
}

type DataLike = string | ArrayBufferView;
/** What writeFile takes: bytes, a string, or chunks of them as they come. */
export type WriteData = DataLike | Iterable<DataLike> | AsyncIterable<DataLike>;

/** Bytes from what writeFile and write take (Node's TypeError for anything else). */
export function bytesOf(data: string | ArrayBufferView, encoding: BufferEncoding = 'utf8'): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (!ArrayBuffer.isView(data)) throw argTypeError('data', 'of type string or an instance of Buffer, TypedArray, or DataView', data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Throws Node's TypeError unless data is bytes, a string or an (async) iterable of chunks, before anything is opened. */
export function checkData(data: unknown): asserts data is WriteData {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) return;
  const o = data as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown } | null | undefined;
  if (o != null && (typeof o[Symbol.iterator] === 'function' || typeof o[Symbol.asyncIterator] === 'function')) return;
  throw argTypeError('data', 'of type string or an instance of Buffer, TypedArray, or DataView', data);
}

/** data's chunks as bytes. */
export async function* chunksOf(data: WriteData, enc: BufferEncoding): AsyncGenerator<Uint8Array> {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) yield bytesOf(data, enc);
  else for await (const c of data) yield bytesOf(c, enc);
}

/**
 * The encoding of a readFile/writeFile/stream option (a string is the
 * encoding); one Buffer does not know is Node's ERR_INVALID_ARG_VALUE, so
 * callers ask for it before anything is opened, as Node's option check does.
 */
export function encodingOf(opts: unknown): BufferEncoding | undefined {
  let enc: unknown;
  if (typeof opts === 'string') enc = opts;
  else if (opts !== null && typeof opts === 'object' && 'encoding' in opts) enc = opts.encoding ?? undefined;
  checkEncoding(enc);
  return enc === '' ? undefined : (enc as BufferEncoding | undefined);
}

let nextFd = 1 << 20;

/** read's and write's position argument: a safe integer at or past 0 is a place; else the file position (null), as Node 20's. */
function placeOf(position: unknown): number | null {
  return typeof position === 'number' && Number.isSafeInteger(position) && position >= 0 ? position : null;
}

/** An offset argument as Node checks one: an integer from 0 to 2^53 - 1. */
function offsetArg(v: unknown): number {
  if (typeof v !== 'number') throw argTypeError('offset', 'of type number', v);
  if (!Number.isInteger(v)) throw outOfRange('offset', 'an integer', v);
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) throw outOfRange('offset', `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, v);
  return v;
}

function viewOf(buf: ArrayBufferView): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * The bytes [offset, offset + length) of buf that read fills, checked in
 * Node 20's order: a length of 0 reads nothing and is checked no further
 * (null then), whatever the offset.
 */
function readSpan(buf: ArrayBufferView, offset: unknown, length: number | null | undefined): Uint8Array | null {
  const view = viewOf(buf);
  const off = offset == null ? 0 : offsetArg(offset);
  const len = length ?? view.length - off;
  if (len === 0) return null;
  if (!Number.isInteger(len)) throw argTypeError('length', 'of type number', len);
  if (view.length === 0) throw Object.assign(new TypeError(`The argument 'buffer' is empty and cannot be written. Received ${inspect(buf)}`), { code: 'ERR_INVALID_ARG_VALUE' });
  if (len < 0) throw outOfRange('length', '>= 0', len);
  if (off + len > view.length) throw outOfRange('length', `<= ${view.length - off}`, len);
  return view.subarray(off, off + len);
}

/** The bytes [offset, offset + length) of buf that write takes, checked in Node 20's order (the offset against the buffer first). */
function writeSpan(buf: ArrayBufferView, offset: unknown, length: unknown): Uint8Array {
  const view = viewOf(buf);
  const off = offset == null ? 0 : offsetArg(offset);
  const len = typeof length === 'number' ? length : view.length - off;
  if (off > view.length) throw outOfRange('offset', `<= ${view.length}`, off);
  if (len > view.length - off) throw outOfRange('length', `<= ${view.length - off}`, len);
  if (len < 0) throw outOfRange('length', '>= 0', len);
  if (!Number.isInteger(len)) throw outOfRange('length', 'an integer', len);
  return view.subarray(off, off + len);
}

interface ReadOptions {
  buffer?: ArrayBufferView;
  offset?: number | null;
  length?: number | null;
  position?: number | bigint | null;
}

export class FileHandle {
  private id = nextFd++;
  private position = 0;
  private closed = false;

  /** @internal made by the facade's open */
  constructor(
    private readonly fs: MountedFs,
    /** The File under this handle. */
    readonly file: File,
    private readonly flags: OpenFlags,
  ) {}

  /** A number naming this handle (not a host descriptor); -1 once closed, as Node's. */
  get fd(): number {
    return this.closed ? -1 : this.id;
  }

  /**
   * read(buffer, offset?, length?, position?), read(buffer, { offset, length, position })
   * or read({ buffer, offset, length, position }): a null position reads at the file
   * position and moves it; a number leaves it.
   */
  async read(
    buffer?: ArrayBufferView | ReadOptions,
    offset?: number | null | ReadOptions,
    length?: number | null,
    position?: number | bigint | null,
  ): Promise<{ bytesRead: number; buffer: ArrayBufferView }> {
    let buf: ArrayBufferView;
    if (buffer === undefined || !ArrayBuffer.isView(buffer)) {
      ({ buffer: buf = Buffer.alloc(16384), offset, length, position } = buffer ?? {});
    } else {
      buf = buffer;
      if (offset !== null && typeof offset === 'object') ({ offset, length, position } = offset);
    }
    this.need('read', true);
    const target = readSpan(buf, offset, length);
    if (target === null) return { bytesRead: 0, buffer: buf }; // (as Node's: nothing asked, nothing checked)
    this.need('read', this.flags.read);
    return { bytesRead: await this.readAt(target, placeOf(position)), buffer: buf };
  }

  /** readv(2): fills the buffers in turn from position (or the file position). */
  async readv(buffers: readonly ArrayBufferView[], position?: number | null): Promise<{ bytesRead: number; buffers: readonly ArrayBufferView[] }> {
    this.need('read', this.flags.read);
    let at = placeOf(position);
    let total = 0;
    for (const b of buffers) {
      const target = viewOf(b);
      const n = await this.readAt(target, at);
      total += n;
      if (at !== null) at += n;
      if (n < target.length) break;
    }
    return { bytesRead: total, buffers };
  }

  /** Reads into target at `at`, or at the file position, moving it. */
  private async readAt(target: Uint8Array, at: number | null): Promise<number> {
    const from = at ?? this.position;
    const n = await nodeCall('read', this.file.path, () => this.file.readInto(target, from));
    if (at === null) this.position = from + n;
    return n;
  }

  /**
   * write(buffer, offset?, length?, position?), write(buffer, { offset, length, position })
   * or write(string, position?, encoding?): at the file position (moving it) unless a
   * position is given; always at the end in append mode.
   */
  async write(
    data: string | ArrayBufferView,
    a?: number | null | { offset?: number | null; length?: number | null; position?: number | bigint | null },
    b?: number | BufferEncoding | null,
    c?: number | bigint | null,
  ): Promise<{ bytesWritten: number; buffer: string | ArrayBufferView }> {
    let bytes: Uint8Array;
    let position: unknown;
    if (typeof data === 'string') {
      bytes = bytesOf(data, (typeof b === 'string' ? b : undefined) ?? 'utf8');
      position = a;
    } else if (!ArrayBuffer.isView(data)) {
      throw argTypeError('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', data);
    } else if (a !== null && typeof a === 'object') {
      bytes = writeSpan(data, a.offset, a.length);
      position = a.position;
    } else {
      bytes = writeSpan(data, a, b);
      position = c;
    }
    this.need('write', bytes.length === 0 || this.flags.write); // (as Node's: an empty write checks nothing more)
    if (bytes.length > 0) await this.writeAt(bytes, placeOf(position));
    return { bytesWritten: bytes.length, buffer: data };
  }

  /** writev(2): the buffers in turn from position (or the file position). */
  async writev(buffers: readonly ArrayBufferView[], position?: number | null): Promise<{ bytesWritten: number; buffers: readonly ArrayBufferView[] }> {
    this.need('write', this.flags.write);
    let at = placeOf(position);
    let total = 0;
    for (const b of buffers) {
      const bytes = viewOf(b);
      await this.writeAt(bytes, at);
      total += bytes.length;
      if (at !== null) at += bytes.length;
    }
    return { bytesWritten: total, buffers };
  }

  /**
   * Writes bytes at `at` (or the file position, moving it); in append mode at
   * the end as the write finds it (File.append), the position then after them.
   * A write at the file position claims its bytes before it waits, so
   * writes started together on one handle follow one another instead of
   * overwriting each other (Node calls that unsafe; here it loses nothing);
   * a failed write gives its claim back unless a later write claimed past it.
   */
  private async writeAt(bytes: Uint8Array, at: number | null): Promise<void> {
    if (this.flags.append) {
      const to = await nodeCall('write', this.file.path, () => this.file.append(bytes));
      if (at === null) this.position = to + bytes.length; // (pwrite(2) moves no file position, O_APPEND or not)
      return;
    }
    const to = at ?? this.position;
    if (at === null) this.position = to + bytes.length;
    try {
      await nodeCall('write', this.file.path, () => this.file.write(to, bytes));
    } catch (e) {
      if (at === null && this.position === to + bytes.length) this.position = to;
      throw e;
    }
  }

  /** The rest of the file from the position, as a Buffer, or a string with an encoding. */
  readFile(opts?: null | { encoding?: null }): Promise<Buffer>;
  readFile(opts: BufferEncoding | { encoding: BufferEncoding }): Promise<string>;
  readFile(opts?: BufferEncoding | { encoding?: BufferEncoding | null } | null): Promise<Buffer | string>;
  async readFile(opts?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<Buffer | string> {
    const enc = encodingOf(opts);
    checkAborted(opts);
    this.need('read', this.flags.read);
    const rest = Math.max(0, this.file.size - this.position);
    const buf = Buffer.allocUnsafe(rest);
    const n = await nodeCall('read', this.file.path, () => this.file.readInto(buf, this.position));
    this.position += n;
    const out = n === rest ? buf : buf.subarray(0, n);
    return enc !== undefined ? out.toString(enc) : out;
  }

  /** Writes data (bytes, a string, or an (async) iterable of chunks) from the position on (at the end in append mode). */
  async writeFile(data: WriteData, opts?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<void> {
    const enc = encodingOf(opts) ?? 'utf8';
    checkAborted(opts);
    checkData(data);
    this.need('write', this.flags.write);
    for await (const b of chunksOf(data, enc)) await this.writeAt(b, null);
  }

  /** Node's alias of writeFile: at the file position, or at the end when the handle was opened to append. */
  async appendFile(data: WriteData, opts?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<void> {
    await this.writeFile(data, opts);
  }

  stat(opts?: { bigint?: false }): Promise<Stats>;
  stat(opts: { bigint: true }): Promise<BigIntStats>;
  async stat(opts?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    this.need('fstat', true);
    return nodeCall('fstat', this.file.path, async () => {
      const vp = this.file.vp;
      const { error, va } = await vp.op.getattr(vp);
      check(error, 'fstat', this.fs.image, this.file.path);
      if (fileType(va!.type) === 'file') va!.size = this.file.size;
      return opts?.bigint ? new BigIntStats(va!) : new Stats(va!);
    });
  }

  /**
   * A Readable of the file from `start` (default: the handle's position) to
   * `end` inclusive; at its end it closes the handle, as Node's, unless
   * `autoClose` is false.
   */
  createReadStream(opts: ReadStreamOptions & { autoClose?: boolean } = {}): VmReadStream {
    this.need('read', this.flags.read);
    const release = (): Promise<void> => (opts.autoClose ?? true ? this.close() : Promise.resolve());
    return new VmReadStream(() => Promise.resolve(this.file), this.file.path, { ...opts, start: opts.start ?? this.position }, release);
  }

  /**
   * A Writable into the file through this handle's write(): from `start`, or
   * (by default) at the handle's position, moving it; at the end in append
   * mode. It closes the handle at its end, as Node's, unless `autoClose` is
   * false; a handle not open for writing fails its first write (EBADF).
   */
  createWriteStream(opts: Omit<WriteStreamOptions, 'flags' | 'mode'> & { autoClose?: boolean } = {}): VmWriteStream {
    const target: WriteTarget = {
      write: async (chunk, at) => void (await this.write(chunk, 0, chunk.length, at)),
      close: () => (opts.autoClose ?? true ? this.close() : Promise.resolve()),
    };
    return new VmWriteStream(() => Promise.resolve(target), this.file.path, opts, true);
  }

  /** The file's lines (a readline Interface over createReadStream; '\r\n' ends a line too). */
  readLines(opts: ReadStreamOptions & { autoClose?: boolean } = {}): Interface {
    const { createInterface } = lazyRequire('node:readline') as typeof import('node:readline');
    return createInterface({ input: this.createReadStream(opts), crlfDelay: Infinity });
  }

  /** ftruncate(2); a negative length is 0 (Node's); a handle not open for writing is EINVAL (Linux's). */
  async truncate(len = 0): Promise<void> {
    // Node's checks first: a number, an integer.
    if (typeof len !== 'number') throw argTypeError('len', 'of type number', len);
    if (!Number.isSafeInteger(len)) throw outOfRange('len', 'an integer', len);
    this.need('ftruncate', true);
    if (!this.flags.write) throw new FsError('EINVAL', EINVAL, 'ftruncate', this.fs.image, undefined, 'invalid argument');
    await nodeCall('ftruncate', this.file.path, () => this.file.truncate(Math.max(0, len)));
  }

  async sync(): Promise<void> {
    this.need('fsync', true);
    await nodeCall('fsync', this.file.path, () => this.file.sync());
  }

  async datasync(): Promise<void> {
    await this.sync();
  }

  async chmod(mode: number | string): Promise<void> {
    const m = fileMode(mode);
    this.need('fchmod', true);
    await nodeCall('fchmod', this.file.path, () => this.fs.fsetattr(this.file, 'fchmod', { mode: m & 0o7777 }));
  }

  async chown(uid: number, gid: number): Promise<void> {
    const o = owners(uid, gid);
    this.need('fchown', true);
    await nodeCall('fchown', this.file.path, () => this.fs.fchown(this.file, o));
  }

  async utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    this.need('futime', true);
    const [a, m] = [toTime(atime), toTime(mtime)];
    await nodeCall('futime', this.file.path, async () => {
      if (badTime(a) || badTime(m)) throw new VmError(EINVAL, 'futime', this.fs.image, this.file.path);
      await this.fs.fsetattr(this.file, 'futime', { atime: a, mtime: m });
    });
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

  /** Throws EBADF when the flags do not allow the operation, or (as Node's, 'file closed') once closed. */
  private need(syscall: string, allowed: boolean): void {
    if (this.closed) {
      const e = new FsError('EBADF', EBADF, syscall, this.fs.image, undefined, 'file closed');
      e.message = 'file closed';
      Object.defineProperty(e, 'errno', { value: undefined });
      throw e;
    }
    if (!allowed) throw new FsError('EBADF', EBADF, syscall, this.fs.image, undefined, new VmError(EBADF, syscall, '', null).reason);
  }
}

/** Owner and group as setattr takes them, checked as Node checks them: -1 (or 2^32 - 1) leaves that one as it is. */
export function owners(uid: number, gid: number): SetattrArgs {
  const [u, g] = [ownerId(uid, 'uid'), ownerId(gid, 'gid')];
  return { ...(u !== -1 ? { uid: u } : {}), ...(g !== -1 ? { gid: g } : {}) };
}

/** An invalid Date (NaN), which Node passes on and the kernel refuses (EINVAL). */
export function badTime(t: number | Date): boolean {
  return Number.isNaN(t instanceof Date ? t.getTime() : t);
}

/**
 * A time as MountedFs.utimes takes it, read as Node reads one: a Date, or
 * seconds as a number or a numeric string; a negative number is now; anything
 * else is Node's TypeError.
 */
export function toTime(t: number | string | Date): number | Date {
  if (typeof t === 'string' && !Number.isNaN(Number(t))) return Number(t); // Node's `+t == t`
  if (typeof t === 'number' && Number.isFinite(t)) return t < 0 ? Date.now() / 1000 : t;
  if (t instanceof Date) return t;
  throw argTypeError('time', 'an instance of Date or an Time in seconds', t);
}
