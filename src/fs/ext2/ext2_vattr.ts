/*
 * An ext2 inode's attributes as VOP_GETATTR (and VFS_BULKSTAT) give them.
 *   const va = new Ext2Vattr(vp.type, vp.ino, ext2Inode(vp))
 */

import { VType } from '../../vfs/vnode.js';
import type { Vattr } from '../../vfs/vnode_if.js';
import { DI_ATIME_EXTRA, EXT2_GOOD_OLD_INODE_SIZE } from './ext2_fs.js';
import type { Inode } from './ext2_inode.js';

/** Device number of a special file: the old 16-bit encoding in i_block[0], else the new one in i_block[1]. */
function devNumber(ip: Inode): { rdev: number; major: number; minor: number } {
  const old = ip.iblock32[0];
  if (old !== 0) return { rdev: old, major: (old >>> 8) & 0xff, minor: old & 0xff };
  const x = ip.iblock32[1];
  return { rdev: x, major: (x & 0xfff00) >>> 8, minor: (x & 0xff) | ((x >>> 12) & 0xfff00) };
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

  constructor(type: VType, ino: number, private readonly ip: Inode) {
    const din = ip.din;
    const ns = din.extraIsize > 0 && EXT2_GOOD_OLD_INODE_SIZE + din.extraIsize >= DI_ATIME_EXTRA + 4;
    this.type = type;
    this.mode = din.mode;
    this.nlink = din.linksCount;
    this.uid = din.uid;
    this.gid = din.gid;
    this.size = ip.size;
    this.bytes = ip.blocks512 * 512;
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
    this.blksize = ip.fs.bsize;
    this.rdev = type === VType.VCHR || type === VType.VBLK ? devNumber(ip).rdev : 0;
  }

  get extra(): Record<string, number | string | boolean> {
    const ip = this.ip;
    const din = ip.din;
    const extra: Record<string, number | string | boolean> = {
      flags: `0x${din.flags.toString(16)}`,
      links: din.linksCount,
      generation: din.generation,
      file_acl: din.fileAcl,
      extents: ip.extents,
      inline: ip.inlineData,
      blocks512: ip.blocks512,
      encrypted: ip.encrypted,
      extra_isize: din.extraIsize,
    };
    if (this.type === VType.VCHR || this.type === VType.VBLK) {
      const d = devNumber(ip);
      extra.major = d.major;
      extra.minor = d.minor;
    }
    if (this.type === VType.VLNK) extra.fast_symlink = ip.fastSymlink;
    return extra;
  }
}
