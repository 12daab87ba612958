/*
 * A Blob (a File the user picked or dropped, in a browser) as a read-only
 * block device: the browser entry's local image.
 *   const dev = new BlobDevice(file, file.name)
 * Every transfer is one `blob.slice(a, b).arrayBuffer()` of exactly the
 * transfer's bytes (a pager cluster is one slice), copied into the frames.
 * The browser reads the slice from the file on disk: nothing of the image
 * is held beyond the transfer. A slice that fails (the file changed or went
 * away after it was picked: NotReadableError) or comes back short is EIO,
 * with the reason kept in `failure`. Writes are EROFS.
 */

import { EIO, EROFS } from '../kern/errno.js';
import { byteLength } from '../kern/iovec.js';
import { type BlockDevice, countRead, newDeviceStats } from './device.js';
import { IovFiller } from './iov_copy.js';

export class BlobDevice implements BlockDevice {
  readonly stats = newDeviceStats();
  readonly readOnly = true;
  /** Transfers done, by size in bytes (a histogram of what the pager asked for). */
  readonly transferSizes = new Map<number, number>();
  readonly size: number;
  /** Why the last failed transfer failed, for messages. */
  failure: string | null = null;
  private closed = false;

  constructor(
    private readonly blob: Blob,
    /** For messages: the file's name. */
    readonly name: string,
  ) {
    this.size = blob.size;
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    const total = byteLength(bufs);
    if (this.closed || !Number.isSafeInteger(offset) || offset < 0 || offset + total > this.size) return EIO;
    if (total === 0) return 0;
    let data: ArrayBuffer;
    try {
      data = await this.blob.slice(offset, offset + total).arrayBuffer();
    } catch (e) {
      this.failure = `reading bytes ${offset}-${offset + total - 1}: ${e instanceof Error ? e.message : String(e)}`;
      return EIO;
    }
    if (data.byteLength !== total) {
      this.failure = `reading bytes ${offset}-${offset + total - 1}: ${data.byteLength} bytes came back`;
      return EIO;
    }
    new IovFiller(bufs).put(new Uint8Array(data));
    countRead(this.stats, this.transferSizes, total);
    return 0;
  }

  writev(): Promise<number> {
    return Promise.resolve(EROFS);
  }

  flush(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Later transfers answer EIO. */
  close(): Promise<number> {
    this.closed = true;
    return Promise.resolve(0);
  }
}
