/*
 * ext2 directories: VOP_LOOKUP and VOP_READDIR by a linear scan of the
 * directory's contents, read with VOP_READ one block at a time (htree
 * directories scan the same way: their index nodes look like empty entries).
 * Inline-data directories hold the parent's number, then entries. A lookup
 * in a hash-indexed directory is one walk of its index (ext2_htree_lookup);
 * lookups in other large directories go through dirhash (vfs/vfs_dirhash.ts)
 * after one scan.
 * Every entry is checked (rec_len, name_len, inode number) before use.
 *   { error, vp } = await ext2Lookup(dvp, name);  error = await ext2Readdir(vp, fn)
 */

import { EACCES, EINTEGRITY, ENAMETOOLONG, ENOENT, ENOTDIR } from '../../kern/errno.js';
import { nameDecode, nameEncode } from '../../kern/namebytes.js';
import { UIO_READ, Uio } from '../../vfs/uio.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { type Dirent, IO_DIRECT, IO_NODELOCKED, type LookupResult } from '../../vfs/vnode_if.js';
import { LK_EXCLUSIVE } from '../../kern/lock.js';
import {
  DIRENT_HEADER, EXT2_IBLOCK_BYTES, EXT2_NAME_LEN, EXT4_CASEFOLD_FL, EXT2_FT_MASK, INCOMPAT_CASEFOLD,
  INCOMPAT_FILETYPE, decodeRecLen, direntRecLen,
} from './ext2_fs.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import { dirBlockCsumOk, ext2DirCsumFailed } from './ext2_dir_where.js';
import type { Ext2Fs } from './ext2_mount.js';
import { ext2HtreeLookup, htreeWalkable } from './ext2_htree_lookup.js';
import { DIRHASH_MINSIZE, dirhashResolve } from '../../vfs/vfs_dirhash.js';
import { nameEquals } from '../../vfs/vfs_lookup.js';
import { dirBufGet, dirBufPut } from './ext2_dir_block.js';

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

const ftToVType: readonly VType[] = [
  VType.VNON, VType.VREG, VType.VDIR, VType.VCHR, VType.VBLK, VType.VFIFO, VType.VSOCK, VType.VLNK,
];

/** One live entry: the name is buf[nameOff, nameOff + nameLen). Answer false to stop. */
type EntryFn = (ino: number, type: VType, buf: Uint8Array, nameOff: number, nameLen: number) => boolean;

/** scanChunk's answer when fn asked to stop (errnos are positive). */
const STOP = -1;

/**
 * Calls fn for each live entry of one chunk of directory bytes (a block, or a
 * region of inline data); `recLenUnit` is the block size rec_len is encoded for.
 * Returns 0 at the chunk's end, STOP when fn answered false, or an errno.
 */
function scanChunk(fs: Ext2Fs, buf: Uint8Array, len: number, recLenUnit: number, fn: EntryFn): number {
  const filetype = fs.hasFeature(INCOMPAT_FILETYPE);
  for (let off = 0; off < len;) {
    if (off + DIRENT_HEADER > len) return EINTEGRITY;
    const ino = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
    const recLen = decodeRecLen(buf[off + 4] | (buf[off + 5] << 8), recLenUnit);
    const nameLen = buf[off + 6];
    const ft = buf[off + 7];
    if (recLen < DIRENT_HEADER || recLen % 4 !== 0 || off + recLen > len) return EINTEGRITY;
    if (recLen < direntRecLen(nameLen) || (!filetype && ino !== 0 && ft !== 0)) return EINTEGRITY; // see parseBlock
    if (ino !== 0) {
      if (ino > fs.sb.inodesCount || nameLen === 0) return EINTEGRITY;
      const type = filetype ? (ftToVType[ft & EXT2_FT_MASK] ?? VType.VNON) : VType.VNON;
      if (!fn(ino, type, buf, off + DIRENT_HEADER, nameLen)) return STOP;
    }
    off += recLen;
  }
  return 0;
}

function allZero(b: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Walks every live entry of directory vp in on-disk order until fn answers
 * false. Reads go through the vnode's VOP_READ (the VM object when there is
 * one) with `ioflag` (IO_NODELOCKED for a caller holding the directory's lock).
 * => vp is VDIR; may sleep
 */
async function scanDir(vp: Vnode, fn: EntryFn, ioflag = 0): Promise<number> {
  const ip = ext2Inode(vp);
  const fs = ip.fs;
  if (ip.encrypted) return EACCES;
  if (ip.inlineData) return scanInlineDir(vp, ip, fn, ioflag);
  const bsize = fs.bsize;
  if (ip.size > fs.sb.blocksCount * bsize) return EINTEGRITY;
  const buf = dirBufGet(bsize);
  try {
    for (let off = 0; off < ip.size; off += bsize) {
      const uio = Uio.of(buf, off, UIO_READ);
      const error = await vp.op.read(vp, uio, ioflag);
      if (error !== 0) return error;
      const got = bsize - uio.resid;
      if (got === 0) break;
      if (allZero(buf, got)) continue; // a hole: no entries
      if (fs.metadataCsum && got === bsize && !dirBlockCsumOk(ip, off / bsize, buf)) {
        const e = await ext2DirCsumFailed(vp, off / bsize);
        if (e !== 0) return e;
      }
      const r = scanChunk(fs, buf, got, bsize, fn);
      if (r !== 0) return r === STOP ? 0 : r;
    }
    return 0;
  } finally {
    dirBufPut(buf);
  }
}

/** scanDir of an inline-data directory: parent, then the i_block and system.data regions. */
async function scanInlineDir(vp: Vnode, ip: Inode, fn: EntryFn, ioflag: number): Promise<number> {
  const fs = ip.fs;
  if (ip.size < 4 || ip.size > ip.raw.length + EXT2_IBLOCK_BYTES) return EINTEGRITY;
  const buf = new Uint8Array(ip.size);
  const uio = Uio.of(buf, 0, UIO_READ);
  const error = await vp.op.read(vp, uio, ioflag);
  if (error !== 0) return error;
  if (uio.resid !== 0) return EINTEGRITY;
  const parent = new DataView(buf.buffer).getUint32(0, true);
  if (parent === 0 || parent > fs.sb.inodesCount) return EINTEGRITY;
  const dot = encoder.encode('..');
  if (!fn(vp.ino, VType.VDIR, dot, 0, 1) || !fn(parent, VType.VDIR, dot, 0, 2)) return 0;
  const regions: Array<[number, number]> = [[4, Math.min(EXT2_IBLOCK_BYTES, ip.size)]];
  if (ip.size > EXT2_IBLOCK_BYTES) regions.push([EXT2_IBLOCK_BYTES, ip.size]);
  for (const [start, end] of regions) {
    const chunk = buf.subarray(start, end);
    if (allZero(chunk, chunk.length)) continue;
    const r = scanChunk(fs, chunk, chunk.length, chunk.length, fn);
    if (r !== 0) return r === STOP ? 0 : r;
  }
  return 0;
}

/** An approximation of the kernel's utf8 casefolding (NFD, then case-insensitive). */
function fold(s: string): string {
  return s.normalize('NFD').toLowerCase().toUpperCase().toLowerCase();
}

/**
 * A read of directory dvp by a caller not holding its lock (`read`, given
 * the ioflag to read with), as it goes block by block without the lock;
 * where a writer had the directory meanwhile (an entry added can move
 * others: an htree leaf split moves half its entries to a new block) and
 * the answer is not `settled`, the read again, holding the lock as a
 * directory operation does (so at once where a writer holds it as the read
 * begins). A name there all along was found missing, and a listing held
 * names twice. => dvp not locked by the caller (it would wait for itself); may sleep
 */
async function readStable<T>(dvp: Vnode, read: (ioflag: number) => Promise<T>, settled: (r: T) => boolean): Promise<T> {
  const lk = dvp.lock;
  if (!lk.exclusive) {
    const grants = lk.exclusiveGrants;
    const r = await read(0);
    if (settled(r) || lk.exclusiveGrants === grants) return r;
  }
  await lk.lock(LK_EXCLUSIVE);
  try {
    return await read(IO_NODELOCKED);
  } finally {
    lk.unlock();
  }
}

/** VOP_LOOKUP: the entry `name` of directory dvp, referenced (an entry found is an answer; a miss, or an error, is looked at again as readStable says). => dvp not locked; may sleep */
export function ext2Lookup(dvp: Vnode, name: string): Promise<LookupResult> {
  return readStable(dvp, (ioflag) => lookup(dvp, name, ioflag), (r) => r.error === 0);
}

/**
 * The lookup of a directory operation, whose caller holds dvp's lock: the
 * blocks come through the VM object with IO_NODELOCKED, so a fault does not
 * take the lock again. => dvp locked exclusively; may sleep
 */
export function ext2LookupLocked(dvp: Vnode, name: string): Promise<LookupResult> {
  return lookup(dvp, name, IO_NODELOCKED);
}

async function lookup(dvp: Vnode, name: string, ioflag: number): Promise<LookupResult> {
  const mp = dvp.mount;
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, vp: null };
  if (mp === null) return { error: ENOENT, vp: null };
  const want = nameEncode(name);
  if (want.length === 0) return { error: ENOENT, vp: null };
  if (want.length > EXT2_NAME_LEN) return { error: ENAMETOOLONG, vp: null };
  const ip = ext2Inode(dvp);
  const folded = (ip.flags & EXT4_CASEFOLD_FL) !== 0 && ip.fs.hasFeature(INCOMPAT_CASEFOLD) ? fold(name) : null;
  let found = 0;
  // Neither an index to walk nor a directory dirhash takes (below DIRHASH_MINSIZE): straight to the scan.
  if (folded === null && htreeWalkable(ip)) {
    const x = await ext2HtreeLookup(dvp, ip, want, ioflag);
    if (x.error !== 0) return { error: x.error, vp: null };
    if (x.indexed) return x.ino === 0 ? { error: ENOENT, vp: null } : mp.op.vget(mp, x.ino);
  }
  if (folded === null && ip.size >= DIRHASH_MINSIZE) {
    const h = await dirhashResolve(ip, want, (fn) => scanDir(dvp, (ino, _type, buf, off, len) => fn(ino, buf, off, len), ioflag));
    if (h.error !== 0) return { error: h.error, vp: null };
    if (h.ino !== undefined) return h.ino === 0 ? { error: ENOENT, vp: null } : mp.op.vget(mp, h.ino);
  }
  const error = await scanDir(dvp, (ino, _type, buf, off, len) => {
    let hit = nameEquals(want, buf, off, len);
    if (!hit && folded !== null) hit = fold(decoder.decode(buf.subarray(off, off + len))) === folded;
    if (hit) found = ino;
    return !hit;
  }, ioflag);
  if (error !== 0) return { error, vp: null };
  if (found === 0) return { error: ENOENT, vp: null };
  return mp.op.vget(mp, found);
}

/**
 * VOP_READDIR: fn for each entry of vp in on-disk order until it answers
 * false. On a writable mount, without the caller holding the lock
 * (IO_NODELOCKED), the entries are gathered first and then given: a read
 * that met a writer is made again whole (readStable). => may sleep
 */
export async function ext2Readdir(vp: Vnode, fn: (d: Dirent) => boolean, ioflag = 0): Promise<number> {
  if (vp.type !== VType.VDIR) return ENOTDIR;
  const give: EntryFn = (ino, type, buf, off, len) => fn({ name: nameDecode(buf, off, len), ino, type });
  // Straight from the device only where no page of it can be newer (a read-only mount): no VM object made and torn down.
  if (vp.mount?.readOnly === true) return scanDir(vp, give, ioflag & IO_DIRECT);
  if ((ioflag & IO_NODELOCKED) !== 0) return scanDir(vp, give, IO_NODELOCKED);
  let ents: Dirent[] = [];
  const error = await readStable(vp, (io) => {
    ents = [];
    return scanDir(vp, (ino, type, buf, off, len) => ents.push({ name: nameDecode(buf, off, len), ino, type }) > 0, io);
  }, () => false);
  if (error !== 0) return error;
  for (const d of ents) if (!fn(d)) break;
  return 0;
}

