/*
 * Writing ext4 extent trees (cf. FreeBSD ext2_extents.c, Linux extents.c):
 * the first change to a file loads its whole tree into ip.extMap (every
 * node checked); allocation extends the extent before a hole when the next
 * physical block is free, else adds an extent; truncation trims and drops
 * extents. ext4ExtStore lays the extents out again as a tree as shallow as
 * they allow (root in i_block, full leaves, index levels while more than
 * four nodes remain: depth 0, 1, 2 ...) over the node blocks the file owns,
 * and frees those it no longer needs. Blocks for the nodes are reserved
 * before any data block is allocated, so storing never runs out of space.
 *   { error, done } = await ext4ExtAllocRange(mp, ip, lbn, count, onNew)
 *   { error, done } = ext4ExtAllocRangeNow(...)   // no task: as far as in-core bitmaps go
 *   error = await ext4ExtTruncate(mp, ip, length); error = await ext4ExtStore(mp, ip)
 */

import { EFBIG, EINTEGRITY } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import { B_DONE } from '../../vfs/buf.js';
import { B_EARLY } from '../../vfs/vfs_bio.js';
import { type AllocResult, ext2AllocBlocks, ext2AllocBlocksNow, ext2BufInvalidate, ext2FreeBlocks } from './ext2_alloc.js';
import { extentCsumOk, extentCsumSet } from './ext2_csum.js';
import { EXT4_EXT_MAGIC, EXT4_MAX_EXTENT_DEPTH, EXT_INIT_MAX_LEN, EXT_MAX_LBLK, ext4ExtFind } from './ext2_extents.js';
import { INCOMPAT_FLEX_BG } from './ext2_fs.js';
import type { Extent, ExtentMap, Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';

const HDR = 12;
const ENTRY = 12;
/** Entries of the root in i_block. */
const ROOT_MAX = 4;
/** Longest unwritten extent (the top length bit marks it). */
const EXT_UNINIT_MAX_LEN = EXT_INIT_MAX_LEN - 1;

/** Entries one tree block holds (its checksum tail fits after them). */
function perBlock(fs: Ext2Fs): number {
  return Math.floor((fs.bsize - HDR) / ENTRY);
}

/** Tree blocks n extents need when packed: leaves, then index levels while more than the root holds. */
export function ext4ExtNodesFor(fs: Ext2Fs, n: number): number {
  if (n <= ROOT_MAX) return 0;
  const per = perBlock(fs);
  let level = Math.ceil(n / per);
  let total = level;
  while (level > ROOT_MAX) {
    level = Math.ceil(level / per);
    total += level;
  }
  return total;
}

/** The empty extent root of a new file (i_block as 15 words). */
export function ext4ExtEmptyRoot(iblock32: Uint32Array): void {
  iblock32.fill(0);
  iblock32[0] = EXT4_EXT_MAGIC; // eh_entries 0
  iblock32[1] = ROOT_MAX; // eh_max, eh_depth 0
}

/**
 * Reads ip's whole tree into ip.extMap (once): every node's header, depth,
 * order and checksum checked, every extent inside the file system and after
 * the one before. => vnode locked exclusively; may sleep
 */
export async function ext4ExtLoad(mp: Mount, ip: Inode): Promise<{ error: number; map: ExtentMap | null }> {
  if (ip.extMap !== null) return { error: 0, map: ip.extMap };
  const fs = ip.fs;
  if ((ip.iblock32[1] >>> 16) === 0) {
    // A root of depth 0 (most files): its extents straight from i_block's words, no node to read.
    const map = rootExtents(fs, ip.iblock32);
    if (map === null) return { error: EINTEGRITY, map: null };
    ip.extMap = map;
    ip.extLeaf = null;
    return { error: 0, map };
  }
  const map: ExtentMap = { ext: [], nodes: [], dirty: false };
  const root = new Uint8Array(60);
  const rdv = new DataView(root.buffer);
  for (let i = 0; i < 15; i++) rdv.setUint32(i * 4, ip.iblock32[i], true);
  const walk = async (b: Uint8Array, size: number, depth: number, lo: number, hi: number): Promise<number> => {
    const dv = new DataView(b.buffer, b.byteOffset, size);
    if (dv.getUint16(0, true) !== EXT4_EXT_MAGIC) return EINTEGRITY;
    const n = dv.getUint16(2, true);
    const max = dv.getUint16(4, true);
    if (max === 0 || max > Math.floor((size - HDR) / ENTRY) || n > max || dv.getUint16(6, true) !== depth) return EINTEGRITY;
    for (let i = 0; i < n; i++) {
      const o = HDR + i * ENTRY;
      const first = dv.getUint32(o, true);
      const next = i + 1 < n ? dv.getUint32(o + ENTRY, true) : hi;
      if (first < lo || first >= hi || next > hi || first >= next) return EINTEGRITY;
      if (depth === 0) {
        let len = dv.getUint16(o + 4, true);
        const unwritten = len > EXT_INIT_MAX_LEN;
        if (unwritten) len -= EXT_INIT_MAX_LEN;
        const pblk = dv.getUint32(o + 8, true) + dv.getUint16(o + 6, true) * 2 ** 32;
        const prev = map.ext[map.ext.length - 1];
        if (len === 0 || first + len > next || !fs.blockOk(pblk, len)) return EINTEGRITY;
        if (prev !== undefined && prev.lblk + prev.len > first) return EINTEGRITY;
        map.ext.push({ lblk: first, len, pblk, unwritten });
        continue;
      }
      const child = dv.getUint32(o + 4, true) + dv.getUint16(o + 8, true) * 2 ** 32;
      if (!fs.blockOk(child) || map.nodes.includes(child)) return EINTEGRITY;
      const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(child), fs.bsize);
      if (error !== 0 || bp === null) return error || EINTEGRITY;
      const copy = bp.data.slice();
      mp.bufcache.brelse(bp);
      if (fs.metadataCsum && !extentCsumOk(fs, ip.ino, ip.din.generation, copy)) {
        const e = fs.csumFailed(`extent block ${child} of inode ${ip.ino}`);
        if (e !== 0) return e;
      }
      map.nodes.push(child);
      const e = await walk(copy, fs.bsize, depth - 1, first, next);
      if (e !== 0) return e;
    }
    return 0;
  };
  const depth = rdv.getUint16(6, true);
  if (depth > EXT4_MAX_EXTENT_DEPTH) return { error: EINTEGRITY, map: null };
  const error = await walk(root, 60, depth, 0, EXT_MAX_LBLK);
  if (error !== 0) return { error, map: null };
  ip.extMap = map;
  ip.extLeaf = null;
  return { error: 0, map };
}

/** Can b follow a directly (logically, physically, same kind, and the sum not too long)? */
function mergeable(a: Extent, b: Extent): boolean {
  const max = a.unwritten ? EXT_UNINIT_MAX_LEN : EXT_INIT_MAX_LEN;
  return a.unwritten === b.unwritten && a.lblk + a.len === b.lblk && a.pblk + a.len === b.pblk && a.len + b.len <= max;
}

/** Puts e at index i of the sorted list, merged with its neighbours where it can be. */
function insertExtent(ext: Extent[], i: number, e: Extent): void {
  const prev = i > 0 ? ext[i - 1] : undefined;
  const next = ext[i];
  if (prev !== undefined && mergeable(prev, e)) {
    prev.len += e.len;
    if (next !== undefined && mergeable(prev, next)) {
      prev.len += next.len;
      ext.splice(i, 1);
    }
    return;
  }
  if (next !== undefined && mergeable(e, next)) {
    next.lblk = e.lblk;
    next.pblk = e.pblk;
    next.len += e.len;
    return;
  }
  ext.splice(i, 0, e);
}

/** Whether the node reservation falls short of `n` extents (reserveNodes has work: else no call, no await). */
function nodesShort(fs: Ext2Fs, map: ExtentMap, n: number): boolean {
  return map.nodes.length < ext4ExtNodesFor(fs, n);
}

/** Makes the node reservation cover `n` extents. => may sleep */
async function reserveNodes(mp: Mount, ip: Inode, map: ExtentMap, n: number, pref: number): Promise<number> {
  const fs = ip.fs;
  while (map.nodes.length < ext4ExtNodesFor(fs, n)) {
    const r = await ext2AllocBlocks(mp, pref, 1);
    if (r.error !== 0) return r.error;
    map.nodes.push(r.blk);
    ip.blocks512 += fs.spb;
    ip.modified = true;
    map.dirty = true;
  }
  return 0;
}

/** Where a new block of ip after logical block lbn is wanted: after its physical neighbour, else in its flex group. */
function extentPref(ip: Inode, ext: readonly Extent[], i: number, lbn: number): number {
  const fs = ip.fs;
  const prev = i >= 0 ? ext[i] : undefined;
  if (prev !== undefined) {
    const want = prev.pblk + prev.len + (lbn - (prev.lblk + prev.len));
    if (fs.blockOk(want)) return want;
  }
  if (ip.lastAlloc !== 0 && fs.blockOk(ip.lastAlloc + 1)) return ip.lastAlloc + 1;
  let g = fs.inodeGroup(ip.ino);
  if (fs.hasFeature(INCOMPAT_FLEX_BG) && fs.sb.logGroupsPerFlex < 31) {
    const per = 2 ** fs.sb.logGroupsPerFlex;
    g -= g % per;
  }
  return fs.groupFirst(g);
}

/** Whether extents of map cover [lbn, lbn + count) whole, none of them unwritten: nothing for ext4ExtAllocRange to do. */
export function ext4ExtMapped(map: ExtentMap, lbn: number, count: number): boolean {
  const ext = map.ext;
  const end = lbn + count;
  let i = ext4ExtFind(ext, lbn);
  for (let l = lbn; l < end; i++) {
    const cur = i >= 0 ? ext[i] : undefined;
    if (cur === undefined || l < cur.lblk || l >= cur.lblk + cur.len || cur.unwritten) return false;
    l = cur.lblk + cur.len;
  }
  return true;
}

/** The extents of a root of depth 0 (i_block as 15 words), with the checks the walk makes; null when damaged. */
function rootExtents(fs: Ext2Fs, w: Uint32Array): ExtentMap | null {
  const n = w[0] >>> 16;
  const max = w[1] & 0xffff;
  if ((w[0] & 0xffff) !== EXT4_EXT_MAGIC || max === 0 || max > ROOT_MAX || n > max) return null;
  const map: ExtentMap = { ext: [], nodes: [], dirty: false };
  for (let i = 0; i < n; i++) {
    const first = w[3 + 3 * i];
    const next = i + 1 < n ? w[3 + 3 * (i + 1)] : EXT_MAX_LBLK;
    let len = w[4 + 3 * i] & 0xffff;
    const unwritten = len > EXT_INIT_MAX_LEN;
    if (unwritten) len -= EXT_INIT_MAX_LEN;
    const pblk = w[5 + 3 * i] + (w[4 + 3 * i] >>> 16) * 2 ** 32;
    const prev = map.ext[map.ext.length - 1];
    if (first >= EXT_MAX_LBLK || next > EXT_MAX_LBLK || first >= next) return null;
    if (len === 0 || first + len > next || !fs.blockOk(pblk, len)) return null;
    if (prev !== undefined && prev.lblk + prev.len > first) return null;
    map.ext.push({ lblk: first, len, pblk, unwritten });
  }
  return map;
}

/**
 * Makes logical blocks [lbn, lbn + count) of ip mapped and written, allocating
 * holes (extending the extent before when it can) and turning unwritten
 * extents written; onNew(lbn, pblk) hears of each block whose contents are
 * not yet there. `done`: blocks mapped from lbn when an error (ENOSPC, EFBIG)
 * stopped it. => vnode locked exclusively; read-write mount; may sleep
 */
export async function ext4ExtAllocRange(
  mp: Mount, ip: Inode, lbn: number, count: number, onNew: (lbn: number, pblk: number) => void,
): Promise<{ error: number; done: number }> {
  const fs = ip.fs;
  if (lbn + count > EXT_MAX_LBLK) return { error: EFBIG, done: 0 };
  let map = ip.extMap;
  if (map === null) {
    const r = await ext4ExtLoad(mp, ip);
    if (r.map === null) return { error: r.error, done: 0 };
    map = r.map;
  }
  const ext = map.ext;
  const end = lbn + count;
  let l = lbn;
  for (;;) {
    // As far as the tree and the bitmaps in core go, without a task; then the one step that needs one.
    const now = ext4ExtAllocRangeNow(mp, ip, l, end - l, onNew);
    l += now.done;
    if (now.error !== 0) return { error: now.error, done: l - lbn };
    if (l >= end) return { error: 0, done: count };
    const i = ext4ExtFind(ext, l);
    const cur = i >= 0 ? ext[i] : undefined;
    if (cur !== undefined && l < cur.lblk + cur.len) {
      // An unwritten extent, written from now on: split off [l, stop) (zeros go around what the caller writes).
      const stop = Math.min(end, cur.lblk + cur.len);
      const e = nodesShort(fs, map, ext.length + 2) ? await reserveNodes(mp, ip, map, ext.length + 2, cur.pblk) : 0;
      if (e !== 0) return { error: e, done: l - lbn };
      const parts: Extent[] = [];
      if (cur.lblk < l) parts.push({ lblk: cur.lblk, len: l - cur.lblk, pblk: cur.pblk, unwritten: true });
      const mid = { lblk: l, len: stop - l, pblk: cur.pblk + (l - cur.lblk), unwritten: false };
      parts.push(mid);
      if (stop < cur.lblk + cur.len) {
        parts.push({ lblk: stop, len: cur.lblk + cur.len - stop, pblk: cur.pblk + (stop - cur.lblk), unwritten: true });
      }
      ext.splice(i, 1, ...parts);
      for (let k = l; k < stop; k++) onNew(k, mid.pblk + (k - l));
      map.dirty = true;
      ip.modified = true;
      l = stop;
      continue;
    }
    // A hole: the tree's nodes reserved (then the in-core path goes on), or a run from a bitmap read first.
    const pref = extentPref(ip, ext, i, l);
    if (nodesShort(fs, map, ext.length + 1)) {
      const e = await reserveNodes(mp, ip, map, ext.length + 1, pref);
      if (e !== 0) return { error: e, done: l - lbn };
      continue;
    }
    const next = ext[i + 1];
    const holeEnd = Math.min(end, next !== undefined ? next.lblk : EXT_MAX_LBLK);
    const r = await ext2AllocBlocks(mp, pref, Math.min(holeEnd - l, EXT_INIT_MAX_LEN));
    if (r.error !== 0) return { error: r.error, done: l - lbn };
    mapRun(ip, map, i + 1, l, r, onNew);
    l += r.count;
  }
}

/**
 * ext4ExtAllocRange without a task, as far as it goes: the tree in core,
 * written extents passed over, holes filled by runs from bitmaps in core
 * while the node reservation is enough. `done` short of count with no
 * error: the rest needs what only ext4ExtAllocRange does (a read, nodes,
 * an unwritten extent to split).
 */
export function ext4ExtAllocRangeNow(
  mp: Mount, ip: Inode, lbn: number, count: number, onNew: (lbn: number, pblk: number) => void,
): { error: number; done: number } {
  const map = ip.extMap;
  const fs = ip.fs;
  if (map === null || lbn + count > EXT_MAX_LBLK) return { error: 0, done: 0 };
  const ext = map.ext;
  const end = lbn + count;
  let l = lbn;
  while (l < end) {
    const i = ext4ExtFind(ext, l);
    const cur = i >= 0 ? ext[i] : undefined;
    if (cur !== undefined && l < cur.lblk + cur.len) {
      if (cur.unwritten) break;
      l = Math.min(end, cur.lblk + cur.len);
      continue;
    }
    if (nodesShort(fs, map, ext.length + 1)) break;
    const next = ext[i + 1];
    const holeEnd = Math.min(end, next !== undefined ? next.lblk : EXT_MAX_LBLK);
    const r = ext2AllocBlocksNow(mp, extentPref(ip, ext, i, l), Math.min(holeEnd - l, EXT_INIT_MAX_LEN));
    if (typeof r === 'number') break;
    if (r.error !== 0) return { error: r.error, done: l - lbn };
    mapRun(ip, map, i + 1, l, r, onNew);
    l += r.count;
  }
  return { error: 0, done: l - lbn };
}

/** Maps the run r at logical block l (its place in the list: i), newly allocated; onNew hears of each block. */
function mapRun(ip: Inode, map: ExtentMap, i: number, l: number, r: AllocResult, onNew: (lbn: number, pblk: number) => void): void {
  insertExtent(map.ext, i, { lblk: l, len: r.count, pblk: r.blk, unwritten: false });
  for (let k = 0; k < r.count; k++) onNew(l + k, r.blk + k);
  ip.blocks512 += r.count * ip.fs.spb;
  ip.lastAlloc = r.blk + r.count - 1;
  ip.modified = true;
  map.dirty = true;
}

/**
 * Drops or trims the extents of ip at or past byte `length` (unwritten ones
 * too) and answers the data blocks they held, for the caller to free once
 * the inode is written (ext2Truncate). The tree's own blocks go at the next store.
 * => vnode locked exclusively (or unreferenced); read-write mount; may sleep
 */
export async function ext4ExtTruncate(mp: Mount, ip: Inode, length: number): Promise<{ error: number; blocks: number[] }> {
  const fs = ip.fs;
  const first = Math.ceil(length / fs.bsize);
  const { error, map } = await ext4ExtLoad(mp, ip);
  if (map === null) return { error, blocks: [] };
  const ext = map.ext;
  const blocks: number[] = [];
  let keep = ext.length;
  for (let i = ext.length - 1; i >= 0; i--) {
    const e = ext[i];
    if (e.lblk + e.len <= first) break;
    const from = Math.max(first, e.lblk);
    for (let b = e.pblk + (from - e.lblk); b < e.pblk + e.len; b++) blocks.push(b);
    if (from > e.lblk) e.len = from - e.lblk;
    else keep = i;
  }
  ip.unwritten.deleteRange(first, Infinity);
  if (blocks.length === 0 && keep === ext.length) return { error: 0, blocks };
  ext.length = keep;
  map.dirty = true;
  ip.modified = true;
  ip.blocks512 = Math.max(0, ip.blocks512 - blocks.length * fs.spb);
  return { error: 0, blocks };
}

/**
 * Writes ip.extMap back as a packed tree: the root into ip.iblock32, every
 * other node into the blocks the file owns (header, entries, checksum tail).
 * The blocks left over are freed at once under MNT_ASYNC; otherwise they wait
 * in ip.freeAfterWrite until ext2Update has written the inode that no longer
 * points at them. => vnode locked exclusively (or unreferenced); may sleep
 */
export async function ext4ExtStore(mp: Mount, ip: Inode): Promise<number> {
  const map = ip.extMap;
  if (map === null || !map.dirty) return 0;
  const fs = ip.fs;
  const per = perBlock(fs);
  const ext = map.ext;
  const need = ext4ExtNodesFor(fs, ext.length);
  if (map.nodes.length < need) return EINTEGRITY; // the reservation was broken: never store a partial tree
  /* Level by level, bottom up: each entry is [first logical block, child block or extent]. */
  let entries: Array<{ lblk: number; child: number }> = [];
  let depth = 0;
  let next = 0;
  if (ext.length > ROOT_MAX) {
    const leafCount = Math.ceil(ext.length / per);
    for (let k = 0; k < leafCount; k++) {
      const blk = map.nodes[next++];
      const part = ext.slice(k * per, (k + 1) * per);
      const e = await writeNode(mp, ip, blk, 0, part.length, per, (dv, j) => putExtent(dv, HDR + j * ENTRY, part[j]));
      if (e !== 0) return e;
      entries.push({ lblk: part[0].lblk, child: blk });
    }
    depth = 1;
    while (entries.length > ROOT_MAX) {
      const up: Array<{ lblk: number; child: number }> = [];
      for (let k = 0; k < entries.length; k += per) {
        const blk = map.nodes[next++];
        const part = entries.slice(k, k + per);
        const e = await writeNode(mp, ip, blk, depth, part.length, per, (dv, j) => putIndex(dv, HDR + j * ENTRY, part[j].lblk, part[j].child));
        if (e !== 0) return e;
        up.push({ lblk: part[0].lblk, child: blk });
      }
      entries = up;
      depth++;
    }
  }
  if (depth > EXT4_MAX_EXTENT_DEPTH) return EFBIG;
  if (depth === 0) {
    storeRoot(ip, map);
  } else {
    const root = new Uint8Array(60);
    const rdv = new DataView(root.buffer);
    const n = entries.length;
    rdv.setUint16(0, EXT4_EXT_MAGIC, true);
    rdv.setUint16(2, n, true);
    rdv.setUint16(4, ROOT_MAX, true);
    rdv.setUint16(6, depth, true);
    for (let j = 0; j < n; j++) putIndex(rdv, HDR + j * ENTRY, entries[j].lblk, entries[j].child);
    for (let i = 0; i < 15; i++) ip.iblock32[i] = rdv.getUint32(i * 4, true);
    map.dirty = false;
    ip.extLeaf = null;
    ip.modified = true;
  }
  const spare = map.nodes.splice(need);
  if (spare.length === 0) return 0;
  for (const b of spare) await ext2BufInvalidate(mp, b);
  ip.blocks512 = Math.max(0, ip.blocks512 - spare.length * fs.spb);
  if (mp.async) return ext2FreeBlocks(mp, spare);
  (ip.freeAfterWrite ??= []).push(...spare);
  return 0;
}

/**
 * ext4ExtStore without a task where the extents fit the root and the file
 * owns no tree block (a small file's case): true when stored (or nothing
 * to store), false when ext4ExtStore must do it.
 */
export function ext4ExtStoreNow(ip: Inode): boolean {
  const map = ip.extMap;
  if (map === null || !map.dirty) return true;
  if (map.ext.length > ROOT_MAX || map.nodes.length !== 0) return false;
  storeRoot(ip, map);
  return true;
}

/** The extents of map (at most ROOT_MAX) as the root of depth 0, in ip's i_block words. */
function storeRoot(ip: Inode, map: ExtentMap): void {
  const w = ip.iblock32;
  const ext = map.ext;
  w.fill(0);
  w[0] = EXT4_EXT_MAGIC | (ext.length << 16);
  w[1] = ROOT_MAX; // eh_max, eh_depth 0
  for (let j = 0; j < ext.length; j++) {
    const e = ext[j];
    w[3 + 3 * j] = e.lblk;
    w[4 + 3 * j] = (e.unwritten ? e.len + EXT_INIT_MAX_LEN : e.len) | (Math.floor(e.pblk / 2 ** 32) << 16);
    w[5 + 3 * j] = e.pblk % 2 ** 32;
  }
  map.dirty = false;
  ip.extLeaf = null;
  ip.modified = true;
}

/** Writes one tree node (delayed): header, `n` entries by put, zeros, the checksum tail. => may sleep */
async function writeNode(
  mp: Mount, ip: Inode, blk: number, depth: number, n: number, max: number, put: (dv: DataView, j: number) => void,
): Promise<number> {
  const fs = ip.fs;
  const bp = await mp.bufcache.getblk(fs.fsbtodb(blk), fs.bsize);
  const b = bp.data;
  b.fill(0);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  dv.setUint16(0, EXT4_EXT_MAGIC, true);
  dv.setUint16(2, n, true);
  dv.setUint16(4, max, true);
  dv.setUint16(6, depth, true);
  for (let j = 0; j < n; j++) put(dv, j);
  if (fs.metadataCsum) extentCsumSet(fs, ip.ino, ip.din.generation, b);
  bp.flags |= B_DONE | B_EARLY; // an index node: on disk before the inode that points at it
  mp.bufcache.bdwrite(bp);
  return 0;
}

function putExtent(dv: DataView, o: number, e: Extent): void {
  dv.setUint32(o, e.lblk, true);
  dv.setUint16(o + 4, e.unwritten ? e.len + EXT_INIT_MAX_LEN : e.len, true);
  dv.setUint16(o + 6, Math.floor(e.pblk / 2 ** 32), true);
  dv.setUint32(o + 8, e.pblk % 2 ** 32, true);
}

function putIndex(dv: DataView, o: number, lblk: number, child: number): void {
  dv.setUint32(o, lblk, true);
  dv.setUint32(o + 4, child % 2 ** 32, true);
  dv.setUint16(o + 8, Math.floor(child / 2 ** 32), true);
  dv.setUint16(o + 10, 0, true);
}
