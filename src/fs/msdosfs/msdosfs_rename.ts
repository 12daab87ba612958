/*
 * FAT rename, setattr and the operations FAT has no place for (cf. FreeBSD
 * msdosfs_rename and msdosfs_setattr). A file is its directory entry, so a
 * rename writes a new entry holding the old one's attributes, times,
 * clusters and size, removes the old entry, and moves the vnode to its new
 * file number (vfsHashRehash); a file at the new name is removed first.
 * Directories are not renamed yet (EOPNOTSUPP). Attributes: the write bits
 * of a mode are the read-only attribute; owners are the mount's (uid 0, gid
 * 0): asking for others is EPERM; hard links do not exist (EPERM).
 *   error = await msdosfsRename(fdvp, fname, tdvp, tname)   => both directories locked exclusively
 */

import { EINVAL, EISDIR, ENOENT, ENOTDIR, EOPNOTSUPP, EPERM, EXDEV } from '../../kern/errno.js';
import { vfsHashRehash, vrele } from '../../vfs/vfs_subr.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { SetattrArgs } from '../../vfs/vnode_if.js';
import { type Denode, deupdat, slotBuf } from './msdosfs_denode.js';
import { createde, removede } from './msdosfs_direnter.js';
import {
  ATTR_ARCHIVE, ATTR_READONLY, DE_ADATE, DE_ATTR, DE_MDATE, DE_MTIME, DIRENT_SIZE, checkLongName, put16, unixToDos,
} from './msdosfs_direntry.js';
import { entryIno, findEntry } from './msdosfs_lookup.js';
import { msdosfsNow, msdosfsWritable } from './msdosfs_write.js';
import { released } from './msdosfs_vnops_write.js';
import type { MsdosFs } from './msdosfsmount.js';

/** VOP_RENAME of a file: fname in fdvp becomes tname in tdvp, replacing a file there. => both directories locked exclusively */
export async function msdosfsRename(fdvp: Vnode, fname: string, tdvp: Vnode, tname: string): Promise<number> {
  const w = msdosfsWritable(tdvp);
  if (w.error !== 0) return w.error;
  const mp = w.mp!;
  const pmp = mp.data as MsdosFs;
  if (fdvp.type !== VType.VDIR || tdvp.type !== VType.VDIR) return ENOTDIR;
  if (fdvp.mount !== tdvp.mount) return EXDEV;
  if (fname === '.' || fname === '..') return EINVAL;
  const bad = checkLongName(tname);
  if (bad !== 0) return bad;
  const fdep = fdvp.data as Denode;
  const tdep = tdvp.data as Denode;
  const from = await findEntry(mp, fdep, fname);
  if (from.error !== 0 || from.e === null) return from.error || ENOENT;
  const { error, vp } = await mp.op.vget(mp, entryIno(pmp, fdep, from.e));
  if (error !== 0 || vp === null) return error || ENOENT;
  let tvp: Vnode | null = null;
  try {
    if (vp.type === VType.VDIR) return EOPNOTSUPP;
    const to = await findEntry(mp, tdep, tname);
    if (to.error !== 0) return to.error;
    if (to.e !== null) {
      const t = await mp.op.vget(mp, entryIno(pmp, tdep, to.e));
      if (t.error !== 0 || t.vp === null) return t.error || ENOENT;
      tvp = t.vp;
      if (tvp === vp) {
        // The same file: only the case of its name may change.
        if (fdvp !== tdvp || from.e.name === tname) return 0;
      } else {
        if (tvp.type === VType.VDIR) return EISDIR;
        const r = (await removede(mp, tdep, to.e)) || (await released(mp, tvp));
        if (r !== 0) return r;
      }
    }
    // The entry on disk must say what the file is now before it is copied.
    const dep = vp.data as Denode;
    dep.modified = true;
    let e = await deupdat(mp, dep, false);
    if (e !== 0) return e;
    const c = await createde(mp, tdep, tname, dep.attr, dep.startCluster, msdosfsNow(), dep.raw);
    if (c.error !== 0) return c.error;
    // The old entry's slots are as they were: createde takes free slots only.
    e = await removede(mp, fdep, from.e);
    if (e !== 0) return e;
    const loc = slotBuf(pmp, c.pos);
    if (loc === null) return EINVAL;
    const { error: re, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
    if (re !== 0 || bp === null) return re;
    dep.raw.set(bp.data.subarray(loc.off, loc.off + DIRENT_SIZE));
    mp.bufcache.brelse(bp);
    const stale = mp.vnodeHash.get(c.pos / DIRENT_SIZE);
    if (stale !== undefined && stale !== vp) mp.vnodeHash.delete(c.pos / DIRENT_SIZE); // a removed file's, waiting to go
    vfsHashRehash(vp, c.pos / DIRENT_SIZE);
    dep.ino = vp.ino;
    return 0;
  } finally {
    await vrele(vp);
    if (tvp !== null) await vrele(tvp);
  }
}

/**
 * VOP_SETATTR (cf. msdosfs_setattr): a mode's write bits set or clear the
 * read-only attribute; times set the modification and access dates; owners
 * other than the mount's are EPERM. => vp locked exclusively
 */
export async function msdosfsSetattr(vp: Vnode, va: SetattrArgs): Promise<number> {
  const w = msdosfsWritable(vp);
  if (w.error !== 0) return w.error;
  const dep = vp.data as Denode;
  if ((va.uid !== undefined && va.uid !== 0) || (va.gid !== undefined && va.gid !== 0)) return EPERM;
  if (dep.isRoot) return va.mode !== undefined || va.mtime !== undefined ? EPERM : 0;
  if (va.mode !== undefined) {
    if ((va.mode & 0o222) === 0) dep.raw[DE_ATTR] |= ATTR_READONLY;
    else dep.raw[DE_ATTR] &= ~ATTR_READONLY;
    dep.raw[DE_ATTR] |= ATTR_ARCHIVE;
    dep.modified = true;
  }
  if (va.mtime !== undefined) {
    const t = unixToDos(va.mtime);
    put16(dep.raw, DE_MTIME, t.time);
    put16(dep.raw, DE_MDATE, t.date);
    dep.modified = true;
  }
  if (va.atime !== undefined) {
    put16(dep.raw, DE_ADATE, unixToDos(va.atime).date);
    dep.modified = true;
  }
  return dep.isDir ? EOPNOTSUPP : 0;
}

/** VOP_LINK: FAT has no hard links. */
export function msdosfsLink(): Promise<number> {
  return Promise.resolve(EPERM);
}
