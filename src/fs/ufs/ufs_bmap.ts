/*
 * VOP_BMAP for UFS (cf. ufs_bmaparray): logical block -> device address
 * (DEV_BSIZE units) and the contiguous runs around it, through 12 direct
 * pointers and single, double and triple indirect blocks of 32-bit (UFS1)
 * or 64-bit (UFS2) fragment addresses.
 *   { error, bn, runp, runb } = await ufsBmap(vp, lbn)      (bn -1: a hole)
 * Runs never pass the file's last block nor MAXPHYS / bsize - 1 blocks; a
 * hole's runs count the hole blocks around lbn.
 * Every pointer is checked before use: a whole block must be block-aligned
 * data space; a file's last direct block may be a shorter run of fragments
 * inside one block. The last indirect block of data pointers is cached.
 */

import { EBADF, EINTEGRITY, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';
import { MAXPHYS } from '../../kern/param.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { BmapResult } from '../../vfs/vnode_if.js';
import type { BufCache } from '../../vfs/vfs_bio.js';
import { UFS_NDADDR, getInt64 } from './ffs_fs.js';
import type { FfsFs } from './ffs_mount.js';
import { ufsInode, type UfsInode } from './ufs_inode.js';

interface Run {
  error: number;
  /** Fragment address, -1 for a hole. */
  frag: number;
  after: number;
  before: number;
}

const HOLE: Run = Object.freeze({ error: 0, frag: -1, after: 0, before: 0 });
const BAD: Run = Object.freeze({ error: EINTEGRITY, frag: -1, after: 0, before: 0 });

/** Fragments of logical block lbn: a whole block, or the last direct block's fragments. */
function fragsOf(ip: UfsInode, lbn: number): number {
  const fs = ip.fs;
  if (lbn >= UFS_NDADDR || ip.size >= (lbn + 1) * fs.bsize) return fs.frag;
  return Math.ceil((ip.size - lbn * fs.bsize) / fs.fsize);
}

/** True when p may be logical block lbn's address. */
function ptrOk(ip: UfsInode, lbn: number, p: number): boolean {
  const n = fragsOf(ip, lbn);
  return n === ip.fs.frag ? ip.fs.blockOk(p) : ip.fs.dataOk(p, n);
}

/**
 * Maps logical block lbn of vp. EOPNOTSUPP for files without a block map
 * (short symlinks, devices). => may sleep
 */
export async function ufsBmap(vp: Vnode, lbn: number): Promise<BmapResult> {
  const ip = ufsInode(vp);
  const mp = vp.mount;
  if (mp === null) return { error: EBADF, bn: -1, runp: 0, runb: 0 };
  if (!Number.isSafeInteger(lbn) || lbn < 0) return { error: EINVAL, bn: -1, runp: 0, runb: 0 };
  if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) {
    return { error: EOPNOTSUPP, bn: -1, runp: 0, runb: 0 };
  }
  if (ip.shortSymlink) return { error: EOPNOTSUPP, bn: -1, runp: 0, runb: 0 };
  if (lbn > ip.lastLbn) return { error: 0, bn: -1, runp: 0, runb: 0 };
  const r = await bmapRun(mp.bufcache, ip, lbn);
  if (r.error !== 0) return { error: r.error, bn: -1, runp: 0, runb: 0 };
  if (r.frag < 0) return { error: 0, bn: -1, runp: Math.max(0, Math.min(r.after, ip.lastLbn - lbn)), runb: Math.min(r.before, lbn) };
  return { error: 0, bn: ip.fs.fsbtodb(r.frag), runp: Math.min(r.after, ip.lastLbn - lbn), runb: Math.min(r.before, lbn) };
}

/** The run around ptrs[i] (logical block base + i) inside one array of pointers. */
function arrayRun(ip: UfsInode, ptrs: Float64Array, base: number, i: number, maxrun: number): Run {
  const p = ptrs[i];
  if (p === 0) {
    let after = 0;
    while (after < maxrun && i + after + 1 < ptrs.length && ptrs[i + after + 1] === 0) after++;
    let before = 0;
    while (before < maxrun && i - before - 1 >= 0 && ptrs[i - before - 1] === 0) before++;
    return { error: 0, frag: -1, after, before };
  }
  if (!ptrOk(ip, base + i, p)) return BAD;
  const frag = ip.fs.frag;
  const last = ip.lastLbn;
  let after = 0;
  while (after < maxrun && i + after + 1 < ptrs.length && base + i + after + 1 <= last) {
    const q = ptrs[i + after + 1];
    if (q !== p + (after + 1) * frag || !ptrOk(ip, base + i + after + 1, q)) break;
    after++;
  }
  let before = 0;
  while (before < maxrun && i - before - 1 >= 0) {
    const q = ptrs[i - before - 1];
    if (q !== p - (before + 1) * frag || !ptrOk(ip, base + i - before - 1, q)) break;
    before++;
  }
  return { error: 0, frag: p, after, before };
}

/** Decodes one indirect block's pointers. */
function decodePtrs(fs: FfsFs, data: Uint8Array): Float64Array {
  const dv = new DataView(data.buffer, data.byteOffset, fs.bsize);
  const le = fs.sb.le;
  const ptrs = new Float64Array(fs.nindir);
  if (fs.ufs2) for (let j = 0; j < fs.nindir; j++) ptrs[j] = getInt64(dv, j * 8, le);
  else for (let j = 0; j < fs.nindir; j++) ptrs[j] = dv.getInt32(j * 4, le);
  return ptrs;
}

/** Maps lbn through the direct pointers and the indirect blocks. => lbn <= lastLbn; may sleep */
async function bmapRun(bufcache: BufCache, ip: UfsInode, lbn: number): Promise<Run> {
  const fs = ip.fs;
  const nindir = fs.nindir;
  const maxrun = Math.max(0, MAXPHYS / fs.bsize - 1);
  if (lbn < UFS_NDADDR) return arrayRun(ip, ip.db, 0, lbn, maxrun);
  const cached = ip.indLeaf;
  if (cached !== null && lbn >= cached.base && lbn < cached.base + nindir) {
    return arrayRun(ip, cached.ptrs, cached.base, lbn - cached.base, maxrun);
  }
  /* Which tree, and the offset of lbn inside it. */
  let off = lbn - UFS_NDADDR;
  let levels = 1;
  let span = nindir;
  while (off >= span) {
    off -= span;
    if (++levels > 3) return HOLE; // past what the block map can address
    span *= nindir;
  }
  let block = ip.ib[levels - 1];
  let ptrs: Float64Array | null = null;
  for (let level = levels; level >= 1; level--) {
    // No block here: every block it would map (span of them, lbn the off-th) is a hole.
    if (block === 0) return { error: 0, frag: -1, after: Math.min(span - off - 1, maxrun), before: Math.min(off, maxrun) };
    if (!fs.blockOk(block)) return BAD;
    const { error, bp } = await bufcache.bread(fs.fsbtodb(block), fs.bsize);
    if (error !== 0 || bp === null) return { error, frag: -1, after: 0, before: 0 };
    span /= nindir;
    if (level === 1) {
      ptrs = decodePtrs(fs, bp.data);
    } else {
      const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
      const j = Math.floor(off / span);
      block = fs.ufs2 ? getInt64(dv, j * 8, fs.sb.le) : dv.getInt32(j * 4, fs.sb.le);
      off %= span;
    }
    bufcache.brelse(bp);
  }
  if (ptrs === null) return HOLE;
  ip.indLeaf = { base: lbn - off, ptrs };
  return arrayRun(ip, ptrs, lbn - off, off, maxrun);
}
