/*
 * An ext2 inode's attributes as VOP_GETATTR (and VFS_BULKSTAT) give them.
 *   const va = ext2VattrOf(vp.type, vp.ino, ext2Inode(vp))
 *   const va = new Ext2Vattr(VType.VREG, ino, din, size, blocks512, bsize, false, null)   // a file's, from an inode not made in core
 */

import { VType } from '../../vfs/vnode.js';
import type { Vattr } from '../../vfs/vnode_if.js';
import { DI_ATIME_EXTRA, EXT2_GOOD_OLD_INODE_SIZE } from './ext2_fs.js';
import { type Ext2Dinode, EXT4_ENCRYPT_FL, EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL } from './ext2_fs.js';
import type { Inode } from './ext2_inode.js';

/** Device number of a special file: the old 16-bit encoding in i_block[0], else the new one in i_block[1]. */
function devNumber(iblock32: Uint32Array): { rdev: number; major: number; minor: number } {
  const old = iblock32[0];
  if (old !== 0) return { rdev: old, major: (old >>> 8) & 0xff, minor: old & 0xff };
  const x = iblock32[1];
  return { rdev: x, major: (x & 0xfff00) >>> 8, minor: (x & 0xff) | ((x >>> 12) & 0xfff00) };
}

/** The attributes of in-core inode ip, of vnode type `type`. */
export function ext2VattrOf(type: VType, ino: number, ip: Inode): Ext2Vattr {
  const special = type === VType.VCHR || type === VType.VBLK;
  return new Ext2Vattr(type, ino, ip.din, ip.size, ip.blocks512, ip.fs.bsize, type === VType.VLNK && ip.fastSymlink, special ? ip.iblock32 : null);
}

/**
 * An ext2 inode's attributes; `extra` (the ext2 facts `stat` shows) is made
 * when read, not at each getattr: a tree copied out asks for every file's
 * attributes and never for those.
 */
export class Ext2Vattr implements Vattr {
  readonly type: VType;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly bytes: number;
  readonly atime: number;
  readonly mtime: number;
  readonly ctime: number;
  readonly birthtime: number;
  /* Nanoseconds where the inode has room for them (*_extra), else none. */
  readonly atimeNsec: number | undefined;
  readonly mtimeNsec: number | undefined;
  readonly ctimeNsec: number | undefined;
  readonly birthtimeNsec: number | undefined;
  readonly ino: number;
  readonly gen: number;
  readonly flags: number;
  readonly blksize: number;
  readonly rdev: number;

  constructor(
    type: VType,
    ino: number,
    private readonly din: Ext2Dinode,
    size: number,
    private readonly blocks512: number,
    bsize: number,
    /** (Read for a symlink only.) */
    private readonly fastSymlink: boolean,
    /** i_block as words, as in core (read for a device only). */
    private readonly iblock32: Uint32Array | null,
  ) {
    const ns = din.extraIsize > 0 && EXT2_GOOD_OLD_INODE_SIZE + din.extraIsize >= DI_ATIME_EXTRA + 4;
    this.type = type;
    this.mode = din.mode;
    this.nlink = din.linksCount;
    this.uid = din.uid;
    this.gid = din.gid;
    this.size = size;
    this.bytes = blocks512 * 512;
    this.atime = din.atime;
    this.mtime = din.mtime;
    this.ctime = din.ctime;
    this.birthtime = din.crtime;
    this.atimeNsec = ns ? din.atimeNsec : undefined;
    this.mtimeNsec = ns ? din.mtimeNsec : undefined;
    this.ctimeNsec = ns ? din.ctimeNsec : undefined;
    this.birthtimeNsec = ns && din.crtime !== 0 ? din.crtimeNsec : undefined;
    this.ino = ino;
    this.gen = din.generation;
    this.flags = din.flags;
    this.blksize = bsize;
    this.rdev = iblock32 !== null ? devNumber(iblock32).rdev : 0;
  }

  get extra(): Record<string, number | string | boolean> {
    const din = this.din;
    const extra: Record<string, number | string | boolean> = {
      flags: `0x${din.flags.toString(16)}`,
      links: din.linksCount,
      generation: din.generation,
      file_acl: din.fileAcl,
      extents: (din.flags & EXT4_EXTENTS_FL) !== 0,
      inline: (din.flags & EXT4_INLINE_DATA_FL) !== 0,
      blocks512: this.blocks512,
      encrypted: (din.flags & EXT4_ENCRYPT_FL) !== 0,
      extra_isize: din.extraIsize,
    };
    if (this.iblock32 !== null) {
      const d = devNumber(this.iblock32);
      extra.major = d.major;
      extra.minor = d.minor;
    }
    if (this.type === VType.VLNK) extra.fast_symlink = this.fastSymlink;
    return extra;
  }
}
