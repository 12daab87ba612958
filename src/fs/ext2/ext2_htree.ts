/*
 * Keeping a hash-indexed directory's index (cf. FreeBSD ext2_htree.c, Linux
 * namei.c dx_add_entry): a new name goes into the leaf its hash selects;
 * a full leaf is split by hash into a new block at the directory's end and
 * the split hash entered in its index node; a full index node is split, or,
 * for the root, pushed down a level (indirect levels 0 -> 1, and 1 -> 2
 * with large_dir); an index with no room left gives ENOSPC before any
 * block is written. Removal
 * leaves the index as it is (entries only leave leaves). A linear directory
 * of one full block becomes indexed when dir_index is on.
 *   error = await ext2HtreeEnter(dvp, ip, name, ino, ft)   (EAGAIN: not indexable, go linear)
 * => dvp locked exclusively for every call; may sleep
 */

import { EAGAIN, EINTEGRITY, ENOSPC } from '../../kern/errno.js';
import type { Vnode } from '../../vfs/vnode.js';
import { ext2Dirhash, EXT2_FLAGS_UNSIGNED_HASH, EXT2_HTREE_UNSIGNED } from './ext2_htree_hash.js';
import { DIRENT_HEADER, EXT2_INDEX_FL, EXT4_CASEFOLD_FL, EXT4_ENCRYPT_FL, INCOMPAT_LARGEDIR, decodeRecLen, direntRecLen, encodeRecLen } from './ext2_fs.js';
import type { Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';
import { dirTailInit } from './ext2_csum.js';
import { dirBlockEntries, dirChangedTimes, putEntry, readBlock, usable, writeBlock } from './ext2_dir_block.js';

const COMPAT_DIR_INDEX = 0x20;
/** dx_root_info and the count/limit sit after "." and ".." in block 0. */
export const ROOT_INFO = 24;
export const ROOT_COUNT = 32;
export const NODE_COUNT = 8;
const DX_TAIL = 8;
/** Index levels, the root's included, without large_dir (with it, one more). */
export const MAX_LEVELS = 2;

/** The index levels (the root's included) fs allows: 3 with large_dir, else 2. */
export function htreeMaxLevels(fs: Ext2Fs): number {
  return fs.hasFeature(INCOMPAT_LARGEDIR) ? MAX_LEVELS + 1 : MAX_LEVELS;
}

/** One node of the walk: its block, where its entries start, and the entry taken. */
export interface Frame {
  lbn: number;
  buf: Uint8Array;
  co: number;
  pos: number;
}

interface Entry {
  hash: number;
  name: Uint8Array;
  ino: number;
  ft: number;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

/** Entries an index node holds: its block minus the header and the checksum tail. */
export function nodeLimit(fs: Ext2Fs, co: number): number {
  return Math.floor((fs.bsize - co - (fs.metadataCsum ? DX_TAIL : 0)) / 8);
}

export const count = (f: Frame) => dv(f.buf).getUint16(f.co + 2, true);
export const limit = (f: Frame) => dv(f.buf).getUint16(f.co, true);
/** Entry i's hash (entry 0's is 0: its place holds count/limit) and block. */
export const entHash = (f: Frame, i: number) => (i === 0 ? 0 : dv(f.buf).getUint32(f.co + 8 * i, true));
export const entBlock = (f: Frame, i: number) => dv(f.buf).getUint32(f.co + 8 * i + 4, true);

/**
 * The hash version of dvp's index: the root's, its unsigned variant when the
 * superblock says so and the root names a signed one (cf. dx_probe).
 */
export function hashVersion(fs: Ext2Fs, root: Uint8Array): number {
  const v = root[ROOT_INFO + 4];
  return v < EXT2_HTREE_UNSIGNED && (fs.sb.flags & EXT2_FLAGS_UNSIGNED_HASH) !== 0 ? v + EXT2_HTREE_UNSIGNED : v;
}

/** Can this directory's index be kept? (dir_index on, no casefold/encryption, a hash this code computes.) */
function indexable(ip: Inode): boolean {
  const fs = ip.fs;
  return (fs.sb.featureCompat & COMPAT_DIR_INDEX) !== 0 && (ip.din.flags & (EXT4_CASEFOLD_FL | EXT4_ENCRYPT_FL)) === 0 && ip.size % fs.bsize === 0;
}

/** Writes an index node: its tail (metadata_csum) is kept where its limit puts it. */
async function writeNode(dvp: Vnode, f: Frame): Promise<number> {
  return writeBlock(dvp, f.lbn, f.buf);
}

/** Reads and checks index node lbn (interior: count/limit at 8). */
async function readNode(dvp: Vnode, ip: Inode, lbn: number): Promise<{ error: number; f: Frame | null }> {
  const fs = ip.fs;
  const buf = new Uint8Array(fs.bsize);
  const error = await readBlock(dvp, lbn, buf);
  if (error !== 0) return { error, f: null };
  const d = dv(buf);
  if (d.getUint32(0, true) !== 0 || decodeRecLen(d.getUint16(4, true), fs.bsize) !== fs.bsize) return { error: EINTEGRITY, f: null };
  const f = { lbn, buf, co: NODE_COUNT, pos: 0 };
  if (limit(f) !== nodeLimit(fs, NODE_COUNT) || count(f) === 0 || count(f) > limit(f)) return { error: EINTEGRITY, f: null };
  return { error: 0, f };
}

/**
 * Adds name -> ino to the indexed directory dvp, keeping its index. EAGAIN
 * when the index cannot be kept (the caller drops it and goes linear).
 */
export async function ext2HtreeEnter(dvp: Vnode, ip: Inode, name: Uint8Array, ino: number, ft: number): Promise<number> {
  const fs = ip.fs;
  if (!indexable(ip)) return EAGAIN;
  const root = new Uint8Array(fs.bsize);
  let error = await readBlock(dvp, 0, root);
  if (error !== 0) return error;
  const rd = dv(root);
  if (rd.getUint32(ROOT_INFO, true) !== 0 || root[ROOT_INFO + 5] !== 8) return EAGAIN;
  const levels = root[ROOT_INFO + 6];
  const version = hashVersion(fs, root);
  const h = ext2Dirhash(version, name, fs.sb.hashSeed);
  if (h === null || levels >= htreeMaxLevels(fs)) return EAGAIN;
  const rootFrame: Frame = { lbn: 0, buf: root, co: ROOT_COUNT, pos: 0 };
  if (limit(rootFrame) !== nodeLimit(fs, ROOT_COUNT) || count(rootFrame) === 0 || count(rootFrame) > limit(rootFrame)) return EINTEGRITY;
  const path: Frame[] = [rootFrame];
  for (;;) {
    const f = path[path.length - 1];
    const n = count(f);
    let pos = 0;
    for (let i = 1; i < n; i++) if (entHash(f, i) <= h.hash) pos = i;
    f.pos = pos;
    if (path.length > levels) break;
    const r = await readNode(dvp, ip, entBlock(f, pos));
    if (r.f === null) return r.error;
    path.push(r.f);
  }
  const leafLbn = entBlock(path[path.length - 1], path[path.length - 1].pos);
  if (leafLbn === 0 || leafLbn >= ip.size / fs.bsize) return EINTEGRITY;
  const leaf = new Uint8Array(fs.bsize);
  error = await readBlock(dvp, leafLbn, leaf);
  if (error !== 0) return error;
  const ents = dirBlockEntries(fs, leaf);
  if (ents === null) return EINTEGRITY;
  const all: Entry[] = ents.map((e) => ({ ...e, hash: ext2Dirhash(version, e.name, fs.sb.hashSeed)!.hash }));
  all.push({ hash: h.hash, name, ino, ft });
  const room = usable(fs);
  const size = (es: readonly Entry[]) => es.reduce((s, e) => s + direntRecLen(e.name.length), 0);
  if (size(all) <= room) {
    dirChangedTimes(ip);
    return writeBlock(dvp, leafLbn, packLeaf(fs, all)); // it fits (packed again)
  }
  // A split needs room in the index: some node on the path with a free
  // entry, or a root that may go down one more level. Else the index is
  // full, and nothing is written (cf. ext4's "Directory index full").
  if (path.every((f) => count(f) >= limit(f)) && levels + 1 >= htreeMaxLevels(fs)) return ENOSPC;
  dirChangedTimes(ip);
  /* Split by hash: the upper half goes to a new block at the end. */
  all.sort((a, b) => a.hash - b.hash);
  let split = 0;
  for (let acc = 0; split < all.length && acc + direntRecLen(all[split].name.length) <= size(all) / 2; split++) acc += direntRecLen(all[split].name.length);
  split = Math.max(1, Math.min(split, all.length - 1));
  // A run of equal hashes stays in one leaf when it can (else the continuation bit says it goes on).
  let s = split;
  while (s > 1 && all[s].hash === all[s - 1].hash) s--;
  if (all[s].hash !== all[s - 1].hash && size(all.slice(s)) <= room && size(all.slice(0, s)) <= room) split = s;
  const lower = all.slice(0, split);
  const upper = all.slice(split);
  if (size(lower) > room || size(upper) > room) return EAGAIN;
  const splitHash = (upper[0].hash | (upper[0].hash === lower[lower.length - 1].hash ? 1 : 0)) >>> 0;
  const newLbn = ip.size / fs.bsize;
  error = await writeBlock(dvp, newLbn, packLeaf(fs, upper));
  if (error === 0) error = await writeBlock(dvp, leafLbn, packLeaf(fs, lower));
  if (error !== 0) return error;
  return indexInsert(dvp, ip, path, path.length - 1, splitHash, newLbn);
}

/** A leaf block holding `es` packed, the last spanning to the tail. */
function packLeaf(fs: Ext2Fs, es: readonly Entry[]): Uint8Array {
  const buf = new Uint8Array(fs.bsize);
  const room = usable(fs);
  let off = 0;
  for (let i = 0; i < es.length; i++) {
    const len = i === es.length - 1 ? room - off : direntRecLen(es[i].name.length);
    putEntry(fs, buf, off, es[i].ino, len, es[i].name, es[i].ft);
    off += len;
  }
  if (es.length === 0) dv(buf).setUint16(4, encodeRecLen(room, fs.bsize), true);
  if (fs.metadataCsum) dirTailInit(buf);
  return buf;
}

/** Puts [hash, block] after entry pos of node f. => count(f) < limit(f) */
function putIndex(f: Frame, pos: number, hash: number, block: number): void {
  const n = count(f);
  f.buf.copyWithin(f.co + 8 * (pos + 2), f.co + 8 * (pos + 1), f.co + 8 * n);
  const d = dv(f.buf);
  d.setUint32(f.co + 8 * (pos + 1), hash, true);
  d.setUint32(f.co + 8 * (pos + 1) + 4, block, true);
  d.setUint16(f.co + 2, n + 1, true);
}

/** An empty interior node (count 0 set by the caller). */
function newNode(fs: Ext2Fs): Uint8Array {
  const buf = new Uint8Array(fs.bsize);
  const d = dv(buf);
  d.setUint16(4, encodeRecLen(fs.bsize, fs.bsize), true);
  d.setUint16(NODE_COUNT, nodeLimit(fs, NODE_COUNT), true);
  return buf;
}

/**
 * Enters [hash, block] after the entry path[level] took, splitting that node
 * (or pushing the root down a level) when it is full.
 */
async function indexInsert(dvp: Vnode, ip: Inode, path: Frame[], level: number, hash: number, block: number): Promise<number> {
  const fs = ip.fs;
  const f = path[level];
  if (count(f) < limit(f)) {
    putIndex(f, f.pos, hash, block);
    return writeNode(dvp, f);
  }
  if (level === 0) {
    // The root is full: its entries move to a new node below it (one more level).
    if (f.buf[ROOT_INFO + 6] + 1 >= htreeMaxLevels(fs)) return ENOSPC; // checked before the leaf split
    const nodeLbn = ip.size / fs.bsize;
    const node: Frame = { lbn: nodeLbn, buf: newNode(fs), co: NODE_COUNT, pos: f.pos };
    const n = count(f);
    node.buf.set(f.buf.subarray(f.co + 4, f.co + 8 * n), node.co + 4);
    dv(node.buf).setUint16(node.co + 2, n, true);
    putIndex(node, node.pos, hash, block);
    if (fs.metadataCsum) node.buf.fill(0, node.co + 8 * limit(node));
    let error = await writeNode(dvp, node);
    if (error !== 0) return error;
    const d = dv(f.buf);
    d.setUint16(f.co + 2, 1, true);
    d.setUint32(f.co + 4, nodeLbn, true);
    f.buf.fill(0, f.co + 8, f.co + 8 * limit(f));
    f.buf[ROOT_INFO + 6]++;
    error = await writeNode(dvp, f);
    return error;
  }
  /* An interior node is full: its upper half goes to a new node entered in the one above. */
  const n = count(f);
  const half = n >> 1;
  const nodeLbn = ip.size / fs.bsize;
  const node: Frame = { lbn: nodeLbn, buf: newNode(fs), co: NODE_COUNT, pos: 0 };
  const d = dv(f.buf);
  const nd = dv(node.buf);
  const upHash = entHash(f, half);
  for (let i = half; i < n; i++) {
    const j = i - half;
    if (j > 0) nd.setUint32(node.co + 8 * j, entHash(f, i), true);
    nd.setUint32(node.co + 8 * j + 4, entBlock(f, i), true);
  }
  nd.setUint16(node.co + 2, n - half, true);
  d.setUint16(f.co + 2, half, true);
  f.buf.fill(0, f.co + 8 * half, f.co + 8 * n);
  if (f.pos >= half) {
    node.pos = f.pos - half;
    putIndex(node, node.pos, hash, block);
  } else {
    putIndex(f, f.pos, hash, block);
  }
  let error = await writeNode(dvp, node);
  if (error === 0) error = await writeNode(dvp, f);
  if (error !== 0) return error;
  return indexInsert(dvp, ip, path, level - 1, upHash, nodeLbn);
}

/**
 * A linear directory of one block with no room left for `need` bytes becomes
 * indexed (cf. make_indexed_dir): block 0 turns into the root, its entries
 * move to a new leaf at block 1. Answers false when it is not to be done.
 */
export async function ext2HtreeMake(dvp: Vnode, ip: Inode): Promise<number> {
  const fs = ip.fs;
  if (!indexable(ip) || ip.size !== fs.bsize || (ip.din.flags & EXT2_INDEX_FL) !== 0) return EAGAIN;
  const buf = new Uint8Array(fs.bsize);
  const error = await readBlock(dvp, 0, buf);
  if (error !== 0) return error;
  const ents = dirBlockEntries(fs, buf);
  if (ents === null) return EINTEGRITY;
  const d = dv(buf);
  // "." then "..", as every directory's first block; anything else: leave it linear.
  if (d.getUint16(4, true) !== 12 || buf[6] !== 1 || buf[DIRENT_HEADER] !== 0x2e || buf[12 + 6] !== 2) return EAGAIN;
  const rest = ents.filter((e) => !(e.name.length === 1 && e.name[0] === 0x2e) && !(e.name.length === 2 && e.name[0] === 0x2e && e.name[1] === 0x2e));
  const leaf = packLeaf(fs, rest.map((e) => ({ ...e, hash: 0 })));
  let e = await writeBlock(dvp, 1, leaf);
  if (e !== 0) return e;
  d.setUint16(12 + 4, encodeRecLen(fs.bsize - 12, fs.bsize), true);
  buf.fill(0, ROOT_INFO);
  const v = fs.sb.defHashVersion;
  buf[ROOT_INFO + 4] = v <= 2 ? v : 1;
  buf[ROOT_INFO + 5] = 8;
  d.setUint16(ROOT_COUNT, nodeLimit(fs, ROOT_COUNT), true);
  d.setUint16(ROOT_COUNT + 2, 1, true);
  d.setUint32(ROOT_COUNT + 4, 1, true);
  e = await writeBlock(dvp, 0, buf);
  if (e !== 0) return e;
  ip.din.flags |= EXT2_INDEX_FL;
  ip.modified = true;
  return 0;
}
