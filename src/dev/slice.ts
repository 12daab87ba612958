/*
 * A slice: the window [start, start + size) of another block device,
 * presented as a device of its own (cf. FreeBSD GEOM's g_part providers,
 * NetBSD's dkwedges), so the buffer cache, the pager and every file system
 * run on a partition unchanged and never know they do.
 *   const dev = new SliceDevice(parent, startBytes, sizeBytes)
 * Every transfer is checked against the window before it goes down: one
 * that reaches outside it answers EIO, so nothing written through a slice
 * can touch a byte of the parent outside it. close() closes the parent.
 */

import { EIO, EROFS } from '../kern/errno.js';
import { byteLength } from '../kern/iovec.js';
import { type BlockDevice, type HostFile, newDeviceStats } from './device.js';

export class SliceDevice implements BlockDevice {
  readonly stats = newDeviceStats();

  /** => 0 <= start, 0 <= size, start + size <= parent.size */
  constructor(
    readonly parent: BlockDevice,
    /** Byte offset of the window in the parent. */
    readonly start: number,
    readonly size: number,
  ) {}

  /** The parent's name: messages name the image, not the slice. */
  get name(): string {
    return this.parent.name;
  }

  /** The parent's failure: the slice adds none of its own words. */
  get failure(): string | null {
    return this.parent.failure ?? null;
  }

  get readOnly(): boolean {
    return this.parent.readOnly;
  }

  /** The parent's: a partition overlaps its transfers as the disk does. */
  get readAheadDepth(): number | undefined {
    return this.parent.readAheadDepth;
  }

  /** The parent's host file, narrowed to the window. */
  hostFile(): HostFile | null {
    const h = this.parent.hostFile?.() ?? null;
    if (h === null || this.start + this.size > h.size) return null;
    return { fd: h.fd, offset: h.offset + this.start, size: this.size };
  }

  /** True when [offset, offset + n) lies inside the window. */
  private inside(offset: number, n: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && offset + n <= this.size;
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    const n = byteLength(bufs);
    if (!this.inside(offset, n)) return EIO;
    const error = await this.parent.readv(bufs, this.start + offset);
    if (error === 0) {
      this.stats.reads++;
      this.stats.bytesRead += n;
    }
    return error;
  }

  async writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.readOnly) return EROFS;
    const n = byteLength(bufs);
    if (!this.inside(offset, n)) return EIO;
    const error = await this.parent.writev(bufs, this.start + offset);
    if (error === 0) {
      this.stats.writes++;
      this.stats.bytesWritten += n;
    }
    return error;
  }

  writeback(): void {
    this.parent.writeback?.();
  }

  flush(): Promise<number> {
    return this.parent.flush();
  }

  close(): Promise<number> {
    return this.parent.close();
  }
}
