/*
 * ext2/3/4 on-disk format: constants, feature names and decoders of the
 * superblock, group descriptors and inodes (all little-endian).
 *   sb = decodeSuper(bytes of 1024 at byte 1024); gd = decodeGroupDesc(...); di = decodeDinode(...)
 * Decoders only read the fields; every value is validated by its user.
 */

export const SBOFF = 1024;
export const SBSIZE = 1024;
export const EXT2_MAGIC = 0xef53;
export const EXT2_ROOTINO = 2;
export const EXT2_GOOD_OLD_REV = 0;
export const EXT2_DYNAMIC_REV = 1;
export const EXT2_GOOD_OLD_INODE_SIZE = 128;
export const EXT2_GOOD_OLD_FIRST_INO = 11;
export const EXT2_MIN_BLOCK_LOG_SIZE = 10;
export const EXT2_MAX_BLOCK_LOG_SIZE = 16;
export const EXT2_MIN_DESC_SIZE = 32;
export const EXT2_MIN_DESC_SIZE_64BIT = 64;
export const EXT2_MAX_DESC_SIZE = 1024;

/* i_block: 12 direct pointers, then single, double, triple indirect. */
export const EXT2_NDADDR = 12;
export const EXT2_IND_BLOCK = 12;
export const EXT2_DIND_BLOCK = 13;
export const EXT2_TIND_BLOCK = 14;
export const EXT2_N_BLOCKS = 15;
/** Bytes of i_block: where fast symlinks and inline data live. */
export const EXT2_IBLOCK_BYTES = 60;

/* s_feature_compat */
export const COMPAT_DIR_PREALLOC = 0x1;
export const COMPAT_HAS_JOURNAL = 0x4;
export const COMPAT_SPARSE_SUPER2 = 0x200;

/* s_feature_incompat */
export const INCOMPAT_COMPRESSION = 0x1;
export const INCOMPAT_FILETYPE = 0x2;
export const INCOMPAT_RECOVER = 0x4;
export const INCOMPAT_JOURNAL_DEV = 0x8;
export const INCOMPAT_META_BG = 0x10;
export const INCOMPAT_EXTENTS = 0x40;
export const INCOMPAT_64BIT = 0x80;
export const INCOMPAT_MMP = 0x100;
export const INCOMPAT_FLEX_BG = 0x200;
export const INCOMPAT_EA_INODE = 0x400;
export const INCOMPAT_DIRDATA = 0x1000;
export const INCOMPAT_CSUM_SEED = 0x2000;
export const INCOMPAT_LARGEDIR = 0x4000;
export const INCOMPAT_INLINE_DATA = 0x8000;
export const INCOMPAT_ENCRYPT = 0x10000;
export const INCOMPAT_CASEFOLD = 0x20000;

/* s_feature_ro_compat */
export const RO_COMPAT_SPARSE_SUPER = 0x1;
export const RO_COMPAT_LARGE_FILE = 0x2;
export const RO_COMPAT_BTREE_DIR = 0x4;
export const RO_COMPAT_HUGE_FILE = 0x8;
export const RO_COMPAT_GDT_CSUM = 0x10;
export const RO_COMPAT_DIR_NLINK = 0x20;
export const RO_COMPAT_EXTRA_ISIZE = 0x40;
export const RO_COMPAT_BIGALLOC = 0x200;
export const RO_COMPAT_METADATA_CSUM = 0x400;
export const RO_COMPAT_READONLY = 0x1000;

/** Incompatible features this code reads (recover: read-only, journal not replayed). */
export const INCOMPAT_SUPP_READ =
  INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG | INCOMPAT_EXTENTS | INCOMPAT_64BIT |
  INCOMPAT_MMP | INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE | INCOMPAT_DIRDATA | INCOMPAT_CSUM_SEED |
  INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA | INCOMPAT_ENCRYPT | INCOMPAT_CASEFOLD;
/**
 * Features the writer handles; anything else is read-only. Compat features
 * need no check: ext_attr (blocks shared by refcount), resize_inode (its
 * reserved blocks are marked in the bitmaps), dir_index (a changed directory
 * loses EXT2_INDEX_FL, its index nodes turned into empty leaves),
 * has_journal (never touched) and orphan_file (never used; orphan_present
 * refuses) are safe.
 */
export const INCOMPAT_SUPP_WRITE =
  INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG | INCOMPAT_CSUM_SEED | INCOMPAT_META_BG |
  INCOMPAT_INLINE_DATA | INCOMPAT_LARGEDIR;
export const RO_COMPAT_SUPP_WRITE =
  RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR | RO_COMPAT_HUGE_FILE | RO_COMPAT_GDT_CSUM |
  RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE | RO_COMPAT_METADATA_CSUM;
/** Features Linux's ext3 never knew: their presence makes the file system ext4. */
export const INCOMPAT_EXT3 = INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_JOURNAL_DEV | INCOMPAT_META_BG;
export const RO_COMPAT_EXT3 = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR;

const compatNames: Record<number, string> = {
  0x1: 'dir_prealloc', 0x2: 'imagic_inodes', 0x4: 'has_journal', 0x8: 'ext_attr',
  0x10: 'resize_inode', 0x20: 'dir_index', 0x40: 'lazy_bg', 0x80: 'snapshot_bitmap',
  0x100: 'exclude_bitmap', 0x200: 'sparse_super2', 0x400: 'fast_commit',
  0x800: 'stable_inodes', 0x1000: 'orphan_file',
};
const incompatNames: Record<number, string> = {
  0x1: 'compression', 0x2: 'filetype', 0x4: 'recover', 0x8: 'journal_dev', 0x10: 'meta_bg',
  0x40: 'extents', 0x80: '64bit', 0x100: 'mmp', 0x200: 'flex_bg', 0x400: 'ea_inode',
  0x1000: 'dirdata', 0x2000: 'metadata_csum_seed', 0x4000: 'large_dir', 0x8000: 'inline_data',
  0x10000: 'encrypt', 0x20000: 'casefold',
};
const roCompatNames: Record<number, string> = {
  0x1: 'sparse_super', 0x2: 'large_file', 0x4: 'btree_dir', 0x8: 'huge_file', 0x10: 'uninit_bg',
  0x20: 'dir_nlink', 0x40: 'extra_isize', 0x80: 'snapshot', 0x100: 'quota', 0x200: 'bigalloc',
  0x400: 'metadata_csum', 0x800: 'replica', 0x1000: 'read-only', 0x2000: 'project',
  0x4000: 'shared_blocks', 0x8000: 'verity', 0x10000: 'orphan_present',
};

export const FEATURE_COMPAT = 0;
export const FEATURE_INCOMPAT = 1;
export const FEATURE_RO_COMPAT = 2;

/** The e2fsprogs name of one feature bit (unknown bits as FEATURE_I17 and the like). */
export function featureName(kind: number, bit: number): string {
  const table = kind === FEATURE_COMPAT ? compatNames : kind === FEATURE_INCOMPAT ? incompatNames : roCompatNames;
  const name = table[bit];
  if (name !== undefined) return name;
  return `FEATURE_${'CIR'[kind]}${31 - Math.clz32(bit)}`;
}

/** Names of every bit set in `mask`, lowest first. */
export function featureNames(kind: number, mask: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0;
    if ((mask & bit) !== 0) out.push(featureName(kind, bit));
  }
  return out;
}

/* s_state */
export const EXT2_VALID_FS = 0x1;
export const EXT2_ERROR_FS = 0x2;

/* Superblock fields the writer updates: byte offsets inside the superblock. */
export const SB_FREE_BLOCKS = 0x0c;
export const SB_FREE_INODES = 0x10;
export const SB_MTIME = 0x2c;
export const SB_WTIME = 0x30;
export const SB_MNT_COUNT = 0x34;
export const SB_STATE = 0x3a;
export const SB_REV_LEVEL = 0x4c;
export const SB_FIRST_INO = 0x54;
export const SB_INODE_SIZE = 0x58;
export const SB_COMPAT = 0x5c;
export const SB_RO_COMPAT = 0x64;
export const SB_R_BLOCKS = 0x08;
export const SB_RESERVED_GDT = 0xce;
export const SB_FREE_BLOCKS_HI = 0x158;
export const SB_LAST_ORPHAN = 0xe8;
/** s_checksum: crc32c(~0) of the 1020 bytes before it (metadata_csum). */
export const SB_CHECKSUM = 0x3fc;

/* Group descriptor fields (32-byte descriptors): byte offsets. */
export const GD_BLOCK_BITMAP = 0x00;
export const GD_INODE_BITMAP = 0x04;
export const GD_INODE_TABLE = 0x08;
export const GD_FREE_BLOCKS = 0x0c;
export const GD_FREE_INODES = 0x0e;
export const GD_USED_DIRS = 0x10;
export const GD_FLAGS = 0x12;
export const GD_BLOCK_BITMAP_CSUM = 0x18;
export const GD_INODE_BITMAP_CSUM = 0x1a;
export const GD_ITABLE_UNUSED = 0x1c;
export const GD_CHECKSUM = 0x1e;
/* 64-byte descriptors (64bit): the high halves. */
export const GD_BLOCK_BITMAP_HI = 0x20;
export const GD_INODE_BITMAP_HI = 0x24;
export const GD_INODE_TABLE_HI = 0x28;
export const GD_FREE_BLOCKS_HI = 0x2c;
export const GD_FREE_INODES_HI = 0x2e;
export const GD_USED_DIRS_HI = 0x30;
export const GD_ITABLE_UNUSED_HI = 0x32;
export const GD_BLOCK_BITMAP_CSUM_HI = 0x38;
export const GD_INODE_BITMAP_CSUM_HI = 0x3a;
/* bg_flags */
export const EXT2_BG_INODE_UNINIT = 0x1;
export const EXT2_BG_BLOCK_UNINIT = 0x2;
export const EXT2_BG_INODE_ZEROED = 0x4;

/** The superblock fields this code uses, undecorated. */
export interface Ext2Super {
  inodesCount: number;
  blocksCount: number;
  freeBlocksCount: number;
  freeInodesCount: number;
  firstDataBlock: number;
  logBlockSize: number;
  logClusterSize: number;
  blocksPerGroup: number;
  clustersPerGroup: number;
  inodesPerGroup: number;
  magic: number;
  state: number;
  revLevel: number;
  firstIno: number;
  inodeSize: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  volumeName: Uint8Array;
  descSize: number;
  firstMetaBg: number;
  minExtraIsize: number;
  backupBgs: [number, number];
  uuid: Uint8Array;
  /** s_checksum_type (1: crc32c) and s_checksum_seed (csum_seed feature). */
  checksumType: number;
  checksumSeed: number;
  defHashVersion: number;
  hashSeed: Uint32Array;
  flags: number;
  /** log2 of groups per flex group (flex_bg). */
  logGroupsPerFlex: number;
  /** s_last_orphan: the first inode of the orphan list (unlinked while open), chained through i_dtime. */
  lastOrphan: number;
}

/** Decodes the 1024-byte superblock. => b.length >= SBSIZE */
export function decodeSuper(b: Uint8Array): Ext2Super {
  const dv = new DataView(b.buffer, b.byteOffset, SBSIZE);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u16 = (o: number) => dv.getUint16(o, true);
  const revLevel = u32(0x4c);
  const dynamic = revLevel >= EXT2_DYNAMIC_REV;
  const incompat = dynamic ? u32(0x60) : 0;
  const wide = (incompat & INCOMPAT_64BIT) !== 0;
  return {
    inodesCount: u32(0x00),
    blocksCount: u32(0x04) + (wide ? u32(0x150) * 2 ** 32 : 0),
    freeBlocksCount: u32(0x0c) + (wide ? u32(0x158) * 2 ** 32 : 0),
    freeInodesCount: u32(0x10),
    firstDataBlock: u32(0x14),
    logBlockSize: u32(0x18),
    logClusterSize: u32(0x1c),
    blocksPerGroup: u32(0x20),
    clustersPerGroup: u32(0x24),
    inodesPerGroup: u32(0x28),
    magic: u16(0x38),
    state: u16(0x3a),
    revLevel,
    firstIno: dynamic ? u32(0x54) : EXT2_GOOD_OLD_FIRST_INO,
    inodeSize: dynamic ? u16(0x58) : EXT2_GOOD_OLD_INODE_SIZE,
    featureCompat: dynamic ? u32(0x5c) : 0,
    featureIncompat: incompat,
    featureRoCompat: dynamic ? u32(0x64) : 0,
    volumeName: b.slice(0x78, 0x88),
    descSize: u16(0xfe),
    firstMetaBg: u32(0x104),
    minExtraIsize: u16(0x15c),
    backupBgs: [u32(0x24c), u32(0x250)],
    uuid: b.slice(0x68, 0x78),
    checksumType: b[0x175],
    checksumSeed: u32(0x270),
    defHashVersion: b[0xfc],
    hashSeed: Uint32Array.from([u32(0xec), u32(0xf0), u32(0xf4), u32(0xf8)]),
    flags: u32(0x160),
    logGroupsPerFlex: b[0x174],
    lastOrphan: u32(0xe8),
  };
}

/** Block of the inode table of a group descriptor. => b holds descSize bytes at off */
export function gdInodeTable(b: Uint8Array, off: number, descSize: number): number {
  const dv = new DataView(b.buffer, b.byteOffset + off, descSize);
  const lo = dv.getUint32(0x08, true);
  return descSize >= EXT2_MIN_DESC_SIZE_64BIT ? lo + dv.getUint32(0x28, true) * 2 ** 32 : lo;
}

/* i_mode file types */
export const S_IFMT = 0xf000;
export const S_IFIFO = 0x1000;
export const S_IFCHR = 0x2000;
export const S_IFDIR = 0x4000;
export const S_IFBLK = 0x6000;
export const S_IFREG = 0x8000;
export const S_IFLNK = 0xa000;
export const S_IFSOCK = 0xc000;

/* i_flags */
export const EXT2_COMPR_FL = 0x4;
export const EXT4_ENCRYPT_FL = 0x800;
export const EXT2_INDEX_FL = 0x1000;
export const EXT4_HUGE_FILE_FL = 0x40000;
export const EXT4_EXTENTS_FL = 0x80000;
export const EXT4_VERITY_FL = 0x100000;
export const EXT4_EA_INODE_FL = 0x200000;
export const EXT4_INLINE_DATA_FL = 0x10000000;
export const EXT4_CASEFOLD_FL = 0x40000000;

/** The inode fields this code uses, decoded once. */
export interface Ext2Dinode {
  mode: number;
  uid: number;
  gid: number;
  /** i_size_lo only; the caller adds i_size_high where it applies. */
  sizeLo: number;
  sizeHigh: number;
  /** Seconds since the epoch (the epoch bits of *_extra added). */
  atime: number;
  ctime: number;
  mtime: number;
  crtime: number;
  /** Nanoseconds of each time (*_extra >> 2), 0 where the inode has no room for them. */
  atimeNsec: number;
  ctimeNsec: number;
  mtimeNsec: number;
  crtimeNsec: number;
  linksCount: number;
  /** i_blocks_lo + (l_i_blocks_high << 32): in 512-byte units, or fs blocks with HUGE_FILE_FL. */
  blocksRaw: number;
  flags: number;
  /** The 60 bytes of i_block (block map, extent root, symlink or inline data), a view of the inode's bytes. */
  iblock: Uint8Array;
  generation: number;
  fileAcl: number;
  /** 0 for a 128-byte inode; -1 when the stored value is impossible. */
  extraIsize: number;
}

/**
 * Decodes one on-disk inode. => b.length == inode size >= 128
 * Its i_block is a view of b, not a copy: b is the in-core inode's own copy
 * of the inode (kept in step with it: ext2InodeEncode), or read before it
 * is released (VFS_BULKSTAT). (A copy of 60 bytes lies in V8's heap until
 * its buffer is asked for, as reading it through a DataView does: then V8
 * moves it out, and every new file's inode cost the collector a buffer.)
 */
export function decodeDinode(b: Uint8Array): Ext2Dinode {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  let extraIsize = 0;
  if (b.length > EXT2_GOOD_OLD_INODE_SIZE) {
    extraIsize = dv.getUint16(0x80, true);
    if (extraIsize % 4 !== 0 || EXT2_GOOD_OLD_INODE_SIZE + extraIsize > b.length) extraIsize = -1;
  }
  const hasCrtime = extraIsize >= 0x94 + 4 - EXT2_GOOD_OLD_INODE_SIZE;
  return {
    mode: dv.getUint16(0x00, true),
    uid: dv.getUint16(0x02, true) | (dv.getUint16(0x78, true) << 16),
    gid: dv.getUint16(0x18, true) | (dv.getUint16(0x7a, true) << 16),
    sizeLo: dv.getUint32(0x04, true),
    sizeHigh: dv.getUint32(0x6c, true),
    atime: dinodeTime(dv, extraIsize, 0x08, 0x8c),
    ctime: dinodeTime(dv, extraIsize, 0x0c, 0x84),
    mtime: dinodeTime(dv, extraIsize, 0x10, 0x88),
    crtime: hasCrtime ? dinodeTime(dv, extraIsize, 0x90, 0x94) : 0,
    atimeNsec: dinodeNsec(dv, extraIsize, 0x8c),
    ctimeNsec: dinodeNsec(dv, extraIsize, 0x84),
    mtimeNsec: dinodeNsec(dv, extraIsize, 0x88),
    crtimeNsec: hasCrtime ? dinodeNsec(dv, extraIsize, 0x94) : 0,
    linksCount: dv.getUint16(0x1a, true),
    blocksRaw: dv.getUint32(0x1c, true) + dv.getUint16(0x74, true) * 2 ** 32,
    flags: dv.getUint32(0x20, true),
    iblock: b.subarray(0x28, 0x28 + EXT2_IBLOCK_BYTES),
    generation: dv.getUint32(0x64, true),
    fileAcl: dv.getUint32(0x68, true) + dv.getUint16(0x76, true) * 2 ** 32,
    extraIsize,
  };
}

/* (Module-level, not closures: an inode decoded allocates its result alone.) */

/** Seconds since the epoch at `o`, widened by the epoch bits of the *_extra field at `extra` when the inode has it. */
function dinodeTime(dv: DataView, extraIsize: number, o: number, extra: number): number {
  const s = dv.getInt32(o, true);
  if (extraIsize < 0 || EXT2_GOOD_OLD_INODE_SIZE + extraIsize < extra + 4) return s;
  return s + (dv.getUint32(extra, true) & 3) * 2 ** 32;
}

/** Nanoseconds of the *_extra field at `extra`, 0 where the inode has none. */
function dinodeNsec(dv: DataView, extraIsize: number, extra: number): number {
  return extraIsize < 0 || EXT2_GOOD_OLD_INODE_SIZE + extraIsize < extra + 4 ? 0 : Math.min(dv.getUint32(extra, true) >>> 2, 999999999);
}

/* Inode fields the writer encodes: byte offsets inside the on-disk inode. */
export const DI_MODE = 0x00;
export const DI_UID = 0x02;
export const DI_SIZE = 0x04;
export const DI_ATIME = 0x08;
export const DI_CTIME = 0x0c;
export const DI_MTIME = 0x10;
export const DI_DTIME = 0x14;
export const DI_GID = 0x18;
export const DI_LINKS = 0x1a;
export const DI_BLOCKS = 0x1c;
export const DI_BLOCKS_HIGH = 0x74;
export const DI_FLAGS = 0x20;
export const DI_BLOCK = 0x28;
export const DI_GENERATION = 0x64;
export const DI_FILE_ACL = 0x68;
export const DI_FILE_ACL_HIGH = 0x76;
export const DI_SIZE_HIGH = 0x6c;
export const DI_UID_HIGH = 0x78;
export const DI_GID_HIGH = 0x7a;
export const DI_EXTRA_ISIZE = 0x80;
export const DI_CTIME_EXTRA = 0x84;
export const DI_MTIME_EXTRA = 0x88;
export const DI_ATIME_EXTRA = 0x8c;
export const DI_CRTIME = 0x90;
export const DI_CRTIME_EXTRA = 0x94;
/** l_i_checksum_lo in osd2, i_checksum_hi in the extra part (metadata_csum). */
export const DI_CHECKSUM_LO = 0x7c;
export const DI_CHECKSUM_HI = 0x82;
/** i_extra_isize of a new inode: the fields up to i_projid (as the kernel and mke2fs). */
export const EXT2_NEW_EXTRA_ISIZE = 32;
/** Most links an inode may have (ext2's EXT2_LINK_MAX). */
export const EXT2_LINK_MAX = 32000;

/* Directory entries: inode u32, rec_len u16, name_len u8, file_type u8, name. */
export const DIRENT_HEADER = 8;
export const EXT2_NAME_LEN = 255;
/** file_type of the metadata_csum tail entry at the end of a leaf block. */
export const EXT2_FT_DIR_CSUM = 0xde;
/** dirdata: the high bits of file_type announce data after the name. */
export const EXT2_FT_MASK = 0x0f;

/** The on-disk rec_len of a directory entry (65536 is stored as 0 or 65535 in 64 KiB blocks). */
export function decodeRecLen(raw: number, bsize: number): number {
  if (bsize < 65536) return raw;
  if (raw === 65535 || raw === 0) return 65536;
  return (raw & 65532) | ((raw & 3) << 16);
}

/** rec_len as stored (a whole 64 KiB block is 65535). => len <= bsize, len % 4 == 0 */
export function encodeRecLen(len: number, bsize: number): number {
  if (len < 65536) return len;
  return len === bsize ? 65535 : (len & 65532) | ((len >> 16) & 3);
}

/* file_type of a directory entry (filetype feature). */
export const EXT2_FT_UNKNOWN = 0;
export const EXT2_FT_REG_FILE = 1;
export const EXT2_FT_DIR = 2;
export const EXT2_FT_SYMLINK = 7;

/** Smallest record a name of `nameLen` bytes needs. */
export function direntRecLen(nameLen: number): number {
  return (DIRENT_HEADER + nameLen + 3) & ~3;
}
