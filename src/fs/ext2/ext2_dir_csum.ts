/*
 * Directory block checksums (metadata_csum) stored at page-out: writeBlock
 * (ext2_dir_block.ts) changes a block in the directory's pages and marks it
 * pending; the pager's write (ext2WriteFrames) stores the checksum of every
 * pending block in the frames it sends, just before they go to the device.
 * A directory of n entries made by n inserts is checksummed once per
 * write-out instead of n times; what reaches the disk is the same.
 *   ext2DirCsumDefer(ip, lbn) ... error = ext2DirCsumFrames(ip, uio.iov, off, len)
 */

import { EINTEGRITY } from '../../kern/errno.js';
import { dirCsumSet } from './ext2_csum.js';
import type { Inode } from './ext2_inode.js';

/**
 * Whether a block of this size is always whole inside one page (the smallest
 * page a Vm has is 4 KiB): a page-out then carries the whole block, and its
 * checksum can wait for it. Larger blocks are checksummed when changed.
 */
export function ext2DirCsumDeferrable(bsize: number): boolean {
  return bsize <= 4096;
}

/** Block lbn of directory ip changed in its pages: its checksum is stored at page-out. */
export function ext2DirCsumDefer(ip: Inode, lbn: number): void {
  ip.dirCsumPending.add(lbn);
}

let scratch = new Uint8Array(0);

/**
 * Stores the checksum of each pending block of ip in the frames `iov` that
 * hold the directory's bytes [off, off + len), about to be written; those
 * blocks are no longer pending. EINTEGRITY (nothing changed) when a pending
 * block is only partly in the range or has no room for a checksum.
 * => the directory's vnode locked; the frames' pages busy
 */
export function ext2DirCsumFrames(ip: Inode, iov: readonly Uint8Array[], off: number, len: number): number {
  const pending = ip.dirCsumPending;
  if (pending.size === 0) return 0;
  const bsize = ip.fs.bsize;
  const end = off + len;
  const first = Math.floor(off / bsize);
  const last = Math.floor((end - 1) / bsize);
  if ((off % bsize !== 0 && pending.has(first)) || (end % bsize !== 0 && pending.has(last))) return EINTEGRITY;
  let f = 0; // frame holding file offset pos
  let pos = off;
  for (let lbn = Math.ceil(off / bsize); (lbn + 1) * bsize <= end; lbn++) {
    if (!pending.has(lbn)) continue;
    const start = lbn * bsize;
    while (pos + iov[f].length <= start) pos += iov[f++].length;
    const frame = iov[f];
    const at = start - pos;
    if (at + bsize <= frame.length) {
      if (!dirCsumSet(ip.fs, ip.ino, ip.din.generation, frame.subarray(at, at + bsize))) return EINTEGRITY;
    } else {
      // The block spans frames: checksummed in a copy, the copy put back.
      if (scratch.length !== bsize) scratch = new Uint8Array(bsize);
      moveFrames(iov, f, at, scratch, false);
      if (!dirCsumSet(ip.fs, ip.ino, ip.din.generation, scratch)) return EINTEGRITY;
      moveFrames(iov, f, at, scratch, true);
    }
    pending.delete(lbn);
  }
  return 0;
}

/** Copies between b and the frames from iov[f][at] on (into the frames when `back`). */
function moveFrames(iov: readonly Uint8Array[], f: number, at: number, b: Uint8Array, back: boolean): void {
  for (let done = 0; done < b.length; f++, at = 0) {
    const n = Math.min(iov[f].length - at, b.length - done);
    if (back) iov[f].set(b.subarray(done, done + n), at);
    else b.set(iov[f].subarray(at, at + n), done);
    done += n;
  }
}
