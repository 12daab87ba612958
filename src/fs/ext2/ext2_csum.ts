/*
 * ext4 metadata checksums (cf. e2fsprogs csum.c, FreeBSD ext2_csum.c): the
 * crc32c of every checksummed structure, from the file system's seed, and
 * uninit_bg's crc16 of group descriptors. `*Csum` computes, `*CsumSet`
 * stores, `*CsumOk` compares with what is stored; nothing here reads the disk.
 *   if (!inodeCsumOk(fs, ino, raw)) error = fs.csumFailed(`inode ${ino} (block ${b})`)
 */

import { crc16Update, crc32cU32, crc32cUpdate } from '../../kern/crc32c.js';
import {
  DI_CHECKSUM_HI, DI_CHECKSUM_LO, DI_EXTRA_ISIZE, DI_GENERATION, EXT2_GOOD_OLD_INODE_SIZE, GD_BLOCK_BITMAP_CSUM,
  GD_BLOCK_BITMAP_CSUM_HI, GD_CHECKSUM, GD_INODE_BITMAP_CSUM, GD_INODE_BITMAP_CSUM_HI, SB_CHECKSUM,
} from './ext2_fs.js';
import type { Ext2Fs } from './ext2_mount.js';

const le = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);

/* ---- superblock ---- */

/** crc32c(~0) of the superblock's bytes before s_checksum. => sb.length >= 1024 */
export function sbCsum(sb: Uint8Array): number {
  return crc32cUpdate(0xffffffff, sb, 0, SB_CHECKSUM);
}

export function sbCsumOk(sb: Uint8Array): boolean {
  return le(sb).getUint32(SB_CHECKSUM, true) === sbCsum(sb);
}

export function sbCsumSet(sb: Uint8Array): void {
  le(sb).setUint32(SB_CHECKSUM, sbCsum(sb), true);
}

/* ---- group descriptors ---- */

/** The 16-bit checksum of group g's descriptor at b[off, off + descSize). => fs.groupCsum */
export function gdCsum(fs: Ext2Fs, g: number, b: Uint8Array, off: number): number {
  const end = off + fs.descSize;
  if (fs.metadataCsum) {
    let c = crc32cU32(fs.csumSeed, g);
    c = crc32cUpdate(c, b, off, off + GD_CHECKSUM);
    c = crc32cUpdate(c, ZERO2, 0, 2);
    c = crc32cUpdate(c, b, off + GD_CHECKSUM + 2, end);
    return c & 0xffff;
  }
  let c = crc16Update(0xffff, fs.sb.uuid);
  c = crc16Update(c, u32le(g));
  c = crc16Update(c, b, off, off + GD_CHECKSUM);
  return crc16Update(c, b, off + GD_CHECKSUM + 2, end);
}

export function gdCsumOk(fs: Ext2Fs, g: number, b: Uint8Array, off: number): boolean {
  return le(b).getUint16(off + GD_CHECKSUM, true) === gdCsum(fs, g, b, off);
}

export function gdCsumSet(fs: Ext2Fs, g: number, b: Uint8Array, off: number): void {
  le(b).setUint16(off + GD_CHECKSUM, gdCsum(fs, g, b, off), true);
}

const ZERO2 = new Uint8Array(2);

function u32le(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

/* ---- bitmaps (their checksums live in the descriptor) ---- */

/** crc32c of a block bitmap (clusters per group bits) or an inode bitmap (inodes per group bits). */
export function bitmapCsum(fs: Ext2Fs, map: Uint8Array, inode: boolean): number {
  const bits = inode ? fs.sb.inodesPerGroup : fs.sb.clustersPerGroup;
  return crc32cUpdate(fs.csumSeed, map, 0, Math.ceil(bits / 8));
}

/** Whether the descriptor holds the high 16 bits of the bitmap checksums. */
function bitmapHi(fs: Ext2Fs, inode: boolean): boolean {
  return fs.descSize >= (inode ? GD_INODE_BITMAP_CSUM_HI : GD_BLOCK_BITMAP_CSUM_HI) + 2;
}

export function bitmapCsumOk(fs: Ext2Fs, map: Uint8Array, inode: boolean, desc: Uint8Array, off: number): boolean {
  const dv = le(desc);
  let stored = dv.getUint16(off + (inode ? GD_INODE_BITMAP_CSUM : GD_BLOCK_BITMAP_CSUM), true);
  let c = bitmapCsum(fs, map, inode);
  if (bitmapHi(fs, inode)) stored = (stored | (dv.getUint16(off + (inode ? GD_INODE_BITMAP_CSUM_HI : GD_BLOCK_BITMAP_CSUM_HI), true) << 16)) >>> 0;
  else c &= 0xffff;
  return stored === c;
}

/** Stores crc (of bitmapCsum) in the descriptor at desc[off]. */
export function bitmapCsumSet(fs: Ext2Fs, crc: number, inode: boolean, desc: Uint8Array, off: number): void {
  const dv = le(desc);
  dv.setUint16(off + (inode ? GD_INODE_BITMAP_CSUM : GD_BLOCK_BITMAP_CSUM), crc & 0xffff, true);
  if (bitmapHi(fs, inode)) dv.setUint16(off + (inode ? GD_INODE_BITMAP_CSUM_HI : GD_BLOCK_BITMAP_CSUM_HI), crc >>> 16, true);
}

/* ---- inodes ---- */

/** Whether the inode keeps i_checksum_hi: a large inode whose extra part reaches it. */
function inodeHasHi(raw: Uint8Array): boolean {
  return raw.length > EXT2_GOOD_OLD_INODE_SIZE && le(raw).getUint16(DI_EXTRA_ISIZE, true) >= DI_CHECKSUM_HI + 2 - EXT2_GOOD_OLD_INODE_SIZE;
}

/** The inode's crc32c: number, generation, then the whole inode with its checksum fields as zeros. */
export function inodeCsum(fs: Ext2Fs, ino: number, raw: Uint8Array): number {
  const hi = inodeHasHi(raw);
  let c = crc32cU32(fs.csumSeed, ino);
  c = crc32cU32(c, le(raw).getUint32(DI_GENERATION, true));
  c = crc32cUpdate(c, raw, 0, DI_CHECKSUM_LO);
  c = crc32cUpdate(c, ZERO2, 0, 2);
  if (hi) {
    c = crc32cUpdate(c, raw, DI_CHECKSUM_LO + 2, DI_CHECKSUM_HI);
    c = crc32cUpdate(c, ZERO2, 0, 2);
    c = crc32cUpdate(c, raw, DI_CHECKSUM_HI + 2, raw.length);
  } else {
    c = crc32cUpdate(c, raw, DI_CHECKSUM_LO + 2, raw.length);
  }
  return hi ? c : c & 0xffff;
}

/** Matches, or the inode is all zeros in its first 128 bytes (never written, as e2fsprogs accepts). */
export function inodeCsumOk(fs: Ext2Fs, ino: number, raw: Uint8Array): boolean {
  const dv = le(raw);
  let stored = dv.getUint16(DI_CHECKSUM_LO, true);
  if (inodeHasHi(raw)) stored = (stored | (dv.getUint16(DI_CHECKSUM_HI, true) << 16)) >>> 0;
  if (stored === inodeCsum(fs, ino, raw)) return true;
  for (let i = 0; i < EXT2_GOOD_OLD_INODE_SIZE; i++) if (raw[i] !== 0) return false;
  return true;
}

export function inodeCsumSet(fs: Ext2Fs, ino: number, raw: Uint8Array): void {
  const c = inodeCsum(fs, ino, raw);
  const dv = le(raw);
  dv.setUint16(DI_CHECKSUM_LO, c & 0xffff, true);
  if (inodeHasHi(raw)) dv.setUint16(DI_CHECKSUM_HI, c >>> 16, true);
}

/** crc32c from the seed over an owner inode's number and generation: where per-file checksums start. */
function ownerCsum(fs: Ext2Fs, ino: number, gen: number): number {
  return crc32cU32(crc32cU32(fs.csumSeed, ino), gen);
}

/* ---- extent tree blocks: a 4-byte tail after eh_max entries ---- */

/** Offset of an extent block's tail, or -1 when eh_max leaves it no room. */
export function extentTailOffset(b: Uint8Array): number {
  const off = 12 + 12 * le(b).getUint16(4, true);
  return off + 4 <= b.length ? off : -1;
}

export function extentCsum(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array, tail: number): number {
  return crc32cUpdate(ownerCsum(fs, ino, gen), b, 0, tail);
}

export function extentCsumOk(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): boolean {
  const t = extentTailOffset(b);
  return t >= 0 && le(b).getUint32(t, true) === extentCsum(fs, ino, gen, b, t);
}

export function extentCsumSet(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): void {
  const t = extentTailOffset(b);
  if (t >= 0) le(b).setUint32(t, extentCsum(fs, ino, gen, b, t), true);
}

/* ---- directory blocks: a 12-byte tail entry in leaves, a dx_tail in htree nodes ---- */

/** Size of the leaf tail entry (inode 0, rec_len 12, name_len 0, file_type 0xde, crc). */
export const DIR_TAIL_SIZE = 12;
export const DIR_TAIL_FT = 0xde;

/** True when the last 12 bytes of b are a well-formed tail entry reached by the record chain. */
export function dirHasTail(b: Uint8Array): boolean {
  const dv = le(b);
  const top = b.length - DIR_TAIL_SIZE;
  let off = 0;
  while (off < top) {
    const rl = dv.getUint16(off + 4, true);
    if (rl < 8 || rl % 4 !== 0) return false;
    off += rl;
  }
  if (off !== top) return false;
  return dv.getUint32(top, true) === 0 && dv.getUint16(top + 4, true) === DIR_TAIL_SIZE && b[top + 6] === 0 && b[top + 7] === DIR_TAIL_FT;
}

/** Writes an empty tail entry (crc 0) at the end of b. */
export function dirTailInit(b: Uint8Array): void {
  const top = b.length - DIR_TAIL_SIZE;
  b.fill(0, top);
  le(b).setUint16(top + 4, DIR_TAIL_SIZE, true);
  b[top + 7] = DIR_TAIL_FT;
}

function dirLeafCsum(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): number {
  return crc32cUpdate(ownerCsum(fs, ino, gen), b, 0, b.length - DIR_TAIL_SIZE);
}

/** Where a dx node's count/limit sits: 32 in the root, 8 in an interior node; -1 when b is not one. */
export function dxCountOffset(b: Uint8Array): number {
  const dv = le(b);
  const rl = dv.getUint16(4, true);
  if (rl === b.length && b[6] === 0) return 8;
  if (rl !== 12) return -1;
  if (dv.getUint16(12 + 4, true) !== b.length - 12) return -1;
  if (dv.getUint32(24, true) !== 0 || b[24 + 5] !== 8) return -1; // dx_root_info: reserved_zero, info_length
  return 32;
}

function dxCsum(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array, co: number): { crc: number; tail: number } {
  const dv = le(b);
  const limit = dv.getUint16(co, true);
  const count = dv.getUint16(co + 2, true);
  const tail = co + limit * 8;
  if (tail + 8 > b.length || count > limit) return { crc: 0, tail: -1 };
  let c = crc32cUpdate(ownerCsum(fs, ino, gen), b, 0, co + count * 8);
  c = crc32cUpdate(c, b, tail, tail + 4);
  c = crc32cU32(c, 0);
  return { crc: c, tail };
}

/** A directory block's checksum holds (leaf tail or dx tail); false when it has neither. */
export function dirCsumOk(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): boolean {
  if (dirHasTail(b)) return le(b).getUint32(b.length - 4, true) === dirLeafCsum(fs, ino, gen, b);
  const co = dxCountOffset(b);
  if (co < 0) return false;
  const { crc, tail } = dxCsum(fs, ino, gen, b, co);
  return tail >= 0 && le(b).getUint32(tail + 4, true) === crc;
}

/** Whether a directory block has room for its checksum (leaf tail or dx tail): dirCsumSet will store it. */
export function dirCsumRoom(b: Uint8Array): boolean {
  if (dirHasTail(b)) return true;
  const co = dxCountOffset(b);
  if (co < 0) return false;
  const dv = le(b);
  const limit = dv.getUint16(co, true);
  return co + limit * 8 + 8 <= b.length && dv.getUint16(co + 2, true) <= limit;
}

/** Stores a directory block's checksum; false when it has room for none. */
export function dirCsumSet(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): boolean {
  if (dirHasTail(b)) {
    le(b).setUint32(b.length - 4, dirLeafCsum(fs, ino, gen, b), true);
    return true;
  }
  const co = dxCountOffset(b);
  if (co < 0) return false;
  const { crc, tail } = dxCsum(fs, ino, gen, b, co);
  if (tail < 0) return false;
  le(b).setUint32(tail + 4, crc, true);
  return true;
}

/* ---- extended-attribute blocks ---- */

const XATTR_CSUM = 0x10;

export function xattrCsum(fs: Ext2Fs, blk: number, b: Uint8Array): number {
  let c = crc32cU32(fs.csumSeed, blk % 2 ** 32);
  c = crc32cU32(c, Math.floor(blk / 2 ** 32));
  c = crc32cUpdate(c, b, 0, XATTR_CSUM);
  c = crc32cU32(c, 0);
  return crc32cUpdate(c, b, XATTR_CSUM + 4, b.length);
}

export function xattrCsumOk(fs: Ext2Fs, blk: number, b: Uint8Array): boolean {
  return le(b).getUint32(XATTR_CSUM, true) === xattrCsum(fs, blk, b);
}

export function xattrCsumSet(fs: Ext2Fs, blk: number, b: Uint8Array): void {
  le(b).setUint32(XATTR_CSUM, xattrCsum(fs, blk, b), true);
}
