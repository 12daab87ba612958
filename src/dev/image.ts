/*
 * An image file on the host as a block device: one positioned vectored
 * read (readv) straight into the caller's buffers, no bounce copy.
 *   const { error, dev } = await ImageDevice.open(path, readOnly, io)
 * io 'async' (the default) runs each transfer on libuv's thread pool, so the
 * event loop never waits for the disk; io 'sync' makes the system call on
 * the calling thread, which for an image in the host's page cache is several
 * times cheaper per transfer (the command line uses it), and opens, stats,
 * syncs and closes the file the same way (no trip through the pool, whose
 * answer a short command would sit idle for). The pager sees no
 * difference: both answer with a promise. A write of ASYNC_FROM bytes or
 * more goes to the thread pool even with io 'sync': its copy into the host's
 * cache then runs beside the caller's next work (a tree's staged blocks,
 * ext2_populate.ts), and one hand-off costs little beside a megabyte's copy.
 */

import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync, statSync, readvSync, writev, writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { EBADF, EIO, ENODEV, EROFS, strerror } from '../kern/errno.js';
import { byteLength, iovAfter } from '../kern/iovec.js';
import { type BlockDevice, type HostFile, newDeviceStats } from './device.js';
import { errnoOf } from './host_errno.js';

export type ImageIo = 'sync' | 'async';

/** The smallest write that goes to the thread pool with io 'sync'. */
export const ASYNC_FROM = 1 << 20;

/**
 * A failpoint for crash tests: with VMPAGER_TEST_KILL_AT_WRITE=N in the
 * environment, the process kills itself (SIGKILL) just before its Nth write
 * to an image file, so a test can stop a command at every point of its work
 * however fast or loaded the machine is.
 */
const killAtWrite = Number(globalThis.process?.env?.VMPAGER_TEST_KILL_AT_WRITE ?? 0) || 0;
let writesSeen = 0;

export class ImageDevice implements BlockDevice {
  readonly stats = newDeviceStats();
  /** The first host error, in words (a full host disk says so rather than a bare EIO). */
  failure: string | null = null;
  /** Set by close(): a descriptor's number may be the next open file's, so nothing uses it after. */
  private closed = false;

  private constructor(
    /** The file: a FileHandle for io 'async', a descriptor for io 'sync'. */
    private readonly fh: FileHandle | number,
    readonly name: string,
    readonly size: number,
    readonly readOnly: boolean,
    readonly io: ImageIo,
  ) {}

  static async open(path: string, readOnly: boolean, io: ImageIo = 'async'): Promise<{ error: number; dev: ImageDevice | null }> {
    try {
      // A FIFO or socket is refused before it is opened: opening a FIFO waits for a writer, for ever.
      const kind = statSync(path);
      if (!kind.isFile() && !kind.isBlockDevice() && !kind.isCharacterDevice()) return { error: ENODEV, dev: null };
      if (io === 'sync') {
        const fd = openSync(path, readOnly ? 'r' : 'r+');
        try {
          const st = fstatSync(fd);
          if (!st.isFile() && !st.isBlockDevice()) {
            closeSync(fd);
            return { error: ENODEV, dev: null };
          }
          return { error: 0, dev: new ImageDevice(fd, path, st.size, readOnly, io) };
        } catch (e) {
          closeSync(fd);
          throw e;
        }
      }
      const fh = await open(path, readOnly ? 'r' : 'r+');
      const st = await fh.stat();
      if (!st.isFile() && !st.isBlockDevice()) {
        await fh.close();
        return { error: ENODEV, dev: null };
      }
      return { error: 0, dev: new ImageDevice(fh, path, st.size, readOnly, io) };
    } catch (e) {
      return { error: errnoOf(e), dev: null };
    }
  }

  hostFile(): HostFile | null {
    if (this.closed) return null;
    return { fd: typeof this.fh === 'number' ? this.fh : this.fh.fd, offset: 0, size: this.size };
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.closed) return EBADF;
    const total = byteLength(bufs);
    if (offset < 0 || offset + total > this.size) return EIO;
    try {
      let done = await this.preadv(bufs as Uint8Array[], offset);
      while (done < total) {
        // A short read from a regular file: finish the rest piece by piece.
        const n = await this.preadv(iovAfter(bufs, done), offset + done);
        if (n === 0) return EIO;
        done += n;
      }
      this.stats.reads++;
      this.stats.bytesRead += total;
      return 0;
    } catch (e) {
      return this.failed('reading', total, offset, errnoOf(e));
    }
  }

  async writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.closed) return EBADF;
    if (this.readOnly) return EROFS;
    if (killAtWrite > 0 && ++writesSeen >= killAtWrite) process.kill(process.pid, 'SIGKILL');
    const total = byteLength(bufs);
    if (offset < 0 || offset + total > this.size) return EIO;
    try {
      let done = await this.pwritev(bufs as Uint8Array[], offset);
      while (done < total) {
        const n = await this.pwritev(iovAfter(bufs, done), offset + done);
        if (n === 0) return EIO;
        done += n;
      }
      this.stats.writes++;
      this.stats.bytesWritten += total;
      return 0;
    } catch (e) {
      return this.failed('writing', total, offset, errnoOf(e));
    }
  }

  /**
   * A transfer the host refused is EIO to the file system above, as a failed
   * disk is (the host's ENOSPC is not the image's: a put -r into an image
   * with room said "no space left on device" when the disk holding it was
   * full); the host's words go into failure, for the message.
   */
  private failed(what: string, total: number, offset: number, error: number): number {
    this.failure ??= `${what} ${total} bytes at ${offset}: ${strerror(error)}`;
    return EIO;
  }

  private async preadv(bufs: Uint8Array[], offset: number): Promise<number> {
    const fh = this.fh;
    if (typeof fh === 'number') return readvSync(fh, bufs, offset);
    return (await fh.readv(bufs, offset)).bytesRead;
  }

  private async pwritev(bufs: Uint8Array[], offset: number): Promise<number> {
    const fh = this.fh;
    if (typeof fh === 'number') {
      if (byteLength(bufs) < ASYNC_FROM) return writevSync(fh, bufs, offset);
      return new Promise((resolve, reject) => writev(fh, bufs, offset, (e, n) => (e ? reject(e) : resolve(n))));
    }
    return (await fh.writev(bufs, offset)).bytesWritten;
  }

  /** An fdatasync started by writeback() on the thread pool, not yet done. */
  private inWriteback: Promise<void> | null = null;

  /** Starts an fdatasync on the thread pool (one at a time); its errors are the next flush's to find. */
  writeback(): void {
    const fd = this.fh;
    if (this.readOnly || this.closed || this.inWriteback !== null || typeof fd !== 'number') return;
    this.inWriteback = new Promise((resolve) => fdatasync(fd, () => {
      this.inWriteback = null;
      resolve();
    }));
  }

  async flush(): Promise<number> {
    if (this.readOnly) return 0;
    if (this.closed) return EBADF;
    if (this.inWriteback !== null) await this.inWriteback;
    try {
      if (typeof this.fh === 'number') fdatasyncSync(this.fh);
      else await this.fh.datasync();
      return 0;
    } catch (e) {
      const error = errnoOf(e);
      this.failure ??= `flushing: ${strerror(error)}`;
      return error;
    }
  }

  async close(): Promise<number> {
    if (this.closed) return 0;
    this.closed = true;
    if (this.inWriteback !== null) await this.inWriteback; // its descriptor stays ours until it is done
    try {
      if (typeof this.fh === 'number') closeSync(this.fh);
      else await this.fh.close();
      return 0;
    } catch (e) {
      return errnoOf(e);
    }
  }
}
