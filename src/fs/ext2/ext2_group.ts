/*
 * Block-group summaries and the superblock of a read-write mount (cf.
 * ext2_cgupdate and ext2_sbupdate): the descriptor table is read and
 * checked once at mount into fs.groups, allocation changes the summaries in
 * core, and ext2SbUpdate writes the changed descriptors and the superblock's
 * free counts, state and times back through the buffer cache.
 *   { error, reason } = await ext2LoadGroups(mp); ...; error = await ext2SbUpdate(mp, { sync: true })
 */

import { EINTEGRITY } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import {
  GD_BLOCK_BITMAP, GD_FREE_BLOCKS, GD_FREE_INODES, GD_INODE_BITMAP, GD_INODE_TABLE, GD_USED_DIRS, SBOFF, SBSIZE,
  SB_FREE_BLOCKS, SB_FREE_INODES, SB_MNT_COUNT, SB_MTIME, SB_RESERVED_GDT, SB_RO_COMPAT, SB_STATE, SB_WTIME,
} from './ext2_fs.js';
import type { Ext2Fs, Ext2Group } from './ext2_mount.js';

/** Seconds since the epoch: the unit of every ext2 time. */
export function ext2Now(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Reads every group descriptor into fs.groups, checking that each group's
 * bitmaps and inode table lie inside the group, clear of its superblock
 * copy and descriptor table, and that its counts fit the group. The
 * superblock's free counts are recomputed from the groups (as e2fsck does).
 * => read-write mount without meta_bg or flex_bg; may sleep
 */
export async function ext2LoadGroups(mp: Mount): Promise<{ error: number; reason: string }> {
  const fs = mp.data as Ext2Fs;
  const sb = fs.sb;
  const sbr = await mp.bufcache.bread(SBOFF / DEV_BSIZE, SBSIZE);
  if (sbr.error !== 0 || sbr.bp === null) return { error: sbr.error, reason: 'cannot read the superblock' };
  fs.reservedGdt = new DataView(sbr.bp.data.buffer, sbr.bp.data.byteOffset).getUint16(SB_RESERVED_GDT, true);
  mp.bufcache.brelse(sbr.bp);
  if (fs.reservedGdt > fs.bsize / 4) return { error: EINTEGRITY, reason: `bad reserved descriptor blocks (${fs.reservedGdt})` };
  const groups: Ext2Group[] = [];
  for (let d = 0; d < fs.gdtBlocks; d++) {
    const db = fs.descBlock(d);
    if (!fs.blockOk(db)) return { error: EINTEGRITY, reason: `descriptor block ${db} outside the file system` };
    const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(db), fs.bsize);
    if (error !== 0 || bp === null) return { error, reason: `cannot read descriptor block ${db}` };
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
    for (let i = 0; i < fs.descPerBlock && groups.length < fs.groupCount; i++) {
      const o = i * fs.descSize;
      groups.push({
        blockBitmap: dv.getUint32(o + GD_BLOCK_BITMAP, true),
        inodeBitmap: dv.getUint32(o + GD_INODE_BITMAP, true),
        inodeTable: dv.getUint32(o + GD_INODE_TABLE, true),
        freeBlocks: dv.getUint16(o + GD_FREE_BLOCKS, true),
        freeInodes: dv.getUint16(o + GD_FREE_INODES, true),
        usedDirs: dv.getUint16(o + GD_USED_DIRS, true),
        dirty: false,
      });
    }
    mp.bufcache.brelse(bp);
  }
  fs.groups = groups;
  let freeBlocks = 0;
  let freeInodes = 0;
  for (let g = 0; g < groups.length; g++) {
    const why = checkGroup(fs, g);
    if (why !== '') return { error: EINTEGRITY, reason: `group ${g}: ${why}` };
    freeBlocks += groups[g].freeBlocks;
    freeInodes += groups[g].freeInodes;
  }
  if (sb.freeBlocksCount !== freeBlocks || sb.freeInodesCount !== freeInodes) fs.sbDirty = true;
  sb.freeBlocksCount = freeBlocks;
  sb.freeInodesCount = freeInodes;
  return { error: 0, reason: '' };
}

/** Why group g's descriptor cannot be trusted for writing, or ''. */
function checkGroup(fs: Ext2Fs, g: number): string {
  const gi = fs.groups[g];
  const first = fs.groupFirst(g);
  const end = first + fs.groupBlocks(g);
  const reserved = fs.groupHasSuper(g) ? first + 1 + fs.gdtBlocks + fs.reservedGdt : first;
  const inside = (b: number, n: number) => b >= reserved && b + n <= end;
  if (!inside(gi.blockBitmap, 1)) return `block bitmap ${gi.blockBitmap} outside the group`;
  if (!inside(gi.inodeBitmap, 1) || gi.inodeBitmap === gi.blockBitmap) return `inode bitmap ${gi.inodeBitmap} outside the group`;
  if (!inside(gi.inodeTable, fs.itableBlocks)) return `inode table ${gi.inodeTable} outside the group`;
  const inTable = (b: number) => b >= gi.inodeTable && b < gi.inodeTable + fs.itableBlocks;
  if (inTable(gi.blockBitmap) || inTable(gi.inodeBitmap)) return 'bitmaps inside the inode table';
  if (gi.freeBlocks > end - first) return `free block count ${gi.freeBlocks} too large`;
  const ipg = fs.sb.inodesPerGroup;
  if (gi.freeInodes > ipg || gi.usedDirs > ipg) return 'inode counts too large';
  return '';
}

export interface SbUpdateOptions {
  /** Write the superblock now (bwrite) instead of delaying it. */
  sync?: boolean;
  /** Mounting: count the mount and set s_mtime. */
  mounting?: boolean;
}

/**
 * Writes the changed group descriptors and the superblock (free counts,
 * s_state, times, ro_compat features) through the buffer cache
 * (cf. ext2_sbupdate/ext2_cgupdate). Backup copies are left as they are.
 * => read-write mount; may sleep
 */
export async function ext2SbUpdate(mp: Mount, opts: SbUpdateOptions = {}): Promise<number> {
  const fs = mp.data as Ext2Fs;
  const bc = mp.bufcache;
  let first = 0;
  for (let d = 0; d < fs.gdtBlocks; d++) {
    const g0 = d * fs.descPerBlock;
    const g1 = Math.min(g0 + fs.descPerBlock, fs.groups.length);
    let any = false;
    for (let g = g0; g < g1; g++) any ||= fs.groups[g].dirty;
    if (!any) continue;
    const { error, bp } = await bc.bread(fs.fsbtodb(fs.descBlock(d)), fs.bsize);
    if (error !== 0 || bp === null) {
      first ||= error;
      continue;
    }
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
    for (let g = g0; g < g1; g++) {
      const gi = fs.groups[g];
      if (!gi.dirty) continue;
      const o = (g - g0) * fs.descSize;
      dv.setUint16(o + GD_FREE_BLOCKS, gi.freeBlocks, true);
      dv.setUint16(o + GD_FREE_INODES, gi.freeInodes, true);
      dv.setUint16(o + GD_USED_DIRS, gi.usedDirs, true);
      gi.dirty = false;
    }
    bc.bdwrite(bp);
  }
  const { error, bp } = await bc.bread(SBOFF / DEV_BSIZE, SBSIZE);
  if (error !== 0 || bp === null) return first || error;
  const dv = new DataView(bp.data.buffer, bp.data.byteOffset, SBSIZE);
  const sb = fs.sb;
  const now = ext2Now();
  dv.setUint32(SB_FREE_BLOCKS, sb.freeBlocksCount, true);
  dv.setUint32(SB_FREE_INODES, sb.freeInodesCount, true);
  dv.setUint16(SB_STATE, sb.state, true);
  dv.setUint32(SB_RO_COMPAT, sb.featureRoCompat >>> 0, true);
  dv.setUint32(SB_WTIME, now, true);
  if (opts.mounting) {
    dv.setUint32(SB_MTIME, now, true);
    dv.setUint16(SB_MNT_COUNT, (dv.getUint16(SB_MNT_COUNT, true) + 1) & 0xffff, true);
  }
  fs.sbDirty = false;
  if (!opts.sync) {
    bc.bdwrite(bp);
    return first;
  }
  const error2 = await bc.bwrite(bp);
  return first || error2;
}
