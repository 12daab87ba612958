/*
 * The in-core FFS file system (cf. struct fs with struct ufsmount): the
 * validated superblock and the arithmetic of its geometry — cylinder
 * groups, fragments and blocks, where an inode lives, whether a run of
 * fragments may hold file data. mp.data of every UFS mount is one of these.
 *   fs = mp.data as FfsFs; fs.fsbtodb(frag); fs.dataOk(frag, nfrags); fs.inoToFsba(ino)
 * Addresses in inodes and indirect blocks count fragments (fs_fsize bytes).
 */

import { DEV_BSIZE } from '../../kern/param.js';
import { FS_UFS2_MAGIC, type FfsSuper, UFS1_DINODE_SIZE, UFS2_DINODE_SIZE, UFS_NDADDR } from './ffs_fs.js';

export class FfsFs {
  readonly ufs2: boolean;
  readonly bsize: number;
  readonly fsize: number;
  /** Fragments per block. */
  readonly frag: number;
  readonly nindir: number;
  readonly inopb: number;
  readonly dinodeSize: number;
  /** DEV_BSIZE sectors per fragment. */
  readonly spf: number;
  /** Inode numbers are below this. */
  readonly maxIno: number;
  /** The largest file the block map can address (bytes). */
  readonly maxFileSize: number;

  constructor(readonly sb: FfsSuper) {
    this.ufs2 = sb.magic === FS_UFS2_MAGIC;
    this.bsize = sb.bsize;
    this.fsize = sb.fsize;
    this.frag = sb.frag;
    this.nindir = sb.nindir;
    this.inopb = sb.inopb;
    this.dinodeSize = this.ufs2 ? UFS2_DINODE_SIZE : UFS1_DINODE_SIZE;
    this.spf = sb.fsize / DEV_BSIZE;
    this.maxIno = sb.ipg * sb.ncg;
    const n = sb.nindir;
    const blocks = UFS_NDADDR + n + n * n + n * n * n;
    this.maxFileSize = Math.min(blocks * sb.bsize, Number.MAX_SAFE_INTEGER);
  }

  /** A fragment address as a device address in DEV_BSIZE units. */
  fsbtodb(frag: number): number {
    return frag * this.spf;
  }

  /** The first fragment of cylinder group c (cf. cgbase). */
  cgbase(c: number): number {
    return this.sb.fpg * c;
  }

  /** Where group c's metadata is laid out from (cf. cgstart: UFS1 staggers it across groups). */
  cgstart(c: number): number {
    if (this.ufs2) return this.cgbase(c);
    return this.cgbase(c) + this.sb.oldCgoffset * (c & ~this.sb.oldCgmask);
  }

  /** The first data fragment after group c's metadata (cf. cgdmin). */
  cgdmin(c: number): number {
    return this.cgstart(c) + this.sb.dblkno;
  }

  /** The fragment holding inode ino (cf. ino_to_fsba). => 0 <= ino < maxIno */
  inoToFsba(ino: number): number {
    const c = Math.floor(ino / this.sb.ipg);
    return this.cgstart(c) + this.sb.iblkno + Math.floor((ino % this.sb.ipg) / this.inopb) * this.frag;
  }

  /** The index of inode ino inside its block (cf. ino_to_fsbo). */
  inoToFsbo(ino: number): number {
    return ino % this.inopb;
  }

  /**
   * True when fragments [f, f + n) may hold file data or indirect blocks:
   * inside the file system, inside one cylinder group and one block, and
   * clear of that group's superblock copy, group block and inode blocks
   * (and of the boot area before group 0's). => 1 <= n <= frag
   */
  dataOk(f: number, n: number): boolean {
    if (!Number.isSafeInteger(f) || f <= 0 || f + n > this.sb.size) return false;
    if ((f % this.frag) + n > this.frag) return false;
    const c = Math.floor(f / this.sb.fpg);
    if (c >= this.sb.ncg) return false;
    const metaStart = c === 0 ? 0 : this.cgstart(c) + this.sb.sblkno;
    return f + n <= metaStart || f >= this.cgdmin(c);
  }

  /** True when f is a whole block's address that may hold data (block-aligned, see dataOk). */
  blockOk(f: number): boolean {
    return f % this.frag === 0 && this.dataOk(f, this.frag);
  }
}
