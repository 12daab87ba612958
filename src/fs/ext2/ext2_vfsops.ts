/*
 * ext2/3/4 mount and VFS operations (cf. FreeBSD ext2_vfsops.c): the
 * superblock is read and checked field by field before anything uses it,
 * features are judged (unknown incompatible ones refuse the mount), and
 * vget reads inodes through the buffer cache.
 *   { error, mp, reason } = await ext2Mount(dev, { readOnly: true }); { vp } = await mp.op.root(mp)
 */

import {
  EINTEGRITY, EINVAL, EIO, ENOENT, EOPNOTSUPP, EROFS,
} from '../../kern/errno.js';
import type { BlockDevice } from '../../dev/device.js';
import { MNT_RDONLY, Mount, type Statfs, type VfsOps } from '../../vfs/mount.js';
import { BufCache } from '../../vfs/vfs_bio.js';
import { type VgetResult, vfsRoot, vfsVget, vfsVgetNow } from '../../vfs/vfs_subr.js';
import { VROOT, Vnode } from '../../vfs/vnode.js';
import {
  COMPAT_HAS_JOURNAL, EXT2_DYNAMIC_REV, EXT2_GOOD_OLD_FIRST_INO, EXT2_MAGIC, EXT2_MAX_BLOCK_LOG_SIZE,
  EXT2_MAX_DESC_SIZE, EXT2_MIN_BLOCK_LOG_SIZE, EXT2_MIN_DESC_SIZE_64BIT, EXT2_ROOTINO, type Ext2Super,
  FEATURE_INCOMPAT, FEATURE_RO_COMPAT, INCOMPAT_64BIT, INCOMPAT_EXT3, INCOMPAT_JOURNAL_DEV, INCOMPAT_META_BG, INCOMPAT_MMP, INCOMPAT_RECOVER,
  INCOMPAT_SUPP_READ, INCOMPAT_SUPP_WRITE, RO_COMPAT_BIGALLOC, RO_COMPAT_EXT3, RO_COMPAT_SUPP_WRITE, SBOFF,
  SBSIZE, decodeSuper, featureName, EXT2_VALID_FS,
} from './ext2_fs.js';
import { type Inode, ext2Inode, inodeBytes, inodeFromDisk } from './ext2_inode.js';
import { ext2LoadGroups, ext2SbUpdate } from './ext2_group.js';
import { ext2InodeBufNow, ext2InodeOff, ext2Update } from './ext2_inode_write.js';
import { Ext2Fs } from './ext2_mount.js';
import { inodeCsumOk, sbCsumOk } from './ext2_csum.js';
import { ext2BulkstatNow } from './ext2_bulkstat.js';
import { ext2Vnops } from './ext2_vnops.js';
import { ext2MmpWarning } from './ext2_mmp.js';

export const RECOVER_WARNING = 'journal needs recovery; mounted read-only without replaying it';
/**
 * Not cleanly unmounted: a writer that keeps no journal (vmpager, or the
 * kernel on ext2) stopped midway (cf. the kernel's "mounting unchecked fs").
 * What it left is at worst what e2fsck -p mends, but a link count left one
 * too high, for one, stays wrong until e2fsck runs.
 */
export const UNCLEAN_WARNING = 'not cleanly unmounted (a writer stopped midway?); e2fsck -p recommended';
const DEFAULT_BUFCACHE = 4 * 2 ** 20;

export interface Ext2MountResult {
  error: number;
  mp: Mount | null;
  /** Why the mount failed, for the user ('' on success). */
  reason: string;
  /** An ext2 superblock (checked or not) was found: false for another file system, or none. */
  found: boolean;
}

function fail(error: number, reason: string): Ext2MountResult {
  return { error, mp: null, reason, found: true };
}

function notFound(reason: string): Ext2MountResult {
  return { error: EINVAL, mp: null, reason, found: false };
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** The lowest bit of mask, as a number. => mask != 0 */
const lowestBit = (mask: number) => (mask & -mask) >>> 0;

/** Checks the geometry of sb against itself and a device of devSize bytes; '' when sane. */
function checkSuper(sb: Ext2Super, devSize: number): { error: number; reason: string } {
  const bad = (reason: string) => ({ error: EINTEGRITY, reason });
  if (sb.revLevel > EXT2_DYNAMIC_REV) return { error: EOPNOTSUPP, reason: `unsupported revision level ${sb.revLevel}` };
  // mke2fs -O journal_dev: an ext3/4 journal kept on a device of its own, holding no files.
  if ((sb.featureIncompat & INCOMPAT_JOURNAL_DEV) !== 0) return { error: EOPNOTSUPP, reason: 'an external ext3/4 journal (journal_dev), not a file system' };
  const logBsize = EXT2_MIN_BLOCK_LOG_SIZE + sb.logBlockSize;
  if (sb.logBlockSize > EXT2_MAX_BLOCK_LOG_SIZE - EXT2_MIN_BLOCK_LOG_SIZE) return bad(`bad block size (log ${sb.logBlockSize})`);
  const bsize = 2 ** logBsize;
  const bigalloc = (sb.featureRoCompat & RO_COMPAT_BIGALLOC) !== 0;
  if (bigalloc) {
    if (sb.logClusterSize < sb.logBlockSize || sb.logClusterSize - sb.logBlockSize > 16) return bad('bad cluster size');
    const ratio = 2 ** (sb.logClusterSize - sb.logBlockSize);
    if (sb.clustersPerGroup === 0 || sb.clustersPerGroup > 8 * bsize || sb.blocksPerGroup !== sb.clustersPerGroup * ratio) {
      return bad(`bad blocks per group (${sb.blocksPerGroup})`);
    }
  } else if (sb.blocksPerGroup === 0 || sb.blocksPerGroup > 8 * bsize) {
    return bad(`bad blocks per group (${sb.blocksPerGroup})`);
  }
  if (sb.inodesPerGroup === 0 || sb.inodesPerGroup > 8 * bsize) return bad(`bad inodes per group (${sb.inodesPerGroup})`);
  if (!isPow2(sb.inodeSize) || sb.inodeSize < 128 || sb.inodeSize > bsize) return bad(`bad inode size (${sb.inodeSize})`);
  if (sb.inodesCount === 0) return bad('no inodes');
  if (sb.firstIno < EXT2_GOOD_OLD_FIRST_INO || sb.firstIno > sb.inodesCount) return bad(`bad first inode (${sb.firstIno})`);
  const firstData = bsize === 1024 && !bigalloc ? 1 : 0;
  if (sb.firstDataBlock !== firstData) return bad(`bad first data block (${sb.firstDataBlock})`);
  if (sb.blocksCount <= sb.firstDataBlock || sb.blocksCount > 2 ** 53 / bsize) return bad(`bad block count (${sb.blocksCount})`);
  const groups = Math.ceil((sb.blocksCount - sb.firstDataBlock) / sb.blocksPerGroup);
  if (sb.inodesPerGroup * groups !== sb.inodesCount) {
    return bad(`inode count ${sb.inodesCount} does not match ${groups} groups of ${sb.inodesPerGroup}`);
  }
  if ((sb.featureIncompat & INCOMPAT_64BIT) !== 0) {
    if (!isPow2(sb.descSize) || sb.descSize < EXT2_MIN_DESC_SIZE_64BIT || sb.descSize > EXT2_MAX_DESC_SIZE) {
      return bad(`bad group descriptor size (${sb.descSize})`);
    }
  }
  const fsBytes = sb.blocksCount * bsize;
  if (fsBytes > devSize) {
    return bad(`image is shorter than the file system (${devSize} bytes, the superblock says ${fsBytes})`);
  }
  return { error: 0, reason: '' };
}

/** The file-system type a feature set makes. */
function fsType(sb: Ext2Super): string {
  if ((sb.featureIncompat & ~INCOMPAT_EXT3) !== 0 || (sb.featureRoCompat & ~RO_COMPAT_EXT3) !== 0) return 'ext4';
  return (sb.featureCompat & COMPAT_HAS_JOURNAL) !== 0 ? 'ext3' : 'ext2';
}

/**
 * Mounts the ext2/3/4 file system on dev (cf. ext2_mountfs). Unknown
 * incompatible features refuse it (EOPNOTSUPP); features a writer cannot
 * handle refuse a read-write mount (EROFS); a journal needing recovery mounts
 * read-only with a warning. => may sleep
 */
export async function ext2Mount(
  dev: BlockDevice, opts: { readOnly: boolean; bufcacheBytes?: number; verify?: boolean },
): Promise<Ext2MountResult> {
  if (dev.size < SBOFF + SBSIZE) return notFound(`device too small for an ext2 superblock (${dev.size} bytes)`);
  const raw = new Uint8Array(SBSIZE);
  const rerr = await dev.readv([raw], SBOFF);
  if (rerr !== 0) return fail(rerr, 'cannot read the superblock');
  const sb = decodeSuper(raw);
  if (sb.magic !== EXT2_MAGIC) return notFound(`not an ext2/3/4 file system (magic 0x${sb.magic.toString(16)})`);
  const chk = checkSuper(sb, dev.size);
  if (chk.error !== 0) return fail(chk.error, chk.reason);

  const unsupported = sb.featureIncompat & ~INCOMPAT_SUPP_READ;
  if (unsupported !== 0) {
    return fail(EOPNOTSUPP, `unsupported ext4 feature: ${featureName(FEATURE_INCOMPAT, lowestBit(unsupported))}`);
  }
  let readOnly = opts.readOnly;
  const warnings: string[] = [];
  if ((sb.featureIncompat & INCOMPAT_RECOVER) !== 0) {
    readOnly = true;
    warnings.push(RECOVER_WARNING);
  }
  if (!readOnly) {
    const inc = sb.featureIncompat & ~INCOMPAT_SUPP_WRITE;
    if (inc !== 0) return fail(EROFS, `unsupported ext4 feature for writing: ${featureName(FEATURE_INCOMPAT, lowestBit(inc))}`);
    const ro = sb.featureRoCompat & ~RO_COMPAT_SUPP_WRITE;
    if (ro !== 0) return fail(EROFS, `unsupported ext4 feature for writing: ${featureName(FEATURE_RO_COMPAT, lowestBit(ro))}`);
    if (dev.readOnly) return fail(EROFS, 'the device is read-only');
    if (sb.lastOrphan !== 0) return fail(EROFS, 'orphan inodes pending (a file unlinked while open): run e2fsck');
  }
  if ((sb.state & 2) !== 0) warnings.push('file system has errors; e2fsck recommended');
  else if ((sb.state & EXT2_VALID_FS) === 0) warnings.push(UNCLEAN_WARNING);
  if ((sb.featureIncompat & INCOMPAT_MMP) !== 0) {
    const w = await ext2MmpWarning(dev, raw, 2 ** (EXT2_MIN_BLOCK_LOG_SIZE + sb.logBlockSize), sb.blocksCount);
    if (w !== '') warnings.push(w);
  }

  const fs = new Ext2Fs(sb);
  fs.verify = opts.verify ?? true;
  fs.warnings = warnings;
  if (fs.metadataCsum) {
    if (sb.checksumType !== 1) return fail(EOPNOTSUPP, `unsupported metadata checksum type ${sb.checksumType}`);
    if (!sbCsumOk(raw) && fs.csumFailed('superblock (block ' + fs.sbBlock + ')') !== 0) return fail(EINTEGRITY, fs.damage);
  }
  const legacyGdt = (sb.featureIncompat & INCOMPAT_META_BG) !== 0 ? Math.min(sb.firstMetaBg, fs.gdtBlocks) : fs.gdtBlocks;
  if (fs.sbBlock + 1 + legacyGdt > sb.blocksCount) return fail(EINTEGRITY, 'group descriptor table past the end of the file system');

  const label = new TextDecoder('utf-8').decode(sb.volumeName.subarray(0, nulIndex(sb.volumeName)));
  const stat: Statfs = {
    fstype: fsType(sb),
    iosize: fs.bsize,
    fsize: fs.bsize,
    blocks: sb.blocksCount,
    bfree: Math.min(sb.freeBlocksCount, sb.blocksCount),
    files: sb.inodesCount,
    ffree: Math.min(sb.freeInodesCount, sb.inodesCount),
    label,
    warnings,
  };
  fs.statfs = stat;
  const mp = new Mount(dev, new BufCache(dev, opts.bufcacheBytes ?? DEFAULT_BUFCACHE), ext2VfsOps, stat, fs);
  if (readOnly) {
    mp.flag |= MNT_RDONLY;
    return { error: 0, mp, reason: '', found: true };
  }
  const g = await ext2LoadGroups(mp);
  if (g.error !== 0) return fail(g.error, `cannot write: ${g.reason}`);
  // Not clean while mounted: a crash leaves a file system e2fsck will check.
  fs.stateAtMount = sb.state;
  sb.state &= ~EXT2_VALID_FS;
  const error = (await ext2SbUpdate(mp, { sync: true, mounting: true })) || (await dev.flush());
  if (error !== 0) return fail(error, 'cannot write the superblock');
  return { error: 0, mp, reason: '', found: true };
}

function nulIndex(b: Uint8Array): number {
  const i = b.indexOf(0);
  return i < 0 ? b.length : i;
}

/** Bytes of inode table one miss reads (cf. FFS's cluster reads of inode blocks). */
const INODE_READAHEAD = 64 * 1024;

/** Reads and decodes inode ino from its group's inode table. => 1 <= ino <= inodesCount; may sleep */
/** readInode without a task, where the inode's table block is resident: the inode; null where a read is needed. */
function readInodeNow(mp: Mount, fs: Ext2Fs, ino: number): { error: number; ip: Inode | null } | null {
  const bp = ext2InodeBufNow(mp, ino);
  if (bp === null) return null;
  const o = ext2InodeOff(fs, ino);
  const raw = inodeBytes(fs.sb.inodeSize, bp.data.subarray(o, o + fs.sb.inodeSize));
  const blk = bp.blkno / fs.fsbtodb(1); // (in the file system's blocks, as the message names it)
  mp.bufcache.brelse(bp);
  return inodeChecked(fs, ino, raw, blk);
}

/**
 * An inode's bytes as read from table block blk: checked against its
 * checksum, decoded. An inode of a file (the root, or past the reserved
 * ones) with no links is deleted: only a name left by damage or a write cut
 * short leads to one (cf. ext4_iget's ESTALE; an inode unlinked while open
 * is in core, and a writable mount with orphans pending is refused). It is
 * EINTEGRITY, not a vnode: a vnode of it would be freed by VOP_INACTIVE as
 * its reference went, under the name still pointing at it. One this mount
 * freed is ENOENT: its name was read before it was removed.
 */
function inodeChecked(fs: Ext2Fs, ino: number, raw: Uint8Array, blk: number): { error: number; ip: Inode | null } {
  if (fs.metadataCsum && !inodeCsumOk(fs, ino, raw)) {
    const e = fs.csumFailed(`inode ${ino} (block ${blk})`);
    if (e !== 0) return { error: e, ip: null };
  }
  const r = inodeFromDisk(fs, ino, raw);
  if (r.ip !== null && r.ip.din.linksCount === 0 && (ino === EXT2_ROOTINO || ino >= fs.sb.firstIno)) {
    if (fs.freedHere.has(ino)) return { error: ENOENT, ip: null }; // removed by this mount since its name was read
    fs.damage = fs.statfs.damage = `inode ${ino} has no links: a deleted file still named (damage, or a write cut short: run e2fsck -p)`;
    return { error: EINTEGRITY, ip: null };
  }
  return r;
}

async function readInode(mp: Mount, fs: Ext2Fs, ino: number) {
  const sb = fs.sb;
  const g = Math.floor((ino - 1) / sb.inodesPerGroup);
  const { error, block } = await fs.inodeTable(mp.bufcache, g);
  if (error !== 0) return { error, ip: null };
  const byteOff = ((ino - 1) % sb.inodesPerGroup) * sb.inodeSize;
  const blk = block + Math.floor(byteOff / fs.bsize);
  const o = byteOff % fs.bsize;
  // A miss right after the block before it reads on through the group's inode table, up to 64 KiB: a
  // directory's files mostly sit side by side there. A miss elsewhere (inodes met out of order) reads its block alone.
  const sequential = blk > block && mp.bufcache.incore(fs.fsbtodb(blk - 1));
  const ahead = sequential ? Math.min(Math.max(0, INODE_READAHEAD / fs.bsize - 1), block + fs.itableBlocks - 1 - blk) : 0;
  const r = await mp.bufcache.breadn(fs.fsbtodb(blk), fs.bsize, ahead);
  if (r.error !== 0 || r.bp === null) return { error: r.error || EIO, ip: null };
  const raw = inodeBytes(sb.inodeSize, r.bp.data.subarray(o, o + sb.inodeSize));
  mp.bufcache.brelse(r.bp);
  return inodeChecked(fs, ino, raw, blk);
}

/** VFS_VGET: the vnode of inode ino, referenced. */
function ext2Vget(mp: Mount, ino: number): Promise<VgetResult> {
  const fs = mp.data as Ext2Fs;
  if (!Number.isSafeInteger(ino) || ino < 1 || ino > fs.sb.inodesCount) return Promise.resolve({ error: EINVAL, vp: null });
  return vfsVget(mp, ino, async () => vnodeOf(mp, ino, await readInode(mp, fs, ino)));
}

/** VFS_VGET without a task (vgetNow): the vnode in core, or made from a resident inode table block; else null. */
function ext2VgetNow(mp: Mount, ino: number): VgetResult | null {
  const fs = mp.data as Ext2Fs;
  if (!Number.isSafeInteger(ino) || ino < 1 || ino > fs.sb.inodesCount) return { error: EINVAL, vp: null };
  return vfsVgetNow(mp, ino, () => {
    const r = readInodeNow(mp, fs, ino);
    return r === null ? null : vnodeOf(mp, ino, r);
  });
}

/** The vnode of inode ino as read (or the read's error). */
function vnodeOf(mp: Mount, ino: number, r: { error: number; ip: Inode | null }): VgetResult {
  const ip = r.ip;
  if (r.error !== 0 || ip === null) return { error: r.error || EIO, vp: null };
  const vp = new Vnode(ip.type, mp, ext2Vnops, ip, ino);
  if (ino === EXT2_ROOTINO) vp.flag |= VROOT;
  return { error: 0, vp };
}

/** VFS_ROOT: the root directory, referenced. */
function ext2Root(mp: Mount): Promise<VgetResult> {
  return vfsRoot(ext2Vget(mp, EXT2_ROOTINO));
}

/**
 * VFS_SYNC: every changed in-core inode, the group descriptors and the
 * superblock into the buffer cache, every delayed buffer to the device, then
 * the device's own cache. File data is the VM's to write (its pages go
 * through putpages before this is called). => may sleep
 */
async function ext2Sync(mp: Mount): Promise<number> {
  if (mp.readOnly) return 0;
  const fs = mp.data as Ext2Fs;
  let error = 0;
  for (const vp of [...mp.vnodelist]) {
    const ip = ext2Inode(vp);
    if (ip.modified && vp.mount === mp) error = (await ext2Update(mp, ip, false)) || error;
  }
  error = (await ext2SbUpdate(mp)) || error;
  error = (await mp.bufcache.bflush()) || error;
  error = (await mp.dev.flush()) || error;
  mp.stat.bfree = fs.sb.freeBlocksCount;
  mp.stat.ffree = fs.sb.freeInodesCount;
  return error;
}

/**
 * VFS_UNMOUNT's last words: after a clean sync, s_state goes back to what it
 * was at mount (valid, if it was) and the superblock is written at once.
 */
async function ext2Unmount(mp: Mount): Promise<number> {
  let error = 0;
  if (!mp.readOnly) {
    const fs = mp.data as Ext2Fs;
    error = await ext2Sync(mp);
    if (error === 0) {
      fs.sb.state = fs.stateAtMount;
      error = (await ext2SbUpdate(mp, { sync: true })) || (await mp.dev.flush());
    }
  }
  mp.bufcache.invalidate();
  return error;
}

export const ext2VfsOps: VfsOps = Object.freeze({
  root: ext2Root,
  vget: ext2Vget,
  vgetNow: ext2VgetNow,
  bulkstatNow: ext2BulkstatNow,
  sync: ext2Sync,
  unmount: ext2Unmount,
});
