/*
 * The UFS1/UFS2 (FFS) on-disk format: where the superblock may be, its
 * fields, and the constants of inodes and directories. Both byte orders are
 * read: the magic number, read both ways, says which one a file system uses,
 * and every later decoder takes that `le` flag.
 *   const sb = decodeSuper(bytes of SBLOCKSIZE at a SBLOCKSEARCH offset)  // null: no magic there
 * Decoders only read the fields; ffs_vfsops.ts checks every value before use.
 */

/** Byte offsets where a superblock may be, in the order they are tried. */
export const SBLOCKSEARCH: readonly number[] = [65536, 8192, 0, 262144];
export const SBLOCK_UFS1 = 8192;
export const SBLOCKSIZE = 8192;
/** Bytes of the fixed part of the superblock (up to and including fs_magic). */
export const SB_FIXED = 1376;

export const FS_UFS1_MAGIC = 0x011954;
export const FS_UFS2_MAGIC = 0x19540119;
/** A newfs that never finished. */
export const FS_BAD_MAGIC = 0x19960408;
/** fs_old_inodefmt of 4.4BSD and later; older ones keep 16-bit uids and another directory format. */
export const FS_44INODEFMT = 2;
/** fs_old_flags: the 64-bit fields (fs_size, fs_csaddr...) are kept up to date in a UFS1 superblock. */
export const FS_FLAGS_UPDATED = 0x80;

export const MINBSIZE = 4096;
export const MAXFRAG = 8;

/* fs_flags */
export const FS_UNCLEAN = 0x1;
export const FS_DOSOFTDEP = 0x2;
export const FS_NEEDSFSCK = 0x4;
export const FS_SUJ = 0x8;
export const FS_GJOURNAL = 0x40;

export const UFS_ROOTINO = 2;
/** Direct and indirect block pointers in an inode. */
export const UFS_NDADDR = 12;
export const UFS_NIADDR = 3;
export const UFS1_DINODE_SIZE = 128;
export const UFS2_DINODE_SIZE = 256;

/* di_mode */
export const IFMT = 0o170000;
export const IFIFO = 0o010000;
export const IFCHR = 0o020000;
export const IFDIR = 0o040000;
export const IFBLK = 0o060000;
export const IFREG = 0o100000;
export const IFLNK = 0o120000;
export const IFSOCK = 0o140000;
export const IFWHT = 0o160000;

/* Directories: entries never cross a DIRBLKSIZ chunk. */
export const DIRBLKSIZ = 512;
/** d_ino, d_reclen, d_type, d_namlen. */
export const DIRECT_HEADER = 8;
export const UFS_MAXNAMLEN = 255;

/* d_type */
export const DT_UNKNOWN = 0;
export const DT_FIFO = 1;
export const DT_CHR = 2;
export const DT_DIR = 4;
export const DT_BLK = 6;
export const DT_REG = 8;
export const DT_LNK = 10;
export const DT_SOCK = 12;
export const DT_WHT = 14;

/** The superblock fields vmpager uses, decoded (cf. struct fs). */
export interface FfsSuper {
  /** true: little-endian. */
  le: boolean;
  magic: number;
  /** Byte offset the superblock was read from. */
  location: number;
  sblkno: number;
  cblkno: number;
  iblkno: number;
  dblkno: number;
  oldCgoffset: number;
  oldCgmask: number;
  /** UFS1's cylinder geometry (fs_old_nspf, fs_old_spc, fs_old_cpg): fs_fpg derives from it. */
  oldNspf: number;
  oldSpc: number;
  oldCpg: number;
  ncg: number;
  bsize: number;
  fsize: number;
  frag: number;
  bshift: number;
  fshift: number;
  fragshift: number;
  fsbtodb: number;
  sbsize: number;
  nindir: number;
  inopb: number;
  ipg: number;
  fpg: number;
  /** Fragments in the file system (fs_size, or fs_old_size for a UFS1 without FS_FLAGS_UPDATED). */
  size: number;
  dsize: number;
  /** Summary totals. */
  ndir: number;
  nbfree: number;
  nifree: number;
  nffree: number;
  clean: number;
  oldFlags: number;
  flags: number;
  maxsymlinklen: number;
  oldInodefmt: number;
  /** fs_sblockloc: where the standard superblock is (UFS2). */
  sblockloc: number;
  volname: Uint8Array;
  time: number;
}

/** Reads a 64-bit field as a number; NaN when it does not fit in a safe integer. */
export function getInt64(dv: DataView, off: number, le: boolean): number {
  const v = dv.getBigInt64(off, le);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : NaN;
}

/** The byte order whose fs_magic at 1372 is a UFS magic, or null. */
function byteOrder(dv: DataView): boolean | null {
  for (const le of [true, false]) {
    const m = dv.getInt32(1372, le);
    if (m === FS_UFS1_MAGIC || m === FS_UFS2_MAGIC) return le;
  }
  return null;
}

/** True when raw (read at some offset) holds the fs_magic of an unfinished newfs. */
export function isBadMagic(raw: Uint8Array): boolean {
  if (raw.length < SB_FIXED) return false;
  const dv = new DataView(raw.buffer, raw.byteOffset, SB_FIXED);
  return dv.getInt32(1372, true) === FS_BAD_MAGIC || dv.getInt32(1372, false) === FS_BAD_MAGIC;
}

/** Decodes the superblock in raw (read at byte `location`); null when it has no UFS magic. */
export function decodeSuper(raw: Uint8Array, location: number): FfsSuper | null {
  if (raw.length < SB_FIXED) return null;
  const dv = new DataView(raw.buffer, raw.byteOffset, SB_FIXED);
  const le = byteOrder(dv);
  if (le === null) return null;
  const i32 = (o: number) => dv.getInt32(o, le);
  const i64 = (o: number) => getInt64(dv, o, le);
  const magic = i32(1372);
  const ufs2 = magic === FS_UFS2_MAGIC;
  const oldFlags = raw[211];
  // A UFS1 superblock keeps its sizes in the old 32-bit fields unless FS_FLAGS_UPDATED.
  const wide = ufs2 || (oldFlags & FS_FLAGS_UPDATED) !== 0;
  return {
    le,
    magic,
    location,
    sblkno: i32(8),
    cblkno: i32(12),
    iblkno: i32(16),
    dblkno: i32(20),
    oldCgoffset: i32(24),
    oldCgmask: i32(28),
    oldNspf: i32(124),
    oldSpc: i32(172),
    oldCpg: i32(180),
    ncg: dv.getUint32(44, le),
    bsize: i32(48),
    fsize: i32(52),
    frag: i32(56),
    bshift: i32(80),
    fshift: i32(84),
    fragshift: i32(96),
    fsbtodb: i32(100),
    sbsize: i32(104),
    nindir: i32(116),
    inopb: dv.getUint32(120, le),
    ipg: dv.getUint32(184, le),
    fpg: i32(188),
    size: wide ? i64(1080) : i32(36),
    dsize: wide ? i64(1088) : i32(40),
    ndir: wide ? i64(1008) : i32(192),
    nbfree: wide ? i64(1016) : i32(196),
    nifree: wide ? i64(1024) : i32(200),
    nffree: wide ? i64(1032) : i32(204),
    clean: raw[209],
    oldFlags,
    flags: (oldFlags & FS_FLAGS_UPDATED) !== 0 ? i32(1312) : oldFlags,
    maxsymlinklen: i32(1320),
    oldInodefmt: i32(1324),
    sblockloc: ufs2 ? i64(1000) : SBLOCK_UFS1,
    volname: raw.slice(680, 712),
    time: wide ? i64(1072) : i32(32),
  };
}
