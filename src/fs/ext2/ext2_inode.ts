/*
 * The in-core ext2 inode (cf. struct inode in FreeBSD's ext2fs): the on-disk
 * inode decoded and checked once by inodeFromDisk(), its raw bytes, and the
 * per-inode caches of bmap (the last extent leaf or indirect block decoded).
 * vp.data of every ext2 vnode is one of these. The writer changes size,
 * blocks512, iblock32 and din's fields in place, sets `modified`, and
 * ext2Update (ext2_inode_write.ts) encodes them back into `raw` and the disk.
 */

import { EINTEGRITY, ENOENT } from '../../kern/errno.js';
import { RangeSet } from '../../kern/rangeset.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import {
  EXT2_IBLOCK_BYTES, EXT4_ENCRYPT_FL, EXT4_EXTENTS_FL, EXT4_HUGE_FILE_FL, EXT4_INLINE_DATA_FL,
  INCOMPAT_EA_INODE, INCOMPAT_INLINE_DATA, INCOMPAT_LARGEDIR, RO_COMPAT_HUGE_FILE, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO,
  S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, type Ext2Dinode, decodeDinode,
} from './ext2_fs.js';
import type { Ext2Fs } from './ext2_mount.js';

/**
 * Bytes for an in-core inode's own copy of its on-disk inode: zeros, or a
 * copy of `from`. Cut from slabs of INODE_SLAB bytes, each piece handed out
 * once: a Uint8Array of 256 bytes of its own is a buffer outside V8's heap,
 * which each young collection sweeps while it lives (measured, put -r of
 * the bench's 20 000 files: one per file made, 25 ms of the 158 the
 * collector took). A slab is freed once none of its pieces is referenced:
 * what is held past that is at most a slab per live inode.
 */
export function inodeBytes(size: number, from?: Uint8Array): Uint8Array {
  let b: Uint8Array;
  if (size > INODE_SLAB / 4) {
    b = new Uint8Array(size);
  } else {
    if (slabAt + size > slab.length) {
      slab = new Uint8Array(INODE_SLAB);
      slabAt = 0;
    }
    b = slab.subarray(slabAt, slabAt + size);
    slabAt += size;
  }
  if (from !== undefined) b.set(from);
  return b;
}

const INODE_SLAB = 4096;
let slab = new Uint8Array(0);
let slabAt = 0;

/** One decoded extent-tree leaf and the logical range [lo, hi) it answers for. */
export interface ExtentLeaf {
  lo: number;
  hi: number;
  n: number;
  lblk: Float64Array;
  len: Float64Array;
  pblk: Float64Array;
  /** 1 for an unwritten (preallocated) extent: reads as a hole. */
  unwritten: Uint8Array;
}

/** One extent: logical start, length, physical start; unwritten ones read as zeros. */
export interface Extent {
  lblk: number;
  len: number;
  pblk: number;
  unwritten: boolean;
}

/** A file's extents, sorted and disjoint, and the tree blocks (leaves and index nodes) it owns. */
export interface ExtentMap {
  ext: Extent[];
  nodes: number[];
  /** Differs from the tree on disk. */
  dirty: boolean;
}

/** One indirect block holding data pointers, for logical blocks [base, base + ptrs.length). */
export interface IndirectLeaf {
  base: number;
  ptrs: Uint32Array;
}

export class Inode {
  /** Bytes; regular files (and large_dir directories) include i_size_high. Guarded by the vnode lock. */
  size: number;
  readonly type: VType;
  /** Storage in use, in 512-byte units (i_blocks, HUGE_FILE honoured). */
  blocks512: number;
  /** i_block as 15 words (block map or extent root); the writer changes them in place. */
  readonly iblock32: Uint32Array;
  /** bmap caches (cleared by reclaim, and by every change of the block map). */
  extLeaf: ExtentLeaf | null = null;
  /**
   * The whole extent tree in core, once a write needed it (ext2_extents_write.ts):
   * authoritative for bmap from then on; written back by ext2Update when dirty.
   */
  extMap: ExtentMap | null = null;
  indLeaf: IndirectLeaf | null = null;
  /** Inline data (i_block + system.data), once read. */
  inline: Uint8Array | null = null;
  /** In-core fields differ from the disk: ext2Update writes them (cf. IN_MODIFIED). */
  modified = false;
  /**
   * Extent-tree blocks the tree in core no longer uses: freed by ext2Update
   * once the inode that stops pointing at them is on disk (null: none).
   */
  freeAfterWrite: number[] | null = null;
  /** The inode and its blocks were freed; the vnode only waits to be reclaimed. */
  freed = false;
  /** i_dtime, set when the inode is freed; on the orphan list, the next orphan's number. */
  dtime = 0;
  /** On the superblock's orphan list: unlinked while still open. */
  orphan = false;
  /**
   * Blocks allocated by a write whose device contents are still garbage
   * (logical block numbers): bmap answers a hole for them, so the VM
   * zero-fills their pages, and their first page-out writes zeros around
   * the dirty bytes (cf. ext4's unwritten extents). Guarded by the vnode lock.
   */
  readonly unwritten = new RangeSet();
  /** The last block allocated to this file: where the next one is wanted. */
  lastAlloc = 0;
  /** Directories: the block where the search for room for a new entry starts (cf. i_diroff). */
  diroff = 0;
  /**
   * Directories with metadata_csum: blocks whose checksum was verified since
   * they were read, or that were written with it (cf. ext4's buffer_verified):
   * a lookup does not recompute it on every pass. Cleared by reclaim.
   */
  get csumVerified(): Set<number> {
    return (this.csumVerifiedSet ??= new Set());
  }
  /**
   * Directories with metadata_csum: blocks changed in their pages whose
   * checksum is stored when the pages go to disk (ext2_dir_csum.ts), once per
   * write-out, not once per entry. Guarded by the vnode lock; kept by reclaim
   * (the pages are written before it).
   */
  get dirCsumPending(): Set<number> {
    return (this.dirCsumPendingSet ??= new Set());
  }
  /**
   * Indexed directories: index nodes whose hashes were found in order, and
   * leaf blocks whose names were all found to hash into the range their index
   * entry gives them (checked on a lookup's first miss there); vmpager's own
   * inserts keep both so. Cleared by reclaim.
   */
  get htreeChecked(): Set<number> {
    return (this.htreeCheckedSet ??= new Set());
  }

  /* The three sets above, made on first use: most inodes are files, which need none of them. */
  private csumVerifiedSet: Set<number> | undefined = undefined;
  private dirCsumPendingSet: Set<number> | undefined = undefined;
  private htreeCheckedSet: Set<number> | undefined = undefined;

  constructor(
    readonly ino: number,
    readonly fs: Ext2Fs,
    /** The on-disk inode, as read. */
    readonly raw: Uint8Array,
    readonly din: Ext2Dinode,
    size: number,
    type: VType,
  ) {
    this.size = size;
    this.type = type;
    this.blocks512 = dinodeBlocks512(fs, din);
    this.iblock32 = new Uint32Array(15);
    const b = din.iblock;
    for (let i = 0; i < 15; i++) this.iblock32[i] = (b[4 * i] | (b[4 * i + 1] << 8) | (b[4 * i + 2] << 16) | (b[4 * i + 3] << 24)) >>> 0;
  }

  get flags(): number {
    return this.din.flags;
  }

  get extents(): boolean {
    return (this.din.flags & EXT4_EXTENTS_FL) !== 0;
  }

  get inlineData(): boolean {
    return (this.din.flags & EXT4_INLINE_DATA_FL) !== 0;
  }

  get encrypted(): boolean {
    return (this.din.flags & EXT4_ENCRYPT_FL) !== 0;
  }

  /** The last logical block holding file data, or -1 for an empty file. */
  get lastLbn(): number {
    return Math.ceil(this.size / this.fs.bsize) - 1;
  }

  /**
   * A fast symlink: the target sits in i_block. Short, and no data block
   * counted in i_blocks besides an xattr cluster; with ea_inode, i_blocks also
   * counts xattr inodes, so only the size tells (as e2fsprogs decides).
   */
  get fastSymlink(): boolean {
    if (this.type !== VType.VLNK || this.inlineData || this.size >= EXT2_IBLOCK_BYTES) return false;
    if (this.fs.hasFeature(INCOMPAT_EA_INODE)) return true;
    const aclBlocks = this.din.fileAcl !== 0 ? this.fs.clusterSize / 512 : 0;
    return this.blocks512 - aclBlocks <= 0;
  }

  /** Drops the bmap and inline caches. */
  flushCaches(): void {
    this.extLeaf = null;
    if (this.extMap !== null && !this.extMap.dirty) this.extMap = null;
    this.indLeaf = null;
    this.inline = null;
    this.csumVerifiedSet?.clear();
    this.htreeCheckedSet?.clear();
  }
}

/** The vnode type of an i_mode, VNON when the type bits are invalid. */
export function modeToVType(mode: number): VType {
  switch (mode & S_IFMT) {
    case S_IFREG: return VType.VREG;
    case S_IFDIR: return VType.VDIR;
    case S_IFLNK: return VType.VLNK;
    case S_IFCHR: return VType.VCHR;
    case S_IFBLK: return VType.VBLK;
    case S_IFIFO: return VType.VFIFO;
    case S_IFSOCK: return VType.VSOCK;
    default: return VType.VNON;
  }
}

/**
 * Decodes and checks the on-disk inode `raw` of file number ino.
 * ENOENT: a free inode (no type, no links); EINTEGRITY: impossible values.
 */
export function inodeFromDisk(fs: Ext2Fs, ino: number, raw: Uint8Array): { error: number; ip: Inode | null } {
  const din = decodeDinode(raw);
  const type = modeToVType(din.mode);
  if (type === VType.VNON) return { error: din.mode === 0 && din.linksCount === 0 ? ENOENT : EINTEGRITY, ip: null };
  const size = dinodeSize(fs, din, type);
  if (size < 0) return { error: EINTEGRITY, ip: null };
  return { error: 0, ip: new Inode(ino, fs, raw, din, size, type) };
}

/** The size of a decoded inode of a type not VNON; -1 where its size or flags are impossible. */
export function dinodeSize(fs: Ext2Fs, din: Ext2Dinode, type: VType): number {
  let size = din.sizeLo;
  const wide = type === VType.VREG || (type === VType.VDIR && fs.hasFeature(INCOMPAT_LARGEDIR));
  if (wide) {
    if (din.sizeHigh >= 2 ** 21) return -1; // 2^53 bytes and more
    size += din.sizeHigh * 2 ** 32;
  }
  if ((din.flags & EXT4_INLINE_DATA_FL) !== 0) {
    if (!fs.hasFeature(INCOMPAT_INLINE_DATA) || (din.flags & EXT4_EXTENTS_FL) !== 0) return -1;
  }
  return size;
}

/** A decoded inode's i_blocks in 512-byte units (its upper half and HUGE_FILE_FL as the file system's features say). */
export function dinodeBlocks512(fs: Ext2Fs, din: Ext2Dinode): number {
  const blocks = din.blocksRaw;
  if ((fs.sb.featureRoCompat & RO_COMPAT_HUGE_FILE) === 0) return blocks % 2 ** 32;
  return (din.flags & EXT4_HUGE_FILE_FL) !== 0 ? blocks * fs.spb : blocks;
}

/** The in-core inode of an ext2 vnode (its `data`). */
export function ext2Inode(vp: Vnode): Inode {
  return vp.data as Inode;
}
