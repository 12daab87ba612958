/*
 * struct buf: one device transfer. The pager builds one (from the pbuf pool)
 * over the frames of a cluster and hands it to strategy(); the metadata
 * buffer cache (vfs_bio.ts) keeps its own.
 *   bp = getpbuf(); fill bp; strategy(dev, bp); error = await biowait(bp); relpbuf(bp)
 * Device addresses (blkno) are in DEV_BSIZE units, as in the kernel.
 * A transfer outside the pager and the buffer cache takes a buf of its own
 * and waits: error = await physio(dev, B_READ, blkno, iov).
 */

import { tsleep, wakeup } from '../kern/sleep.js';
import { DEV_BSHIFT } from '../kern/param.js';
import { EIO } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';

export const B_READ = 0x1;
export const B_WRITE = 0x2;
export const B_DONE = 0x4;
export const B_ERROR = 0x8;
export const B_BUSY = 0x10;
export const B_INVAL = 0x20;

export class Buf {
  flags = 0;
  /** Device address, DEV_BSIZE units. */
  blkno = 0;
  /** Bytes to transfer. */
  bcount = 0;
  /** Bytes not transferred, after completion. */
  resid = 0;
  error = 0;
  /** The memory of the transfer, in order (page frames or one buffer). */
  iov: Uint8Array[] = [];
  /** For the buffer cache: the buffer's own storage. */
  data: Uint8Array = EMPTY;
  /** For the buffer cache: neighbours on its LRU list of released buffers. */
  lruPrev: Buf | null = null;
  lruNext: Buf | null = null;
}

const EMPTY = new Uint8Array(0);

/** Marks bp done and wakes whoever waits on it (cf. biodone). */
export function biodone(bp: Buf, error: number): void {
  if (error !== 0) {
    bp.flags |= B_ERROR;
    bp.error = error;
    bp.resid = bp.bcount;
  } else {
    bp.resid = 0;
  }
  bp.flags |= B_DONE;
  wakeup(bp);
}

/** Sleeps until bp is done; returns its errno. */
export async function biowait(bp: Buf): Promise<number> {
  while ((bp.flags & B_DONE) === 0) await tsleep(bp, 'biowait');
  return bp.error;
}

/**
 * One transfer with a buf of its own, waited for (cf. physio): how a file
 * system reaches the device outside the buffer cache. Returns an errno.
 * => flags B_READ or B_WRITE; iov whole DEV_BSIZE sectors; may sleep
 */
export function physio(dev: BlockDevice, flags: number, blkno: number, iov: Uint8Array[]): Promise<number> {
  const bp = new Buf();
  bp.flags = flags;
  bp.blkno = blkno;
  for (const v of iov) bp.bcount += v.length;
  bp.iov = iov;
  strategy(dev, bp);
  return biowait(bp);
}

/**
 * Starts the transfer bp describes on dev; completion calls biodone.
 * => bp.flags has B_READ or B_WRITE; bp.iov covers exactly bp.bcount bytes
 */
export function strategy(dev: BlockDevice, bp: Buf): void {
  bp.flags &= ~(B_DONE | B_ERROR);
  bp.error = 0;
  const off = bp.blkno * 2 ** DEV_BSHIFT;
  const p = (bp.flags & B_READ) !== 0 ? dev.readv(bp.iov, off) : dev.writev(bp.iov, off);
  p.then(
    (error) => biodone(bp, error),
    () => biodone(bp, EIO), // a device must not reject; never crash if one does
  );
}
