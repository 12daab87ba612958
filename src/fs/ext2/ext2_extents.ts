/*
 * ext4 extent trees: logical block -> physical block through the tree rooted
 * in i_block. Each node is checked (magic, counts, depth, sorted entries,
 * blocks inside the file system) before use; the leaf last decoded is cached
 * in the inode with the logical range it answers for, so a sequential scan
 * walks the tree once per leaf.
 *   { error, pblk, after, before } = await extentBmap(bufcache, ip, lbn, maxrun)
 */

import { EINTEGRITY } from '../../kern/errno.js';
import type { BufCache } from '../../vfs/vfs_bio.js';
import { EXT2_IBLOCK_BYTES } from './ext2_fs.js';
import { extentCsumOk } from './ext2_csum.js';
import type { Extent, ExtentLeaf, ExtentMap, Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';

export const EXT4_EXT_MAGIC = 0xf30a;
export const EXT4_MAX_EXTENT_DEPTH = 5;
/** ee_len above this marks an unwritten extent of ee_len - 32768 blocks. */
export const EXT_INIT_MAX_LEN = 32768;
const HDR = 12;
const ENTRY = 12;
/** Logical block numbers are 32 bits. */
export const EXT_MAX_LBLK = 2 ** 32;

/** A block run: pblk (-1 for a hole) and the contiguous blocks (or hole blocks) after and before it. */
export interface BlockRun {
  error: number;
  pblk: number;
  after: number;
  before: number;
}

export const HOLE: BlockRun = Object.freeze({ error: 0, pblk: -1, after: 0, before: 0 });
const BAD: BlockRun = Object.freeze({ error: EINTEGRITY, pblk: -1, after: 0, before: 0 });

interface Header {
  entries: number;
  depth: number;
}

/** Checks the node header at b[0..size); null when damaged. */
function checkHeader(dv: DataView, size: number): Header | null {
  if (dv.getUint16(0, true) !== EXT4_EXT_MAGIC) return null;
  const entries = dv.getUint16(2, true);
  const max = dv.getUint16(4, true);
  const depth = dv.getUint16(6, true);
  if (max === 0 || max > Math.floor((size - HDR) / ENTRY) || entries > max) return null;
  if (depth > EXT4_MAX_EXTENT_DEPTH) return null;
  return { entries, depth };
}

/** Decodes and checks a leaf node answering for [lo, hi); null when damaged. */
function decodeLeaf(fs: Ext2Fs, dv: DataView, n: number, lo: number, hi: number): ExtentLeaf | null {
  const leaf: ExtentLeaf = {
    lo, hi, n,
    lblk: new Float64Array(n), len: new Float64Array(n), pblk: new Float64Array(n), unwritten: new Uint8Array(n),
  };
  const ok = leafEach(fs, dv, n, (i, lblk, len, pblk, unwritten) => {
    leaf.lblk[i] = lblk;
    leaf.len[i] = len;
    leaf.pblk[i] = pblk;
    leaf.unwritten[i] = unwritten ? 1 : 0;
  });
  return ok ? leaf : null;
}

/**
 * A leaf node's n entries (after its header in dv), each checked in order
 * (a length; sorted and apart; inside the 32-bit logical range and the file
 * system) and handed to visit; false at the first one damaged.
 */
function leafEach(fs: Ext2Fs, dv: DataView, n: number, visit: (i: number, lblk: number, len: number, pblk: number, unwritten: boolean) => void): boolean {
  let next = 0;
  for (let i = 0; i < n; i++) {
    const o = HDR + i * ENTRY;
    const lblk = dv.getUint32(o, true);
    let len = dv.getUint16(o + 4, true);
    const pblk = dv.getUint32(o + 8, true) + dv.getUint16(o + 6, true) * 2 ** 32;
    const unwritten = len > EXT_INIT_MAX_LEN;
    if (unwritten) len -= EXT_INIT_MAX_LEN;
    if (len === 0 || lblk < next || lblk + len > EXT_MAX_LBLK || !fs.blockOk(pblk, len)) return false;
    next = lblk + len;
    visit(i, lblk, len, pblk, unwritten);
  }
  return true;
}

/**
 * The extents of a tree held whole in the inode's i_block (depth 0), in
 * order, each checked as a lookup checks it, the written ones handed to
 * visit; false where the tree goes deeper than the inode or is damaged.
 */
export function extentRootEach(fs: Ext2Fs, iblock: Uint8Array, visit: (lblk: number, len: number, pblk: number) => void): boolean {
  const dv = new DataView(iblock.buffer, iblock.byteOffset, EXT2_IBLOCK_BYTES);
  const h = checkHeader(dv, EXT2_IBLOCK_BYTES);
  if (h === null || h.depth > 0) return false;
  return leafEach(fs, dv, h.entries, (_i, lblk, len, pblk, unwritten) => {
    if (!unwritten) visit(lblk, len, pblk);
  });
}

/** Whether i_block holds an extent tree's root header (magic, counts and depth in bounds). */
export function ext4ExtRootOk(iblock: Uint8Array): boolean {
  return checkHeader(new DataView(iblock.buffer, iblock.byteOffset, EXT2_IBLOCK_BYTES), EXT2_IBLOCK_BYTES) !== null;
}

/**
 * The leaf that answers for lbn when no block need be read: the cached one,
 * or the root in i_block of a tree of depth 0 (decoded and cached); null
 * when a walk must read tree blocks; false when the root is damaged.
 */
function leafInCore(ip: Inode, lbn: number): ExtentLeaf | null | false {
  const cached = ip.extLeaf;
  if (cached !== null && lbn >= cached.lo && lbn < cached.hi) return cached;
  const root = ip.din.iblock;
  const dv = new DataView(root.buffer, root.byteOffset, EXT2_IBLOCK_BYTES);
  const h = checkHeader(dv, EXT2_IBLOCK_BYTES);
  if (h === null) return false;
  if (h.depth > 0) return null;
  const leaf = decodeLeaf(ip.fs, dv, h.entries, 0, EXT_MAX_LBLK);
  if (leaf === null) return false;
  ip.extLeaf = leaf;
  return leaf;
}

/**
 * The leaf that answers for logical block lbn: the cached one, or a walk from
 * the root. => lbn < EXT_MAX_LBLK; may sleep (reads tree blocks)
 */
async function findLeaf(bufcache: BufCache, ip: Inode, lbn: number): Promise<{ error: number; leaf: ExtentLeaf | null }> {
  const now = leafInCore(ip, lbn);
  if (now !== null) return now === false ? { error: EINTEGRITY, leaf: null } : { error: 0, leaf: now };
  const fs = ip.fs;
  const root = ip.din.iblock;
  let dv = new DataView(root.buffer, root.byteOffset, EXT2_IBLOCK_BYTES);
  let h = checkHeader(dv, EXT2_IBLOCK_BYTES);
  if (h === null) return { error: EINTEGRITY, leaf: null };
  let lo = 0;
  let hi = EXT_MAX_LBLK;
  while (h.depth > 0) {
    const n = h.entries;
    if (n === 0) return { error: EINTEGRITY, leaf: null };
    let i = 0;
    let prev = -1;
    for (let j = 0; j < n; j++) {
      const first = dv.getUint32(HDR + j * ENTRY, true);
      if (first <= prev) return { error: EINTEGRITY, leaf: null };
      prev = first;
      if (first <= lbn) i = j;
    }
    const o = HDR + i * ENTRY;
    const child = dv.getUint32(o + 4, true) + dv.getUint16(o + 8, true) * 2 ** 32;
    if (i > 0) lo = Math.max(lo, dv.getUint32(o, true));
    if (i + 1 < n) hi = Math.min(hi, dv.getUint32(o + ENTRY, true));
    if (!fs.blockOk(child)) return { error: EINTEGRITY, leaf: null };
    const { error, bp } = await bufcache.bread(fs.fsbtodb(child), fs.bsize);
    if (error !== 0 || bp === null) return { error, leaf: null };
    const copy = bp.data.slice();
    bufcache.brelse(bp);
    const depth = h.depth;
    dv = new DataView(copy.buffer, 0, copy.length);
    h = checkHeader(dv, copy.length);
    if (h === null || h.depth !== depth - 1) return { error: EINTEGRITY, leaf: null };
    if (fs.metadataCsum && !extentCsumOk(fs, ip.ino, ip.din.generation, copy)) {
      const e = fs.csumFailed(`extent block ${child} of inode ${ip.ino}`);
      if (e !== 0) return { error: e, leaf: null };
    }
  }
  const leaf = decodeLeaf(fs, dv, h.entries, lo, hi);
  if (leaf === null) return { error: EINTEGRITY, leaf: null };
  ip.extLeaf = leaf;
  return { error: 0, leaf };
}

/**
 * Maps lbn through the extent tree without reading a block (the leaf in
 * core: cached, or the root of a depth-0 tree); null when the tree must be
 * read (extentBmap does). The common case of a small or sequentially read
 * file costs no promise.
 */
export function extentBmapNow(ip: Inode, lbn: number, maxrun: number): BlockRun | null {
  if (lbn >= EXT_MAX_LBLK) return HOLE;
  if (ip.extMap !== null) return extMapBmap(ip.extMap, lbn, maxrun);
  const leaf = leafInCore(ip, lbn);
  if (leaf === null) return null;
  return leaf === false ? BAD : leafRun(leaf, lbn, maxrun);
}

/**
 * Maps lbn through the extent tree; runs stay inside the leaf and stop at
 * maxrun blocks. Unwritten extents read as holes. => may sleep
 */
export async function extentBmap(bufcache: BufCache, ip: Inode, lbn: number, maxrun: number): Promise<BlockRun> {
  const now = extentBmapNow(ip, lbn, maxrun);
  if (now !== null) return now;
  const { error, leaf } = await findLeaf(bufcache, ip, lbn);
  if (leaf === null) return error === EINTEGRITY ? BAD : { error, pblk: -1, after: 0, before: 0 };
  return leafRun(leaf, lbn, maxrun);
}

function extMapBmap(map: ExtentMap, lbn: number, maxrun: number): BlockRun {
  const r = ext4ExtMapRun(map, lbn, maxrun);
  if (r.pblk >= 0) return { error: 0, ...r };
  const ext = map.ext;
  return holeRun(lbn, maxrun, 0, EXT_MAX_LBLK, ext.length, ext4ExtFind(ext, lbn), (j) => ext[j].lblk, (j) => ext[j].len, (j) => ext[j].unwritten);
}

/** The run around lbn inside leaf. */
function leafRun(leaf: ExtentLeaf, lbn: number, maxrun: number): BlockRun {
  /* The last extent starting at or before lbn. */
  let l = 0;
  let r = leaf.n - 1;
  let i = -1;
  while (l <= r) {
    const m = (l + r) >> 1;
    if (leaf.lblk[m] <= lbn) {
      i = m;
      l = m + 1;
    } else {
      r = m - 1;
    }
  }
  if (i < 0 || lbn >= leaf.lblk[i] + leaf.len[i] || leaf.unwritten[i] !== 0) {
    return holeRun(lbn, maxrun, leaf.lo, leaf.hi, leaf.n, i, (j) => leaf.lblk[j], (j) => leaf.len[j], (j) => leaf.unwritten[j] !== 0);
  }
  const pblk = leaf.pblk[i] + (lbn - leaf.lblk[i]);
  let after = leaf.lblk[i] + leaf.len[i] - 1 - lbn;
  for (let j = i + 1; j < leaf.n && after < maxrun; j++) {
    const end = leaf.lblk[j - 1] + leaf.len[j - 1];
    if (leaf.unwritten[j] !== 0 || leaf.lblk[j] !== end || leaf.pblk[j] !== leaf.pblk[j - 1] + leaf.len[j - 1]) break;
    after += leaf.len[j];
  }
  let before = lbn - leaf.lblk[i];
  for (let j = i - 1; j >= 0 && before < maxrun; j--) {
    const end = leaf.lblk[j] + leaf.len[j];
    if (leaf.unwritten[j] !== 0 || end !== leaf.lblk[j + 1] || leaf.pblk[j] + leaf.len[j] !== leaf.pblk[j + 1]) break;
    before += leaf.len[j];
  }
  return { error: 0, pblk, after: Math.min(after, maxrun), before: Math.min(before, maxrun) };
}

/**
 * The hole around lbn among n sorted extents answering for [lo, hi), i the
 * last one starting at or before lbn (-1: none): from the end of the last
 * written extent before lbn to the start of the first written one after it
 * (unwritten extents read as zeros too), at most maxrun each way.
 */
function holeRun(
  lbn: number, maxrun: number, lo: number, hi: number, n: number, i: number,
  lblk: (j: number) => number, len: (j: number) => number, unwritten: (j: number) => boolean,
): BlockRun {
  let j = i + 1;
  while (j < n && unwritten(j) && lblk(j) - lbn <= maxrun) j++;
  const next = j < n ? lblk(j) : hi;
  let k = i;
  while (k >= 0 && unwritten(k) && lbn - (lblk(k) + len(k)) <= maxrun) k--;
  const prev = k >= 0 ? lblk(k) + len(k) : lo;
  return { error: 0, pblk: -1, after: Math.max(0, Math.min(next - lbn - 1, maxrun)), before: Math.max(0, Math.min(lbn - prev, maxrun)) };
}

/** Index of the last extent starting at or before lbn, or -1. */
export function ext4ExtFind(ext: readonly Extent[], lbn: number): number {
  let l = 0;
  let r = ext.length - 1;
  let i = -1;
  while (l <= r) {
    const m = (l + r) >> 1;
    if (ext[m].lblk <= lbn) {
      i = m;
      l = m + 1;
    } else {
      r = m - 1;
    }
  }
  return i;
}

/** The run around lbn in the in-core extents (cf. extentBmap): pblk -1 for a hole or an unwritten block. */
export function ext4ExtMapRun(map: ExtentMap, lbn: number, maxrun: number): { pblk: number; after: number; before: number } {
  const ext = map.ext;
  const i = ext4ExtFind(ext, lbn);
  if (i < 0 || lbn >= ext[i].lblk + ext[i].len || ext[i].unwritten) return { pblk: -1, after: 0, before: 0 };
  const e = ext[i];
  let after = e.lblk + e.len - 1 - lbn;
  for (let j = i + 1; j < ext.length && after < maxrun; j++) {
    const p = ext[j - 1];
    if (ext[j].unwritten || ext[j].lblk !== p.lblk + p.len || ext[j].pblk !== p.pblk + p.len) break;
    after += ext[j].len;
  }
  let before = lbn - e.lblk;
  for (let j = i - 1; j >= 0 && before < maxrun; j--) {
    const q = ext[j + 1];
    if (ext[j].unwritten || ext[j].lblk + ext[j].len !== q.lblk || ext[j].pblk + ext[j].len !== q.pblk) break;
    before += ext[j].len;
  }
  return { pblk: e.pblk + (lbn - e.lblk), after: Math.min(after, maxrun), before: Math.min(before, maxrun) };
}
