/*
 * Block allocation (cf. FreeBSD ext2_alloc.c: ext2_alloc, ext2_blkpref,
 * ext2_blkfree): runs of free blocks found in the block bitmaps (through the
 * buffer cache), near a preferred block, in its group first, then in the
 * other groups; the group summaries and the superblock's free count follow.
 *   pref = ext2Blkpref(ip, prev); { error, blk, count } = await ext2AllocBlocks(mp, pref, want)
 *   error = await ext2FreeBlocks(mp, blocks)
 * ext2AllocBlocksNow is the same allocation without a task, answered
 * while every bitmap it looks at is in core (else the group to read first,
 * nothing changed), and ext2AllocBlocks is it with those reads: a tree
 * made at once allocates for thousands of files a second, all from
 * bitmaps already in core.
 * Every candidate is checked against the group's own metadata before use: a
 * bitmap that calls metadata free is damage (EINTEGRITY), never an allocation.
 */

import { EINTEGRITY, ENOSPC } from '../../kern/errno.js';
import { B_DONE, type Buf } from '../../vfs/buf.js';
import { bitmapCsumOk } from './ext2_csum.js';
import { EXT2_BG_BLOCK_UNINIT, EXT2_BG_INODE_UNINIT } from './ext2_fs.js';
import { B_EARLY, B_DELWRI } from '../../vfs/vfs_bio.js';
import type { Mount } from '../../vfs/mount.js';
import type { Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';

export interface AllocResult {
  error: number;
  /** First block of the run. */
  blk: number;
  /** Blocks in the run (1..want). */
  count: number;
}

/**
 * Where a new block of ip is wanted (cf. ext2_blkpref): after `prev`, the
 * physical block before it in the file (0: unknown), else after the last
 * block allocated to the file, else at the start of the inode's group.
 */
export function ext2Blkpref(ip: Inode, prev: number): number {
  const fs = ip.fs;
  const after = prev !== 0 ? prev + 1 : ip.lastAlloc !== 0 ? ip.lastAlloc + 1 : 0;
  if (after !== 0 && fs.blockOk(after)) return after;
  return fs.groupFirst(fs.inodeGroup(ip.ino));
}

/**
 * Allocates a run of 1..want contiguous free blocks, starting at pref when
 * it is free (cf. ext2_alloc + ext2_hashalloc). ENOSPC when no block is free.
 * => want >= 1; read-write mount; may sleep
 */
export async function ext2AllocBlocks(mp: Mount, pref: number, want: number): Promise<AllocResult> {
  for (;;) {
    const r = ext2AllocBlocksNow(mp, pref, want);
    if (typeof r !== 'number') return r;
    // Group r's bitmap read (made, checked), then the scan again: it is in core now.
    const { error, bp } = await ext2Bitmap(mp, r, false);
    if (error !== 0 || bp === null) return { error, blk: 0, count: 0 };
    mp.bufcache.brelse(bp);
  }
}

/**
 * ext2AllocBlocks without a task: its result, or the number of the group
 * whose bitmap it must read first (nothing changed).
 */
export function ext2AllocBlocksNow(mp: Mount, pref: number, want: number): AllocResult | number {
  const fs = mp.data as Ext2Fs;
  if (fs.sb.freeBlocksCount <= 0) return { error: ENOSPC, blk: 0, count: 0 };
  if (!fs.blockOk(pref)) pref = fs.groupFirst(0);
  const g0 = fs.blockGroup(pref);
  for (let i = 0; i < fs.groupCount; i++) {
    const g = (g0 + i) % fs.groupCount;
    if (fs.groups[g].freeBlocks === 0) continue;
    const bp = ext2BitmapNow(mp, g, false);
    if (bp === null) return g;
    const r = allocInGroup(mp, fs, g, bp, i === 0 ? pref - fs.groupFirst(g) : 0, want);
    if (r.error !== 0 || r.count > 0) return r;
  }
  return { error: ENOSPC, blk: 0, count: 0 };
}

const NONE: AllocResult = Object.freeze({ error: 0, blk: 0, count: 0 });

function bitSet(map: Uint8Array, i: number): boolean {
  return (map[i >> 3] & (1 << (i & 7))) !== 0;
}

/**
 * Group g's block or inode bitmap, busy. A group marked BLOCK_UNINIT or
 * INODE_UNINIT has none on disk yet: it is made here (metadata in use, the
 * padding past the group set), the flag cleared, and the buffer counts as
 * changed. A bitmap read from disk is checked against its checksum once.
 * => read-write mount; may sleep
 */
export function ext2Bitmap(mp: Mount, g: number, inode: boolean): Promise<{ error: number; bp: Buf | null }> {
  const bp = ext2BitmapNow(mp, g, inode);
  return bp !== null ? Promise.resolve({ error: 0, bp }) : bitmapSlow(mp, g, inode);
}

/** Group g's bitmap, busy, when made, checked before and resident (no task: every allocation starts here); else null. */
export function ext2BitmapNow(mp: Mount, g: number, inode: boolean): Buf | null {
  const fs = mp.data as Ext2Fs;
  const gi = fs.groups[g];
  const uninit = inode ? EXT2_BG_INODE_UNINIT : EXT2_BG_BLOCK_UNINIT;
  if ((gi.flags & uninit) !== 0 || !(inode ? gi.ibitmapOk : gi.bbitmapOk)) return null;
  const bp = mp.bufcache.tryBread(fs.fsbtodb(inode ? gi.inodeBitmap : gi.blockBitmap), fs.bsize);
  if (bp !== null) bp.flags |= B_EARLY;
  return bp;
}

async function bitmapSlow(mp: Mount, g: number, inode: boolean): Promise<{ error: number; bp: Buf | null }> {
  const fs = mp.data as Ext2Fs;
  const gi = fs.groups[g];
  const blk = inode ? gi.inodeBitmap : gi.blockBitmap;
  const uninit = inode ? EXT2_BG_INODE_UNINIT : EXT2_BG_BLOCK_UNINIT;
  if ((gi.flags & uninit) !== 0) {
    const bp = await mp.bufcache.getblk(fs.fsbtodb(blk), fs.bsize);
    const map = bp.data;
    map.fill(0);
    const bits = inode ? fs.sb.inodesPerGroup : fs.groupBlocks(g);
    for (let i = bits; i < fs.bsize * 8; i++) map[i >> 3] |= 1 << (i & 7);
    if (!inode) {
      const first = fs.groupFirst(g);
      for (const [s, n] of fs.groupMeta[g]) {
        for (let b = Math.max(s, first); b < s + n; b++) map[(b - first) >> 3] |= 1 << ((b - first) & 7);
      }
    }
    bp.flags |= B_DONE | B_EARLY;
    gi.flags &= ~uninit;
    if (inode) gi.itableUnused = fs.sb.inodesPerGroup;
    if (inode) gi.ibitmapDirty = gi.ibitmapOk = true;
    else gi.bbitmapDirty = gi.bbitmapOk = true;
    if (inode) gi.ibitmapFullBytes = 0;
    else gi.bbitmapBusyBytes = 0;
    gi.dirty = true;
    return { error: 0, bp };
  }
  const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(blk), fs.bsize);
  if (error !== 0 || bp === null) return { error, bp: null };
  bp.flags |= B_EARLY;
  const ok = inode ? gi.ibitmapOk : gi.bbitmapOk;
  if (!ok && fs.metadataCsum && !(inode ? gi.ibitmapDirty : gi.bbitmapDirty)) {
    const d = await descriptorCopy(mp, g);
    if (d.error !== 0 || d.desc === null) {
      mp.bufcache.brelse(bp);
      return { error: d.error, bp: null };
    }
    if (!bitmapCsumOk(fs, bp.data, inode, d.desc, 0)) {
      const e = fs.csumFailed(`${inode ? 'inode' : 'block'} bitmap of group ${g} (block ${blk})`);
      if (e !== 0) {
        mp.bufcache.brelse(bp);
        return { error: e, bp: null };
      }
    }
  }
  if (inode) gi.ibitmapOk = true;
  else gi.bbitmapOk = true;
  return { error: 0, bp };
}

/** A copy of group g's descriptor as on disk. => may sleep */
async function descriptorCopy(mp: Mount, g: number): Promise<{ error: number; desc: Uint8Array | null }> {
  const fs = mp.data as Ext2Fs;
  const db = fs.descBlock(Math.floor(g / fs.descPerBlock));
  const r = await mp.bufcache.bread(fs.fsbtodb(db), fs.bsize);
  if (r.error !== 0 || r.bp === null) return { error: r.error, desc: null };
  const o = (g % fs.descPerBlock) * fs.descSize;
  const desc = r.bp.data.slice(o, o + fs.descSize);
  mp.bufcache.brelse(r.bp);
  return { error: 0, desc };
}

/**
 * Takes a run in group g (its bitmap bp, busy, released): bit `start` if free; else the start of the next
 * wholly free byte after it (room to grow), backed up over free bits before
 * it; else the first free bit after start; else the first free bit in the group.
 */
function allocInGroup(mp: Mount, fs: Ext2Fs, g: number, bp: Buf, start: number, want: number): AllocResult {
  const gi = fs.groups[g];
  const n = fs.groupBlocks(g);
  const first = fs.groupFirst(g);
  const map = bp.data;
  let i = -1;
  if (start >= 0 && start < n && !bitSet(map, start)) i = start;
  if (i < 0) {
    // Bytes before gi.bbitmapBusyBytes are all non-zero: a search from before there starts there.
    const from = Math.ceil(Math.max(start, 0) / 8);
    const known = from <= gi.bbitmapBusyBytes;
    let byte = known ? gi.bbitmapBusyBytes : from;
    for (; byte * 8 + 8 <= n; byte++) {
      if (map[byte] === 0) {
        i = byte * 8;
        while (i > start && i > 0 && !bitSet(map, i - 1) && byte * 8 - i < 7) i--;
        break;
      }
    }
    if (known) gi.bbitmapBusyBytes = byte;
  }
  if (i < 0) i = findFree(map, Math.max(start, 0), n);
  if (i < 0) i = findFree(map, 0, n);
  if (i < 0) {
    mp.bufcache.brelse(bp);
    return NONE; // the summary was wrong; try other groups
  }
  let count = 0;
  while (count < want && i + count < n && !bitSet(map, i + count)) {
    if (fs.isMetaBlock(g, first + i + count)) {
      if (count > 0) break;
      mp.bufcache.brelse(bp);
      return { error: EINTEGRITY, blk: 0, count: 0 }; // the bitmap calls metadata free
    }
    map[(i + count) >> 3] |= 1 << ((i + count) & 7);
    count++;
  }
  mp.bufcache.bdwrite(bp);
  gi.freeBlocks = Math.max(0, gi.freeBlocks - count);
  gi.dirty = gi.bbitmapDirty = true;
  fs.sb.freeBlocksCount = Math.max(0, fs.sb.freeBlocksCount - count);
  fs.sbDirty = true;
  return { error: 0, blk: first + i, count };
}

/** The first clear bit in [from, to) of map, or -1. */
function findFree(map: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if ((i & 7) === 0 && map[i >> 3] === 0xff && i + 8 <= to) {
      i += 7;
      continue;
    }
    if (!bitSet(map, i)) return i;
  }
  return -1;
}

/**
 * Frees blocks (cf. ext2_blkfree), one bitmap read per group touched. A block
 * outside the file system, in metadata or already free is damage: it is
 * left alone and EINTEGRITY returned once the others are freed.
 * => read-write mount; may sleep
 */
export async function ext2FreeBlocks(mp: Mount, blocks: readonly number[]): Promise<number> {
  const fs = mp.data as Ext2Fs;
  const sorted = [...blocks].sort((a, b) => a - b);
  let result = 0;
  for (let k = 0; k < sorted.length; ) {
    if (!fs.blockOk(sorted[k])) {
      result = EINTEGRITY;
      k++;
      continue;
    }
    const g = fs.blockGroup(sorted[k]);
    const first = fs.groupFirst(g);
    const end = first + fs.groupBlocks(g);
    const gi = fs.groups[g];
    const { error, bp } = await ext2Bitmap(mp, g, false);
    if (error !== 0 || bp === null) return error;
    let freed = 0;
    for (; k < sorted.length && sorted[k] < end; k++) {
      const b = sorted[k];
      const i = b - first;
      if (fs.isMetaBlock(g, b) || !bitSet(bp.data, i)) {
        result = EINTEGRITY;
        continue;
      }
      bp.data[i >> 3] &= ~(1 << (i & 7));
      if (i >> 3 < gi.bbitmapBusyBytes) gi.bbitmapBusyBytes = i >> 3;
      freed++;
    }
    mp.bufcache.bdwrite(bp);
    gi.freeBlocks += freed;
    gi.dirty = gi.bbitmapDirty = true;
    fs.sb.freeBlocksCount += freed;
    fs.sbDirty = true;
  }
  return result;
}

/**
 * Forgets the cached buffer of a freed metadata block (an indirect or
 * extended-attribute block), dirty or not, so that a later bflush cannot
 * write it over the block's next owner. => may sleep
 */
export async function ext2BufInvalidate(mp: Mount, b: number): Promise<void> {
  const fs = mp.data as Ext2Fs;
  const bp = await mp.bufcache.getblk(fs.fsbtodb(b), fs.bsize);
  bp.flags &= ~(B_DELWRI | B_DONE);
  mp.bufcache.brelse(bp);
}
