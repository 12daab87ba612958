/*
 * Inode allocation (cf. FreeBSD ext2_valloc/ext2_vfree and ext2_dirpref):
 * a directory goes to a group with at least the average of free inodes and
 * free blocks and the fewest directories, spreading the tree; anything else
 * goes to its parent's group, else the next group with a free inode. The
 * inode bitmap goes through the buffer cache, the counts into fs.groups.
 *   { error, ino } = await ext2Valloc(mp, parentIno, isDir); error = await ext2Vfree(mp, ino, isDir)
 *   ext2VallocNow: the same without a task while the bitmaps are in core (else the group to read first).
 */

import { EINTEGRITY, ENOSPC } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import type { Ext2Fs } from './ext2_mount.js';
import type { Buf } from '../../vfs/buf.js';
import { ext2Bitmap, ext2BitmapNow } from './ext2_alloc.js';

/** The group a new directory goes to (cf. ext2_dirpref), or -1 when no inode is free. */
function dirpref(fs: Ext2Fs): number {
  const sb = fs.sb;
  const avgInodes = sb.freeInodesCount / fs.groupCount;
  const avgBlocks = sb.freeBlocksCount / fs.groupCount;
  let best = -1;
  for (let g = 0; g < fs.groupCount; g++) {
    const gi = fs.groups[g];
    if (gi.freeInodes === 0 || gi.freeInodes < avgInodes || gi.freeBlocks < avgBlocks) continue;
    if (best < 0 || gi.usedDirs < fs.groups[best].usedDirs) best = g;
  }
  if (best >= 0) return best;
  for (let g = 0; g < fs.groupCount; g++) if (fs.groups[g].freeInodes > 0) return g;
  return -1;
}

/** The group a new file of a directory in group pg goes to, or -1. */
function filepref(fs: Ext2Fs, pg: number): number {
  for (let i = 0; i < fs.groupCount; i++) {
    const g = (pg + i) % fs.groupCount;
    if (fs.groups[g].freeInodes > 0) return g;
  }
  return -1;
}

/**
 * Allocates an inode number near directory parentIno (cf. ext2_valloc).
 * The inode's contents are the caller's to initialise.
 * => read-write mount; may sleep
 */
export async function ext2Valloc(mp: Mount, parentIno: number, isDir: boolean): Promise<{ error: number; ino: number }> {
  for (;;) {
    const r = ext2VallocNow(mp, parentIno, isDir);
    if (typeof r !== 'number') return r;
    // Group r's inode bitmap read (made, checked), then the scan again: it is in core now.
    const { error, bp } = await ext2Bitmap(mp, r, true);
    if (error !== 0 || bp === null) return { error, ino: 0 };
    mp.bufcache.brelse(bp);
  }
}

/** ext2Valloc without a task: its result, or the number of the group whose inode bitmap it must read first (nothing changed). */
export function ext2VallocNow(mp: Mount, parentIno: number, isDir: boolean): { error: number; ino: number } | number {
  const fs = mp.data as Ext2Fs;
  if (fs.sb.freeInodesCount <= 0) return { error: ENOSPC, ino: 0 };
  let g = isDir ? dirpref(fs) : filepref(fs, fs.inodeGroup(parentIno));
  for (let tries = 0; g >= 0 && tries < fs.groupCount; tries++, g = filepref(fs, (g + 1) % fs.groupCount)) {
    const bp = ext2BitmapNow(mp, g, true);
    if (bp === null) return g;
    const ino = vallocInGroup(mp, fs, g, bp, isDir);
    if (ino !== 0) return ino > 0 ? { error: 0, ino } : { error: EINTEGRITY, ino: 0 };
  }
  return { error: ENOSPC, ino: 0 };
}

/** Whether every bit of map in [from, to) but bit `but` is clear. */
function othersFree(map: Uint8Array, from: number, to: number, but: number): boolean {
  for (let k = from; k < to; k++) {
    if (k !== but && (map[k >> 3] & (1 << (k & 7))) !== 0) return false;
  }
  return true;
}

/**
 * Takes the first free inode of group g (its inode bitmap bp, busy,
 * released): its number; 0 when the group has none (its summary was
 * wrong, and is mended); -1 when the bitmap calls a reserved inode free.
 */
function vallocInGroup(mp: Mount, fs: Ext2Fs, g: number, bp: Buf, isDir: boolean): number {
  const sb = fs.sb;
  const ipg = sb.inodesPerGroup;
  const gi = fs.groups[g];
  const map = bp.data;
  let i = -1;
  for (let k = gi.ibitmapFullBytes * 8; k < ipg; k++) { // the bytes before are full
    if ((k & 7) === 0 && map[k >> 3] === 0xff && k + 8 <= ipg) {
      k += 7;
      continue;
    }
    if ((map[k >> 3] & (1 << (k & 7))) === 0) {
      i = k;
      break;
    }
  }
  const ino = g * ipg + i + 1;
  if (i < 0 || ino < sb.firstIno) {
    mp.bufcache.brelse(bp);
    if (i >= 0) return -1; // a reserved inode marked free
    gi.freeInodes = 0; // the summary was wrong: the bitmap is full
    gi.dirty = true;
    return 0;
  }
  gi.ibitmapFullBytes = i >> 3; // every bit before i is set
  map[i >> 3] |= 1 << (i & 7);
  mp.bufcache.bdwrite(bp);
  gi.freeInodes--;
  if (isDir) gi.usedDirs++;
  // The inode table is used up to the highest inode in use (bg_itable_unused below it); past that it was never initialised.
  if (fs.groupCsum) {
    const unused = ipg - gi.itableUnused; // the first inode never initialised
    if (i >= unused) {
      fs.freshInodes.add(ino);
      const per = fs.bsize / sb.inodeSize;
      const first = i - (i % per);
      if (first >= unused && othersFree(map, first, Math.min(first + per, ipg), i)) fs.freshBlocks.add(ino);
    }
    gi.itableUnused = Math.min(gi.itableUnused, ipg - i - 1);
  } else if (gi.itableUnused > ipg - i - 1) {
    gi.itableUnused = ipg - i - 1; // (a count left from group checksums turned off: e2fsck still reads it)
  }
  gi.dirty = gi.ibitmapDirty = true;
  sb.freeInodesCount--;
  fs.sbDirty = true;
  fs.freedHere.delete(ino);
  return ino;
}

/**
 * Frees inode ino in its bitmap and the counts (cf. ext2_vfree). An inode
 * already free or reserved is damage: EINTEGRITY, nothing changed.
 * => read-write mount; may sleep
 */
export async function ext2Vfree(mp: Mount, ino: number, isDir: boolean): Promise<number> {
  const fs = mp.data as Ext2Fs;
  const sb = fs.sb;
  if (ino < sb.firstIno || ino > sb.inodesCount) return EINTEGRITY;
  const g = fs.inodeGroup(ino);
  const gi = fs.groups[g];
  const i = (ino - 1) % sb.inodesPerGroup;
  const { error, bp } = await ext2Bitmap(mp, g, true);
  if (error !== 0 || bp === null) return error;
  if ((bp.data[i >> 3] & (1 << (i & 7))) === 0) {
    mp.bufcache.brelse(bp);
    return EINTEGRITY;
  }
  bp.data[i >> 3] &= ~(1 << (i & 7));
  if (i >> 3 < gi.ibitmapFullBytes) gi.ibitmapFullBytes = i >> 3;
  mp.bufcache.bdwrite(bp);
  gi.freeInodes++;
  if (isDir && gi.usedDirs > 0) gi.usedDirs--;
  gi.dirty = gi.ibitmapDirty = true;
  sb.freeInodesCount++;
  fs.sbDirty = true;
  fs.freedHere.add(ino);
  fs.freshBlocks.delete(ino);
  return 0;
}
