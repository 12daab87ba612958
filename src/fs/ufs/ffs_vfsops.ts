/*
 * UFS1/UFS2 mount and VFS operations (cf. FreeBSD ffs_vfsops.c): the
 * superblock is searched for where FFS puts it, checked field by field
 * against itself and the device before anything uses it, and vget reads
 * inodes through the buffer cache. Read-only: a read-write mount is refused.
 *   { error, mp, reason, found } = await ffsMount(dev, { readOnly: true }); { vp } = await mp.op.root(mp)
 *   found false: the device holds no UFS superblock at all (another file system, or none).
 */

import { EINTEGRITY, EINVAL, EIO, EOPNOTSUPP, EROFS } from '../../kern/errno.js';
import { DEV_BSIZE, MAXBSIZE } from '../../kern/param.js';
import type { BlockDevice } from '../../dev/device.js';
import { MNT_RDONLY, Mount, type Statfs, type VfsOps } from '../../vfs/mount.js';
import { BufCache } from '../../vfs/vfs_bio.js';
import { type VgetResult, vfsRoot, vfsVget } from '../../vfs/vfs_subr.js';
import { VROOT, Vnode } from '../../vfs/vnode.js';
import {
  FS_44INODEFMT, FS_GJOURNAL, FS_NEEDSFSCK, FS_SUJ, FS_UFS2_MAGIC, type FfsSuper, MAXFRAG, MINBSIZE, SBLOCKSEARCH,
  SBLOCKSIZE, SBLOCK_UFS1, SB_FIXED, UFS1_DINODE_SIZE, UFS2_DINODE_SIZE, UFS_ROOTINO, decodeSuper, isBadMagic,
} from './ffs_fs.js';
import { FfsFs } from './ffs_mount.js';
import { ufsInodeFromDisk } from './ufs_inode.js';
import { ufsVnops } from './ufs_vnops.js';

const DEFAULT_BUFCACHE = 4 * 2 ** 20;

export interface FfsMountResult {
  error: number;
  mp: Mount | null;
  /** Why the mount failed, for the user ('' on success). */
  reason: string;
  /** A UFS superblock (checked or not) was found. */
  found: boolean;
}

function fail(error: number, reason: string): FfsMountResult {
  return { error, mp: null, reason, found: true };
}

const isPow2 = (n: number) => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
const log2 = (n: number) => 31 - Math.clz32(n);

/**
 * Finds the superblock (cf. ffs_sbsearch): the first SBLOCKSEARCH offset
 * holding a UFS magic where FFS would put a primary superblock — UFS1 at
 * 8 KiB (or 0), UFS2 where its own fs_sblockloc says. => may sleep
 */
async function findSuper(dev: BlockDevice): Promise<{ error: number; sb: FfsSuper | null; badMagic: boolean }> {
  let badMagic = false;
  for (const off of SBLOCKSEARCH) {
    if (off + SBLOCKSIZE > dev.size) continue;
    const raw = new Uint8Array(SBLOCKSIZE);
    const error = await dev.readv([raw], off);
    if (error !== 0) return { error, sb: null, badMagic };
    if (isBadMagic(raw)) badMagic = true;
    const sb = decodeSuper(raw, off);
    if (sb === null) continue;
    if (sb.magic === FS_UFS2_MAGIC ? sb.sblockloc !== off : off !== SBLOCK_UFS1 && off !== 0) continue;
    return { error: 0, sb, badMagic };
  }
  return { error: 0, sb: null, badMagic };
}

/** Checks sb's geometry against itself and a device of devSize bytes (cf. ffs_sbget's checks). */
function checkSuper(sb: FfsSuper, devSize: number): { error: number; reason: string } {
  const bad = (reason: string) => ({ error: EINTEGRITY, reason });
  const ufs2 = sb.magic === FS_UFS2_MAGIC;
  if (!ufs2 && sb.oldInodefmt < FS_44INODEFMT) return { error: EOPNOTSUPP, reason: 'unsupported UFS: 4.2BSD inode format' };
  if (!isPow2(sb.bsize) || sb.bsize < MINBSIZE || sb.bsize > MAXBSIZE) return bad(`bad block size (${sb.bsize})`);
  if (!isPow2(sb.fsize) || sb.fsize < DEV_BSIZE || sb.fsize > sb.bsize) return bad(`bad fragment size (${sb.fsize})`);
  const frag = sb.bsize / sb.fsize;
  if (sb.frag !== frag || frag > MAXFRAG) return bad(`bad fragments per block (${sb.frag})`);
  if (sb.bshift !== log2(sb.bsize) || sb.fshift !== log2(sb.fsize) || sb.fragshift !== log2(frag)) return bad('bad block shifts');
  // fs_fsbtodb counts the sectors of the disk the file system was made for (512 bytes from newfs;
  // makefs -S 4096 writes 0 for 4 KiB fragments): any sector size up to 4 KiB. Device addresses
  // here come from fs_fsize alone (FfsFs.fsbtodb), in DEV_BSIZE units.
  const sector = sb.fsize / 2 ** sb.fsbtodb;
  if (!Number.isInteger(sb.fsbtodb) || sb.fsbtodb < 0 || ![512, 1024, 2048, 4096].includes(sector)) return bad(`bad fsbtodb (${sb.fsbtodb})`);
  if (sb.sbsize < SB_FIXED || sb.sbsize > SBLOCKSIZE) return bad(`bad superblock size (${sb.sbsize})`);
  const dinode = ufs2 ? UFS2_DINODE_SIZE : UFS1_DINODE_SIZE;
  if (sb.nindir !== sb.bsize / (ufs2 ? 8 : 4)) return bad(`bad pointers per block (${sb.nindir})`);
  if (sb.inopb !== sb.bsize / dinode) return bad(`bad inodes per block (${sb.inopb})`);
  if (sb.ncg < 1) return bad('no cylinder groups');
  if (sb.ipg < 1 || sb.ipg % sb.inopb !== 0 || sb.ipg * sb.ncg > 2 ** 32) return bad(`bad inodes per group (${sb.ipg})`);
  if (sb.fpg < frag || sb.fpg % frag !== 0) return bad(`bad fragments per group (${sb.fpg})`);
  if (!(sb.sblkno >= 0 && sb.sblkno < sb.cblkno && sb.cblkno < sb.iblkno && sb.iblkno < sb.dblkno && sb.dblkno <= sb.fpg)) {
    return bad('bad cylinder group layout');
  }
  // Every newfs and makefs puts the data right after the inode blocks (dblkno = iblkno + ipg / INOPF):
  // a changed fs_ipg would move inodes silently.
  if (sb.dblkno - sb.iblkno !== (sb.ipg / sb.inopb) * frag) return bad(`inode blocks disagree with the inodes per group (${sb.ipg})`);
  // A UFS1 group is old_cpg cylinders of old_spc sectors (old_nspf to a fragment): a changed fs_fpg would move groups.
  if (!ufs2 && !(sb.oldNspf > 0 && sb.oldCpg > 0 && sb.oldSpc > 0 && sb.fpg === Math.floor((sb.oldCpg * sb.oldSpc) / sb.oldNspf))) {
    return bad(`fragments per group disagree with the cylinder geometry (${sb.fpg})`);
  }
  if (!ufs2 && (sb.oldCgoffset < 0 || sb.oldCgoffset * (sb.ncg - 1) + sb.dblkno > sb.fpg * sb.ncg)) return bad('bad cylinder group offset');
  if (!Number.isSafeInteger(sb.size) || sb.size <= 0 || sb.size > sb.fpg * sb.ncg || sb.size <= sb.fpg * (sb.ncg - 1)) {
    return bad(`bad size (${sb.size} fragments in ${sb.ncg} groups of ${sb.fpg})`);
  }
  const lastCg = sb.ncg - 1;
  const lastStart = sb.fpg * lastCg + (ufs2 ? 0 : sb.oldCgoffset * (lastCg & ~sb.oldCgmask));
  if (lastStart + sb.dblkno > sb.size) return bad('the last cylinder group\'s inodes lie past the end of the file system');
  if (sb.maxsymlinklen < 0 || sb.maxsymlinklen > (ufs2 ? 120 : 60)) return bad(`bad short symlink length (${sb.maxsymlinklen})`);
  const fsBytes = sb.size * sb.fsize;
  if (fsBytes > devSize) return bad(`image is shorter than the file system (${devSize} bytes, the superblock says ${fsBytes})`);
  return { error: 0, reason: '' };
}

/**
 * Mounts the UFS1/UFS2 file system on dev (cf. ffs_mountfs), read-only.
 * EINVAL (found false): no UFS superblock; EINTEGRITY: one that fails a check; EROFS: a
 * read-write mount was asked. => may sleep
 */
export async function ffsMount(dev: BlockDevice, opts: { readOnly: boolean; bufcacheBytes?: number }): Promise<FfsMountResult> {
  const found = await findSuper(dev);
  if (found.error !== 0) return fail(found.error, 'cannot read the superblock');
  const sb = found.sb;
  if (sb === null) {
    if (found.badMagic) return fail(EINTEGRITY, 'an unfinished newfs (bad magic)');
    return { error: EINVAL, mp: null, reason: 'no UFS superblock found', found: false };
  }
  const chk = checkSuper(sb, dev.size);
  if (chk.error !== 0) return fail(chk.error, chk.reason);
  if (!opts.readOnly) return fail(EROFS, 'UFS is read-only in vmpager');
  const warnings: string[] = [];
  if (sb.clean === 0 || (sb.flags & FS_NEEDSFSCK) !== 0) warnings.push('file system not clean; fsck_ffs recommended');
  if ((sb.flags & FS_SUJ) !== 0 && sb.clean === 0) warnings.push('soft updates journal not replayed');
  if ((sb.flags & FS_GJOURNAL) !== 0 && sb.clean === 0) warnings.push('gjournal not replayed');
  const fs = new FfsFs(sb);
  const nul = sb.volname.indexOf(0);
  const stat: Statfs = {
    fstype: fs.ufs2 ? 'ufs2' : 'ufs1',
    iosize: sb.bsize,
    fsize: sb.fsize,
    blocks: sb.dsize > 0 && sb.dsize <= sb.size ? sb.dsize : sb.size,
    bfree: Math.max(0, Math.min(sb.nbfree * sb.frag + sb.nffree, sb.size)) || 0,
    files: fs.maxIno,
    ffree: Math.max(0, Math.min(sb.nifree, fs.maxIno)) || 0,
    label: new TextDecoder('utf-8').decode(sb.volname.subarray(0, nul < 0 ? sb.volname.length : nul)),
    warnings,
  };
  const mp = new Mount(dev, new BufCache(dev, opts.bufcacheBytes ?? DEFAULT_BUFCACHE), ffsVfsOps, stat, fs);
  mp.flag |= MNT_RDONLY;
  return { error: 0, mp, reason: '', found: true };
}

/** Reads and decodes inode ino from its cylinder group's inode blocks. => 0 <= ino < maxIno; may sleep */
async function readInode(mp: Mount, fs: FfsFs, ino: number) {
  const r = await mp.bufcache.bread(fs.fsbtodb(fs.inoToFsba(ino)), fs.bsize);
  if (r.error !== 0 || r.bp === null) return { error: r.error || EIO, ip: null };
  const o = fs.inoToFsbo(ino) * fs.dinodeSize;
  const raw = r.bp.data.slice(o, o + fs.dinodeSize);
  mp.bufcache.brelse(r.bp);
  return ufsInodeFromDisk(fs, ino, raw);
}

/** VFS_VGET: the vnode of inode ino, referenced. */
function ffsVget(mp: Mount, ino: number): Promise<VgetResult> {
  const fs = mp.data as FfsFs;
  if (!Number.isSafeInteger(ino) || ino < UFS_ROOTINO || ino >= fs.maxIno) return Promise.resolve({ error: EINVAL, vp: null });
  return vfsVget(mp, ino, async () => {
    const { error, ip } = await readInode(mp, fs, ino);
    if (error !== 0 || ip === null) return { error: error || EIO, vp: null };
    const vp = new Vnode(ip.type, mp, ufsVnops, ip, ino);
    if (ino === UFS_ROOTINO) vp.flag |= VROOT;
    return { error: 0, vp };
  });
}

/** VFS_ROOT: the root directory, referenced. */
function ffsRoot(mp: Mount): Promise<VgetResult> {
  return vfsRoot(ffsVget(mp, UFS_ROOTINO));
}

/** VFS_SYNC: nothing to write on a read-only mount. */
function ffsSync(): Promise<number> {
  return Promise.resolve(0);
}

/** VFS_UNMOUNT's last words: the metadata buffers go. */
function ffsUnmount(mp: Mount): Promise<number> {
  mp.bufcache.invalidate();
  return Promise.resolve(0);
}

export const ffsVfsOps: VfsOps = Object.freeze({
  root: ffsRoot,
  vget: ffsVget,
  sync: ffsSync,
  unmount: ffsUnmount,
});
