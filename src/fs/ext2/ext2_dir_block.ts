/*
 * One ext2 directory block as the writers see it (shared by the linear
 * directory code, ext2_dir_write, and the htree code, ext2_htree): its
 * records parsed and checked, read and written through the directory's VM
 * object with its checksum (metadata_csum), an entry stored, the
 * directory's times set.
 *   const error = await readBlock(dvp, lbn, buf); ... putEntry(fs, buf, off, ino, recLen, name, ft); await writeBlock(dvp, lbn, buf)
 */

import { EINTEGRITY, EIO } from '../../kern/errno.js';
import { UIO_READ, UIO_WRITE, Uio } from '../../vfs/uio.js';
import type { Vnode } from '../../vfs/vnode.js';
import { IO_NODELOCKED } from '../../vfs/vnode_if.js';
import { DIRENT_HEADER, INCOMPAT_FILETYPE, decodeRecLen, direntRecLen, encodeRecLen } from './ext2_fs.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';
import { ext2WriteUser } from './ext2_write.js';
import { DIR_TAIL_SIZE, dirCsumRoom, dirCsumSet } from './ext2_csum.js';
import { ext2DirCsumDefer, ext2DirCsumDeferrable } from './ext2_dir_csum.js';
import { dirBlockCsumOk, ext2DirCsumFailed } from './ext2_dir_where.js';
import { EXT2_CTIME, EXT2_MTIME, ext2Stamp } from './ext2_itimes.js';

/** One record of a directory block. */
export interface DirRecord {
  off: number;
  ino: number;
  recLen: number;
  nameLen: number;
}

/**
 * The record at buf[off] checked: its rec_len, or -1 when it is bad.
 * => off + DIRENT_HEADER <= buf.length
 */
function recordLen(fs: Ext2Fs, buf: Uint8Array, off: number, filetype: boolean): number {
  const bsize = buf.length;
  const ino = recIno(buf, off);
  const recLen = recRecLen(buf, off);
  const nameLen = buf[off + 6];
  if (recLen < DIRENT_HEADER || recLen % 4 !== 0 || off + recLen > bsize) return -1;
  // Without filetype a live entry's type byte is 0; an empty record's is free
  // (metadata_csum's tail carries 0xde there on every image).
  if (recLen < direntRecLen(nameLen) || (!filetype && ino !== 0 && buf[off + 7] !== 0)) return -1;
  if (ino > fs.sb.inodesCount || (ino !== 0 && nameLen === 0)) return -1;
  return recLen;
}

/** The inode number of the record at buf[off]. */
export function recIno(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

/** The rec_len of the record at buf[off], decoded for a block of buf's size. */
export function recRecLen(buf: Uint8Array, off: number): number {
  return decodeRecLen(buf[off + 4] | (buf[off + 5] << 8), buf.length);
}

/** The records of one directory block, each checked; EINTEGRITY on the first bad one. */
export function parseBlock(fs: Ext2Fs, buf: Uint8Array): { error: number; recs: DirRecord[] } {
  const bsize = buf.length;
  const filetype = fs.hasFeature(INCOMPAT_FILETYPE);
  const recs: DirRecord[] = [];
  for (let off = 0; off < bsize;) {
    if (off + DIRENT_HEADER > bsize) return { error: EINTEGRITY, recs };
    const recLen = recordLen(fs, buf, off, filetype);
    if (recLen < 0) return { error: EINTEGRITY, recs };
    recs.push({ off, ino: recIno(buf, off), recLen, nameLen: buf[off + 6] });
    off += recLen;
  }
  return { error: 0, recs };
}

/** parseBlock's checks without its list: 0, or EINTEGRITY on the first bad record (then walk by recRecLen). */
export function checkBlock(fs: Ext2Fs, buf: Uint8Array): number {
  const bsize = buf.length;
  const filetype = fs.hasFeature(INCOMPAT_FILETYPE);
  for (let off = 0; off < bsize;) {
    if (off + DIRENT_HEADER > bsize) return EINTEGRITY;
    const recLen = recordLen(fs, buf, off, filetype);
    if (recLen < 0) return EINTEGRITY;
    off += recLen;
  }
  return 0;
}

/*
 * Scratch blocks for the directory code (a scan, an insert): taken, used
 * between awaits by one operation, given back when it ends. Nothing keeps a
 * reference to one past dirBufPut. Saves a block-sized allocation per lookup.
 */
const spare: Uint8Array[] = [];
const SPARE_MAX = 8;

/** A scratch block of bsize bytes (contents undefined). */
export function dirBufGet(bsize: number): Uint8Array {
  for (let i = spare.length - 1; i >= 0; i--) {
    if (spare[i].length === bsize) {
      const b = spare[i];
      spare[i] = spare[spare.length - 1];
      spare.pop();
      return b;
    }
  }
  return new Uint8Array(bsize);
}

/** Gives a dirBufGet block back. => no reference to it is kept */
export function dirBufPut(b: Uint8Array): void {
  if (spare.length < SPARE_MAX) spare.push(b);
}

/**
 * Reads directory block lbn of dvp into buf (its checksum verified); ioflag
 * 0 for a reader that does not hold dvp's lock.
 */
export async function readBlock(dvp: Vnode, lbn: number, buf: Uint8Array, ioflag = IO_NODELOCKED): Promise<number> {
  const uio = Uio.of(buf, lbn * buf.length, UIO_READ);
  const error = await dvp.op.read(dvp, uio, ioflag);
  if (error !== 0) return error;
  if (uio.resid !== 0) return EINTEGRITY;
  const ip = ext2Inode(dvp);
  if (ip.fs.metadataCsum && !allZero(buf) && !dirBlockCsumOk(ip, lbn, buf)) return ext2DirCsumFailed(dvp, lbn);
  return 0;
}

/** Bytes of a leaf block entries may use: all but the checksum tail's (metadata_csum). */
export function usable(fs: Ext2Fs): number {
  return fs.metadataCsum ? fs.bsize - DIR_TAIL_SIZE : fs.bsize;
}

/**
 * Writes directory block lbn whole. With metadata_csum its checksum is
 * stored at page-out (ext2_dir_csum.ts; blocks larger than the smallest
 * page: here, first); EINTEGRITY when the block has no room for it.
 */
export async function writeBlock(dvp: Vnode, lbn: number, buf: Uint8Array): Promise<number> {
  const ip = ext2Inode(dvp);
  const fs = ip.fs;
  const defer = fs.metadataCsum && ext2DirCsumDeferrable(buf.length);
  if (fs.metadataCsum && !(defer ? dirCsumRoom(buf) : dirCsumSet(fs, dvp.ino, ip.din.generation, buf))) return EINTEGRITY;
  const checked = ip.htreeChecked.has(lbn); // entries go in by hash: the leaf stays in its range
  ip.csumVerified.delete(lbn);
  ip.htreeChecked.delete(lbn);
  if (defer) ext2DirCsumDefer(ip, lbn); // from before its bytes reach the page: a page-out meanwhile stores it
  const error = await dirWrite(dvp, buf, lbn * buf.length);
  if (defer) ext2DirCsumDefer(ip, lbn);
  if (error === 0 && fs.metadataCsum) ip.csumVerified.add(lbn); // written with its checksum, or to have it
  if (error === 0 && checked) ip.htreeChecked.add(lbn);
  return error;
}

/** Writes bytes at byte offset `off` of directory dvp through its VM object, growing it as needed. */
async function dirWrite(dvp: Vnode, bytes: Uint8Array, off: number): Promise<number> {
  const uio = Uio.of(bytes, off, UIO_WRITE);
  const error = await ext2WriteUser(dvp, uio, 0);
  if (error !== 0) return error;
  return uio.resid === 0 ? 0 : EIO;
}

/** Stores one entry at buf[off]; the bytes after the name, up to its minimal size, are zeroed. */
export function putEntry(fs: Ext2Fs, buf: Uint8Array, off: number, ino: number, recLen: number, name: Uint8Array, ft: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  dv.setUint32(off, ino, true);
  dv.setUint16(off + 4, encodeRecLen(recLen, buf.length), true);
  buf[off + 6] = name.length;
  buf[off + 7] = fs.hasFeature(INCOMPAT_FILETYPE) ? ft : 0;
  buf.set(name, off + DIRENT_HEADER);
  buf.fill(0, off + DIRENT_HEADER + name.length, off + direntRecLen(name.length));
}

/** The live entries of a leaf block (name, inode, file type); null when the block is damaged. */
export function dirBlockEntries(fs: Ext2Fs, buf: Uint8Array): Array<{ name: Uint8Array; ino: number; ft: number }> | null {
  const { error, recs } = parseBlock(fs, buf.subarray(0, usable(fs)));
  if (error !== 0) return null;
  return recs.filter((r) => r.ino !== 0).map((r) => ({
    name: buf.slice(r.off + DIRENT_HEADER, r.off + DIRENT_HEADER + r.nameLen), ino: r.ino, ft: buf[r.off + 7],
  }));
}

/** The directory changed: times. */
export function dirChangedTimes(ip: Inode): void {
  dirChanged(ip);
}

export function dirChanged(ip: Inode): void {
  ext2Stamp(ip.din, EXT2_MTIME | EXT2_CTIME);
  ip.modified = true;
}

export function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
