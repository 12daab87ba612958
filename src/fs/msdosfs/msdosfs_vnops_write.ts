/*
 * The FAT name and size operations (cf. FreeBSD msdosfs_vnops.c and
 * msdosfs_denode.c): create, mkdir, remove, rmdir, setsize (detrunc and
 * deextend), fsync, inactive and the writer's part of reclaim. A removed
 * file's clusters are freed at once, or by VOP_INACTIVE while it is open;
 * its vnode leaves the hash at once, since a new entry may take its slot
 * (and so its file number). EROFS on a read-only mount.
 *   { error, vp } = await msdosfsCreate(dvp, name, mode)    => dvp locked exclusively
 */

import { EBUSY, EEXIST, EFBIG, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY, EOPNOTSUPP } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import { vrele } from '../../vfs/vfs_subr.js';
import { VROOT, VType, type Vnode } from '../../vfs/vnode.js';
import { MNT_NOWAIT, MNT_WAIT, type LookupResult } from '../../vfs/vnode_if.js';
import { extendfile, truncateChain } from './msdosfs_alloc.js';
import { Denode, deChain, deupdat, isDotName } from './msdosfs_denode.js';
import { createde, removede, shortEntry, zeroDirCluster } from './msdosfs_direnter.js';
import { ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_READONLY, DIRENT_SIZE, checkLongName } from './msdosfs_direntry.js';
import { type DirEntryInfo, entryIno, findEntry, scanEntries } from './msdosfs_lookup.js';
import { pcbmap } from './msdosfs_fat.js';
import {
  DOS_FILESIZE_MAX, ZEROS, deTouch, devWrite, growChain, msdosfsNow, msdosfsWritable, zeroTail, zeroUnwritten,
} from './msdosfs_write.js';
import type { MsdosFs } from './msdosfsmount.js';

/** Whether directory dep holds nothing but '.' and '..' (cf. dosdirempty). => dep locked; may sleep */
export async function dirEmpty(mp: Mount, dep: Denode): Promise<{ error: number; empty: boolean }> {
  let empty = true;
  const error = await scanEntries(mp, dep, (x) => {
    if (isDotName(x.raw11, 0, 1) || isDotName(x.raw11, 0, 2)) return true;
    empty = false;
    return false;
  });
  return { error, empty };
}

/** Common checks of create and mkdir: a writable live directory without `name`, and a name FAT can hold. */
async function checkNew(dvp: Vnode, name: string): Promise<{ error: number; mp: Mount | null }> {
  const w = msdosfsWritable(dvp);
  if (w.error !== 0) return w;
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, mp: null };
  const ddep = dvp.data as Denode;
  if (ddep.freed) return { error: ENOENT, mp: null };
  if (name === '.' || name === '..') return { error: EEXIST, mp: null };
  const e = checkLongName(name);
  if (e !== 0) return { error: e, mp: null };
  const f = await findEntry(w.mp!, ddep, name);
  if (f.error !== 0) return { error: f.error, mp: null };
  if (f.e !== null) return { error: EEXIST, mp: null };
  return w;
}

/** VOP_CREATE (cf. msdosfs_create): an empty file `name` in dvp, referenced. => dvp locked exclusively */
export async function msdosfsCreate(dvp: Vnode, name: string, mode: number): Promise<LookupResult> {
  const c = await checkNew(dvp, name);
  if (c.error !== 0) return { error: c.error, vp: null };
  const mp = c.mp!;
  // FAT keeps of a mode only whether anyone may write: made without a write bit, the file is read-only (as Linux's vfat).
  const attr = ATTR_ARCHIVE | ((mode & 0o222) === 0 ? ATTR_READONLY : 0);
  const r = await createde(mp, dvp.data as Denode, name, attr, 0, msdosfsNow());
  if (r.error !== 0) return { error: r.error, vp: null };
  forgetIno(mp, r.pos / DIRENT_SIZE);
  return mp.op.vget(mp, r.pos / DIRENT_SIZE);
}

/**
 * VOP_MKDIR (cf. msdosfs_mkdir): a cluster holding "." and ".." (".." names
 * cluster 0 when the parent is the root, FAT32 too), then the entry. => dvp locked exclusively
 */
export async function msdosfsMkdir(dvp: Vnode, name: string, mode: number): Promise<LookupResult> {
  void mode;
  const c = await checkNew(dvp, name);
  if (c.error !== 0) return { error: c.error, vp: null };
  const mp = c.mp!;
  const pmp = mp.data as MsdosFs;
  const ddep = dvp.data as Denode;
  const tmp = new Denode(pmp, 0, true, new Uint8Array(DIRENT_SIZE), 0, 0);
  tmp.chainLength = 0;
  const x = await extendfile(mp, tmp, 1, () => undefined);
  if (x.error !== 0) return { error: x.error, vp: null };
  const cn = tmp.startCluster;
  await zeroDirCluster(mp, cn);
  const now = msdosfsNow();
  const bp = await mp.bufcache.getblk(pmp.cntobn(cn), pmp.g.clusterBytes);
  bp.data.set(shortEntry(pmp, new TextEncoder().encode('.          '), ATTR_DIRECTORY, cn, now), 0);
  bp.data.set(shortEntry(pmp, new TextEncoder().encode('..         '), ATTR_DIRECTORY, ddep.isRoot ? 0 : ddep.startCluster, now), DIRENT_SIZE);
  mp.bufcache.bdwrite(bp);
  const r = await createde(mp, ddep, name, ATTR_DIRECTORY, cn, now);
  if (r.error !== 0) {
    await truncateChain(mp, tmp, 0);
    return { error: r.error, vp: null };
  }
  const ino = pmp.dirIno(cn);
  forgetIno(mp, ino);
  return mp.op.vget(mp, ino);
}

/** A vnode still hashed under ino belongs to a removed file: it leaves the hash for the new one. */
function forgetIno(mp: Mount, ino: number): void {
  const old = mp.vnodeHash.get(ino);
  if (old !== undefined && (old.data as Denode).freed) mp.vnodeHash.delete(ino);
}

/** Does anyone besides the caller's reference and a cached VM object use vp? */
function inUse(vp: Vnode): boolean {
  return vp.usecount > 1 + (vp.object !== null ? 1 : 0);
}

/** The entry `name` of dvp for removal, with its vnode referenced. */
async function removalTarget(dvp: Vnode, name: string): Promise<{ error: number; mp: Mount | null; e: DirEntryInfo | null; vp: Vnode | null }> {
  const none = { mp: null, e: null, vp: null };
  const w = msdosfsWritable(dvp);
  if (w.error !== 0) return { error: w.error, ...none };
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, ...none };
  if (name === '.' || name === '..') return { error: EINVAL, ...none };
  const mp = w.mp!;
  const ddep = dvp.data as Denode;
  const f = await findEntry(mp, ddep, name);
  if (f.error !== 0 || f.e === null) return { error: f.error || ENOENT, ...none };
  const { error, vp } = await mp.op.vget(mp, entryIno(mp.data as MsdosFs, ddep, f.e));
  if (error !== 0 || vp === null) return { error: error || ENOENT, ...none };
  return { error: 0, mp, e: f.e, vp };
}

/** The entry is gone: the file leaves the hash, and its clusters go now or at inactive. */
export async function released(mp: Mount, vp: Vnode): Promise<number> {
  const dep = vp.data as Denode;
  dep.freed = true;
  dep.unwritten.clear();
  if (mp.vnodeHash.get(vp.ino) === vp) mp.vnodeHash.delete(vp.ino);
  if (inUse(vp)) return 0;
  return freeClusters(mp, dep);
}

/**
 * Frees a removed file's clusters. What names them goes out first (the
 * entry's removal, and a directory's own buffers): a kill between leaves
 * clusters no name holds (fsck.fat frees them), never a name whose clusters
 * are free, nor a late write into clusters another file has taken.
 */
async function freeClusters(mp: Mount, dep: Denode): Promise<number> {
  if (dep.startCluster === 0) return 0;
  const f = await mp.bufcache.bflush();
  if (f !== 0) return f;
  const error = await deChain(mp, dep);
  if (error !== 0) return error;
  return truncateChain(mp, dep, 0);
}

/** VOP_REMOVE (cf. msdosfs_remove): unlinks the file `name`. => dvp locked exclusively */
export async function msdosfsRemove(dvp: Vnode, name: string): Promise<number> {
  const { error, mp, e, vp } = await removalTarget(dvp, name);
  if (error !== 0 || mp === null || e === null || vp === null) return error;
  try {
    if (vp.type === VType.VDIR) return EISDIR;
    const r = await removede(mp, dvp.data as Denode, e);
    if (r !== 0) return r;
    return await released(mp, vp);
  } finally {
    await vrele(vp);
  }
}

/** VOP_RMDIR (cf. msdosfs_rmdir): removes the empty directory `name`. => dvp locked exclusively */
export async function msdosfsRmdir(dvp: Vnode, name: string): Promise<number> {
  const { error, mp, e, vp } = await removalTarget(dvp, name);
  if (error !== 0 || mp === null || e === null || vp === null) return error;
  try {
    if (vp.type !== VType.VDIR) return ENOTDIR;
    if (vp === dvp) return EINVAL;
    if ((vp.flag & VROOT) !== 0) return EBUSY;
    await vp.lock.lock();
    try {
      const d = await dirEmpty(mp, vp.data as Denode);
      if (d.error !== 0) return d.error;
      if (!d.empty) return ENOTEMPTY;
      const r = await removede(mp, dvp.data as Denode, e);
      if (r !== 0) return r;
      return await released(mp, vp); // (its buffers go out before its clusters can be a file's: freeClusters)
    } finally {
      vp.lock.unlock();
    }
  } finally {
    await vrele(vp);
  }
}

/**
 * VOP_SETSIZE: truncates or extends a regular file (cf. detrunc and
 * deextend). A shrink drops the pages past EOF, frees the clusters past it,
 * and zeroes the rest of the last cluster on disk; growth takes clusters,
 * which read as zeros. => vp locked exclusively; may sleep
 */
export async function msdosfsSetsize(vp: Vnode, size: number): Promise<number> {
  const w = msdosfsWritable(vp);
  if (w.error !== 0) return w.error;
  const mp = w.mp!;
  if (vp.type === VType.VDIR) return EISDIR;
  if (vp.type !== VType.VREG) return EINVAL;
  const dep = vp.data as Denode;
  if (dep.freed) return EOPNOTSUPP;
  if (!Number.isSafeInteger(size) || size < 0) return EINVAL;
  if (size > DOS_FILESIZE_MAX) return EFBIG;
  let error = await deChain(mp, dep);
  if (error !== 0) return error;
  const cs = dep.pmp.g.clusterBytes;
  if (size < dep.size) {
    await vp.mount?.vm?.setsize(vp, size);
    dep.size = size;
    // The new size reaches the disk before the chain is cut and the last cluster's tail zeroed: a kill between
    // leaves a chain longer than the size (fsck.fat cuts it), never the old size over cut or zeroed bytes.
    if (!mp.async) {
      dep.modified = true;
      error = await deupdat(mp, dep, true);
      if (error !== 0) return error;
    }
    const keep = Math.ceil(size / cs);
    dep.unwritten.deleteRange(keep, Infinity);
    error = await truncateChain(mp, dep, keep);
    const tail = size % cs;
    if (error === 0 && tail !== 0 && !dep.unwritten.has(keep - 1)) {
      const r = await pcbmap(mp, dep, keep - 1);
      error = r.error || (await devWrite(mp.dev, dep.pmp.cntobn(r.cn) * DEV_BSIZE + tail, [ZEROS.subarray(0, cs - tail)]));
    }
    if (error === 0) dep.tailZeroed = true;
  } else if (size > dep.size) {
    error = await zeroTail(mp, dep);
    const g = error === 0 ? await growChain(mp, dep, size) : { error, room: 0 };
    if (g.error !== 0) {
      await truncateChain(mp, dep, Math.ceil(dep.size / cs));
      dep.unwritten.deleteRange(Math.ceil(dep.size / cs), Infinity);
      return g.error;
    }
    dep.size = size;
    await vp.mount?.vm?.setsize(vp, size);
  }
  deTouch(dep);
  return error;
}

/** VOP_FSYNC: the entry and every delayed metadata buffer, then the device (MNT_NOWAIT: not the device's flush). => may sleep */
export async function msdosfsFsync(vp: Vnode, waitfor = MNT_WAIT): Promise<number> {
  const mp = vp.mount;
  if (mp === null || mp.readOnly) return 0;
  const e1 = await deupdat(mp, vp.data as Denode, false);
  const e2 = await mp.bufcache.bflush();
  const e3 = waitfor === MNT_NOWAIT ? 0 : await mp.dev.flush();
  return e1 || e2 || e3;
}

/** VOP_INACTIVE: the last reference went; a removed file's clusters are freed now. */
export async function msdosfsInactive(vp: Vnode): Promise<number> {
  const mp = vp.mount;
  const dep = vp.data as Denode;
  if (mp === null || mp.readOnly || !dep.freed || dep.startCluster === 0) return 0;
  return freeClusters(mp, dep);
}

/** The writer's part of VOP_RECLAIM: clusters still unwritten get their zeros, a changed entry is written. */
export async function msdosfsReclaimWrite(vp: Vnode): Promise<number> {
  const mp = vp.mount;
  if (mp === null || mp.readOnly) return 0;
  const dep = vp.data as Denode;
  const e1 = await zeroUnwritten(mp, dep);
  const e2 = await deupdat(mp, dep, false);
  return e1 || e2;
}
