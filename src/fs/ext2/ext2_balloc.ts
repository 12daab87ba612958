/*
 * Block-map allocation (cf. FreeBSD ext2_balloc): gives logical blocks of a
 * file physical blocks, through the 12 direct pointers and the single,
 * double and triple indirect blocks, allocating (zeroed) indirect blocks on
 * the way. Holes of one pointer array are filled with runs of contiguous
 * blocks; i_blocks counts data and indirect blocks. The inode's bmap caches
 * are dropped on every change, so bmap sees new blocks at once.
 *   { error, done } = await ext2BallocRange(mp, ip, lbn, count, onNew)
 */

import { EFBIG, EINTEGRITY, ENOSPC } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import { B_DONE } from '../../vfs/buf.js';
import { B_EARLY } from '../../vfs/vfs_bio.js';
import { EXT2_DIND_BLOCK, EXT2_IND_BLOCK, EXT2_NDADDR, EXT2_TIND_BLOCK, RO_COMPAT_HUGE_FILE } from './ext2_fs.js';
import { ext2AllocBlocks, ext2Blkpref } from './ext2_alloc.js';
import type { Inode } from './ext2_inode.js';
import { EXT_MAX_LBLK } from './ext2_extents.js';
import { ext4ExtAllocRange, ext4ExtAllocRangeNow, ext4ExtMapped } from './ext2_extents_write.js';
import type { Ext2Fs } from './ext2_mount.js';

/** Where lbn's pointer lives: i_block[slot], then one index per indirect level (none for a direct block). */
export interface IndirPath {
  slot: number;
  offs: number[];
}

/** The path to lbn's pointer (cf. ext2_getlbns); null past what the map can address. */
export function indirPath(nindir: number, lbn: number): IndirPath | null {
  if (lbn < EXT2_NDADDR) return { slot: lbn, offs: [] };
  let off = lbn - EXT2_NDADDR;
  let levels = 1;
  let span = nindir;
  while (off >= span) {
    off -= span;
    if (++levels > 3) return null;
    span *= nindir;
  }
  const offs: number[] = [];
  for (let l = levels; l >= 1; l--) {
    span /= nindir;
    offs.push(Math.floor(off / span));
    off %= span;
  }
  return { slot: [0, EXT2_IND_BLOCK, EXT2_DIND_BLOCK, EXT2_TIND_BLOCK][levels], offs };
}

/** Logical blocks the block map addresses at most. */
export function maxLbn(fs: Ext2Fs): number {
  const n = fs.nindir;
  return EXT2_NDADDR + n + n * n + n * n * n;
}

/**
 * The largest size ip may have, in bytes, as Linux's ext4 reckons it (its
 * s_maxbytes): an extent-mapped file ends a block short of what 32-bit
 * logical block numbers address (so one extent can reach its last block;
 * e2fsck refuses a size past 2^32 blocks); a block-mapped one at what its
 * indirect blocks address. Without HUGE_FILE, i_blocks counts 512-byte
 * units in 32 bits: a file may then have (2^32 - 1) / (bsize / 512) blocks,
 * its indirect blocks counted among them.
 */
export function ext2MaxSize(ip: Inode): number {
  const fs = ip.fs;
  const huge = (fs.sb.featureRoCompat & RO_COMPAT_HUGE_FILE) !== 0;
  const cap = huge ? Infinity : Math.floor((2 ** 32 - 1) / fs.spb);
  if (ip.extents) return Math.min(EXT_MAX_LBLK - 1, cap) * fs.bsize;
  const n = fs.nindir;
  const blocks = maxLbn(fs);
  if (blocks + 1 + (1 + n) + (1 + n + n * n) <= cap) return blocks * fs.bsize;
  // Past the cap: the data blocks whose indirect blocks still fit under it.
  let rest = cap - EXT2_NDADDR - n; // (past the direct blocks and those the single indirect block maps)
  let meta = 1;
  if (rest < n * n) meta += 1 + Math.ceil(rest / n);
  else {
    meta += 1 + n;
    rest -= n * n;
    meta += 1 + Math.ceil(rest / n) + Math.ceil(rest / (n * n));
  }
  return (cap - meta) * fs.bsize;
}

/**
 * ext2BallocRange or ext4ExtAllocRange, as ip is mapped. A range the extents
 * in core already map, written (a page-out, a directory block rewritten),
 * is answered without either.
 */
export function ext2AllocRange(
  mp: Mount, ip: Inode, lbn: number, count: number, onNew: (lbn: number, pblk: number) => void,
): Promise<{ error: number; done: number }> {
  if (!ip.extents) return ext2BallocRange(mp, ip, lbn, count, onNew);
  if (ip.extMap !== null && ext4ExtMapped(ip.extMap, lbn, count)) return Promise.resolve({ error: 0, done: count });
  return ext4ExtAllocRange(mp, ip, lbn, count, onNew);
}

/**
 * ext2AllocRange's start without a task, where the file's extents and the
 * bitmaps are in core: blocks mapped from lbn; fewer than count (no error)
 * leave the rest to ext2AllocRange. Block-mapped files: none.
 */
export function ext2AllocRangeNow(
  mp: Mount, ip: Inode, lbn: number, count: number, onNew: (lbn: number, pblk: number) => void,
): { error: number; done: number } {
  return ip.extents ? ext4ExtAllocRangeNow(mp, ip, lbn, count, onNew) : { error: 0, done: 0 };
}

/** Allocates one zeroed indirect block near pref; counted in i_blocks. => may sleep */
async function allocIndir(mp: Mount, ip: Inode, pref: number): Promise<{ error: number; blk: number }> {
  const fs = ip.fs;
  const r = await ext2AllocBlocks(mp, pref, 1);
  if (r.error !== 0) return { error: r.error, blk: 0 };
  const bp = await mp.bufcache.getblk(fs.fsbtodb(r.blk), fs.bsize);
  bp.data.fill(0);
  bp.flags |= B_DONE | B_EARLY; // an index node: on disk before what points at it
  mp.bufcache.bdwrite(bp);
  ip.blocks512 += fs.spb;
  ip.lastAlloc = r.blk;
  ip.modified = true;
  return { error: 0, blk: r.blk };
}

/**
 * The indirect block holding lbn's pointer (0 for a direct block), with the
 * indirect blocks on the way allocated when `alloc`; leaf -1: not mapped and
 * not allocated. ENOSPC before allocating anything when the chain and one
 * data block would not fit. => vnode locked exclusively; may sleep
 */
async function leafOf(mp: Mount, ip: Inode, path: IndirPath, alloc: boolean): Promise<{ error: number; leaf: number }> {
  const fs = ip.fs;
  if (path.offs.length === 0) return { error: 0, leaf: 0 };
  const levels = path.offs.length;
  let ptr = ip.iblock32[path.slot];
  let parent = 0; // 0: the pointer lives in the inode
  for (let l = 0; l < levels; l++) {
    if (ptr === 0) {
      if (!alloc) return { error: 0, leaf: -1 };
      if (fs.sb.freeBlocksCount < levels - l + 1) return { error: ENOSPC, leaf: -1 };
      const r = await allocIndir(mp, ip, ext2Blkpref(ip, 0));
      if (r.error !== 0) return { error: r.error, leaf: -1 };
      ptr = r.blk;
      if (parent === 0) {
        ip.iblock32[path.slot] = ptr;
      } else {
        const e = await setPtr(mp, fs, parent, path.offs[l - 1], ptr);
        if (e !== 0) return { error: e, leaf: -1 };
      }
      ip.indLeaf = null;
    } else if (!fs.blockOk(ptr)) {
      return { error: EINTEGRITY, leaf: -1 };
    }
    if (l === levels - 1) return { error: 0, leaf: ptr };
    const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(ptr), fs.bsize);
    if (error !== 0 || bp === null) return { error, leaf: -1 };
    const next = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize).getUint32(path.offs[l] * 4, true);
    mp.bufcache.brelse(bp);
    parent = ptr;
    ptr = next;
  }
  return { error: 0, leaf: ptr };
}

/** Sets entry i of indirect block blk to v. => may sleep */
async function setPtr(mp: Mount, fs: Ext2Fs, blk: number, i: number, v: number): Promise<number> {
  const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(blk), fs.bsize);
  if (error !== 0 || bp === null) return error;
  new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize).setUint32(i * 4, v, true);
  bp.flags |= B_EARLY;
  mp.bufcache.bdwrite(bp);
  return 0;
}

/**
 * Makes logical blocks [lbn, lbn + count) of ip mapped, allocating what is
 * missing; onNew(lbn, pblk) is told of each data block allocated. `done` is
 * how many blocks from lbn are mapped when an error (ENOSPC, EFBIG) stops it.
 * => vnode locked exclusively; read-write mount; may sleep
 */
export async function ext2BallocRange(
  mp: Mount, ip: Inode, lbn: number, count: number, onNew: (lbn: number, pblk: number) => void,
): Promise<{ error: number; done: number }> {
  const fs = ip.fs;
  const nindir = fs.nindir;
  let i = 0;
  while (i < count) {
    const l = lbn + i;
    const path = indirPath(nindir, l);
    if (path === null) return { error: EFBIG, done: i };
    const { error, leaf } = await leafOf(mp, ip, path, true);
    if (error !== 0) return { error, done: i };
    /* The pointer array holding l: i_block's direct part, or the leaf. */
    const idx = leaf === 0 ? l : path.offs[path.offs.length - 1];
    const end = leaf === 0 ? EXT2_NDADDR : nindir;
    const n = Math.min(count - i, end - idx);
    /*
     * Work on a copy of the pointers: no buffer may stay busy across an
     * allocation (a bread there may flush, and the flush waits for busy buffers).
     */
    const cur = new Uint32Array(n);
    let before = 0;
    if (leaf === 0) {
      cur.set(ip.iblock32.subarray(idx, idx + n));
      before = idx > 0 ? ip.iblock32[idx - 1] : 0;
    } else {
      const r = await mp.bufcache.bread(fs.fsbtodb(leaf), fs.bsize);
      if (r.error !== 0 || r.bp === null) return { error: r.error, done: i };
      const dv = new DataView(r.bp.data.buffer, r.bp.data.byteOffset, fs.bsize);
      for (let k = 0; k < n; k++) cur[k] = dv.getUint32((idx + k) * 4, true);
      before = idx > 0 ? dv.getUint32((idx - 1) * 4, true) : 0;
      mp.bufcache.brelse(r.bp);
    }
    const fresh = new Uint8Array(n);
    let k = 0;
    let err = 0;
    while (k < n) {
      if (cur[k] !== 0) {
        if (!fs.blockOk(cur[k])) {
          err = EINTEGRITY;
          break;
        }
        k++;
        continue;
      }
      let z = 1;
      while (k + z < n && cur[k + z] === 0) z++;
      const r = await ext2AllocBlocks(mp, ext2Blkpref(ip, k > 0 ? cur[k - 1] : before), z);
      if (r.error !== 0) {
        err = r.error;
        break;
      }
      for (let j = 0; j < r.count; j++) {
        cur[k + j] = r.blk + j;
        fresh[k + j] = 1;
        onNew(l + k + j, r.blk + j);
      }
      ip.blocks512 += r.count * fs.spb;
      ip.lastAlloc = r.blk + r.count - 1;
      ip.modified = true;
      k += r.count;
    }
    if (fresh.includes(1)) {
      ip.indLeaf = null;
      if (leaf === 0) {
        for (let j = 0; j < n; j++) if (fresh[j] !== 0) ip.iblock32[idx + j] = cur[j];
      } else {
        const r = await mp.bufcache.bread(fs.fsbtodb(leaf), fs.bsize);
        if (r.error !== 0 || r.bp === null) return { error: r.error, done: i }; // XXX: the blocks stay allocated, unmapped
        const dv = new DataView(r.bp.data.buffer, r.bp.data.byteOffset, fs.bsize);
        for (let j = 0; j < n; j++) if (fresh[j] !== 0) dv.setUint32((idx + j) * 4, cur[j], true);
        r.bp.flags |= B_EARLY;
        mp.bufcache.bdwrite(r.bp);
      }
    }
    i += k;
    if (err !== 0) return { error: err, done: i };
  }
  return { error: 0, done: i };
}
