/*
 * A name looked up through a hash-indexed directory's index (cf. Linux
 * namei.c dx_probe / ext4_dx_find_entry, FreeBSD ext2_htree_lookup): the
 * name is hashed as the root says, the root and each interior node below it
 * are searched for the last entry whose hash is at most the name's, and the
 * leaf reached is searched; when the next index entry carries the same hash
 * (a run of equal hashes split across leaves), the next leaf is searched too.
 * A lookup costs the blocks of one path through the index, not the directory.
 *
 * Damage, as the kernel treats it: a block whose checksum (metadata_csum)
 * does not match is an error naming it (fs.csumFailed: EINTEGRITY, or a
 * warning when verification is off); an index whose structure is wrong
 * (root info, count, limit, a block outside the directory, an unknown hash
 * or too many levels) is not trusted: `indexed` false, a warning naming the
 * block, and the caller searches the directory linearly, as the kernel falls
 * back on ERR_BAD_DX_DIR. A damaged leaf is EINTEGRITY naming it. Two
 * checks go past the kernel's, so that a name readdir lists is not missed
 * by a lookup through a damaged index: the hashes of each node on the path
 * must not decrease, and on a miss, every name in the leaf reached must hash
 * into the range the path gives it (each block checked once, remembered
 * in ip.htreeChecked); either failing is an untrusted index, searched linearly.
 *   { error, indexed, ino, lbn } = await ext2HtreeLookup(dvp, ip, nameBytes, ioflag)
 *   (indexed false: not an index this code walks, scan; ino 0: not there)
 * => dvp referenced (locked exclusively when ioflag has IO_NODELOCKED); may sleep
 */

import { EINTEGRITY } from '../../kern/errno.js';
import type { Vnode } from '../../vfs/vnode.js';
import { DIRENT_HEADER, EXT2_INDEX_FL, EXT4_CASEFOLD_FL, EXT4_ENCRYPT_FL } from './ext2_fs.js';
import type { Inode } from './ext2_inode.js';
import { dxCountOffset } from './ext2_csum.js';
import { parseBlock, readBlock, usable } from './ext2_dir_block.js';
import { type Frame, htreeMaxLevels, NODE_COUNT, ROOT_COUNT, ROOT_INFO, count, entBlock, entHash, hashVersion, limit, nodeLimit } from './ext2_htree.js';
import { ext2Dirhash } from './ext2_htree_hash.js';
import { ext2DirBlockWhere } from './ext2_dir_where.js';

const COMPAT_DIR_INDEX = 0x20;

export interface HtreeHit {
  error: number;
  /** The lookup went through the index; false: the caller searches linearly. */
  indexed: boolean;
  /** The inode the name names, 0 when it is not there. */
  ino: number;
  /** The directory block holding the entry (-1 when not there). */
  lbn: number;
}

const LINEAR: HtreeHit = { error: 0, indexed: false, ino: 0, lbn: -1 };

/** Is dvp's index to be walked at all? (dir_index on, the flag set, names this code can hash.) */
export function htreeWalkable(ip: Inode): boolean {
  const fs = ip.fs;
  return (fs.sb.featureCompat & COMPAT_DIR_INDEX) !== 0 && (ip.din.flags & EXT2_INDEX_FL) !== 0 &&
    (ip.din.flags & (EXT4_CASEFOLD_FL | EXT4_ENCRYPT_FL)) === 0 && !ip.inlineData && ip.size % fs.bsize === 0 && ip.size >= 2 * fs.bsize;
}

/** The index is wrong: a warning naming the block, and a linear search instead. */
async function untrusted(dvp: Vnode, ip: Inode, lbn: number, why: string): Promise<HtreeHit> {
  const fs = ip.fs;
  const where = await ext2DirBlockWhere(dvp, ip, lbn);
  const w = `htree index block ${lbn} of directory inode ${ip.ino}${where}: ${why}; searched linearly`;
  if (!fs.warnings.includes(w) && fs.warnings.length < 100) fs.warnings.push(w);
  return LINEAR;
}

/** A leaf is damaged: EINTEGRITY, the damage naming it. */
async function damagedLeaf(dvp: Vnode, ip: Inode, lbn: number): Promise<HtreeHit> {
  const fs = ip.fs;
  const where = await ext2DirBlockWhere(dvp, ip, lbn);
  fs.damage = fs.statfs.damage = `directory block ${lbn} of inode ${ip.ino}${where}: damaged entry`;
  return { error: EINTEGRITY, indexed: true, ino: 0, lbn: -1 };
}

/** The position in node f of the last entry whose hash is at most h (entry 0 covers from 0). */
function probe(f: Frame, h: number): number {
  let lo = 1;
  let hi = count(f) - 1;
  let pos = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entHash(f, mid) <= h) {
      pos = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return pos;
}

/** The hashes of node f's entries 1.. do not decrease (entry 0's field is the count). */
function sortedNode(f: Frame): boolean {
  for (let i = 2; i < count(f); i++) if (entHash(f, i) < entHash(f, i - 1)) return false;
  return true;
}

/** The hash range [lo, hi] the path's chosen entries give the leaf below them (hi inclusive: a hash continued past it). */
function leafRange(path: readonly Frame[]): { lo: number; hi: number } {
  let lo = 0;
  let hi = 0xffffffff;
  for (const f of path) {
    if (f.pos > 0) lo = (entHash(f, f.pos) & ~1) >>> 0;
    if (f.pos + 1 < count(f)) hi = (entHash(f, f.pos + 1) & ~1) >>> 0;
  }
  return { lo, hi };
}

/** Every live name of leaf buf hashes into [lo, hi]. */
function leafInRange(ip: Inode, version: number, buf: Uint8Array, lo: number, hi: number): boolean {
  const { error, recs } = parseBlock(ip.fs, buf.subarray(0, usable(ip.fs)));
  if (error !== 0) return true; // damage of its own, reported by the search
  for (const r of recs) {
    if (r.ino === 0) continue;
    const x = ext2Dirhash(version, buf.subarray(r.off + DIRENT_HEADER, r.off + DIRENT_HEADER + r.nameLen), ip.fs.sb.hashSeed);
    if (x !== null && (x.hash < lo || x.hash > hi)) return false;
  }
  return true;
}

/** Searches leaf buf for want: its inode number, 0 when absent, -1 when the block is damaged. */
function searchLeaf(ip: Inode, buf: Uint8Array, want: Uint8Array): number {
  const { error, recs } = parseBlock(ip.fs, buf.subarray(0, usable(ip.fs)));
  if (error !== 0) return -1;
  for (const r of recs) {
    if (r.ino === 0 || r.nameLen !== want.length) continue;
    let i = 0;
    while (i < want.length && buf[r.off + DIRENT_HEADER + i] === want[i]) i++;
    if (i === want.length) return r.ino;
  }
  return 0;
}

export async function ext2HtreeLookup(dvp: Vnode, ip: Inode, want: Uint8Array, ioflag: number): Promise<HtreeHit> {
  const fs = ip.fs;
  if (!htreeWalkable(ip)) return LINEAR;
  const nblocks = ip.size / fs.bsize;
  const root = new Uint8Array(fs.bsize);
  let error = await readBlock(dvp, 0, root, ioflag);
  if (error !== 0) return { error, indexed: true, ino: 0, lbn: -1 };
  if (dxCountOffset(root) !== ROOT_COUNT) return untrusted(dvp, ip, 0, 'not an index root');
  const rd = new DataView(root.buffer);
  /* "." and ".." sit in the root block only (cf. ext4_find_entry). */
  if (want.length <= 2 && want[0] === 0x2e && (want.length === 1 || want[1] === 0x2e)) {
    const ino = rd.getUint32(want.length === 1 ? 0 : 12, true);
    return { error: 0, indexed: true, ino, lbn: 0 };
  }
  if (root[ROOT_INFO + 4] > 2) return untrusted(dvp, ip, 0, `unknown hash version ${root[ROOT_INFO + 4]}`);
  if ((root[ROOT_INFO + 7] & 1) !== 0) return untrusted(dvp, ip, 0, 'unknown hash flags');
  const levels = root[ROOT_INFO + 6];
  const maxLevels = htreeMaxLevels(fs);
  if (levels >= maxLevels) return untrusted(dvp, ip, 0, `${levels} indirect levels`);
  const h = ext2Dirhash(hashVersion(fs, root), want, fs.sb.hashSeed);
  if (h === null) return LINEAR;
  const path: Frame[] = [{ lbn: 0, buf: root, co: ROOT_COUNT, pos: 0 }];
  if (limit(path[0]) !== nodeLimit(fs, ROOT_COUNT)) return untrusted(dvp, ip, 0, `limit ${limit(path[0])}`);
  /* Down from the last frame of path: the entry `pick` chooses in each node, reading the nodes below; null at a leaf. */
  const descend = async (pick: (f: Frame) => number): Promise<HtreeHit | null> => {
    for (;;) {
      const f = path[path.length - 1];
      const n = count(f);
      if (n === 0 || n > limit(f)) return untrusted(dvp, ip, f.lbn, `count ${n} of limit ${limit(f)}`);
      if (!ip.htreeChecked.has(f.lbn)) {
        if (!sortedNode(f)) return untrusted(dvp, ip, f.lbn, 'hashes out of order');
        ip.htreeChecked.add(f.lbn);
      }
      f.pos = pick(f);
      const blk = entBlock(f, f.pos);
      if (blk === 0 || blk >= nblocks) return untrusted(dvp, ip, f.lbn, `entry ${f.pos} points at block ${blk}`);
      if (path.length > levels) return null;
      const buf = new Uint8Array(fs.bsize);
      error = await readBlock(dvp, blk, buf, ioflag);
      if (error !== 0) return { error, indexed: true, ino: 0, lbn: -1 };
      const node: Frame = { lbn: blk, buf, co: NODE_COUNT, pos: 0 };
      if (dxCountOffset(buf) !== NODE_COUNT) return untrusted(dvp, ip, blk, 'not an index node');
      if (limit(node) !== nodeLimit(fs, NODE_COUNT)) return untrusted(dvp, ip, blk, `limit ${limit(node)}`);
      path.push(node);
    }
  };
  let stop = await descend((f) => probe(f, h.hash));
  if (stop !== null) return stop;
  const leaf = new Uint8Array(fs.bsize);
  const version = hashVersion(fs, root);
  for (let first = true; ; first = false) {
    const last = path[path.length - 1];
    const lbn = entBlock(last, last.pos);
    error = await readBlock(dvp, lbn, leaf, ioflag);
    if (error !== 0) return { error, indexed: true, ino: 0, lbn: -1 };
    const ino = searchLeaf(ip, leaf, want);
    if (ino < 0) return damagedLeaf(dvp, ip, lbn);
    if (ino > 0) return { error: 0, indexed: true, ino, lbn };
    if (first && !ip.htreeChecked.has(lbn)) {
      const { lo, hi } = leafRange(path);
      if (!leafInRange(ip, version, leaf, lo, hi)) return untrusted(dvp, ip, lbn, 'names outside the leaf\'s hash range');
      ip.htreeChecked.add(lbn);
    }
    /* The next leaf holds more of this hash only when its index entry says so (cf. ext4_htree_next_block). */
    let up = path.length - 1;
    while (up >= 0 && path[up].pos + 1 >= count(path[up])) up--;
    if (up < 0) break;
    const next = entHash(path[up], path[up].pos + 1);
    if (((next & ~1) >>> 0) !== h.hash) break;
    path[up].pos++;
    path.length = up + 1;
    const moved = path[up];
    const keep = moved.pos;
    stop = await descend((f) => (f === moved ? keep : 0));
    if (stop !== null) return stop;
  }
  return { error: 0, indexed: true, ino: 0, lbn: -1 };
}
