/*
 * mkfs for ext2: formats a whole block device as revision 1 ext2 with
 * 256-byte inodes and the features filetype, sparse_super and large_file
 * (no resize_inode, dir_index or journal), a root directory and lost+found.
 * With `ext4`, ext4 as mke2fs's defaults make it, less the journal and
 * resize_inode: extents, 64bit, flex_bg, metadata_csum, huge_file,
 * dir_nlink, extra_isize and dir_index (every checksum written).
 *   const { error, reason } = await ext2Mkfs(dev, { blockSize: 4096, label: 'data' })
 * The geometry comes from ext2_mkfs_layout.ts; this file encodes the blocks
 * and writes them, the primary superblock last.
 */

import { EINVAL, EROFS, strerror } from '../../kern/errno.js';
import type { BlockDevice } from '../../dev/device.js';
import {
  DIRENT_HEADER, EXT2_DYNAMIC_REV, EXT2_GOOD_OLD_FIRST_INO, EXT2_GOOD_OLD_INODE_SIZE, EXT2_MAGIC,
  EXT2_BG_INODE_UNINIT, EXT2_BG_INODE_ZEROED, EXT2_MIN_DESC_SIZE, EXT2_MIN_DESC_SIZE_64BIT, EXT2_ROOTINO,
  EXT4_EXTENTS_FL, GD_FLAGS, GD_ITABLE_UNUSED, INCOMPAT_64BIT, INCOMPAT_EXTENTS, INCOMPAT_FILETYPE, INCOMPAT_FLEX_BG,
  RO_COMPAT_DIR_NLINK, RO_COMPAT_EXTRA_ISIZE, RO_COMPAT_HUGE_FILE, RO_COMPAT_LARGE_FILE, RO_COMPAT_METADATA_CSUM,
  RO_COMPAT_SPARSE_SUPER, SBOFF, SBSIZE, S_IFDIR, direntRecLen,
} from './ext2_fs.js';
import { type MkfsGroup, type MkfsLayout, mkfsLayout } from './ext2_mkfs_layout.js';
import { crc32cUpdate } from '../../kern/crc32c.js';
import {
  DIR_TAIL_SIZE, bitmapCsum, bitmapCsumSet, dirCsumSet, dirTailInit, gdCsumSet, inodeCsumSet, sbCsumSet,
} from './ext2_csum.js';
import { EXT4_EXT_MAGIC } from './ext2_extents.js';
import type { Ext2Fs } from './ext2_mount.js';

export interface Ext2MkfsOptions {
  /** Default: 1024 below 512 MiB, 4096 otherwise. */
  blockSize?: 1024 | 2048 | 4096;
  /** Volume name, at most 16 bytes of UTF-8. */
  label?: string;
  /** Bytes of device per inode. Default: 4096 below 512 MiB, 16384 otherwise. */
  inodeRatio?: number;
  /** Creation time in seconds since the epoch (default: the clock). */
  now?: number;
  /** 16 bytes (default: random, version 4). */
  uuid?: Uint8Array;
  /** Bytes of the device to use, from its start (default: all of it). */
  size?: number;
  /** Format ext4 (the features above) instead of ext2. */
  ext4?: boolean;
}

export interface Ext2MkfsResult {
  error: number;
  /** Why it failed, for the user ('' on success). */
  reason: string;
}

/* On-disk values used only here. */
const EXT2_VALID_FS = 1;
const EXT2_ERRORS_CONTINUE = 1;
const EXT2_OS_LINUX = 0;
const EXT2_FLAGS_SIGNED_HASH = 1;
const DX_HASH_HALF_MD4 = 1;
const EXT2_FT_DIR = 2;
const LPF_INO = EXT2_GOOD_OLD_FIRST_INO;
/** i_extra_isize of a new large inode: the fields up to i_projid. */
const EXTRA_ISIZE = 32;
const LABEL_BYTES = 16;
/** Largest write of zeros at once. */
const ZERO_CHUNK = 2 ** 20;

/** Formats dev (all of it, or its first opts.size bytes) as ext2; errors are values. => nothing else uses dev meanwhile */
export async function ext2Mkfs(dev: BlockDevice, opts: Ext2MkfsOptions = {}): Promise<Ext2MkfsResult> {
  if (dev.readOnly) return { error: EROFS, reason: 'device is read-only' };
  const label = new TextEncoder().encode(opts.label ?? '');
  if (label.length > LABEL_BYTES) return { error: EINVAL, reason: `label longer than ${LABEL_BYTES} bytes` };
  if (opts.uuid !== undefined && opts.uuid.length !== 16) return { error: EINVAL, reason: 'uuid must be 16 bytes' };
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (!Number.isFinite(now) || now < 0 || now > 0xffffffff) return { error: EINVAL, reason: `invalid time ${now}` };
  const size = opts.size ?? dev.size;
  if (!Number.isSafeInteger(size) || size < 0 || size > dev.size) return { error: EINVAL, reason: `size ${size} is beyond the device's ${dev.size} bytes` };
  const ext4 = opts.ext4 ?? false;
  const descSize = ext4 ? EXT2_MIN_DESC_SIZE_64BIT : EXT2_MIN_DESC_SIZE;
  const { error, reason, layout } = mkfsLayout(size, { blockSize: opts.blockSize, inodeRatio: opts.inodeRatio, descSize });
  if (layout === null) return { error, reason };
  const uuid = opts.uuid ?? randomUuid();
  const ctx: Ctx = {
    dev, l: layout, now: Math.floor(now), label, uuid, hashSeed: randomUuid(), ext4, descSize,
    seed: crc32cUpdate(0xffffffff, uuid),
  };
  return writeFs(ctx);
}

/* ext4: the features, and the on-disk values only mkfs writes. */
const EXT4_COMPAT = 0x20; // dir_index
const EXT4_INCOMPAT = INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG;
const EXT4_RO_COMPAT = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_HUGE_FILE | RO_COMPAT_DIR_NLINK |
  RO_COMPAT_EXTRA_ISIZE | RO_COMPAT_METADATA_CSUM;
const LOG_GROUPS_PER_FLEX = 4;
const CRC32C_CHKSUM = 1;

interface Ctx {
  dev: BlockDevice;
  l: MkfsLayout;
  now: number;
  label: Uint8Array;
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  ext4: boolean;
  descSize: number;
  /** crc32c seed of the metadata checksums (ext4). */
  seed: number;
}

/** The checksum context of an ext4 being made: enough of Ext2Fs for ext2_csum.ts. */
function csumFs(c: Ctx): Ext2Fs {
  return {
    csumSeed: c.seed, metadataCsum: true, groupCsum: true, descSize: c.descSize,
    sb: { inodesPerGroup: c.l.inodesPerGroup, clustersPerGroup: c.l.blocksPerGroup, uuid: c.uuid },
  } as unknown as Ext2Fs;
}

/** Writes every group, the directories, then the primary superblock. */
async function writeFs(c: Ctx): Promise<Ext2MkfsResult> {
  const { l } = c;
  const bs = l.blockSize;
  /* Bytes 0 up to the end of the primary superblock's block: written last, cleared first. */
  const headBytes = Math.max(SBOFF + SBSIZE, bs);
  const gdt = encodeGdt(c);
  const zeros = new Uint8Array(Math.min(ZERO_CHUNK, l.inodeTableBlocks * bs));
  const put = async (what: string, bufs: Uint8Array[], offset: number): Promise<Ext2MkfsResult | null> => {
    const error = await c.dev.writev(bufs, offset);
    return error === 0 ? null : { error, reason: `writing ${what}: ${strerror(error)}` };
  };

  let r = await put('the superblock', [new Uint8Array(headBytes)], 0);
  if (r) return r;
  for (let g = 0; g < l.groups.length; g++) {
    const grp = l.groups[g]!;
    const meta: Uint8Array[] = [];
    let at = grp.start * bs;
    if (grp.hasSuper) {
      if (g === 0) at = headBytes; // the primary comes at the end
      else meta.push(superBlock(c, g));
      meta.push(gdt);
    }
    meta.push(blockBitmap(l, grp), inodeBitmap(l, g));
    if ((r = await put(`the metadata of group ${g}`, meta, at))) return r;
    /* The inode table: group 0 starts with the root and lost+found inodes, the rest is zeros. */
    let done = 0;
    const tableBytes = l.inodeTableBlocks * bs;
    if (g === 0) {
      const head = firstInodes(c);
      if ((r = await put('the inode table of group 0', [head], grp.inodeTable * bs))) return r;
      done = head.length;
    }
    while (done < tableBytes) {
      const n = Math.min(zeros.length, tableBytes - done);
      if ((r = await put(`the inode table of group ${g}`, [zeros.subarray(0, n)], grp.inodeTable * bs + done))) return r;
      done += n;
    }
  }
  if ((r = await put('the root directory', directoryBlocks(c), l.rootBlock * bs))) return r;
  let error = await c.dev.flush();
  if (error !== 0) return { error, reason: `flushing: ${strerror(error)}` };

  const head = new Uint8Array(headBytes);
  head.set(superBlock(c, 0), SBOFF);
  if ((r = await put('the superblock', [head], 0))) return r;
  error = await c.dev.flush();
  if (error !== 0) return { error, reason: `flushing: ${strerror(error)}` };
  return { error: 0, reason: '' };
}

/** A superblock as group g's copy holds it (s_block_group_nr = g), padded to its block. */
function superBlock(c: Ctx, g: number): Uint8Array {
  const { l } = c;
  const b = new Uint8Array(g === 0 ? SBSIZE : l.blockSize);
  const dv = new DataView(b.buffer);
  const u32 = (o: number, v: number) => dv.setUint32(o, v, true);
  const u16 = (o: number, v: number) => dv.setUint16(o, v, true);
  u32(0x00, l.inodesCount);
  u32(0x04, l.blocksCount);
  u32(0x08, l.reservedBlocks);
  u32(0x0c, l.freeBlocks);
  u32(0x10, l.freeInodes);
  u32(0x14, l.firstDataBlock);
  u32(0x18, l.logBlockSize);
  u32(0x1c, l.logBlockSize); // s_log_cluster_size: one block per cluster
  u32(0x20, l.blocksPerGroup);
  u32(0x24, l.blocksPerGroup); // s_clusters_per_group
  u32(0x28, l.inodesPerGroup);
  u32(0x30, c.now); // s_wtime; s_mtime stays 0 (never mounted)
  u16(0x36, 0xffff); // s_max_mnt_count -1: no mount-count checks
  u16(0x38, EXT2_MAGIC);
  u16(0x3a, EXT2_VALID_FS);
  u16(0x3c, EXT2_ERRORS_CONTINUE);
  u32(0x40, c.now); // s_lastcheck
  u32(0x48, EXT2_OS_LINUX);
  u32(0x4c, EXT2_DYNAMIC_REV);
  u32(0x54, EXT2_GOOD_OLD_FIRST_INO);
  u16(0x58, l.inodeSize);
  u16(0x5a, g);
  u32(0x5c, c.ext4 ? EXT4_COMPAT : 0); // s_feature_compat
  u32(0x60, c.ext4 ? EXT4_INCOMPAT : INCOMPAT_FILETYPE);
  u32(0x64, c.ext4 ? EXT4_RO_COMPAT : RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE);
  b.set(c.uuid, 0x68);
  b.set(c.label, 0x78);
  b.set(c.hashSeed, 0xec);
  b[0xfc] = DX_HASH_HALF_MD4; // used only if dir_index is turned on later
  u32(0x108, c.now); // s_mkfs_time
  u16(0x15c, EXTRA_ISIZE); // s_min_extra_isize
  u16(0x15e, EXTRA_ISIZE); // s_want_extra_isize
  u32(0x160, EXT2_FLAGS_SIGNED_HASH);
  if (c.ext4) {
    u16(0xfe, c.descSize); // s_desc_size
    b[0x174] = LOG_GROUPS_PER_FLEX;
    b[0x175] = CRC32C_CHKSUM;
    sbCsumSet(b);
  }
  return b;
}

/** The group descriptor table, whole blocks (ext4: 64-byte descriptors, flags, unused inodes, checksums). */
function encodeGdt(c: Ctx): Uint8Array {
  const { l } = c;
  const b = new Uint8Array(l.gdtBlocks * l.blockSize);
  const dv = new DataView(b.buffer);
  l.groups.forEach((grp, g) => {
    const o = g * c.descSize;
    const usedInodes = g === 0 ? EXT2_GOOD_OLD_FIRST_INO : 0;
    dv.setUint32(o + 0x00, grp.blockBitmap, true);
    dv.setUint32(o + 0x04, grp.inodeBitmap, true);
    dv.setUint32(o + 0x08, grp.inodeTable, true);
    dv.setUint16(o + 0x0c, grp.nblocks - grp.used, true);
    dv.setUint16(o + 0x0e, l.inodesPerGroup - usedInodes, true);
    dv.setUint16(o + 0x10, g === 0 ? 2 : 0, true); // bg_used_dirs_count: root and lost+found
    if (!c.ext4) return;
    // Inode tables are written zeroed; a group with no inode in use is INODE_UNINIT.
    dv.setUint16(o + GD_FLAGS, EXT2_BG_INODE_ZEROED | (usedInodes === 0 ? EXT2_BG_INODE_UNINIT : 0), true);
    dv.setUint16(o + GD_ITABLE_UNUSED, l.inodesPerGroup - usedInodes, true);
    const fs = csumFs(c);
    bitmapCsumSet(fs, bitmapCsum(fs, blockBitmap(l, grp), false), false, b, o);
    bitmapCsumSet(fs, bitmapCsum(fs, inodeBitmap(l, g), true), true, b, o);
    gdCsumSet(fs, g, b, o);
  });
  return b;
}

/** Sets bits [from, to) of a bitmap. */
function setBits(b: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) b[i >> 3]! |= 1 << (i & 7);
}

/** In use: the group's leading metadata run, and the padding past a short last group. */
function blockBitmap(l: MkfsLayout, grp: MkfsGroup): Uint8Array {
  const b = new Uint8Array(l.blockSize);
  setBits(b, 0, grp.used);
  setBits(b, grp.nblocks, 8 * l.blockSize);
  return b;
}

/** In use: the reserved inodes and lost+found (group 0), and the padding past inodes_per_group. */
function inodeBitmap(l: MkfsLayout, g: number): Uint8Array {
  const b = new Uint8Array(l.blockSize);
  if (g === 0) setBits(b, 0, LPF_INO);
  setBits(b, l.inodesPerGroup, 8 * l.blockSize);
  return b;
}

/** The leading blocks of group 0's inode table, through lost+found's inode. */
function firstInodes(c: Ctx): Uint8Array {
  const { l } = c;
  const isz = l.inodeSize;
  const bytes = Math.ceil((LPF_INO * isz) / l.blockSize) * l.blockSize;
  const b = new Uint8Array(bytes);
  const dirInode = (ino: number, perm: number, links: number, first: number, nblocks: number) => {
    const o = (ino - 1) * isz;
    const dv = new DataView(b.buffer, o, isz);
    dv.setUint16(0x00, S_IFDIR | perm, true);
    dv.setUint32(0x04, nblocks * l.blockSize, true);
    const [lo, epoch] = inodeTime(c.now);
    for (const t of [0x08, 0x0c, 0x10]) dv.setInt32(t, lo, true); // atime, ctime, mtime
    dv.setUint16(0x1a, links, true);
    dv.setUint32(0x1c, (nblocks * l.blockSize) / 512, true);
    for (let i = 0; i < nblocks; i++) dv.setUint32(0x28 + 4 * i, first + i, true);
    if (isz > EXT2_GOOD_OLD_INODE_SIZE) {
      dv.setUint16(0x80, EXTRA_ISIZE, true);
      dv.setInt32(0x90, lo, true); // crtime
      for (const t of [0x84, 0x88, 0x8c, 0x94]) dv.setUint32(t, epoch, true); // the *_extra epoch bits
    }
    if (c.ext4) {
      // One extent in the root of i_block instead of block pointers.
      dv.setUint32(0x20, EXT4_EXTENTS_FL, true);
      for (let i = 0; i < nblocks; i++) dv.setUint32(0x28 + 4 * i, 0, true);
      dv.setUint16(0x28, EXT4_EXT_MAGIC, true);
      dv.setUint16(0x2a, 1, true); // eh_entries
      dv.setUint16(0x2c, 4, true); // eh_max
      dv.setUint32(0x28 + 12, 0, true); // ee_block
      dv.setUint16(0x28 + 16, nblocks, true); // ee_len
      dv.setUint32(0x28 + 20, first, true); // ee_start_lo
      inodeCsumSet(csumFs(c), ino, b.subarray(o, o + isz));
    }
  };
  /* Inode 1 (bad blocks) and the other reserved inodes stay zero. */
  dirInode(EXT2_ROOTINO, 0o755, 3, l.rootBlock, 1);
  dirInode(LPF_INO, 0o700, 2, l.lpfBlock, l.lpfBlocks);
  return b;
}

/** Seconds as (signed low 32 bits, epoch bits of *_extra). => 0 <= secs < 2^32 */
function inodeTime(secs: number): [number, number] {
  const epoch = Math.floor((secs + 2 ** 31) / 2 ** 32);
  return [secs - epoch * 2 ** 32, epoch];
}

/** The root directory's block followed by lost+found's blocks. */
function directoryBlocks(c: Ctx): Uint8Array[] {
  const bs = c.l.blockSize;
  const end = c.ext4 ? bs - DIR_TAIL_SIZE : bs; // ext4: each block ends in its checksum tail
  const root = new Uint8Array(bs);
  let o = dirent(root, 0, EXT2_ROOTINO, '.', direntRecLen(1));
  o = dirent(root, o, EXT2_ROOTINO, '..', direntRecLen(2));
  dirent(root, o, LPF_INO, 'lost+found', end - o);
  const out = [root];
  for (let i = 0; i < c.l.lpfBlocks; i++) {
    const blk = new Uint8Array(bs);
    if (i === 0) {
      const p = dirent(blk, 0, LPF_INO, '.', direntRecLen(1));
      dirent(blk, p, EXT2_ROOTINO, '..', end - p);
    } else {
      new DataView(blk.buffer).setUint16(4, end, true); // one empty entry spanning the block
    }
    out.push(blk);
  }
  if (c.ext4) {
    out.forEach((blk, i) => {
      dirTailInit(blk);
      dirCsumSet(csumFs(c), i === 0 ? EXT2_ROOTINO : LPF_INO, 0, blk);
    });
  }
  return out;
}

/** Writes one directory entry of a directory at b[o]; returns the next entry's offset. */
function dirent(b: Uint8Array, o: number, ino: number, name: string, recLen: number): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  dv.setUint32(o, ino, true);
  dv.setUint16(o + 4, recLen, true);
  b[o + 6] = name.length;
  b[o + 7] = EXT2_FT_DIR;
  for (let i = 0; i < name.length; i++) b[o + DIRENT_HEADER + i] = name.charCodeAt(i);
  return o + recLen;
}

/** 16 random bytes as a version 4 UUID. */
function randomUuid(): Uint8Array {
  const u = new Uint8Array(16);
  globalThis.crypto.getRandomValues(u);
  u[6] = (u[6]! & 0x0f) | 0x40;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}
