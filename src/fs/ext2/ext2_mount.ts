/*
 * The in-core ext2 file system (cf. struct m_ext2fs): the validated superblock,
 * its geometry, and the group descriptors read on demand through the buffer
 * cache. mp.data of every ext2 mount is one of these. A read-write mount also
 * keeps every group's summary in `groups` (ext2_group.ts loads and writes them).
 *   fs = mp.data as Ext2Fs; fs.fsbtodb(b); fs.blockOk(b, n); await fs.inodeTable(bufcache, group)
 */

import { EINTEGRITY } from '../../kern/errno.js';
import { crc32cUpdate } from '../../kern/crc32c.js';
import { gdCsumOk } from './ext2_csum.js';
import { DEV_BSHIFT } from '../../kern/param.js';
import type { BufCache } from '../../vfs/vfs_bio.js';
import {
  COMPAT_SPARSE_SUPER2, type Ext2Super, INCOMPAT_64BIT, INCOMPAT_CSUM_SEED, INCOMPAT_META_BG, RO_COMPAT_BIGALLOC,
  RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM, RO_COMPAT_SPARSE_SUPER, gdInodeTable,
} from './ext2_fs.js';

/** One block group's summary, in core for read-write mounts (cf. struct ext2_gd). */
export interface Ext2Group {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  /** bg_flags (INODE_UNINIT, BLOCK_UNINIT, ITABLE_ZEROED) and bg_itable_unused. */
  flags: number;
  itableUnused: number;
  /** The block or inode bitmap changed: its checksum in the descriptor is recomputed at the next update. */
  bbitmapDirty: boolean;
  ibitmapDirty: boolean;
  /** The bitmap on disk was checked against its checksum (once per mount, as the kernel's buffer_verified). */
  bbitmapOk: boolean;
  ibitmapOk: boolean;
  /** Differs from the descriptor on disk. */
  dirty: boolean;
  /**
   * Every byte of the block bitmap before this one is known to be non-zero
   * (no eight free blocks in a row start there): allocInGroup's search for a
   * wholly free byte starts here. Only ext2_alloc.ts sets and clears the
   * bitmap's bits; a free lowers it, a bitmap made for an uninit group resets it.
   */
  bbitmapBusyBytes: number;
  /** Every byte of the inode bitmap before this one is 0xff (eight inodes in use): ext2Valloc's search starts here. */
  ibitmapFullBytes: number;
}

export class Ext2Fs {
  /** Block size in bytes and its log2. */
  readonly bsize: number;
  readonly bshift: number;
  /** Allocation unit in bytes: the block, or a bigalloc cluster. */
  readonly clusterSize: number;
  /** DEV_BSIZE sectors per block. */
  readonly spb: number;
  readonly groupCount: number;
  readonly descSize: number;
  readonly descPerBlock: number;
  /** Blocks of the (non-meta_bg) descriptor table. */
  readonly gdtBlocks: number;
  /** Block of the primary superblock; nothing maps data at or below it. */
  readonly sbBlock: number;
  /** Blocks one group's inode table takes. */
  readonly itableBlocks: number;
  /** Pointers per indirect block. */
  readonly nindir: number;
  /** Inode table block of each group whose descriptor was read. */
  private readonly itables = new Map<number, number>();
  /** Read-write mounts: every group's summary, validated at mount. */
  groups: Ext2Group[] = [];
  /** Blocks after each backup superblock kept for the descriptor table's growth (resize_inode). */
  reservedGdt = 0;
  /** s_state as found at mount, restored at unmount. */
  stateAtMount = 0;
  /** The in-core superblock counts or features differ from the disk. */
  sbDirty = false;
  /** metadata_csum: every metadata block carries a crc32c. */
  readonly metadataCsum: boolean;
  /** Group descriptors carry a checksum (metadata_csum, or uninit_bg's crc16). */
  readonly groupCsum: boolean;
  /** The seed every crc32c but the superblock's starts from. */
  readonly csumSeed: number;
  /** Checksums are verified on read (mount option `verify`, default on). */
  verify = true;
  /** Where warnings for the user go (the mount's statfs warnings). */
  warnings: string[] = [];
  /** The last damage found on disk, naming the block (for the error's message). */
  damage = '';
  /** The mount's statfs, told of damage too (its `damage` field). */
  statfs: { damage?: string } = {};
  /**
   * Inodes this mount freed, not taken again since: one read from disk
   * with no links is a file removed meanwhile (a name read before its
   * removal), not damage.
   */
  readonly freedHere = new Set<number>();
  /** Inodes just allocated past their group's initialised inode table (bg_itable_unused): their old bytes mean nothing. */
  readonly freshInodes = new Set<number>();
  /**
   * Of those, the ones whose inode table block holds no other inode ever
   * initialised or in use (all past bg_itable_unused, all free in the
   * bitmap): their block is made zeroed in core, not read (cf. the kernel's
   * __ext4_get_inode_loc), until their inode is initialised or freed.
   */
  readonly freshBlocks = new Set<number>();

  constructor(readonly sb: Ext2Super) {
    this.bshift = 10 + sb.logBlockSize;
    this.bsize = 2 ** this.bshift;
    this.spb = this.bsize >> DEV_BSHIFT;
    const bigalloc = (sb.featureRoCompat & RO_COMPAT_BIGALLOC) !== 0;
    this.clusterSize = bigalloc ? 2 ** (10 + sb.logClusterSize) : this.bsize;
    this.groupCount = Math.ceil((sb.blocksCount - sb.firstDataBlock) / sb.blocksPerGroup);
    this.descSize = (sb.featureIncompat & INCOMPAT_64BIT) !== 0 ? sb.descSize : 32;
    this.descPerBlock = this.bsize / this.descSize;
    this.gdtBlocks = Math.ceil(this.groupCount / this.descPerBlock);
    this.sbBlock = Math.floor(1024 / this.bsize);
    this.itableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / this.bsize);
    this.nindir = this.bsize / 4;
    this.metadataCsum = (sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0;
    this.groupCsum = this.metadataCsum || (sb.featureRoCompat & RO_COMPAT_GDT_CSUM) !== 0;
    this.csumSeed = (sb.featureIncompat & INCOMPAT_CSUM_SEED) !== 0 ? sb.checksumSeed : crc32cUpdate(0xffffffff, sb.uuid);
  }

  /**
   * A checksum did not match: with `verify`, EINTEGRITY and `what` kept as
   * the damage to report; without, a warning (once per block) and 0.
   */
  csumFailed(what: string): number {
    const reason = `${what}: checksum mismatch`;
    if (this.verify) {
      this.damage = this.statfs.damage = reason;
      return EINTEGRITY;
    }
    if (!this.warnings.includes(reason) && this.warnings.length < 100) this.warnings.push(reason);
    return 0;
  }

  /** A block number as a device address in DEV_BSIZE units. */
  fsbtodb(b: number): number {
    return b * this.spb;
  }

  /** True when blocks [b, b + n) lie inside the file system, past the superblock. */
  blockOk(b: number, n = 1): boolean {
    return b > this.sbBlock && b >= this.sb.firstDataBlock && b + n <= this.sb.blocksCount;
  }

  /** The group holding block b. => blockOk(b) */
  blockGroup(b: number): number {
    return Math.floor((b - this.sb.firstDataBlock) / this.sb.blocksPerGroup);
  }

  /** First block of group g. */
  groupFirst(g: number): number {
    return this.sb.firstDataBlock + g * this.sb.blocksPerGroup;
  }

  /** Blocks in group g (the last group may be short). */
  groupBlocks(g: number): number {
    return Math.min(this.sb.blocksPerGroup, this.sb.blocksCount - this.groupFirst(g));
  }

  /** The group holding inode ino. => 1 <= ino <= inodesCount */
  inodeGroup(ino: number): number {
    return Math.floor((ino - 1) / this.sb.inodesPerGroup);
  }

  /**
   * Runs of metadata blocks lying in each group: the group's superblock copy,
   * descriptor table and reserved growth, and every bitmap and inode table
   * placed there (with flex_bg, those of other groups too). Built at mount.
   */
  groupMeta: Array<Array<[number, number]>> = [];

  /**
   * Blocks at the start of group g holding a superblock copy, descriptors
   * and reserved growth (cf. ext2fs_super_and_bgd_loc2): with meta_bg, the
   * groups past s_first_meta_bg's descriptor blocks hold one descriptor
   * block in the first, second and last group of each meta group.
   */
  groupSuperBlocks(g: number): number {
    const sup = this.groupHasSuper(g) ? 1 : 0;
    if (!this.hasFeature(INCOMPAT_META_BG)) return sup === 0 ? 0 : 1 + this.gdtBlocks + this.reservedGdt;
    const firstMetaBg = Math.min(this.sb.firstMetaBg, this.gdtBlocks);
    if (Math.floor(g / this.descPerBlock) < firstMetaBg) return sup === 0 ? 0 : 1 + firstMetaBg + this.reservedGdt;
    const r = g % this.descPerBlock;
    return sup + (r === 0 || r === 1 || r === this.descPerBlock - 1 ? 1 : 0);
  }

  /**
   * True when block b of group g is metadata: a superblock copy, the
   * descriptor table and its reserved growth, a bitmap or an inode table.
   * Never allocated, never freed. => groups loaded
   */
  isMetaBlock(g: number, b: number): boolean {
    if (b < this.sb.firstDataBlock || b <= this.sbBlock) return true;
    const meta = this.groupMeta[g];
    for (let k = 0; k < meta.length; k++) {
      const s = meta[k][0];
      if (b >= s && b < s + meta[k][1]) return true; // indexed: this runs for every block allocated
    }
    return false;
  }

  hasFeature(incompat: number): boolean {
    return (this.sb.featureIncompat & incompat) !== 0;
  }

  /** True when group g holds a copy of the superblock. */
  groupHasSuper(g: number): boolean {
    const sb = this.sb;
    if (g === 0) return true;
    if ((sb.featureCompat & COMPAT_SPARSE_SUPER2) !== 0) return g === sb.backupBgs[0] || g === sb.backupBgs[1];
    if (g <= 1 || (sb.featureRoCompat & RO_COMPAT_SPARSE_SUPER) === 0) return true;
    if ((g & 1) === 0) return false;
    for (const p of [3, 5, 7]) {
      let n = p;
      while (n < g) n *= p;
      if (n === g) return true;
    }
    return false;
  }

  /** The block holding descriptor block i (cf. ext2fs_descriptor_block_loc). */
  descBlock(i: number): number {
    const firstMetaBg = Math.min(this.sb.firstMetaBg, this.gdtBlocks);
    if (!this.hasFeature(INCOMPAT_META_BG) || i < firstMetaBg) return this.sbBlock + 1 + i;
    const g = i * this.descPerBlock;
    return this.sb.firstDataBlock + g * this.sb.blocksPerGroup + (this.groupHasSuper(g) ? 1 : 0);
  }

  /**
   * The first block of group g's inode table, validated.
   * => g < groupCount; may sleep (reads a descriptor block)
   */
  /** Group g's inode table when inodeTable() has validated it already (no sleep). */
  inodeTableKnown(g: number): number | undefined {
    return this.itables.get(g);
  }

  async inodeTable(bufcache: BufCache, g: number): Promise<{ error: number; block: number }> {
    const cached = this.itables.get(g);
    if (cached !== undefined) return { error: 0, block: cached };
    const db = this.descBlock(Math.floor(g / this.descPerBlock));
    if (!this.blockOk(db)) return { error: EINTEGRITY, block: 0 };
    const { error, bp } = await bufcache.bread(this.fsbtodb(db), this.bsize);
    if (error !== 0 || bp === null) return { error, block: 0 };
    const off = (g % this.descPerBlock) * this.descSize;
    const block = gdInodeTable(bp.data, off, this.descSize);
    const ok = !this.groupCsum || gdCsumOk(this, g, bp.data, off);
    bufcache.brelse(bp);
    if (!ok) {
      const e = this.csumFailed(`group descriptor ${g} (block ${db})`);
      if (e !== 0) return { error: e, block: 0 };
    }
    if (!this.blockOk(block, this.itableBlocks)) return { error: EINTEGRITY, block: 0 };
    this.itables.set(g, block);
    return { error: 0, block };
  }
}
