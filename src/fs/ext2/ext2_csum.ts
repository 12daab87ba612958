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

/* Little-endian fields read and written byte by byte: no view made per checksum (one per inode and block written). */
function get16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function get32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function set16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

function set32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/* ---- superblock ---- */

/** crc32c(~0) of the superblock's bytes before s_checksum. => sb.length >= 1024 */
export function sbCsum(sb: Uint8Array): number {
  return crc32cUpdate(0xffffffff, sb, 0, SB_CHECKSUM);
}

export function sbCsumOk(sb: Uint8Array): boolean {
  return get32(sb, SB_CHECKSUM) === sbCsum(sb);
}

export function sbCsumSet(sb: Uint8Array): void {
  set32(sb, SB_CHECKSUM, sbCsum(sb));
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
  return get16(b, off + GD_CHECKSUM) === gdCsum(fs, g, b, off);
}

export function gdCsumSet(fs: Ext2Fs, g: number, b: Uint8Array, off: number): void {
  set16(b, off + GD_CHECKSUM, gdCsum(fs, g, b, off));
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
  let stored = get16(desc, off + (inode ? GD_INODE_BITMAP_CSUM : GD_BLOCK_BITMAP_CSUM));
  let c = bitmapCsum(fs, map, inode);
  if (bitmapHi(fs, inode)) stored = (stored | (get16(desc, off + (inode ? GD_INODE_BITMAP_CSUM_HI : GD_BLOCK_BITMAP_CSUM_HI)) << 16)) >>> 0;
  else c &= 0xffff;
  return stored === c;
}

/** Stores crc (of bitmapCsum) in the descriptor at desc[off]. */
export function bitmapCsumSet(fs: Ext2Fs, crc: number, inode: boolean, desc: Uint8Array, off: number): void {
  set16(desc, off + (inode ? GD_INODE_BITMAP_CSUM : GD_BLOCK_BITMAP_CSUM), crc & 0xffff);
  if (bitmapHi(fs, inode)) set16(desc, off + (inode ? GD_INODE_BITMAP_CSUM_HI : GD_BLOCK_BITMAP_CSUM_HI), crc >>> 16);
}

/* ---- inodes ---- */

/** Whether the inode keeps i_checksum_hi: a large inode whose extra part reaches it. */
function inodeHasHi(raw: Uint8Array): boolean {
  return raw.length > EXT2_GOOD_OLD_INODE_SIZE && get16(raw, DI_EXTRA_ISIZE) >= DI_CHECKSUM_HI + 2 - EXT2_GOOD_OLD_INODE_SIZE;
}

/** The inode's crc32c: number, generation, then the whole inode with its checksum fields as zeros. */
export function inodeCsum(fs: Ext2Fs, ino: number, raw: Uint8Array): number {
  const hi = inodeHasHi(raw);
  let c = crc32cU32(fs.csumSeed, ino);
  c = crc32cU32(c, get32(raw, DI_GENERATION));
  // One run over a copy with the checksum fields zeroed (summed in pieces, a tree's every inode took five calls).
  if (inodeCopy.length !== raw.length) inodeCopy = new Uint8Array(raw.length);
  inodeCopy.set(raw);
  inodeCopy[DI_CHECKSUM_LO] = inodeCopy[DI_CHECKSUM_LO + 1] = 0;
  if (hi) inodeCopy[DI_CHECKSUM_HI] = inodeCopy[DI_CHECKSUM_HI + 1] = 0;
  c = crc32cUpdate(c, inodeCopy);
  return hi ? c : c & 0xffff;
}

/** inodeCsum's copy of the inode (the size of the last one summed). */
let inodeCopy = new Uint8Array(0);

/** Matches, or the inode is all zeros in its first 128 bytes (never written, as e2fsprogs accepts). */
export function inodeCsumOk(fs: Ext2Fs, ino: number, raw: Uint8Array): boolean {
  let stored = get16(raw, DI_CHECKSUM_LO);
  if (inodeHasHi(raw)) stored = (stored | (get16(raw, DI_CHECKSUM_HI) << 16)) >>> 0;
  if (stored === inodeCsum(fs, ino, raw)) return true;
  for (let i = 0; i < EXT2_GOOD_OLD_INODE_SIZE; i++) if (raw[i] !== 0) return false;
  return true;
}

export function inodeCsumSet(fs: Ext2Fs, ino: number, raw: Uint8Array): void {
  const c = inodeCsum(fs, ino, raw);
  set16(raw, DI_CHECKSUM_LO, c & 0xffff);
  if (inodeHasHi(raw)) set16(raw, DI_CHECKSUM_HI, c >>> 16);
}

/** crc32c from the seed over an owner inode's number and generation: where per-file checksums start. */
function ownerCsum(fs: Ext2Fs, ino: number, gen: number): number {
  return crc32cU32(crc32cU32(fs.csumSeed, ino), gen);
}

/* ---- extent tree blocks: a 4-byte tail after eh_max entries ---- */

/** Offset of an extent block's tail, or -1 when eh_max leaves it no room. */
export function extentTailOffset(b: Uint8Array): number {
  const off = 12 + 12 * get16(b, 4);
  return off + 4 <= b.length ? off : -1;
}

export function extentCsum(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array, tail: number): number {
  return crc32cUpdate(ownerCsum(fs, ino, gen), b, 0, tail);
}

export function extentCsumOk(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): boolean {
  const t = extentTailOffset(b);
  return t >= 0 && get32(b, t) === extentCsum(fs, ino, gen, b, t);
}

export function extentCsumSet(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): void {
  const t = extentTailOffset(b);
  if (t >= 0) set32(b, t, extentCsum(fs, ino, gen, b, t));
}

/* ---- directory blocks: a 12-byte tail entry in leaves, a dx_tail in htree nodes ---- */

/** Size of the leaf tail entry (inode 0, rec_len 12, name_len 0, file_type 0xde, crc). */
export const DIR_TAIL_SIZE = 12;
export const DIR_TAIL_FT = 0xde;

/** True when the last 12 bytes of b are a well-formed tail entry reached by the record chain. */
export function dirHasTail(b: Uint8Array): boolean {
  const top = b.length - DIR_TAIL_SIZE;
  let off = 0;
  while (off < top) {
    const rl = get16(b, off + 4);
    if (rl < 8 || rl % 4 !== 0) return false;
    off += rl;
  }
  if (off !== top) return false;
  return get32(b, top) === 0 && get16(b, top + 4) === DIR_TAIL_SIZE && b[top + 6] === 0 && b[top + 7] === DIR_TAIL_FT;
}

/** Writes an empty tail entry (crc 0) at the end of b. */
export function dirTailInit(b: Uint8Array): void {
  const top = b.length - DIR_TAIL_SIZE;
  b.fill(0, top);
  set16(b, top + 4, DIR_TAIL_SIZE);
  b[top + 7] = DIR_TAIL_FT;
}

function dirLeafCsum(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): number {
  return crc32cUpdate(ownerCsum(fs, ino, gen), b, 0, b.length - DIR_TAIL_SIZE);
}

/** Where a dx node's count/limit sits: 32 in the root, 8 in an interior node; -1 when b is not one. */
export function dxCountOffset(b: Uint8Array): number {
  const rl = get16(b, 4);
  if (rl === b.length && b[6] === 0) return 8;
  if (rl !== 12) return -1;
  if (get16(b, 12 + 4) !== b.length - 12) return -1;
  if (get32(b, 24) !== 0 || b[24 + 5] !== 8) return -1; // dx_root_info: reserved_zero, info_length
  return 32;
}

function dxCsum(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array, co: number): { crc: number; tail: number } {
  const limit = get16(b, co);
  const count = get16(b, co + 2);
  const tail = co + limit * 8;
  if (tail + 8 > b.length || count > limit) return { crc: 0, tail: -1 };
  let c = crc32cUpdate(ownerCsum(fs, ino, gen), b, 0, co + count * 8);
  c = crc32cUpdate(c, b, tail, tail + 4);
  c = crc32cU32(c, 0);
  return { crc: c, tail };
}

/** A directory block's checksum holds (leaf tail or dx tail); false when it has neither. */
export function dirCsumOk(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): boolean {
  if (dirHasTail(b)) return get32(b, b.length - 4) === dirLeafCsum(fs, ino, gen, b);
  const co = dxCountOffset(b);
  if (co < 0) return false;
  const { crc, tail } = dxCsum(fs, ino, gen, b, co);
  return tail >= 0 && get32(b, tail + 4) === crc;
}

/** Whether a directory block has room for its checksum (leaf tail or dx tail): dirCsumSet will store it. */
export function dirCsumRoom(b: Uint8Array): boolean {
  if (dirHasTail(b)) return true;
  const co = dxCountOffset(b);
  if (co < 0) return false;
  const limit = get16(b, co);
  return co + limit * 8 + 8 <= b.length && get16(b, co + 2) <= limit;
}

/** Stores a directory block's checksum; false when it has room for none. */
export function dirCsumSet(fs: Ext2Fs, ino: number, gen: number, b: Uint8Array): boolean {
  if (dirHasTail(b)) {
    set32(b, b.length - 4, dirLeafCsum(fs, ino, gen, b));
    return true;
  }
  const co = dxCountOffset(b);
  if (co < 0) return false;
  const { crc, tail } = dxCsum(fs, ino, gen, b, co);
  if (tail < 0) return false;
  set32(b, tail + 4, crc);
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
  return get32(b, XATTR_CSUM) === xattrCsum(fs, blk, b);
}

export function xattrCsumSet(fs: Ext2Fs, blk: number, b: Uint8Array): void {
  set32(b, XATTR_CSUM, xattrCsum(fs, blk, b));
}
