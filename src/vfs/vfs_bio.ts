/*
 * The metadata buffer cache: superblocks, group descriptors, inode tables,
 * indirect blocks, extent-tree nodes, bitmaps. File data never lives here:
 * it lives in VM object pages (vnode pager). Bounded by a byte budget; the
 * least recently released clean buffer is reused first (an LRU list of
 * released buffers, O(1) at every step).
 *   bp = await bread(...)  -> use bp.data  -> brelse(bp)   (or bwrite/bdwrite)
 *   bp = await breadn(blkno, size, ahead)   // the same, the next blocks read ahead in one transfer
 * A buffer is B_BUSY between getblk and brelse: a second caller sleeps.
 * Do not use bp.data after brelse.
 */

import { tsleep, wakeup } from '../kern/sleep.js';
import { panic } from '../kern/panic.js';
import { DEV_BSIZE } from '../kern/param.js';
import { EIO } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { B_BUSY, B_DONE, B_READ, B_WRITE, Buf, biowait, strategy } from './buf.js';

/** B_DELWRI: dirty, to be written by bflush(). */
export const B_DELWRI = 0x100;
/** Someone sleeps for this buffer. */
export const B_WANTED = 0x200;
/**
 * Written early: bflush() writes these before the other delayed writes. The
 * file system marks the blocks that must reach the disk before anything that
 * points into them: allocation maps (bitmaps and the descriptors that count
 * them) and new index nodes, so that a pointer on disk never leads to
 * something free or unwritten (cf. soft updates' ordering rules).
 */
export const B_EARLY = 0x400;

export interface BreadResult {
  error: number;
  bp: Buf | null;
}

export class BufCache {
  /** Resident buffers by device address. */
  private readonly bufs = new Map<number, Buf>();
  /** Delayed-write B_EARLY buffers (bflushEarly's list). */
  private readonly early = new Set<Buf>();
  /** Released (unbusy) buffers, least recently released first. */
  private lruHead: Buf | null = null;
  private lruTail: Buf | null = null;
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly dev: BlockDevice,
    /** Byte budget; exceeded only while every buffer is busy or dirty. */
    readonly maxBytes: number,
  ) {}

  /**
   * Returns the buffer for [blkno, blkno + size) busy, with B_DONE set if its
   * data is valid. => size is a multiple of DEV_BSIZE; may sleep
   */
  async getblk(blkno: number, size: number): Promise<Buf> {
    for (;;) {
      const bp = this.bufs.get(blkno);
      if (bp === undefined) break;
      if ((bp.flags & B_BUSY) !== 0) {
        bp.flags |= B_WANTED;
        await tsleep(bp, 'getblk');
        continue;
      }
      if (bp.bcount !== size) {
        // Same address, other size: a different view of the disk. Write out and forget it.
        if ((bp.flags & B_DELWRI) !== 0) {
          bp.flags |= B_BUSY;
          this.lruRemove(bp);
          await this.bwrite(bp);
          continue;
        }
        this.forget(bp);
        break;
      }
      bp.flags |= B_BUSY;
      this.lruRemove(bp);
      this.hits++;
      return bp;
    }
    this.misses++;
    await this.makeRoom(size);
    const bp = new Buf();
    bp.blkno = blkno;
    bp.bcount = size;
    bp.data = new Uint8Array(size);
    bp.iov = [bp.data];
    bp.flags = B_BUSY;
    this.bufs.set(blkno, bp);
    this.bytes += size;
    return bp;
  }

  /** Reads a buffer (cf. bread). On error the buffer is released and forgotten. */
  bread(blkno: number, size: number): Promise<BreadResult> {
    if (blkno < 0 || (blkno + size / DEV_BSIZE) * DEV_BSIZE > this.dev.size) return Promise.resolve({ error: EIO, bp: null });
    const hit = this.tryBread(blkno, size);
    return hit !== null ? Promise.resolve({ error: 0, bp: hit }) : this.breadMiss(blkno, size);
  }

  /**
   * bread's answer when it needs no sleep: the buffer, busy, when it is
   * resident, valid, of this size and not busy; else null (nothing changed).
   * Most metadata reads are such hits, and this one costs no task.
   */
  tryBread(blkno: number, size: number): Buf | null {
    const bp = this.bufs.get(blkno);
    if (bp === undefined || (bp.flags & (B_BUSY | B_DONE)) !== B_DONE || bp.bcount !== size) return null;
    bp.flags |= B_BUSY;
    this.lruRemove(bp);
    this.hits++;
    return bp;
  }

  private async breadMiss(blkno: number, size: number): Promise<BreadResult> {
    const bp = await this.getblk(blkno, size);
    if ((bp.flags & B_DONE) !== 0) return { error: 0, bp };
    bp.flags = (bp.flags & ~B_WRITE) | B_READ;
    strategy(this.dev, bp);
    const error = await biowait(bp);
    if (error !== 0) {
      bp.flags &= ~B_DONE;
      this.release(bp);
      this.forget(bp);
      return { error, bp: null };
    }
    return { error: 0, bp };
  }

  /**
   * bread, with up to `ahead` more buffers of the same size that follow it
   * on the device brought in by the same transfer when they are not resident
   * (cf. breadn and cluster_read, FFS's clustered reads of inode blocks):
   * each block becomes a buffer of its own, valid and released, where the
   * cache has room for it without writing anything out. The read-ahead is
   * only a hint: on an error, the block is read alone. => may sleep
   */
  async breadn(blkno: number, size: number, ahead: number): Promise<BreadResult> {
    const step = size / DEV_BSIZE;
    let n = 0;
    if (!this.bufs.has(blkno)) {
      while (n < ahead && !this.bufs.has(blkno + (n + 1) * step) && (blkno + (n + 2) * step) * DEV_BSIZE <= this.dev.size) n++;
    }
    if (n === 0 || blkno < 0) return this.bread(blkno, size);
    const rd = new Buf();
    rd.blkno = blkno;
    rd.bcount = (n + 1) * size;
    rd.data = new Uint8Array(rd.bcount);
    rd.iov = [rd.data];
    rd.flags = B_BUSY | B_READ;
    strategy(this.dev, rd);
    if ((await biowait(rd)) === 0) {
      // After the wait: only blocks still not resident are filled in, each while there is clean room for it.
      for (let i = 0; i <= n; i++) {
        const b = blkno + i * step;
        if (this.bufs.has(b) || !this.makeCleanRoom(size)) continue;
        const bp = new Buf();
        bp.blkno = b;
        bp.bcount = size;
        bp.data = rd.data.slice(i * size, (i + 1) * size);
        bp.iov = [bp.data];
        bp.flags = B_DONE;
        this.bufs.set(b, bp);
        this.bytes += size;
        this.lruAppend(bp);
      }
    }
    return this.bread(blkno, size);
  }

  /** Whether the block at blkno is in the cache (cf. incore). */
  incore(blkno: number): boolean {
    return this.bufs.has(blkno);
  }

  /** Releases a busy buffer (cf. brelse). */
  brelse(bp: Buf): void {
    this.release(bp);
  }

  /** Marks bp dirty and releases it; bflush() writes it (cf. bdwrite). */
  bdwrite(bp: Buf): void {
    bp.flags |= B_DELWRI | B_DONE;
    if ((bp.flags & B_EARLY) !== 0) this.early.add(bp);
    this.release(bp);
  }

  /** Writes bp now and releases it; returns the errno (cf. bwrite). */
  async bwrite(bp: Buf): Promise<number> {
    if ((bp.flags & B_BUSY) === 0) panic('bwrite: buffer not busy');
    bp.flags = (bp.flags & ~(B_READ | B_DONE)) | B_WRITE;
    strategy(this.dev, bp);
    const error = await biowait(bp);
    bp.flags &= ~B_WRITE;
    if (error === 0) {
      bp.flags &= ~B_DELWRI;
      this.early.delete(bp);
    } else bp.flags |= B_DELWRI;
    bp.flags |= B_DONE;
    this.release(bp);
    return error;
  }

  /**
   * Writes every delayed-write buffer, the B_EARLY ones first; returns the
   * first errno. Where an early one could not be written (the device full, a
   * failing disk), the others are not written either: an inode or entry
   * among them may point at it (an index node never written, a block its
   * bitmap does not yet count). They stay dirty for a later bflush.
   */
  async bflush(): Promise<number> {
    const e1 = await this.bflushEarly();
    if (e1 !== 0) return e1;
    return this.flushEach([...this.bufs.values()]);
  }

  /** Writes the delayed-write B_EARLY buffers only; returns the first errno. */
  bflushEarly(): Promise<number> {
    return this.flushEach([...this.early]);
  }

  private async flushEach(bufs: Buf[]): Promise<number> {
    let first = 0;
    for (const bp of bufs) {
      if ((bp.flags & B_DELWRI) === 0) continue;
      while ((bp.flags & B_BUSY) !== 0) {
        bp.flags |= B_WANTED;
        await tsleep(bp, 'bflush');
      }
      if (this.bufs.get(bp.blkno) !== bp || (bp.flags & B_DELWRI) === 0) continue;
      bp.flags |= B_BUSY;
      this.lruRemove(bp);
      const error = await this.bwrite(bp);
      if (first === 0) first = error;
    }
    return first;
  }

  /** Drops every clean unbusy buffer (after unmount or for tests). */
  invalidate(): void {
    for (const bp of [...this.bufs.values()]) {
      if ((bp.flags & (B_BUSY | B_DELWRI)) === 0) this.forget(bp);
    }
  }

  get residentBytes(): number {
    return this.bytes;
  }

  get dirtyCount(): number {
    let n = 0;
    for (const bp of this.bufs.values()) if ((bp.flags & B_DELWRI) !== 0) n++;
    return n;
  }

  private release(bp: Buf): void {
    if ((bp.flags & B_BUSY) === 0) panic('brelse: buffer not busy');
    const wanted = (bp.flags & B_WANTED) !== 0;
    bp.flags &= ~(B_BUSY | B_WANTED);
    if (this.bufs.get(bp.blkno) === bp) this.lruAppend(bp);
    if (wanted) wakeup(bp);
  }

  private forget(bp: Buf): void {
    this.early.delete(bp);
    if (this.bufs.get(bp.blkno) === bp) {
      this.bufs.delete(bp.blkno);
      this.bytes -= bp.bcount;
    }
    this.lruRemove(bp);
  }

  private lruAppend(bp: Buf): void {
    bp.lruPrev = this.lruTail;
    bp.lruNext = null;
    if (this.lruTail !== null) this.lruTail.lruNext = bp;
    else this.lruHead = bp;
    this.lruTail = bp;
  }

  private lruRemove(bp: Buf): void {
    if (bp.lruPrev === null && this.lruHead !== bp) return; // not on the list
    if (bp.lruPrev !== null) bp.lruPrev.lruNext = bp.lruNext;
    else this.lruHead = bp.lruNext;
    if (bp.lruNext !== null) bp.lruNext.lruPrev = bp.lruPrev;
    else this.lruTail = bp.lruPrev;
    bp.lruPrev = bp.lruNext = null;
  }

  /** Frees least recently released clean buffers until `size` more fits; false when it cannot without a write. */
  private makeCleanRoom(size: number): boolean {
    let bp = this.lruHead;
    while (bp !== null && this.bytes + size > this.maxBytes) {
      const next = bp.lruNext;
      if ((bp.flags & B_DELWRI) === 0) this.forget(bp);
      bp = next;
    }
    return this.bytes + size <= this.maxBytes;
  }

  /** Frees least recently released clean buffers until `size` more fits. */
  private async makeRoom(size: number): Promise<void> {
    let bp = this.lruHead;
    while (bp !== null && this.bytes + size > this.maxBytes) {
      const next = bp.lruNext;
      if ((bp.flags & B_DELWRI) === 0) this.forget(bp);
      bp = next;
    }
    if (this.bytes + size > this.maxBytes && this.dirtyCount > 0) await this.bflush();
  }
}
