/*
 * The in-core UFS inode (cf. struct inode in FreeBSD's ufs/ufs/inode.h): a
 * UFS1 (128-byte) or UFS2 (256-byte) dinode decoded into one shape, checked
 * once by ufsInodeFromDisk(), and the bmap cache of the last indirect block
 * of data pointers decoded. vp.data of every UFS vnode is one of these.
 *   const { error, ip } = ufsInodeFromDisk(fs, ino, raw)
 */

import { EINTEGRITY, ENOENT } from '../../kern/errno.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import {
  FS_UFS2_MAGIC, IFBLK, IFCHR, IFDIR, IFIFO, IFLNK, IFMT, IFREG, IFSOCK, UFS_NDADDR, UFS_NIADDR, getInt64,
} from './ffs_fs.js';
import type { FfsFs } from './ffs_mount.js';

/** One indirect block of data pointers, for logical blocks [base, base + ptrs.length). */
export interface UfsIndirLeaf {
  base: number;
  ptrs: Float64Array;
}

export class UfsInode {
  /** Block pointers (fragment addresses; 0 a hole): 12 direct, then single, double, triple indirect. */
  readonly db: Float64Array;
  readonly ib: Float64Array;
  /** bmap cache (dropped by reclaim). */
  indLeaf: UfsIndirLeaf | null = null;

  constructor(
    readonly ino: number,
    readonly fs: FfsFs,
    /** The on-disk inode, as read. */
    readonly raw: Uint8Array,
    readonly type: VType,
    readonly mode: number,
    readonly nlink: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    /** di_blocks: storage held, in DEV_BSIZE units. */
    readonly blocks512: number,
    readonly atime: number,
    readonly mtime: number,
    readonly ctime: number,
    readonly birthtime: number,
    /** Nanoseconds of atime, mtime, ctime and birthtime (0 where the field holds no valid value). */
    readonly nsec: readonly [number, number, number, number],
    readonly gen: number,
    readonly flags: number,
    ptrs: Float64Array,
  ) {
    this.db = ptrs.subarray(0, UFS_NDADDR);
    this.ib = ptrs.subarray(UFS_NDADDR, UFS_NDADDR + UFS_NIADDR);
  }

  /** The last logical block holding file data, or -1 for an empty file. */
  get lastLbn(): number {
    return Math.ceil(this.size / this.fs.bsize) - 1;
  }

  /**
   * A short symlink: the target sits where the block pointers would be
   * (cf. ufs_readlink: shorter than fs_maxsymlinklen, or no blocks held).
   */
  get shortSymlink(): boolean {
    return this.type === VType.VLNK && (this.size < this.fs.sb.maxsymlinklen || this.blocks512 === 0);
  }

  /** The bytes of the block-pointer area (a short symlink's target, a device's number). */
  get pointerBytes(): Uint8Array {
    return this.fs.ufs2 ? this.raw.subarray(112, 232) : this.raw.subarray(40, 100);
  }

  /**
   * The device number of a special file: di_rdev overlays di_db[0], 32 bits
   * on UFS1 and 64 on UFS2 (in a big-endian UFS2 the low half is the second
   * word); a UFS2 value past 2^53 keeps its low 32 bits.
   */
  get rdev(): number {
    const dv = new DataView(this.raw.buffer, this.raw.byteOffset, this.raw.length);
    if (!this.fs.ufs2) return dv.getUint32(40, this.fs.sb.le);
    const v = dv.getBigUint64(112, this.fs.sb.le);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number(v & 0xffffffffn);
  }
}

/** The vnode type of a di_mode, VNON when the type bits are invalid (or a whiteout). */
export function ufsModeToVType(mode: number): VType {
  switch (mode & IFMT) {
    case IFREG: return VType.VREG;
    case IFDIR: return VType.VDIR;
    case IFLNK: return VType.VLNK;
    case IFCHR: return VType.VCHR;
    case IFBLK: return VType.VBLK;
    case IFIFO: return VType.VFIFO;
    case IFSOCK: return VType.VSOCK;
    default: return VType.VNON;
  }
}

/**
 * Decodes and checks the dinode `raw` of file number ino (UFS1 or UFS2 as
 * the file system is). ENOENT: a free inode; EINTEGRITY: impossible values
 * (an unknown type, a size or pointer beyond 2^53 or the file system).
 */
export function ufsInodeFromDisk(fs: FfsFs, ino: number, raw: Uint8Array): { error: number; ip: UfsInode | null } {
  const le = fs.sb.le;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const mode = dv.getUint16(0, le);
  const nlink = dv.getInt16(2, le);
  const type = ufsModeToVType(mode);
  if (type === VType.VNON) return { error: mode === 0 ? ENOENT : EINTEGRITY, ip: null };
  if (nlink < 0) return { error: EINTEGRITY, ip: null };
  const ufs2 = fs.sb.magic === FS_UFS2_MAGIC;
  const nptr = UFS_NDADDR + UFS_NIADDR;
  const ptrs = new Float64Array(nptr);
  let size: number;
  let blocks: number;
  let uid: number;
  let gid: number;
  let times: [number, number, number, number];
  let nsec: [number, number, number, number];
  let gen: number;
  let flags: number;
  if (ufs2) {
    uid = dv.getUint32(4, le);
    gid = dv.getUint32(8, le);
    size = getInt64(dv, 16, le);
    blocks = getInt64(dv, 24, le);
    times = [getInt64(dv, 32, le), getInt64(dv, 40, le), getInt64(dv, 48, le), getInt64(dv, 56, le)];
    nsec = [dv.getInt32(68, le), dv.getInt32(64, le), dv.getInt32(72, le), dv.getInt32(76, le)];
    gen = dv.getInt32(80, le);
    flags = dv.getUint32(88, le);
    for (let i = 0; i < nptr; i++) ptrs[i] = getInt64(dv, 112 + i * 8, le);
  } else {
    size = getInt64(dv, 8, le);
    times = [dv.getInt32(16, le), dv.getInt32(24, le), dv.getInt32(32, le), 0];
    nsec = [dv.getInt32(20, le), dv.getInt32(28, le), dv.getInt32(36, le), 0];
    for (let i = 0; i < nptr; i++) ptrs[i] = dv.getInt32(40 + i * 4, le);
    flags = dv.getUint32(100, le);
    blocks = dv.getUint32(104, le);
    gen = dv.getInt32(108, le);
    uid = dv.getUint32(112, le);
    gid = dv.getUint32(116, le);
  }
  if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(blocks) || blocks < 0) return { error: EINTEGRITY, ip: null };
  // The file cannot hold more bytes than the file system has (sparse files aside, which are bounded by maxfilesize).
  if (size > fs.maxFileSize) return { error: EINTEGRITY, ip: null };
  for (let i = 0; i < 4; i++) if (nsec[i] < 0 || nsec[i] > 999_999_999) nsec[i] = 0;
  const ip = new UfsInode(ino, fs, raw, type, mode, nlink, uid, gid, size, blocks, times[0], times[1], times[2], times[3], nsec, gen, flags, ptrs);
  // Pointers are checked where they are used (bmap), except for a short symlink's or a device's, which are not pointers.
  if (!ip.shortSymlink && type !== VType.VCHR && type !== VType.VBLK) {
    for (let i = 0; i < nptr; i++) if (Number.isNaN(ptrs[i])) return { error: EINTEGRITY, ip: null };
  }
  return { error: 0, ip };
}

/** The in-core inode of a UFS vnode (its `data`). */
export function ufsInode(vp: Vnode): UfsInode {
  return vp.data as UfsInode;
}
