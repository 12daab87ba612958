/*
 * FAT12/16/32 mount and VFS operations (cf. FreeBSD msdosfs_vfsops.c): the
 * boot sector is decoded and checked field by field, FAT32's FSInfo and
 * backup boot sector are looked at, and on a read-write mount the FAT is
 * read into the map of clusters in use and the clean bit of FAT[1] cleared
 * until unmount. vget reads a file's directory entry (msdosfs_denode.ts).
 *   { error, mp, reason, found } = await msdosfsMount(dev, { readOnly: true }); { vp } = await mp.op.root(mp)
 *   found false: the device holds no FAT boot sector (another file system, or none).
 */

import { EINTEGRITY, EIO, EROFS } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { BlockDevice } from '../../dev/device.js';
import { MNT_RDONLY, Mount, type Statfs, type VfsOps } from '../../vfs/mount.js';
import { BufCache } from '../../vfs/vfs_bio.js';
import { type VgetResult, vfsRoot, vfsVget } from '../../vfs/vfs_subr.js';
import { VROOT, VType, Vnode } from '../../vfs/vnode.js';
import { fillinusemap } from './msdosfs_alloc.js';
import { FSI_LEAD_SIG, FSI_STRUC_SIG, FSI_TRAIL_SIG, bpbDecode } from './msdosfs_bpb.js';
import { codePage } from './msdosfs_codepage.js';
import { type Denode, deget, deupdat } from './msdosfs_denode.js';
import { u32, put32 } from './msdosfs_direntry.js';
import { fatGet, fatSet } from './msdosfs_fat.js';
import { rootLabel } from './msdosfs_lookup.js';
import { msdosfsVnops } from './msdosfs_vnops.js';
import { MSDOSFSROOT_INO, MsdosFs } from './msdosfsmount.js';

const DEFAULT_BUFCACHE = 4 * 2 ** 20;

export interface MsdosfsMountOptions {
  readOnly: boolean;
  bufcacheBytes?: number;
  /** The OEM code page of short names: 437 (default) or 850 (what mtools uses). */
  codepage?: 437 | 850;
}

export interface MsdosfsMountResult {
  error: number;
  mp: Mount | null;
  reason: string;
  /** A FAT (or exFAT/NTFS) boot sector was found. */
  found: boolean;
}

/** FAT[1]'s clean-shutdown bit (FAT16, FAT32); FAT12 has none. */
function cleanBit(pmp: MsdosFs): number {
  return pmp.fatBits === 16 ? 0x8000 : pmp.fatBits === 32 ? 0x08000000 : 0;
}

/** Reads FSInfo's free count and next-free hint (cf. the FSInfo part of msdosfs_mountfs); false when it is not valid. */
async function readFsinfo(mp: Mount, pmp: MsdosFs): Promise<{ error: number; valid: boolean }> {
  const g = pmp.g;
  if (g.fatBits !== 32 || g.fsInfoSec === 0) return { error: 0, valid: false };
  const { error, bp } = await mp.bufcache.bread((g.fsInfoSec * g.bytesPerSec) / DEV_BSIZE, g.bytesPerSec);
  if (error !== 0 || bp === null) return { error: error || EIO, valid: false };
  const d = bp.data;
  const valid = u32(d, 0) === FSI_LEAD_SIG && u32(d, 484) === FSI_STRUC_SIG && u32(d, 508) === FSI_TRAIL_SIG;
  if (valid) {
    const free = u32(d, 488);
    const next = u32(d, 492);
    if (free <= g.maxCluster - 1) pmp.freeClusters = free;
    if (pmp.validCluster(next)) pmp.nextFree = next;
  }
  mp.bufcache.brelse(bp);
  return { error: 0, valid };
}

/** Writes FSInfo's free count and next-free hint (cf. msdosfs_fsiflush). => may sleep */
async function fsiflush(mp: Mount, pmp: MsdosFs): Promise<number> {
  const g = pmp.g;
  if (!pmp.fsinfoDirty || g.fatBits !== 32 || g.fsInfoSec === 0 || !pmp.fsinfoValid) return 0;
  const { error, bp } = await mp.bufcache.bread((g.fsInfoSec * g.bytesPerSec) / DEV_BSIZE, g.bytesPerSec);
  if (error !== 0 || bp === null) return error || EIO;
  put32(bp.data, 488, pmp.freeClusters);
  put32(bp.data, 492, pmp.nextFree);
  pmp.fsinfoDirty = false;
  return mp.bufcache.bwrite(bp);
}

/**
 * Mounts the FAT file system on dev (cf. msdosfs_mountfs). EOPNOTSUPP for
 * an exFAT or NTFS boot sector; EINTEGRITY for a FAT one that fails a check;
 * EROFS for a read-write mount of a read-only device. => may sleep
 */
export async function msdosfsMount(dev: BlockDevice, opts: MsdosfsMountOptions): Promise<MsdosfsMountResult> {
  const fail = (error: number, reason: string): MsdosfsMountResult => ({ error, mp: null, reason, found: true });
  if (dev.size < 512) return { error: EINTEGRITY, mp: null, reason: 'no FAT boot sector', found: false };
  const sec0 = new Uint8Array(512);
  const rerr = await dev.readv([sec0], 0);
  if (rerr !== 0) return { error: rerr, mp: null, reason: 'cannot read the boot sector', found: false };
  const b = bpbDecode(sec0, dev.size);
  if (!b.found) return { error: EINTEGRITY, mp: null, reason: 'no FAT boot sector', found: false };
  if (b.error !== 0 || b.geom === null) return fail(b.error, b.reason);
  const g = b.geom;
  if (!opts.readOnly && dev.readOnly) return fail(EROFS, 'the device is read-only');
  const warnings: string[] = [];
  const pmp = new MsdosFs(g, codePage(opts.codepage ?? 437), g.bpbLabel);
  const stat: Statfs = {
    fstype: `fat${g.fatBits}`,
    iosize: g.clusterBytes,
    fsize: DEV_BSIZE,
    blocks: g.maxCluster - 1,
    bfree: 0,
    files: 0,
    ffree: 0,
    label: '',
    warnings,
  };
  const mp = new Mount(dev, new BufCache(dev, opts.bufcacheBytes ?? DEFAULT_BUFCACHE), msdosfsVfsOps, stat, pmp);
  if (g.fatBits === 32 && g.backupSec !== 0) {
    const bk = new Uint8Array(512);
    const e = await dev.readv([bk], g.backupSec * g.bytesPerSec);
    if (e !== 0) return fail(e, 'cannot read the backup boot sector');
    if (!bk.subarray(0, 90).every((x, i) => x === sec0[i])) warnings.push('the backup boot sector differs from the boot sector; fsck.fat recommended');
  }
  const fsi = await readFsinfo(mp, pmp);
  if (fsi.error !== 0) return fail(fsi.error, 'cannot read the FSInfo sector');
  pmp.fsinfoValid = fsi.valid;
  const fat1 = await fatGet(mp, 1);
  if (fat1.error !== 0) return fail(fat1.error, 'cannot read the FAT');
  pmp.fat1AtMount = fat1.value;
  const clean = cleanBit(pmp);
  if (clean !== 0 && (fat1.value & clean) === 0) warnings.push('file system was not cleanly unmounted; fsck.fat recommended');
  const root = await deget(mp, MSDOSFSROOT_INO);
  if (root.error !== 0 || root.dep === null) return fail(root.error, 'cannot read the root directory');
  const lab = await rootLabel(mp, root.dep);
  if (lab.error !== 0) return fail(lab.error, 'cannot read the root directory');
  pmp.label = lab.label ?? g.bpbLabel;
  stat.label = pmp.label;
  if (opts.readOnly) {
    mp.flag |= MNT_RDONLY;
    stat.bfree = Math.max(0, pmp.freeClusters);
    return { error: 0, mp, reason: '', found: true };
  }
  const e = await fillinusemap(mp);
  if (e !== 0) return fail(e, 'cannot read the FAT');
  stat.bfree = pmp.freeClusters;
  // Not clean while mounted: a crash leaves a FAT fsck.fat will look at.
  if (clean !== 0 && (fat1.value & clean) !== 0) {
    const error = (await fatSet(mp, 1, fat1.value & ~clean)) || (await mp.bufcache.bflush()) || (await dev.flush());
    if (error !== 0) return fail(error, 'cannot write the FAT');
  }
  return { error: 0, mp, reason: '', found: true };
}

/** VFS_VGET: the vnode of file number ino, referenced. */
function msdosfsVget(mp: Mount, ino: number): Promise<VgetResult> {
  return vfsVget(mp, ino, async () => {
    const { error, dep } = await deget(mp, ino);
    if (error !== 0 || dep === null) return { error: error || EIO, vp: null };
    const vp = new Vnode(dep.isDir ? VType.VDIR : VType.VREG, mp, msdosfsVnops, dep, ino);
    if (ino === MSDOSFSROOT_INO) vp.flag |= VROOT;
    return { error: 0, vp };
  });
}

function msdosfsRoot(mp: Mount): Promise<VgetResult> {
  return vfsRoot(msdosfsVget(mp, MSDOSFSROOT_INO));
}

/** VFS_SYNC: every changed entry, FSInfo, every delayed buffer, then the device. => may sleep */
async function msdosfsSync(mp: Mount): Promise<number> {
  if (mp.readOnly) return 0;
  const pmp = mp.data as MsdosFs;
  let error = 0;
  for (const vp of [...mp.vnodelist]) {
    const dep = vp.data as Denode;
    if (dep.modified && vp.mount === mp) error = (await deupdat(mp, dep, false)) || error;
  }
  error = (await fsiflush(mp, pmp)) || error;
  error = (await mp.bufcache.bflush()) || error;
  error = (await mp.dev.flush()) || error;
  mp.stat.bfree = pmp.freeClusters;
  return error;
}

/** VFS_UNMOUNT's last words: after a clean sync, FAT[1]'s clean bit goes back as it was at mount. */
async function msdosfsUnmount(mp: Mount): Promise<number> {
  let error = 0;
  if (!mp.readOnly) {
    const pmp = mp.data as MsdosFs;
    error = await msdosfsSync(mp);
    const clean = cleanBit(pmp);
    if (error === 0 && clean !== 0 && (pmp.fat1AtMount & clean) !== 0) {
      error = (await fatSet(mp, 1, pmp.fat1AtMount)) || (await mp.bufcache.bflush()) || (await mp.dev.flush());
    }
  }
  mp.bufcache.invalidate();
  return error;
}

export const msdosfsVfsOps: VfsOps = Object.freeze({
  root: msdosfsRoot,
  vget: msdosfsVget,
  sync: msdosfsSync,
  unmount: msdosfsUnmount,
});
