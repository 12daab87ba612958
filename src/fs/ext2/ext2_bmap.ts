/*
 * VOP_BMAP for ext2: logical block -> device address (DEV_BSIZE units) and
 * the contiguous runs around it, through the classic block map (12 direct,
 * single, double, triple indirect) or an ext4 extent tree.
 *   { error, bn, runp, runb } = await ext2Bmap(vp, lbn)      (bn -1: a hole)
 * Runs never pass the file's last block nor MAXPHYS / bsize - 1 blocks; a
 * hole's runs count the hole blocks around lbn (cf. SEEK_HOLE's lookups).
 * A block a write allocated but did not write yet (ip.unwritten) is a hole.
 * The last indirect block of data pointers is cached in the inode.
 */

import { EACCES, EBADF, EINTEGRITY, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';
import { MAXPHYS } from '../../kern/param.js';
import type { BufCache } from '../../vfs/vfs_bio.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { BmapResult } from '../../vfs/vnode_if.js';
import { EXT2_DIND_BLOCK, EXT2_IND_BLOCK, EXT2_NDADDR, EXT2_TIND_BLOCK } from './ext2_fs.js';
import { type BlockRun, HOLE, extentBmap, extentBmapNow } from './ext2_extents.js';
import { ext2Inode, type Inode } from './ext2_inode.js';

/**
 * Maps logical block lbn of vp (cf. FreeBSD ext2_bmap). EOPNOTSUPP for files
 * without a block map (inline data, fast symlinks, devices); EACCES for
 * encrypted files (their blocks hold ciphertext). A block map in core (a
 * small file's, the leaf or indirect block last used) answers with no
 * async call chain. => may sleep
 */
export function ext2Bmap(vp: Vnode, lbn: number): Promise<BmapResult> {
  const ip = ext2Inode(vp);
  const mp = vp.mount;
  if (mp === null) return Promise.resolve({ error: EBADF, bn: -1, runp: 0, runb: 0 });
  if (!Number.isSafeInteger(lbn) || lbn < 0) return Promise.resolve({ error: EINVAL, bn: -1, runp: 0, runb: 0 });
  if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) {
    return Promise.resolve({ error: EOPNOTSUPP, bn: -1, runp: 0, runb: 0 });
  }
  if (ip.inlineData || ip.fastSymlink) return Promise.resolve({ error: EOPNOTSUPP, bn: -1, runp: 0, runb: 0 });
  if (ip.encrypted) return Promise.resolve({ error: EACCES, bn: -1, runp: 0, runb: 0 });
  const maxrun = Math.max(0, MAXPHYS / ip.fs.bsize - 1);
  const now = ip.extents ? extentBmapNow(ip, lbn, maxrun) : indirBmapNow(ip, lbn, maxrun);
  if (now !== null) return Promise.resolve(bmapResult(ip, lbn, now));
  return bmapRun(mp.bufcache, ip, lbn).then((r) => bmapResult(ip, lbn, r));
}

/** ext2Bmap's answer from the block run of lbn. */
function bmapResult(ip: Inode, lbn: number, r: BlockRun): BmapResult {
  if (r.error !== 0) return { error: r.error, bn: -1, runp: 0, runb: 0 };
  // A hole: its runs count the hole's blocks (an unwritten block reads as zeros too).
  if (r.pblk < 0) return { error: 0, bn: -1, runp: Math.max(0, Math.min(r.after, ip.lastLbn - lbn)), runb: Math.min(r.before, lbn) };
  let runp = Math.max(0, Math.min(r.after, ip.lastLbn - lbn));
  let runb = Math.min(r.before, lbn);
  if (ip.unwritten.size > 0) {
    // Allocated but not yet written: a hole to the VM until its first page-out.
    if (ip.unwritten.has(lbn)) return { error: 0, bn: -1, runp: 0, runb: 0 };
    const after = ip.unwritten.nextFrom(lbn + 1);
    if (after >= 0) runp = Math.min(runp, after - lbn - 1);
    const before = lbn > 0 ? ip.unwritten.prevFrom(lbn - 1) : -1;
    if (before >= 0) runb = Math.min(runb, lbn - before - 1);
  }
  return { error: 0, bn: ip.fs.fsbtodb(r.pblk), runp, runb };
}

/** The physical block of lbn and its runs, bounded by MAXPHYS only. => may sleep */
export function bmapRun(bufcache: BufCache, ip: Inode, lbn: number): Promise<BlockRun> {
  const maxrun = Math.max(0, MAXPHYS / ip.fs.bsize - 1);
  if (ip.extents) return extentBmap(bufcache, ip, lbn, maxrun);
  return indirBmap(bufcache, ip, lbn, maxrun);
}

/** indirBmap without reading a block: the direct blocks, or the cached indirect block; else null. */
function indirBmapNow(ip: Inode, lbn: number, maxrun: number): BlockRun | null {
  if (lbn < EXT2_NDADDR) return arrayRun(ip, ip.iblock32, lbn, EXT2_NDADDR, maxrun);
  const cached = ip.indLeaf;
  if (cached !== null && lbn >= cached.base && lbn < cached.base + ip.fs.nindir) {
    return arrayRun(ip, cached.ptrs, lbn - cached.base, ip.fs.nindir, maxrun);
  }
  return null;
}

/** The run around ptrs[i] inside one array of block pointers. */
function arrayRun(ip: Inode, ptrs: Uint32Array, i: number, n: number, maxrun: number): BlockRun {
  const fs = ip.fs;
  const p = ptrs[i];
  if (p === 0) {
    let after = 0;
    while (after < maxrun && i + after + 1 < n && ptrs[i + after + 1] === 0) after++;
    let before = 0;
    while (before < maxrun && i - before - 1 >= 0 && ptrs[i - before - 1] === 0) before++;
    return { error: 0, pblk: -1, after, before };
  }
  if (!fs.blockOk(p)) return { error: EINTEGRITY, pblk: -1, after: 0, before: 0 };
  let after = 0;
  while (after < maxrun && i + after + 1 < n && ptrs[i + after + 1] === p + after + 1 && fs.blockOk(p + after + 1)) after++;
  let before = 0;
  while (before < maxrun && i - before - 1 >= 0 && ptrs[i - before - 1] === p - before - 1 && fs.blockOk(p - before - 1)) before++;
  return { error: 0, pblk: p, after, before };
}

/** Maps lbn through the direct and indirect blocks (cf. ext2_bmaparray). => may sleep */
async function indirBmap(bufcache: BufCache, ip: Inode, lbn: number, maxrun: number): Promise<BlockRun> {
  const fs = ip.fs;
  const nindir = fs.nindir;
  const now = indirBmapNow(ip, lbn, maxrun);
  if (now !== null) return now;
  /* Which tree, and the offset of lbn inside it. */
  let off = lbn - EXT2_NDADDR;
  let levels = 1;
  let span = nindir;
  while (off >= span) {
    off -= span;
    if (++levels > 3) return HOLE; // past what the block map can address
    span *= nindir;
  }
  const slot = [0, EXT2_IND_BLOCK, EXT2_DIND_BLOCK, EXT2_TIND_BLOCK][levels];
  let block = ip.iblock32[slot];
  let ptrs: Uint32Array | null = null;
  for (let level = levels; level >= 1; level--) {
    // No block here: every block it would map (span of them, lbn the off-th) is a hole.
    if (block === 0) return { error: 0, pblk: -1, after: Math.min(span - off - 1, maxrun), before: Math.min(off, maxrun) };
    if (!fs.blockOk(block)) return { error: EINTEGRITY, pblk: -1, after: 0, before: 0 };
    const { error, bp } = await bufcache.bread(fs.fsbtodb(block), fs.bsize);
    if (error !== 0 || bp === null) return { error, pblk: -1, after: 0, before: 0 };
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
    span /= nindir;
    if (level === 1) {
      ptrs = new Uint32Array(nindir);
      for (let j = 0; j < nindir; j++) ptrs[j] = dv.getUint32(j * 4, true);
    } else {
      block = dv.getUint32(Math.floor(off / span) * 4, true);
      off %= span;
    }
    bufcache.brelse(bp);
  }
  if (ptrs === null) return HOLE;
  ip.indLeaf = { base: lbn - off, ptrs };
  return arrayRun(ip, ptrs, off, nindir, maxrun);
}
