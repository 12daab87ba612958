/*
 * Freeing a file's blocks past a new end (cf. FreeBSD ext2_truncate and
 * ext2_indirtrunc): the direct pointers and the indirect trees wholly past
 * it unhooked in the inode, which is written first (with its new size);
 * then the tree the end falls in cut from its top down, each block written
 * before the one below it; indirect blocks are freed too once they map
 * nothing; i_blocks follows, and the bitmaps after every pointer's removal. The caller has
 * already shrunk the VM object and sets i_size; zeroing the tail of the
 * last block on disk is the caller's (ext2_vnops_inode.ts). ext2Release
 * frees a whole inode whose last link went.
 *   error = await ext2Truncate(mp, ip, length); error = await ext2Release(vp)
 */

import { EINTEGRITY } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { dirhashDrop } from '../../vfs/vfs_dirhash.js';
import { ext2XattrBlockCheck, ext2XattrBlockRelease } from './ext2_extattr.js';
import { ext2SbUpdate } from './ext2_group.js';
import { ext2Vfree } from './ext2_ialloc.js';
import { ext2Update } from './ext2_inode_write.js';
import { EXT2_DIND_BLOCK, EXT2_IBLOCK_BYTES, EXT2_IND_BLOCK, EXT2_NDADDR, EXT2_TIND_BLOCK } from './ext2_fs.js';
import { ext2BufInvalidate, ext2FreeBlocks } from './ext2_alloc.js';
import { ext4ExtTruncate } from './ext2_extents_write.js';
import { ext4ExtRootOk } from './ext2_extents.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';
import { EXT2_CTIME, EXT2_MTIME, ext2NowTime, ext2Stamp } from './ext2_itimes.js';

interface Freeing {
  /** Every block to free, data and indirect. */
  blocks: number[];
  /** The indirect ones among them (their cached buffers must go). */
  meta: number[];
  error: number;
}

/**
 * Frees every block of ip holding bytes at or past `length`, and the
 * indirect blocks left empty. => vnode locked exclusively (or unreferenced);
 * read-write mount; may sleep
 */
export async function ext2Truncate(mp: Mount, ip: Inode, length: number): Promise<number> {
  const fs = ip.fs;
  // No block map to free: a fast symlink, inline data, and a device node, FIFO or socket (whose i_block
  // holds the device's numbers, or nothing: never block pointers).
  if (ip.fastSymlink || ip.inlineData || (ip.type !== VType.VREG && ip.type !== VType.VDIR && ip.type !== VType.VLNK)) return 0;
  if (ip.extents) {
    const t = await ext4ExtTruncate(mp, ip, length);
    if (t.error !== 0 || t.blocks.length === 0) return t.error;
    return (await pointersGone(mp, ip)) || ext2FreeBlocks(mp, t.blocks);
  }
  const first = Math.ceil(length / fs.bsize);
  const f: Freeing = { blocks: [], meta: [], error: 0 };
  // What lies wholly past the new end is unhooked in the inode first: the direct pointers, whole indirect
  // trees. The tree the end falls in is cut after the inode is on disk, each indirect block before the one
  // below it that keeps some pointers (cf. ffs_truncate's order: from the end): a kill at any point leaves
  // the file's old blocks mapped as a prefix of it (e2fsck -p gives the size back to the last of them,
  // the old bytes), never a hole in the middle of what the size on disk still covers.
  for (let l = first; l < EXT2_NDADDR; l++) {
    const p = ip.iblock32[l];
    if (p === 0) continue;
    if (fs.blockOk(p)) f.blocks.push(p);
    else f.error = EINTEGRITY;
    ip.iblock32[l] = 0;
  }
  const n = fs.nindir;
  const trees: Array<[number, number, number]> = [
    [EXT2_IND_BLOCK, 1, EXT2_NDADDR],
    [EXT2_DIND_BLOCK, 2, EXT2_NDADDR + n],
    [EXT2_TIND_BLOCK, 3, EXT2_NDADDR + n + n * n],
  ];
  let cut: [number, number, number] | null = null;
  for (const [slot, level, base] of trees) {
    const p = ip.iblock32[slot];
    if (p === 0) continue;
    if (first >= base + n ** level) continue; // the whole tree stays
    if (first <= base) {
      await collectTree(mp, fs, p, level, f);
      ip.iblock32[slot] = 0;
    } else {
      cut = [slot, level, base];
    }
  }
  if (cut !== null) {
    const [slot, level, base] = cut;
    const e = await pointersGone(mp, ip);
    if (e !== 0) return e;
    if (await indirTrunc(mp, fs, ip.iblock32[slot], level, base, first, f)) ip.iblock32[slot] = 0;
  }
  ip.unwritten.deleteRange(first, Infinity);
  ip.indLeaf = null;
  ip.extLeaf = null;
  if (f.blocks.length === 0) return f.error;
  for (const b of f.meta) await ext2BufInvalidate(mp, b);
  ip.blocks512 = Math.max(0, ip.blocks512 - f.blocks.length * fs.spb);
  const error = (await pointersGone(mp, ip)) || (await ext2FreeBlocks(mp, f.blocks));
  return f.error || error;
}

/**
 * Before a free, the pointer's removal: ip, no longer mapping the blocks
 * about to be freed, is written synchronously, so that the bitmap on disk
 * never calls free a block that the inode on disk still maps (a crash would
 * leave a live file pointing at blocks the next allocation hands out again).
 * MNT_ASYNC: only marked for writing.
 */
async function pointersGone(mp: Mount, ip: Inode): Promise<number> {
  ip.modified = true;
  return mp.async ? 0 : ext2Update(mp, ip, true);
}

/** Every block of the indirect tree at blk (of `level`), itself included, onto the list to free. */
async function collectTree(mp: Mount, fs: Ext2Fs, blk: number, level: number, f: Freeing): Promise<void> {
  const ptrs = await readPointers(mp, fs, blk, f);
  if (ptrs === null) return;
  for (const p of ptrs) {
    if (p === 0) continue;
    if (level > 1) await collectTree(mp, fs, p, level - 1, f);
    else if (fs.blockOk(p)) f.blocks.push(p);
    else f.error = EINTEGRITY;
  }
  f.blocks.push(blk);
  f.meta.push(blk);
}

/** The pointers indirect block blk holds; null on a bad block number or a read error (kept in f). */
async function readPointers(mp: Mount, fs: Ext2Fs, blk: number, f: Freeing): Promise<Uint32Array | null> {
  if (!fs.blockOk(blk)) {
    f.error = EINTEGRITY;
    return null;
  }
  const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(blk), fs.bsize);
  if (error !== 0 || bp === null) {
    f.error ||= error;
    return null;
  }
  const ptrs = new Uint32Array(fs.nindir);
  const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
  for (let i = 0; i < ptrs.length; i++) ptrs[i] = dv.getUint32(i * 4, true);
  mp.bufcache.brelse(bp);
  return ptrs;
}

/**
 * Cuts indirect block blk (of `level`, mapping from logical block `base`,
 * the new end `first` inside its span): what it maps wholly past the end
 * goes onto the list to free and its pointers are cleared, written (unless
 * MNT_ASYNC) before the one child the end falls in is cut the same way.
 * Answers true when blk maps nothing any more and was put on the list; the
 * caller clears its pointer.
 */
async function indirTrunc(mp: Mount, fs: Ext2Fs, blk: number, level: number, base: number, first: number, f: Freeing): Promise<boolean> {
  const ptrs = await readPointers(mp, fs, blk, f);
  if (ptrs === null) return false;
  const n = fs.nindir;
  const span = n ** (level - 1);
  const start = first <= base ? 0 : Math.floor((first - base) / span);
  // The child the end falls in (it keeps some of what it maps), if any: cut after this block is written.
  const inside = level > 1 && ptrs[start] !== 0 && first > base + start * span ? start : -1;
  let changed = false;
  for (let i = inside >= 0 ? start + 1 : start; i < n; i++) {
    const p = ptrs[i];
    if (p === 0) continue;
    if (level === 1) {
      if (fs.blockOk(p)) f.blocks.push(p);
      else f.error = EINTEGRITY;
    } else {
      await collectTree(mp, fs, p, level - 1, f);
    }
    ptrs[i] = 0;
    changed = true;
  }
  if (changed && !(await writePointers(mp, fs, blk, ptrs, f))) return false;
  if (inside >= 0 && (await indirTrunc(mp, fs, ptrs[inside], level - 1, base + inside * span, first, f))) {
    ptrs[inside] = 0;
    if (!ptrs.every((p) => p === 0) && !(await writePointers(mp, fs, blk, ptrs, f))) return false;
  }
  if (ptrs.every((p) => p === 0)) {
    f.blocks.push(blk);
    f.meta.push(blk);
    return true;
  }
  return false;
}

/** Indirect block blk's pointers set to ptrs, written at once (MNT_ASYNC: delayed); false on an error (kept in f). */
async function writePointers(mp: Mount, fs: Ext2Fs, blk: number, ptrs: Uint32Array, f: Freeing): Promise<boolean> {
  const r = await mp.bufcache.bread(fs.fsbtodb(blk), fs.bsize);
  if (r.error !== 0 || r.bp === null) {
    f.error ||= r.error || EINTEGRITY;
    return false;
  }
  const w = new DataView(r.bp.data.buffer, r.bp.data.byteOffset, fs.bsize);
  for (let i = 0; i < ptrs.length; i++) w.setUint32(i * 4, ptrs[i], true);
  // A block that stays: its cleared pointers reach the disk before the frees (see pointersGone).
  if (mp.async) mp.bufcache.bdwrite(r.bp);
  else {
    const e = await mp.bufcache.bwrite(r.bp);
    if (e !== 0) {
      f.error ||= e;
      return false;
    }
  }
  return true;
}

/**
 * What ext2Release would meet at once and have to leave (damage), found
 * before a file's last name goes, so that a remove refuses with nothing
 * changed: an extent root that is none, an attribute block out of range,
 * not one, or failing its checksum. (Damage below the root, met as the
 * blocks are freed, still ends the release part way, as the kernel's.)
 */
export async function ext2ReleaseCheck(mp: Mount, ip: Inode): Promise<number> {
  if (ip.extents && !ext4ExtRootOk(new Uint8Array(ip.iblock32.buffer, ip.iblock32.byteOffset, EXT2_IBLOCK_BYTES))) {
    ip.fs.damage = ip.fs.statfs.damage = `inode ${ip.ino}: its extent tree's root is damaged (run e2fsck)`;
    return EINTEGRITY;
  }
  return ext2XattrBlockCheck(mp, ip);
}

/**
 * Frees the inode of vp and every block it holds, its pages first (cf.
 * ext2_inactive's truncate and ext2_vfree), and takes its vnode out of the
 * hash so that the number can be used again.
 * => vp locked exclusively, or unreferenced; link count 0; may sleep
 */
export async function ext2Release(vp: Vnode): Promise<number> {
  const mp = vp.mount!;
  const ip = ext2Inode(vp);
  if (ip.freed) return 0;
  const e0 = ext2OrphanRemove(mp, ip);
  await vp.mount?.vm?.setsize(vp, 0);
  ip.size = 0;
  // Each step runs whatever the one before answered: a damaged pointer must not keep the inode.
  const e1 = await ext2Truncate(mp, ip, 0);
  const e2 = await ext2XattrBlockRelease(mp, ip);
  ip.unwritten.clear();
  ip.din.linksCount = 0;
  const now = ext2NowTime();
  ip.dtime = now.sec;
  ext2Stamp(ip.din, EXT2_MTIME | EXT2_CTIME, now);
  ip.freed = true;
  const e3 = await ext2Update(mp, ip, false);
  const e4 = await ext2Vfree(mp, vp.ino, vp.type === VType.VDIR);
  if (mp.vnodeHash.get(vp.ino) === vp) mp.vnodeHash.delete(vp.ino);
  dirhashDrop(ip);
  return e0 || e1 || e2 || e3 || e4;
}

/**
 * Puts ip, whose last link went while it is open, on the superblock's orphan
 * list (cf. ext4_orphan_add): i_dtime names the next orphan, s_last_orphan
 * this one; the inode is written first, then the superblock (at once with
 * sbSync, else with the next sync), so that a crash leaves e2fsck a list to
 * free. => may sleep
 */
export async function ext2OrphanAdd(mp: Mount, ip: Inode, sbSync = false): Promise<number> {
  const sb = ip.fs.sb;
  if (!ip.orphan) {
    ip.dtime = sb.lastOrphan;
    ip.orphan = true;
    sb.lastOrphan = ip.ino;
    ip.fs.sbDirty = true;
  }
  ip.modified = true;
  return (await ext2Update(mp, ip, true)) || (await ext2SbUpdate(mp, { sync: sbSync }));
}

/**
 * Takes ip, put on the orphan list for a removal that then failed, off it
 * again: a live inode once more, written, and the superblock after it.
 * => may sleep
 */
export async function ext2OrphanUndo(mp: Mount, ip: Inode): Promise<number> {
  const e = ext2OrphanRemove(mp, ip);
  ip.dtime = 0;
  ip.modified = true;
  return e || (await ext2Update(mp, ip, true)) || (await ext2SbUpdate(mp, { sync: true }));
}

/**
 * Takes ip off the orphan list (cf. ext4_orphan_del): every orphan is an open
 * file of this mount, so the one before it is found in core. EINTEGRITY when
 * the chain does not lead to it. => may sleep
 */
function ext2OrphanRemove(mp: Mount, ip: Inode): number {
  if (!ip.orphan) return 0;
  const sb = ip.fs.sb;
  ip.orphan = false;
  if (sb.lastOrphan === ip.ino) {
    sb.lastOrphan = ip.dtime;
    ip.fs.sbDirty = true;
    return 0;
  }
  for (const vp of mp.vnodeHash.values()) {
    const prev = ext2Inode(vp);
    if (prev.orphan && prev.dtime === ip.ino) {
      prev.dtime = ip.dtime;
      prev.modified = true;
      return 0;
    }
  }
  return EINTEGRITY;
}
