/*
 * Block-group summaries and the superblock of a read-write mount (cf.
 * ext2_cgupdate and ext2_sbupdate): the descriptor table (32- or 64-byte
 * descriptors) is read and checked once at mount into fs.groups, allocation
 * changes the summaries in core, and ext2SbUpdate writes the changed
 * descriptors (with their bitmap and own checksums) and the superblock's
 * free counts, state and times back through the buffer cache.
 *   { error, reason } = await ext2LoadGroups(mp); ...; error = await ext2SbUpdate(mp, { sync: true })
 */

import { EINTEGRITY } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import { B_EARLY } from '../../vfs/vfs_bio.js';
import { bitmapCsum, bitmapCsumSet, gdCsumOk, gdCsumSet, sbCsumSet } from './ext2_csum.js';
import {
  EXT2_MIN_DESC_SIZE_64BIT, GD_BLOCK_BITMAP, GD_BLOCK_BITMAP_HI, GD_FLAGS, GD_FREE_BLOCKS, GD_FREE_BLOCKS_HI,
  GD_FREE_INODES, GD_FREE_INODES_HI, GD_INODE_BITMAP, GD_INODE_BITMAP_HI, GD_INODE_TABLE, GD_INODE_TABLE_HI,
  GD_ITABLE_UNUSED, GD_ITABLE_UNUSED_HI, GD_USED_DIRS, GD_USED_DIRS_HI, INCOMPAT_FLEX_BG, SBOFF, SBSIZE,
  SB_FREE_BLOCKS, SB_FREE_BLOCKS_HI, SB_FREE_INODES, SB_LAST_ORPHAN, SB_MNT_COUNT, SB_MTIME, SB_RESERVED_GDT, SB_RO_COMPAT, SB_COMPAT,
  SB_STATE, SB_WTIME, EXT2_DYNAMIC_REV, EXT2_GOOD_OLD_REV, SB_REV_LEVEL, SB_FIRST_INO, SB_INODE_SIZE,
} from './ext2_fs.js';
import type { Ext2Fs, Ext2Group } from './ext2_mount.js';

/**
 * Turns on compat and ro_compat feature bits. A revision 0 superblock has no
 * feature fields: it is made dynamic first, its first inode and inode size
 * stated as revision 0 implies them (cf. ext2_update_dynamic_rev), as the
 * kernel does for its first attribute or large file.
 */
export function ext2SetFeatures(fs: Ext2Fs, compat: number, roCompat: number): void {
  const sb = fs.sb;
  if ((sb.featureCompat & compat) === compat && (sb.featureRoCompat & roCompat) === roCompat) return;
  if (sb.revLevel === EXT2_GOOD_OLD_REV) sb.revLevel = EXT2_DYNAMIC_REV;
  sb.featureCompat |= compat;
  sb.featureRoCompat |= roCompat;
  fs.sbDirty = true;
}

/** Seconds since the epoch: the unit of every ext2 time. */
export function ext2Now(): number {
  return Math.floor(Date.now() / 1000);
}


/** Reads a descriptor field of 32 bits (lo) widened by its high half in 64-byte descriptors. */
function wide(dv: DataView, o: number, lo: number, hi: number, wideDesc: boolean, bits: 16 | 32): number {
  if (bits === 32) return dv.getUint32(o + lo, true) + (wideDesc ? dv.getUint32(o + hi, true) * 2 ** 32 : 0);
  return dv.getUint16(o + lo, true) + (wideDesc ? dv.getUint16(o + hi, true) * 65536 : 0);
}

/**
 * bg_itable_unused as kept in core: as read (past ipg, damage the caller
 * refuses); without group checksums, one past the group's inodes is garbage
 * in a reserved field (none).
 */
function itableUnusedOf(groupCsum: boolean, v: number, ipg: number): number {
  return !groupCsum && v > ipg ? 0 : v;
}

/**
 * Reads every group descriptor into fs.groups (checksums verified), checking
 * that each group's bitmaps and inode table lie inside the file system, clear
 * of superblock copies and descriptor tables (inside their own group without
 * flex_bg), and that its counts fit the group. The superblock's free counts
 * are recomputed from the groups (as e2fsck does).
 * => read-write mount; may sleep
 */
export async function ext2LoadGroups(mp: Mount): Promise<{ error: number; reason: string }> {
  const fs = mp.data as Ext2Fs;
  const sb = fs.sb;
  const sbr = await mp.bufcache.bread(SBOFF / DEV_BSIZE, SBSIZE);
  if (sbr.error !== 0 || sbr.bp === null) return { error: sbr.error, reason: 'cannot read the superblock' };
  fs.reservedGdt = new DataView(sbr.bp.data.buffer, sbr.bp.data.byteOffset).getUint16(SB_RESERVED_GDT, true);
  mp.bufcache.brelse(sbr.bp);
  if (fs.reservedGdt > fs.bsize / 4) return { error: EINTEGRITY, reason: `bad reserved descriptor blocks (${fs.reservedGdt})` };
  const wideDesc = fs.descSize >= EXT2_MIN_DESC_SIZE_64BIT;
  const groups: Ext2Group[] = [];
  for (let d = 0; d < fs.gdtBlocks; d++) {
    const db = fs.descBlock(d);
    if (!fs.blockOk(db)) return { error: EINTEGRITY, reason: `descriptor block ${db} outside the file system` };
    const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(db), fs.bsize);
    if (error !== 0 || bp === null) return { error, reason: `cannot read descriptor block ${db}` };
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
    for (let i = 0; i < fs.descPerBlock && groups.length < fs.groupCount; i++) {
      const o = i * fs.descSize;
      const g = groups.length;
      if (fs.groupCsum && !gdCsumOk(fs, g, bp.data, o)) {
        const e = fs.csumFailed(`group descriptor ${g} (block ${db})`);
        if (e !== 0) {
          mp.bufcache.brelse(bp);
          return { error: e, reason: fs.damage };
        }
      }
      groups.push({
        blockBitmap: wide(dv, o, GD_BLOCK_BITMAP, GD_BLOCK_BITMAP_HI, wideDesc, 32),
        inodeBitmap: wide(dv, o, GD_INODE_BITMAP, GD_INODE_BITMAP_HI, wideDesc, 32),
        inodeTable: wide(dv, o, GD_INODE_TABLE, GD_INODE_TABLE_HI, wideDesc, 32),
        freeBlocks: wide(dv, o, GD_FREE_BLOCKS, GD_FREE_BLOCKS_HI, wideDesc, 16),
        freeInodes: wide(dv, o, GD_FREE_INODES, GD_FREE_INODES_HI, wideDesc, 16),
        usedDirs: wide(dv, o, GD_USED_DIRS, GD_USED_DIRS_HI, wideDesc, 16),
        flags: fs.groupCsum ? dv.getUint16(o + GD_FLAGS, true) : 0,
        // (Without group checksums the kernel keeps no count here, but e2fsck reads one left by a file system
        // whose checksums were turned off: it is kept, and lowered as inodes are taken. Garbage past ipg: none.)
        itableUnused: itableUnusedOf(fs.groupCsum, wide(dv, o, GD_ITABLE_UNUSED, GD_ITABLE_UNUSED_HI, wideDesc, 16), sb.inodesPerGroup),
        bbitmapDirty: false,
        ibitmapDirty: false,
        bbitmapOk: false,
        ibitmapOk: false,
        dirty: false,
        bbitmapBusyBytes: 0,
        ibitmapFullBytes: 0,
      });
    }
    mp.bufcache.brelse(bp);
  }
  fs.groups = groups;
  const why = placeMeta(fs);
  if (why !== '') return { error: EINTEGRITY, reason: why };
  let freeBlocks = 0;
  let freeInodes = 0;
  for (let g = 0; g < groups.length; g++) {
    const gi = groups[g];
    if (gi.freeBlocks > fs.groupBlocks(g)) return { error: EINTEGRITY, reason: `group ${g}: free block count ${gi.freeBlocks} too large` };
    const ipg = sb.inodesPerGroup;
    if (gi.freeInodes > ipg || gi.usedDirs > ipg || gi.itableUnused > ipg) return { error: EINTEGRITY, reason: `group ${g}: inode counts too large` };
    freeBlocks += gi.freeBlocks;
    freeInodes += gi.freeInodes;
  }
  if (sb.freeBlocksCount !== freeBlocks || sb.freeInodesCount !== freeInodes) fs.sbDirty = true;
  sb.freeBlocksCount = freeBlocks;
  sb.freeInodesCount = freeInodes;
  return { error: 0, reason: '' };
}

/**
 * Fills fs.groupMeta from the descriptors and checks every bitmap and inode
 * table: inside the file system (inside its own group without flex_bg), clear
 * of every superblock copy and descriptor table, overlapping nothing else.
 * Answers why not, or ''.
 */
function placeMeta(fs: Ext2Fs): string {
  const flex = fs.hasFeature(INCOMPAT_FLEX_BG);
  const meta: Array<Array<[number, number]>> = [];
  for (let g = 0; g < fs.groupCount; g++) {
    const n = fs.groupSuperBlocks(g);
    // Group 0's run also covers what lies before the first data block (the boot block of 1 KiB file systems).
    meta.push(n === 0 ? [] : g === 0 ? [[0, fs.groupFirst(0) + n]] : [[fs.groupFirst(g), n]]);
  }
  for (let g = 0; g < fs.groupCount; g++) {
    const gi = fs.groups[g];
    const runs: Array<[string, number, number]> = [
      ['block bitmap', gi.blockBitmap, 1], ['inode bitmap', gi.inodeBitmap, 1], ['inode table', gi.inodeTable, fs.itableBlocks],
    ];
    for (const [what, b, n] of runs) {
      if (!fs.blockOk(b, n)) return `group ${g}: ${what} ${b} outside the file system`;
      if (!flex && (fs.blockGroup(b) !== g || fs.blockGroup(b + n - 1) !== g)) return `group ${g}: ${what} ${b} outside the group`;
      // With flex_bg a packed inode table may run on into the next group: each group gets its piece.
      for (let at = b; at < b + n; ) {
        const h = fs.blockGroup(at);
        const end = Math.min(b + n, fs.groupFirst(h) + fs.groupBlocks(h));
        for (const [s, m] of meta[h]) if (at < s + m && s < end) return `group ${g}: ${what} ${b} overlaps other metadata`;
        meta[h].push([at, end - at]);
        at = end;
      }
    }
  }
  fs.groupMeta = meta;
  return '';
}

/**
 * Allocation before pointer: the bitmaps changed so far, the group
 * descriptors that count them (and carry their checksums) and the new index
 * nodes (every B_EARLY buffer) reach the disk now, before the caller writes
 * an inode or a directory entry that uses what they allocate. Killed at any point, the image then holds at worst blocks or
 * inodes marked in use that nothing uses (what e2fsck -p releases, and what
 * a later mount can live with), never a pointer to something the bitmaps
 * call free, which the next allocation would hand out a second time.
 * Frees need the opposite order, which their callers keep: the pointer's
 * removal is written before the bitmap (ext2Truncate). MNT_ASYNC: nothing.
 * => read-write mount; may sleep
 */
export async function ext2AllocFlush(mp: Mount): Promise<number> {
  if (mp.async) return 0;
  const fs = mp.data as Ext2Fs;
  let any = false;
  for (const gi of fs.groups) any ||= gi.dirty;
  const error = any ? await ext2SbUpdate(mp, { descriptorsOnly: true }) : 0; // the superblock's counts can wait
  return error || mp.bufcache.bflushEarly();
}

export interface SbUpdateOptions {
  /** Write the superblock now (bwrite) instead of delaying it. */
  sync?: boolean;
  /** Mounting: count the mount and set s_mtime. */
  mounting?: boolean;
  /** The group descriptors only: the superblock stays as it is (and fs.sbDirty with it). */
  descriptorsOnly?: boolean;
}

/**
 * Writes the changed group descriptors (counts, flags, itable_unused, bitmap
 * checksums, their own checksum) and the superblock (free counts, s_state,
 * times, ro_compat features, its checksum) through the buffer cache
 * (cf. ext2_sbupdate/ext2_cgupdate). Backup copies are left as they are.
 * => read-write mount; may sleep
 */
export async function ext2SbUpdate(mp: Mount, opts: SbUpdateOptions = {}): Promise<number> {
  const fs = mp.data as Ext2Fs;
  const bc = mp.bufcache;
  const wideDesc = fs.descSize >= EXT2_MIN_DESC_SIZE_64BIT;
  let first = 0;
  for (let d = 0; d < fs.gdtBlocks; d++) {
    const g0 = d * fs.descPerBlock;
    const g1 = Math.min(g0 + fs.descPerBlock, fs.groups.length);
    let any = false;
    for (let g = g0; g < g1; g++) any ||= fs.groups[g].dirty;
    if (!any) continue;
    /* Bitmap checksums first: no buffer may be busy while another is read. */
    const bcs = new Map<number, [number, number]>();
    if (fs.metadataCsum) {
      for (let g = g0; g < g1; g++) {
        const gi = fs.groups[g];
        if (!gi.dirty || (!gi.bbitmapDirty && !gi.ibitmapDirty)) continue;
        const pair: [number, number] = [-1, -1];
        for (const inode of [false, true]) {
          if (!(inode ? gi.ibitmapDirty : gi.bbitmapDirty)) continue;
          const r = await bc.bread(fs.fsbtodb(inode ? gi.inodeBitmap : gi.blockBitmap), fs.bsize);
          if (r.error !== 0 || r.bp === null) {
            first ||= r.error;
            continue;
          }
          pair[inode ? 1 : 0] = bitmapCsum(fs, r.bp.data, inode);
          bc.brelse(r.bp);
        }
        bcs.set(g, pair);
      }
    }
    const { error, bp } = await bc.bread(fs.fsbtodb(fs.descBlock(d)), fs.bsize);
    if (error !== 0 || bp === null) {
      first ||= error;
      continue;
    }
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
    const put16 = (o: number, lo: number, hi: number, v: number) => {
      dv.setUint16(o + lo, v & 0xffff, true);
      if (wideDesc) dv.setUint16(o + hi, Math.floor(v / 65536), true);
    };
    for (let g = g0; g < g1; g++) {
      const gi = fs.groups[g];
      if (!gi.dirty) continue;
      const o = (g - g0) * fs.descSize;
      put16(o, GD_FREE_BLOCKS, GD_FREE_BLOCKS_HI, gi.freeBlocks);
      put16(o, GD_FREE_INODES, GD_FREE_INODES_HI, gi.freeInodes);
      put16(o, GD_USED_DIRS, GD_USED_DIRS_HI, gi.usedDirs);
      if (fs.groupCsum) dv.setUint16(o + GD_FLAGS, gi.flags, true);
      if (fs.groupCsum || gi.itableUnused > 0) put16(o, GD_ITABLE_UNUSED, GD_ITABLE_UNUSED_HI, gi.itableUnused);
      const pair = bcs.get(g);
      if (pair !== undefined) {
        if (pair[0] >= 0) bitmapCsumSet(fs, pair[0], false, bp.data, o);
        if (pair[1] >= 0) bitmapCsumSet(fs, pair[1], true, bp.data, o);
        if (pair[0] >= 0) gi.bbitmapDirty = false;
        if (pair[1] >= 0) gi.ibitmapDirty = false;
      }
      if (fs.groupCsum) gdCsumSet(fs, g, bp.data, o);
      if (!fs.metadataCsum) gi.bbitmapDirty = gi.ibitmapDirty = false; // no bitmap checksums to bring up to date
      gi.dirty = gi.bbitmapDirty || gi.ibitmapDirty;
    }
    bp.flags |= B_EARLY;
    bc.bdwrite(bp);
  }
  if (opts.descriptorsOnly) return first;
  const { error, bp } = await bc.bread(SBOFF / DEV_BSIZE, SBSIZE);
  if (error !== 0 || bp === null) return first || error;
  const dv = new DataView(bp.data.buffer, bp.data.byteOffset, SBSIZE);
  const sb = fs.sb;
  const now = ext2Now();
  dv.setUint32(SB_FREE_BLOCKS, sb.freeBlocksCount % 2 ** 32, true);
  if (wideDesc) dv.setUint32(SB_FREE_BLOCKS_HI, Math.floor(sb.freeBlocksCount / 2 ** 32), true);
  dv.setUint32(SB_FREE_INODES, sb.freeInodesCount, true);
  dv.setUint32(SB_LAST_ORPHAN, sb.lastOrphan, true);
  dv.setUint16(SB_STATE, sb.state, true);
  if (sb.revLevel === EXT2_DYNAMIC_REV && dv.getUint32(SB_REV_LEVEL, true) === EXT2_GOOD_OLD_REV) {
    dv.setUint32(SB_REV_LEVEL, EXT2_DYNAMIC_REV, true);
    dv.setUint32(SB_FIRST_INO, sb.firstIno, true);
    dv.setUint16(SB_INODE_SIZE, sb.inodeSize, true);
  }
  dv.setUint32(SB_COMPAT, sb.featureCompat >>> 0, true);
  dv.setUint32(SB_RO_COMPAT, sb.featureRoCompat >>> 0, true);
  dv.setUint32(SB_WTIME, now, true);
  if (opts.mounting) {
    dv.setUint32(SB_MTIME, now, true);
    dv.setUint16(SB_MNT_COUNT, (dv.getUint16(SB_MNT_COUNT, true) + 1) & 0xffff, true);
  }
  if (fs.metadataCsum) sbCsumSet(bp.data);
  fs.sbDirty = false;
  if (!opts.sync) {
    bc.bdwrite(bp);
    return first;
  }
  const error2 = await bc.bwrite(bp);
  return first || error2;
}
