/*
 * Writing in-core inodes back (cf. FreeBSD ext2_update and ext2_i2ei): the
 * fields the writer changes are encoded into the inode's raw bytes, every
 * other byte (extended attributes, fields this code does not know) kept,
 * and the raw bytes copied into the inode table block through the buffer
 * cache. New inodes start from ext2InodeInit.
 *   ip.modified = true; ... error = await ext2Update(mp, ip, sync)
 */

import { EINTEGRITY } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import { B_DONE, type Buf } from '../../vfs/buf.js';
import { VType } from '../../vfs/vnode.js';
import {
  DI_ATIME, DI_ATIME_EXTRA, DI_BLOCK, DI_BLOCKS, DI_BLOCKS_HIGH, DI_CRTIME, DI_CRTIME_EXTRA, DI_CTIME, DI_CTIME_EXTRA, DI_DTIME, DI_EXTRA_ISIZE,
  DI_FILE_ACL, DI_FILE_ACL_HIGH, DI_FLAGS, DI_GENERATION, DI_GID, DI_GID_HIGH, DI_LINKS, DI_MODE, DI_MTIME, DI_MTIME_EXTRA, DI_SIZE,
  DI_SIZE_HIGH, DI_UID, DI_UID_HIGH, EXT2_GOOD_OLD_INODE_SIZE, EXT2_IBLOCK_BYTES, EXT2_NEW_EXTRA_ISIZE,
  EXT4_EXTENTS_FL, EXT4_HUGE_FILE_FL, INCOMPAT_EXTENTS, INCOMPAT_LARGEDIR, RO_COMPAT_HUGE_FILE, RO_COMPAT_LARGE_FILE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
} from './ext2_fs.js';
import { type Inode, inodeBytes, inodeFromDisk } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';
import { inodeCsumSet } from './ext2_csum.js';
import { EXT2_ATIME, EXT2_CTIME, EXT2_MTIME, type Ext2Time, ext2Stamp } from './ext2_itimes.js';
import { ext4ExtEmptyRoot, ext4ExtStore, ext4ExtStoreNow } from './ext2_extents_write.js';
import { ext2FreeBlocks } from './ext2_alloc.js';
import { ext2AllocFlush, ext2SetFeatures } from './ext2_group.js';

/**
 * The inode table block holding inode ino, busy, and ino's byte offset in it.
 * => 1 <= ino <= inodesCount; may sleep
 */
export function ext2InodeBuf(mp: Mount, ino: number): Promise<{ error: number; bp: Buf | null; off: number }> {
  // The common case, answered without a task: the table's place known, its block resident.
  const bp = ext2InodeBufNow(mp, ino);
  if (bp !== null) return Promise.resolve({ error: 0, bp, off: ext2InodeOff(mp.data as Ext2Fs, ino) });
  return inodeBufSlow(mp, ino, false);
}

/** The inode table block holding ino, busy, when the table's place is known and the block resident; else null. */
export function ext2InodeBufNow(mp: Mount, ino: number): Buf | null {
  const fs = mp.data as Ext2Fs;
  const table = fs.inodeTableKnown(fs.inodeGroup(ino));
  if (table === undefined) return null;
  const byteOff = ((ino - 1) % fs.sb.inodesPerGroup) * fs.sb.inodeSize;
  return mp.bufcache.tryBread(fs.fsbtodb(table + Math.floor(byteOff / fs.bsize)), fs.bsize);
}

/** Inode ino's byte offset in its inode table block. */
export function ext2InodeOff(fs: Ext2Fs, ino: number): number {
  return (((ino - 1) % fs.sb.inodesPerGroup) * fs.sb.inodeSize) % fs.bsize;
}

/**
 * ext2InodeBuf through the table's descriptor and the device; `fresh` (an
 * inode in fs.freshBlocks): the block as resident, or else zeroed, not read
 * (no inode in it was ever initialised: the bytes on disk mean nothing; a
 * mke2fs with lazy_itable_init leaves them unwritten).
 */
async function inodeBufSlow(mp: Mount, ino: number, fresh: boolean): Promise<{ error: number; bp: Buf | null; off: number }> {
  const fs = mp.data as Ext2Fs;
  const { error, block } = await fs.inodeTable(mp.bufcache, fs.inodeGroup(ino));
  if (error !== 0) return { error, bp: null, off: 0 };
  const byteOff = ((ino - 1) % fs.sb.inodesPerGroup) * fs.sb.inodeSize;
  const blkno = fs.fsbtodb(block + Math.floor(byteOff / fs.bsize));
  if (fresh) {
    const bp = await mp.bufcache.getblk(blkno, fs.bsize);
    if ((bp.flags & B_DONE) === 0) {
      bp.data.fill(0);
      bp.flags |= B_DONE;
    }
    return { error: 0, bp, off: byteOff % fs.bsize };
  }
  const r = await mp.bufcache.bread(blkno, fs.bsize);
  if (r.error !== 0 || r.bp === null) return { error: r.error || EINTEGRITY, bp: null, off: 0 };
  return { error: 0, bp: r.bp, off: byteOff % fs.bsize };
}

/**
 * Stores time t (seconds) in the 32-bit field at off and, if the inode has
 * room for its *_extra field, the nanoseconds and epoch bits there (times
 * from 1901 to 2446); without it, seconds before 2038 only.
 */
function putTime(dv: DataView, raw: Uint8Array, off: number, extra: number, t: number, nsec: number): void {
  const epoch = Math.floor((t + 2 ** 31) / 2 ** 32);
  dv.setInt32(off, t - epoch * 2 ** 32, true);
  const isize = raw.length > EXT2_GOOD_OLD_INODE_SIZE ? dv.getUint16(DI_EXTRA_ISIZE, true) : 0;
  if (EXT2_GOOD_OLD_INODE_SIZE + isize >= extra + 4 && extra + 4 <= raw.length) {
    dv.setUint32(extra, ((nsec << 2) | (epoch & 3)) >>> 0, true);
  }
}

/** Encodes ip's in-core fields into ip.raw (cf. ext2_i2ei). */
export function ext2InodeEncode(ip: Inode): void {
  const raw = ip.raw;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const din = ip.din;
  dv.setUint16(DI_MODE, din.mode, true);
  dv.setUint16(DI_UID, din.uid & 0xffff, true);
  dv.setUint16(DI_UID_HIGH, din.uid >>> 16, true);
  dv.setUint16(DI_GID, din.gid & 0xffff, true);
  dv.setUint16(DI_GID_HIGH, din.gid >>> 16, true);
  dv.setUint32(DI_SIZE, ip.size % 2 ** 32, true);
  // i_size_high: regular files; directories too with large_dir (else the field is i_dir_acl, left as it is).
  if (ip.type === VType.VREG || (ip.type === VType.VDIR && ip.fs.hasFeature(INCOMPAT_LARGEDIR))) dv.setUint32(DI_SIZE_HIGH, Math.floor(ip.size / 2 ** 32), true);
  putTime(dv, raw, DI_ATIME, DI_ATIME_EXTRA, din.atime, din.atimeNsec);
  putTime(dv, raw, DI_CTIME, DI_CTIME_EXTRA, din.ctime, din.ctimeNsec);
  putTime(dv, raw, DI_MTIME, DI_MTIME_EXTRA, din.mtime, din.mtimeNsec);
  if (raw.length > EXT2_GOOD_OLD_INODE_SIZE && EXT2_GOOD_OLD_INODE_SIZE + dv.getUint16(DI_EXTRA_ISIZE, true) >= DI_CRTIME + 4) {
    putTime(dv, raw, DI_CRTIME, DI_CRTIME_EXTRA, din.crtime, din.crtimeNsec);
  }
  dv.setUint32(DI_DTIME, ip.dtime >>> 0, true);
  dv.setUint16(DI_LINKS, din.linksCount, true);
  dv.setUint32(DI_BLOCKS, ip.blocks512 % 2 ** 32, true);
  if ((ip.fs.sb.featureRoCompat & RO_COMPAT_HUGE_FILE) !== 0) dv.setUint16(DI_BLOCKS_HIGH, Math.floor(ip.blocks512 / 2 ** 32), true);
  din.flags &= ~EXT4_HUGE_FILE_FL; // i_blocks is written in 512-byte units
  dv.setUint32(DI_FLAGS, din.flags >>> 0, true);
  dv.setUint32(DI_GENERATION, din.generation >>> 0, true);
  dv.setUint32(DI_FILE_ACL, din.fileAcl % 2 ** 32, true);
  dv.setUint16(DI_FILE_ACL_HIGH, Math.floor(din.fileAcl / 2 ** 32), true);
  if (ip.fastSymlink) {
    raw.set(din.iblock, DI_BLOCK); // the target itself
  } else if (!ip.inlineData) {
    for (let i = 0; i < 15; i++) dv.setUint32(DI_BLOCK + i * 4, ip.iblock32[i], true);
    din.iblock.set(raw.subarray(DI_BLOCK, DI_BLOCK + EXT2_IBLOCK_BYTES));
  }
}

/**
 * Writes ip to its inode table block (cf. ext2_update): delayed (bdwrite)
 * unless sync. A synchronous write first writes the allocation maps
 * (ext2AllocFlush): what the inode points at is marked in use on disk before
 * the inode is. A file of 2 GiB or more sets large_file in the superblock.
 * => may sleep
 */
export async function ext2Update(mp: Mount, ip: Inode, sync: boolean): Promise<number> {
  const fs = ip.fs;
  if (ip.size >= 2 ** 31) ext2SetFeatures(fs, 0, RO_COMPAT_LARGE_FILE);
  const e = ip.extMap !== null ? await ext4ExtStore(mp, ip) : 0;
  if (e !== 0) return e;
  // Tree blocks the inode stopped pointing at are freed once it is on disk: that write is synchronous.
  const spare = ip.freeAfterWrite;
  if (sync || spare !== null) {
    const ferr = await ext2AllocFlush(mp); // before the inode's buffer is held: it may write buffers
    if (ferr !== 0) return ferr;
  }
  const { error, bp, off } = await ext2InodeBuf(mp, ip.ino);
  if (error !== 0 || bp === null) return error;
  encodeInto(ip, bp, off);
  if (!sync && spare === null) {
    mp.bufcache.bdwrite(bp);
    return 0;
  }
  const werr = await mp.bufcache.bwrite(bp);
  if (werr !== 0 || spare === null) return werr;
  ip.freeAfterWrite = null;
  return ext2FreeBlocks(mp, spare);
}

/**
 * ext2Update's delayed write without a task: true when done; false (nothing
 * written) where it needs one: a tree block to write, blocks to free after
 * the write, the inode's block not resident.
 */
export function ext2UpdateNow(mp: Mount, ip: Inode): boolean {
  if (ip.freeAfterWrite !== null || (ip.extMap !== null && !ext4ExtStoreNow(ip))) return false;
  const bp = ext2InodeBufNow(mp, ip.ino);
  if (bp === null) return false;
  if (ip.size >= 2 ** 31) ext2SetFeatures(ip.fs, 0, RO_COMPAT_LARGE_FILE);
  encodeInto(ip, bp, ext2InodeOff(ip.fs, ip.ino));
  mp.bufcache.bdwrite(bp);
  return true;
}

/** ip encoded, checksummed and copied into its inode table block bp at off. */
function encodeInto(ip: Inode, bp: Buf, off: number): void {
  ext2InodeEncode(ip);
  if (ip.fs.metadataCsum) inodeCsumSet(ip.fs, ip.ino, ip.raw);
  bp.data.set(ip.raw, off);
  ip.modified = false;
}

const DONE: Promise<number> = Promise.resolve(0);

/**
 * ext2Update's delayed write (not sync). MNT_ASYNC, where nothing is written
 * in order, leaves it to VFS_SYNC or reclaim, which write every inode still
 * modified: a file made, named, then given its attributes is encoded and
 * checksummed once instead of at each step. An inode with tree blocks to free
 * after its write is written now. => may sleep
 */
export function ext2UpdateDelayed(mp: Mount, ip: Inode): Promise<number> {
  if (mp.async && ip.freeAfterWrite === null) {
    ip.modified = true;
    return DONE;
  }
  return ext2Update(mp, ip, false);
}

/**
 * A fresh in-core inode for a just allocated inode number: zeroed, then
 * mode, one link per `links`, the times, i_extra_isize for large inodes and
 * the generation after the old one's. Not yet written.
 * => ino allocated in the bitmap; may sleep (reads the old inode)
 */
export async function ext2InodeInit(mp: Mount, ino: number, mode: number, links: number, now: Ext2Time): Promise<{ error: number; ip: Inode | null }> {
  const fs = mp.data as Ext2Fs;
  const { error, bp, off } = fs.freshBlocks.delete(ino) ? await inodeBufSlow(mp, ino, true) : await ext2InodeBuf(mp, ino);
  if (error !== 0 || bp === null) return { error, ip: null };
  return inodeInit(mp, ino, bp, off, mode, links, now);
}

/** ext2InodeInit without a task, where the inode's table block is resident; else null. */
export function ext2InodeInitNow(mp: Mount, ino: number, mode: number, links: number, now: Ext2Time): { error: number; ip: Inode | null } | null {
  const fs = mp.data as Ext2Fs;
  const bp = ext2InodeBufNow(mp, ino);
  if (bp === null) return null;
  fs.freshBlocks.delete(ino);
  return inodeInit(mp, ino, bp, ext2InodeOff(fs, ino), mode, links, now);
}


function inodeInit(mp: Mount, ino: number, bp: Buf, off: number, mode: number, links: number, now: Ext2Time): { error: number; ip: Inode | null } {
  const fs = mp.data as Ext2Fs;
  const isize = fs.sb.inodeSize;
  const old = new DataView(bp.data.buffer, bp.data.byteOffset + off, isize);
  const oldGen = old.getUint32(DI_GENERATION, true);
  const oldLinks = old.getUint16(DI_LINKS, true);
  const oldMode = old.getUint16(DI_MODE, true);
  mp.bufcache.brelse(bp);
  // A number the bitmap called free whose inode has a type and links is a file in use (a wrong bitmap): never written over.
  // (Not where the table was never initialised: bytes there mean nothing, ext2VallocNow says which.)
  if (!fs.freshInodes.delete(ino) && oldLinks !== 0 && oldMode !== 0) {
    fs.damage = fs.statfs.damage = `inode ${ino} is in use (${oldLinks} links) but the inode bitmap calls it free (run e2fsck)`;
    return { error: EINTEGRITY, ip: null };
  }
  const raw = inodeBytes(isize);
  const dv = new DataView(raw.buffer, raw.byteOffset, isize);
  dv.setUint16(DI_MODE, mode, true);
  dv.setUint16(DI_LINKS, links, true);
  dv.setUint32(DI_GENERATION, (oldGen + 1) >>> 0, true);
  if (isize >= EXT2_GOOD_OLD_INODE_SIZE + EXT2_NEW_EXTRA_ISIZE) {
    dv.setUint16(DI_EXTRA_ISIZE, EXT2_NEW_EXTRA_ISIZE, true);
  }
  const type = mode & S_IFMT;
  if (fs.hasFeature(INCOMPAT_EXTENTS) && (type === S_IFREG || type === S_IFDIR || type === S_IFLNK)) {
    // New files of an extents file system are mapped by extents (a fast symlink's caller clears the flag).
    dv.setUint32(DI_FLAGS, EXT4_EXTENTS_FL, true);
    const root = new Uint32Array(15);
    ext4ExtEmptyRoot(root);
    for (let i = 0; i < 15; i++) dv.setUint32(DI_BLOCK + i * 4, root[i], true);
  }
  const r = inodeFromDisk(fs, ino, raw);
  if (r.ip !== null && r.ip.extents) r.ip.extMap = { ext: [], nodes: [], dirty: false }; // its tree in core already: the empty root
  if (r.ip !== null) {
    // Every time is now; crtime (where the inode has room) too, written by ext2InodeEncode.
    const din = r.ip.din;
    ext2Stamp(din, EXT2_ATIME | EXT2_MTIME | EXT2_CTIME, now);
    if (isize >= EXT2_GOOD_OLD_INODE_SIZE + EXT2_NEW_EXTRA_ISIZE) {
      din.crtime = now.sec;
      din.crtimeNsec = now.nsec;
    }
    r.ip.modified = true;
  }
  return r;
}
