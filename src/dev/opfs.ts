/*
 * A file of the origin private file system (OPFS), in a browser's dedicated
 * worker, as a block device that can be written: the browser entry's
 * writable image. Its synchronous access handle (exclusive: another tab or
 * worker cannot open the file while this one has it) reads and writes at
 * byte offsets, one call per frame of a transfer, straight between the
 * frames and the file; flush() makes the completed writes durable.
 *   const { dev } = await OpfsDevice.open('disk.img')        // in a dedicated worker
 *   const fs = await new Vm({ memory }).mount(dev, { readOnly: false }); ...; await fs.unmount(); await dev.close()
 * The size is the file's when it was opened; a transfer past it, a short
 * read or write, or a call that throws (the quota is exceeded, the handle
 * was closed) is EIO, with the reason kept in `failure`.
 */

import { EBUSY, EINVAL, EIO, ENOENT, EROFS } from '../kern/errno.js';
import { byteLength } from '../kern/iovec.js';
import { type BlockDevice, countRead, newDeviceStats } from './device.js';

/** What the device uses of a FileSystemSyncAccessHandle. */
export interface SyncAccessHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  flush(): void;
  getSize(): number;
  close(): void;
}

/** The parts of the File System API open() walks (navigator.storage's directory, its file handle). */
interface OpfsFile {
  createSyncAccessHandle?(): Promise<SyncAccessHandle>;
}
interface OpfsDirectory {
  getFileHandle(name: string): Promise<OpfsFile>;
}

export class OpfsDevice implements BlockDevice {
  readonly stats = newDeviceStats();
  /** Reads done, by size in bytes. */
  readonly transferSizes = new Map<number, number>();
  readonly size: number;
  /** Why the first failed transfer failed, for messages. */
  failure: string | null = null;
  private closed = false;

  constructor(
    private readonly handle: SyncAccessHandle,
    /** For messages: the file's name. */
    readonly name: string,
    readonly readOnly = false,
  ) {
    this.size = handle.getSize();
  }

  /**
   * Opens the file `name` at the top of the origin's private file system.
   * ENOENT when there is none; EBUSY when another tab or worker has it open;
   * EINVAL outside a dedicated worker (where no synchronous handle exists).
   */
  static async open(name: string, opts: { readOnly?: boolean } = {}): Promise<{ error: number; dev: OpfsDevice | null; reason?: string }> {
    const storage = (globalThis as { navigator?: { storage?: { getDirectory?(): Promise<OpfsDirectory> } } }).navigator?.storage;
    if (storage?.getDirectory === undefined) return { error: EINVAL, dev: null, reason: 'no origin private file system here' };
    let file: OpfsFile;
    try {
      file = await (await storage.getDirectory()).getFileHandle(name);
    } catch (e) {
      const missing = errorName(e) === 'NotFoundError';
      return { error: missing ? ENOENT : EIO, dev: null, reason: missing ? 'no such file in the origin private file system' : messageOf(e) };
    }
    if (typeof file.createSyncAccessHandle !== 'function') return { error: EINVAL, dev: null, reason: 'synchronous access handles exist only in a dedicated worker' };
    try {
      return { error: 0, dev: new OpfsDevice(await file.createSyncAccessHandle(), name, opts.readOnly ?? false) };
    } catch (e) {
      const busy = errorName(e) === 'NoModificationAllowedError';
      return { error: busy ? EBUSY : EIO, dev: null, reason: busy ? 'the file is open in another tab or worker' : messageOf(e) };
    }
  }

  readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    return Promise.resolve(this.transfer(bufs, offset, false));
  }

  writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    return Promise.resolve(this.readOnly ? EROFS : this.transfer(bufs, offset, true));
  }

  private transfer(bufs: readonly Uint8Array[], offset: number, write: boolean): number {
    const total = byteLength(bufs);
    const what = `${write ? 'writing' : 'reading'} ${total} bytes at ${offset}`;
    if (this.closed) return this.fail(`${what}: the device is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + total > this.size) return this.fail(`${what}: past the end (${this.size} bytes)`);
    let at = offset;
    try {
      for (const b of bufs) {
        if (b.length === 0) continue;
        const n = write ? this.handle.write(b, { at }) : this.handle.read(b, { at });
        if (n !== b.length) return this.fail(`${what}: ${n} of ${b.length} bytes at ${at}`);
        at += n;
      }
    } catch (e) {
      return this.fail(`${what}: ${messageOf(e)}`);
    }
    if (!write) countRead(this.stats, this.transferSizes, total);
    else {
      this.stats.writes++;
      this.stats.bytesWritten += total;
    }
    return 0;
  }

  flush(): Promise<number> {
    if (this.readOnly || this.closed) return Promise.resolve(0);
    try {
      this.handle.flush();
      return Promise.resolve(0);
    } catch (e) {
      return Promise.resolve(this.fail(`flush: ${messageOf(e)}`));
    }
  }

  /** Flushes and lets the file go (another tab or worker may open it then); later transfers are EIO. */
  close(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    this.closed = true;
    try {
      if (!this.readOnly) this.handle.flush();
      this.handle.close();
      return Promise.resolve(0);
    } catch (e) {
      return Promise.resolve(this.fail(`close: ${messageOf(e)}`));
    }
  }

  private fail(reason: string): number {
    this.failure ??= reason;
    return EIO;
  }
}

function errorName(e: unknown): string {
  return typeof e === 'object' && e !== null && 'name' in e ? String((e as { name: unknown }).name) : '';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
