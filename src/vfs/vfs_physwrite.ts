/*
 * The write-out a file system's putpages path shares (ext2, msdosfs): the
 * page frames of a UIO_NOCOPY uio gathered into one vectored transfer per
 * physically contiguous run of blocks, with zeros around the bytes of a
 * block that is new or unwritten (so it goes out whole), and devWrite(),
 * which reaches the device through strategy() even for a range that is not
 * in whole sectors.
 *   const w = new WriteSegments(uio.iov); for each block: w.block(dev, ...); error = await w.write(dev)
 */

import { DEV_BSIZE, MAXBSIZE } from '../kern/param.js';
import type { BlockDevice } from '../dev/device.js';
import { B_READ, B_WRITE, physio } from './buf.js';

/** Zeros to write from (never written into). */
export const ZEROS = new Uint8Array(MAXBSIZE);

interface Segment {
  devOff: number;
  len: number;
  iov: Uint8Array[];
}

export class WriteSegments {
  private readonly segs: Segment[] = [];
  /** Bytes of the uio owed to the last segment, taken as one piece when it ends or zeros come between (so whole blocks in a row are one view). */
  private owed = 0;
  private i = 0;
  private o = 0;

  constructor(private readonly iov: readonly Uint8Array[]) {}

  /**
   * One block of the file, [bstart, bstart + bsize), at device byte
   * blockDev; the uio holds its bytes [a, b). zero: the block is new or
   * unwritten, so it is written whole, zeros around the bytes.
   * => blocks in file order; the uio's bytes in the same order
   */
  block(blockDev: number, bstart: number, bsize: number, a: number, b: number, zero: boolean): void {
    const devOff = blockDev + (zero ? 0 : a - bstart);
    let s = this.segs[this.segs.length - 1];
    if (s === undefined || s.devOff + s.len !== devOff) {
      if (s !== undefined) this.takeOwed(s);
      s = { devOff, len: 0, iov: [] };
      this.segs.push(s);
    }
    if (zero && a > bstart) {
      this.takeOwed(s);
      s.iov.push(ZEROS.subarray(0, a - bstart));
    }
    this.owed += b - a;
    if (zero && b < bstart + bsize) {
      this.takeOwed(s);
      s.iov.push(ZEROS.subarray(0, bstart + bsize - b));
    }
    s.len += zero ? bsize : b - a;
  }

  /** Writes every segment (all in flight together, all waited for); the first errno, or 0. */
  async write(dev: BlockDevice): Promise<number> {
    const last = this.segs[this.segs.length - 1];
    if (last !== undefined) this.takeOwed(last);
    const results = await Promise.all(this.segs.map((s) => devWrite(dev, s.devOff, s.iov)));
    return results.find((e) => e !== 0) ?? 0;
  }

  /** Views of the owed bytes of the uio (never copies) onto s. */
  private takeOwed(s: Segment): void {
    let n = this.owed;
    this.owed = 0;
    while (n > 0) {
      const v = this.iov[this.i];
      const cnt = Math.min(n, v.length - this.o);
      if (cnt > 0) s.iov.push(this.o === 0 && cnt === v.length ? v : v.subarray(this.o, this.o + cnt));
      this.o += cnt;
      n -= cnt;
      if (this.o === v.length) {
        this.i++;
        this.o = 0;
      }
    }
  }
}

/**
 * Writes iov at byte devOff of the device, through strategy(). A range not
 * in whole DEV_BSIZE sectors (a tail zeroed from EOF) is read whole,
 * patched and written back. => may sleep
 */
export async function devWrite(dev: BlockDevice, devOff: number, iov: Uint8Array[]): Promise<number> {
  let n = 0;
  for (const v of iov) n += v.length;
  const head = devOff % DEV_BSIZE;
  const tail = (DEV_BSIZE - ((devOff + n) % DEV_BSIZE)) % DEV_BSIZE;
  if (head === 0 && tail === 0) return physio(dev, B_WRITE, devOff / DEV_BSIZE, iov);
  const sectors = new Uint8Array(head + n + tail);
  const blkno = (devOff - head) / DEV_BSIZE;
  const error = await physio(dev, B_READ, blkno, [sectors]);
  if (error !== 0) return error;
  let at = head;
  for (const v of iov) {
    sectors.set(v, at);
    at += v.length;
  }
  return physio(dev, B_WRITE, blkno, [sectors]);
}
