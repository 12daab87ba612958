/*
 * The FAT vnode operations (cf. FreeBSD msdosfs_vnops.c), read side:
 * lookup, readdir, getattr, read (through the VM object, or directly for
 * IO_DIRECT and VM-less mounts) and bmap, which turns a cluster chain into
 * device runs for the vnode pager; the table also holds the writer's
 * operations (msdosfs_write.ts, msdosfs_vnops_write.ts, msdosfs_rename.ts).
 * What FAT has no place for — symbolic links, hard links — fails with EPERM.
 *   vp.op === msdosfsVnops for every vnode of a FAT mount.
 */

import { EBADF, EINVAL, EISDIR, EOPNOTSUPP, EPERM } from '../../kern/errno.js';
import { vnBmapRead, vnRead } from '../../vfs/vfs_vnops.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { Uio } from '../../vfs/uio.js';
import { type BmapResult, type Vattr, type VopVector, vopDefault } from '../../vfs/vnode_if.js';
import { dirhashDrop } from '../../vfs/vfs_dirhash.js';
import { type Denode, deChain, entryTimes } from './msdosfs_denode.js';
import { ATTR_ARCHIVE, ATTR_HIDDEN, ATTR_READONLY, ATTR_SYSTEM, dosTime, shortName } from './msdosfs_direntry.js';
import { pcbmap } from './msdosfs_fat.js';
import { msdosfsLookup, msdosfsReaddir } from './msdosfs_lookup.js';
import type { MsdosFs } from './msdosfsmount.js';
import { msdosfsWrite } from './msdosfs_write.js';
import { msdosfsLink, msdosfsRename, msdosfsSetattr } from './msdosfs_rename.js';
import {
  msdosfsCreate, msdosfsFsync, msdosfsInactive, msdosfsMkdir, msdosfsReclaimWrite, msdosfsRemove, msdosfsRmdir,
  msdosfsSetsize,
} from './msdosfs_vnops_write.js';

/** The direct read: the device through bmap. => may sleep */
function directRead(vp: Vnode, uio: Uio): Promise<number> {
  const dep = vp.data as Denode;
  return vnBmapRead(vp, uio, dep.size, dep.pmp.g.clusterBytes);
}

/** VOP_READ (cf. msdosfs_read): regular files only; directories are read as entries. => may sleep */
function msdosfsRead(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  if (vp.type === VType.VDIR) return Promise.resolve(EISDIR);
  if (vp.type !== VType.VREG) return Promise.resolve(EOPNOTSUPP);
  return vnRead(vp, uio, ioflag, directRead);
}

/**
 * VOP_BMAP (cf. msdosfs_bmap): file cluster lbn to its device address and
 * the contiguous clusters after and before it, never past EOF; a cluster
 * allocated but not yet written is a hole (it reads as zeros). The chain is
 * walked and checked whole at the first call. => may sleep
 */
export async function msdosfsBmap(vp: Vnode, lbn: number): Promise<BmapResult> {
  const mp = vp.mount;
  const none = (error: number): BmapResult => ({ error, bn: -1, runp: 0, runb: 0 });
  if (mp === null) return none(EBADF);
  if (!Number.isSafeInteger(lbn) || lbn < 0) return none(EINVAL);
  const dep = vp.data as Denode;
  if (dep.fixedRoot) return none(EOPNOTSUPP);
  const cs = dep.pmp.g.clusterBytes;
  const last = Math.ceil(dep.size / cs) - 1;
  if (lbn > last) return none(0);
  const error = await deChain(mp, dep);
  if (error !== 0) return none(error);
  if (dep.unwritten.has(lbn)) return none(0);
  const r = await pcbmap(mp, dep, lbn);
  if (r.error !== 0) return none(r.error);
  let runp = Math.min(r.runp, last - lbn);
  let runb = Math.min(r.runb, lbn);
  if (dep.unwritten.size > 0) {
    for (let k = 1; k <= runp; k++) if (dep.unwritten.has(lbn + k)) runp = k - 1;
    for (let k = 1; k <= runb; k++) if (dep.unwritten.has(lbn - k)) runb = k - 1;
  }
  return { error: 0, bn: dep.pmp.cntobn(r.cn), runp, runb };
}

/** The attribute bits as words, for stat. */
function attrWords(attr: number): string {
  const w: string[] = [];
  if ((attr & ATTR_READONLY) !== 0) w.push('readonly');
  if ((attr & ATTR_HIDDEN) !== 0) w.push('hidden');
  if ((attr & ATTR_SYSTEM) !== 0) w.push('system');
  if ((attr & ATTR_ARCHIVE) !== 0) w.push('archive');
  return w.join(',') || 'none';
}

/** VOP_GETATTR (cf. msdosfs_getattr): modes made up from the attributes, times from the entry. */
function msdosfsGetattr(vp: Vnode): Promise<{ error: number; va: Vattr | null }> {
  const dep = vp.data as Denode;
  const pmp = dep.pmp as MsdosFs;
  const cs = pmp.g.clusterBytes;
  const t = entryTimes(dep.raw);
  const mtime = dosTime(t.mdate, t.mtime);
  const ro = (dep.attr & ATTR_READONLY) !== 0;
  const extra: Record<string, number | string | boolean> = {
    fat: `fat${pmp.fatBits}`,
    attributes: attrWords(dep.attr),
    start_cluster: dep.startCluster,
    cluster_size: cs,
  };
  if (!dep.isRoot) extra.short_name = shortName(dep.raw, 0, pmp.codepage);
  const va: Vattr = {
    type: vp.type,
    mode: (dep.isDir ? 0o40000 | 0o555 : 0o100000 | 0o444) | (ro ? 0 : 0o200),
    nlink: 1,
    uid: 0,
    gid: 0,
    size: dep.size,
    bytes: dep.fixedRoot ? dep.size : Math.ceil(dep.size / cs) * cs,
    atime: dosTime(t.adate, 0) || mtime,
    mtime,
    ctime: mtime,
    birthtime: dosTime(t.cdate, t.ctime, t.chund),
    ino: vp.ino,
    gen: 0,
    flags: dep.attr,
    blksize: cs,
    rdev: 0,
    extra,
  };
  return Promise.resolve({ error: 0, va });
}

/** VOP_RECLAIM: what the denode owes the disk goes out; its caches go. */
async function msdosfsReclaim(vp: Vnode): Promise<number> {
  const error = await msdosfsReclaimWrite(vp);
  dirhashDrop(vp.data as Denode);
  return error;
}

/** Operations FAT has no place for: symbolic links. */
const noSymlink = () => Promise.resolve({ error: EPERM, vp: null });

export const msdosfsVnops: VopVector = Object.freeze({
  ...vopDefault,
  name: 'msdosfs',
  lookup: msdosfsLookup,
  getattr: msdosfsGetattr,
  readdir: msdosfsReaddir,
  read: msdosfsRead,
  write: msdosfsWrite,
  create: msdosfsCreate,
  mkdir: msdosfsMkdir,
  symlink: noSymlink,
  link: msdosfsLink,
  rename: msdosfsRename,
  setattr: msdosfsSetattr,
  remove: msdosfsRemove,
  rmdir: msdosfsRmdir,
  bmap: msdosfsBmap,
  setsize: msdosfsSetsize,
  fsync: msdosfsFsync,
  inactive: msdosfsInactive,
  reclaim: msdosfsReclaim,
});
