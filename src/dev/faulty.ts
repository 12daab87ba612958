/*
 * A fault-injecting block device wrapped around another: fails the Nth read
 * or write, every transfer touching a byte range, or all writes; returns
 * short reads; or stalls transfers until released. For tests of how the
 * pager meets failing I/O.
 *   const dev = new FaultyDisk(inner); dev.failWrites = true; ...; dev.failWrites = false
 */

import { EIO } from '../kern/errno.js';
import { byteLength } from '../kern/iovec.js';
import type { BlockDevice, DeviceStats } from './device.js';

export interface FaultRange {
  start: number;
  end: number;
}

export class FaultyDisk implements BlockDevice {
  /** Fail every write. */
  failWrites = false;
  /** Fail every read. */
  failReads = false;
  /** Fail the read (write) with this 1-based number, counted from now on; 0: none. */
  failNthRead = 0;
  failNthWrite = 0;
  /** Fail any transfer that touches one of these byte ranges. */
  badRanges: FaultRange[] = [];
  /** Fill only the first half of the first buffer, then fail: a short read. */
  shortReads = false;
  /** Hold every transfer until release(). */
  stall = false;
  reads = 0;
  writes = 0;
  /** Flushes asked for (each a sync of the medium). */
  flushes = 0;
  private readonly stalled: Array<() => void> = [];

  constructor(readonly inner: BlockDevice) {}

  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  get stats(): DeviceStats {
    return this.inner.stats;
  }
  get pending(): number {
    return this.stalled.length;
  }

  /** Lets every stalled transfer go on. */
  release(): void {
    for (const go of this.stalled.splice(0)) go();
  }

  async readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    await this.maybeStall();
    this.reads++;
    const n = byteLength(bufs);
    if (this.failReads || this.reads === this.failNthRead || this.hits(offset, n)) return EIO;
    if (this.shortReads && bufs.length > 0) {
      // Only the first half of the first buffer arrives, and the transfer fails.
      await this.inner.readv([bufs[0].subarray(0, bufs[0].length >> 1)], offset);
      return EIO;
    }
    return this.inner.readv(bufs, offset);
  }

  async writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    await this.maybeStall();
    this.writes++;
    if (this.failWrites || this.writes === this.failNthWrite || this.hits(offset, byteLength(bufs))) return EIO;
    return this.inner.writev(bufs, offset);
  }

  flush(): Promise<number> {
    this.flushes++;
    return this.failWrites ? Promise.resolve(EIO) : this.inner.flush();
  }

  close(): Promise<number> {
    return this.inner.close();
  }

  private hits(offset: number, n: number): boolean {
    return this.badRanges.some((r) => offset < r.end && offset + n > r.start);
  }

  private maybeStall(): Promise<void> {
    if (!this.stall) return Promise.resolve();
    return new Promise((go) => this.stalled.push(go));
  }
}
