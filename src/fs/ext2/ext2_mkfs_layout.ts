/*
 * The geometry of a new ext2 file system: block size, groups, inodes per
 * group and where each group's metadata lies. Pure arithmetic, no I/O.
 *   { error, reason, layout } = mkfsLayout(deviceBytes, { blockSize, inodeRatio })
 * Groups 0, 1 and the powers of 3, 5 and 7 hold a superblock and the group
 * descriptor table (sparse_super); every group then has its block bitmap,
 * inode bitmap and inode table; group 0 also holds the two directories.
 */

import { EINVAL, ENOSPC } from '../../kern/errno.js';
import { EXT2_GOOD_OLD_FIRST_INO, EXT2_MIN_DESC_SIZE, EXT2_NDADDR } from './ext2_fs.js';

/** Bytes of one inode on disk (room for the timestamps' extra fields). */
export const MKFS_INODE_SIZE = 256;
/** Devices below this get the "small" defaults (1 KiB blocks, 4 KiB per inode), like mke2fs. */
export const MKFS_SMALL_DEVICE = 512 * 2 ** 20;
/** A last group with fewer spare blocks than this beyond its metadata is dropped (as mke2fs does). */
const MIN_LAST_GROUP_SPARE = 50;
/** Fewest inodes a group may hold: the reserved ones, lost+found and a few for files. */
const MIN_INODES_PER_GROUP = 16;
/** Largest inode ratio accepted (mke2fs's bound). */
const MAX_INODE_RATIO = 64 * 2 ** 20;
/** lost+found is grown to this many bytes, within the direct blocks. */
const LPF_BYTES = 16384;

export interface MkfsGroup {
  /** First block of the group. */
  start: number;
  /** Blocks in the group (the last may be short). */
  nblocks: number;
  /** Holds a superblock and descriptor table (sparse_super). */
  hasSuper: boolean;
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  /** Blocks in use from `start`: metadata (and in group 0 the directories), all contiguous. */
  used: number;
}

export interface MkfsLayout {
  blockSize: number;
  /** log2(blockSize) - 10, as s_log_block_size. */
  logBlockSize: number;
  firstDataBlock: number;
  blocksCount: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  inodesCount: number;
  inodeSize: number;
  /** Blocks of the group descriptor table. */
  gdtBlocks: number;
  inodeTableBlocks: number;
  groups: MkfsGroup[];
  rootBlock: number;
  lpfBlocks: number;
  /** First block of lost+found's contiguous run. */
  lpfBlock: number;
  freeBlocks: number;
  freeInodes: number;
  reservedBlocks: number;
}

export interface MkfsLayoutResult {
  error: number;
  reason: string;
  layout: MkfsLayout | null;
}

/** True for the groups that carry a backup superblock under sparse_super: 0, 1, 3^k, 5^k, 7^k. */
export function groupHasSuper(g: number): boolean {
  if (g <= 1) return true;
  for (const base of [3, 5, 7]) {
    let p = base;
    while (p < g) p *= base;
    if (p === g) return true;
  }
  return false;
}

const fail = (error: number, reason: string): MkfsLayoutResult => ({ error, reason, layout: null });

/** Computes the layout for a device of `deviceBytes`; ENOSPC when not even one group fits. */
export function mkfsLayout(deviceBytes: number, opts: { blockSize?: number; inodeRatio?: number; descSize?: number }): MkfsLayoutResult {
  const small = deviceBytes < MKFS_SMALL_DEVICE;
  const blockSize = opts.blockSize ?? (small ? 1024 : 4096);
  if (blockSize !== 1024 && blockSize !== 2048 && blockSize !== 4096) {
    return fail(EINVAL, `invalid block size ${blockSize} (1024, 2048 or 4096)`);
  }
  const inodeRatio = opts.inodeRatio ?? (small ? 4096 : 16384);
  if (!Number.isSafeInteger(inodeRatio) || inodeRatio < 1024 || inodeRatio > MAX_INODE_RATIO) {
    return fail(EINVAL, `invalid inode ratio ${inodeRatio} (1024 to ${MAX_INODE_RATIO} bytes per inode)`);
  }
  if (!Number.isSafeInteger(deviceBytes) || deviceBytes < 0) return fail(EINVAL, `invalid device size ${deviceBytes}`);

  const firstDataBlock = blockSize === 1024 ? 1 : 0;
  const blocksPerGroup = 8 * blockSize;
  const inodesPerBlock = blockSize / MKFS_INODE_SIZE;
  /* Inodes per group fill whole inode-table blocks and whole bitmap bytes. */
  const ipgUnit = Math.max(8, inodesPerBlock);
  const lpfBlocks = Math.min(EXT2_NDADDR, LPF_BYTES / blockSize);
  const tooSmall = fail(ENOSPC, 'device too small for an ext2 file system');

  /* 32-bit block numbers only (no 64bit feature). */
  let blocksCount = Math.min(Math.floor(deviceBytes / blockSize), 0xffffffff);
  for (;;) {
    if (blocksCount <= firstDataBlock) return tooSmall;
    const ngroups = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
    const wanted = Math.floor((blocksCount * blockSize) / inodeRatio);
    let ipg = Math.ceil(wanted / ngroups);
    ipg = Math.ceil(Math.max(ipg, MIN_INODES_PER_GROUP) / ipgUnit) * ipgUnit;
    ipg = Math.min(ipg, blocksPerGroup); // the inode bitmap is one block
    if (ipg * ngroups > 0xffffffff) ipg = Math.floor(0xffffffff / ngroups / ipgUnit) * ipgUnit;
    const inodeTableBlocks = (ipg * MKFS_INODE_SIZE) / blockSize;
    const gdtBlocks = Math.ceil((ngroups * (opts.descSize ?? EXT2_MIN_DESC_SIZE)) / blockSize);
    const overhead = (g: number) => (groupHasSuper(g) ? 1 + gdtBlocks : 0) + 2 + inodeTableBlocks;

    /* 1 KiB blocks past ~1.5 TiB: the descriptor table would outgrow group 0 (no meta_bg here). */
    const fixed0 = 1 + 2 + inodeTableBlocks + 1 + lpfBlocks + MIN_LAST_GROUP_SPARE;
    if (fixed0 + gdtBlocks > blocksPerGroup) {
      const maxGroups = Math.floor(((blocksPerGroup - fixed0) * blockSize) / EXT2_MIN_DESC_SIZE);
      blocksCount = firstDataBlock + maxGroups * blocksPerGroup;
      continue;
    }

    const last = ngroups - 1;
    const lastBlocks = blocksCount - firstDataBlock - last * blocksPerGroup;
    if (ngroups === 1) {
      if (lastBlocks < overhead(0) + 1 + lpfBlocks) return tooSmall;
    } else if (lastBlocks < overhead(last) + MIN_LAST_GROUP_SPARE) {
      blocksCount -= lastBlocks;
      continue;
    }

    const groups: MkfsGroup[] = [];
    let freeBlocks = 0;
    for (let g = 0; g < ngroups; g++) {
      const start = firstDataBlock + g * blocksPerGroup;
      const nblocks = g === last ? lastBlocks : blocksPerGroup;
      const hasSuper = groupHasSuper(g);
      const blockBitmap = start + (hasSuper ? 1 + gdtBlocks : 0);
      let used = blockBitmap + 2 + inodeTableBlocks - start;
      if (g === 0) used += 1 + lpfBlocks;
      groups.push({ start, nblocks, hasSuper, blockBitmap, inodeBitmap: blockBitmap + 1, inodeTable: blockBitmap + 2, used });
      freeBlocks += nblocks - used;
    }
    const g0 = groups[0]!;
    const rootBlock = g0.inodeTable + inodeTableBlocks;
    const inodesCount = ipg * ngroups;
    return {
      error: 0,
      reason: '',
      layout: {
        blockSize,
        logBlockSize: Math.log2(blockSize) - 10,
        firstDataBlock,
        blocksCount,
        blocksPerGroup,
        inodesPerGroup: ipg,
        inodesCount,
        inodeSize: MKFS_INODE_SIZE,
        gdtBlocks,
        inodeTableBlocks,
        groups,
        rootBlock,
        lpfBlocks,
        lpfBlock: rootBlock + 1,
        freeBlocks,
        freeInodes: inodesCount - EXT2_GOOD_OLD_FIRST_INO,
        reservedBlocks: Math.floor((blocksCount * 5) / 100),
      },
    };
  }
}
