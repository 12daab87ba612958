/*
 * FAT rename, setattr and the operations FAT has no place for (cf. FreeBSD
 * msdosfs_rename and msdosfs_setattr). A file is its directory entry, so a
 * rename writes a new entry holding the old one's attributes, times,
 * clusters and size, removes the old entry, and moves the vnode to its new
 * file number (vfsHashRehash); a file at the new name is removed first.
 * A directory's file number is its "." entry's place, which a rename does
 * not move: its new entry is a copy of the old one, and when it changes
 * parents its ".." entry is pointed at the new parent (cf. msdosfs_rename's
 * "..' rewrite). It may replace an empty directory, never go below itself
 * (EINVAL: the new parent's ".." chain is walked up to the root, bounded,
 * so a damaged loop is EINTEGRITY). A file or empty directory replaced
 * keeps its own name: tname may have found it by its 8.3 alias or in
 * another case, and the new entry takes the name found (long name and
 * all), as Linux's vfat_rename reuses the replaced entry; so `put` through
 * an alias never drops a long name. Attributes: the write bits
 * of a mode are the read-only attribute; owners are the mount's (uid 0, gid
 * 0): asking for others is EPERM; hard links do not exist (EPERM).
 *   error = await msdosfsRename(fdvp, fname, tdvp, tname)   => both directories locked exclusively
 */

import { EBUSY, EINTEGRITY, EINVAL, EIO, EISDIR, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY, EOPNOTSUPP, EPERM, EXDEV } from '../../kern/errno.js';
import { vfsHashRehash, vrele } from '../../vfs/vfs_subr.js';
import { VROOT, VType, type Vnode } from '../../vfs/vnode.js';
import type { SetattrArgs } from '../../vfs/vnode_if.js';
import { type Denode, deupdat, entryCluster, isDotName, slotBuf } from './msdosfs_denode.js';
import { createde, removede, restorede } from './msdosfs_direnter.js';
import {
  ATTR_ARCHIVE, ATTR_READONLY, DE_ADATE, DE_ATTR, DE_HIGHCLUST, DE_MDATE, DE_MTIME, DE_STARTCLUST, DIRENT_SIZE, checkLongName, put16,
  unixToDos,
} from './msdosfs_direntry.js';
import { entryIno, findEntry } from './msdosfs_lookup.js';
import { msdosfsNow, msdosfsWritable } from './msdosfs_write.js';
import { dirEmpty, released } from './msdosfs_vnops_write.js';
import type { MsdosFs } from './msdosfsmount.js';
import type { Mount } from '../../vfs/mount.js';
import type { DirEntryInfo } from './msdosfs_lookup.js';

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
    const isDir = vp.type === VType.VDIR;
    if (isDir) {
      if ((vp.flag & VROOT) !== 0) return EBUSY;
      const a = await notBelow(mp, pmp, vp.data as Denode, tdep);
      if (a !== 0) return a;
    }
    const to = await findEntry(mp, tdep, tname);
    if (to.error !== 0) return to.error;
    if (to.e !== null) {
      const t = await mp.op.vget(mp, entryIno(pmp, tdep, to.e));
      if (t.error !== 0 || t.vp === null) return t.error || ENOENT;
      tvp = t.vp;
      if (tvp === vp) {
        // The same file: only the case of its name may change.
        if (fdvp !== tdvp || from.e.name === tname) return 0;
      } else if (tvp.type === VType.VDIR) {
        if (!isDir) return EISDIR;
        if ((tvp.flag & VROOT) !== 0) return EBUSY;
        const r = await replaceEmptyDir(mp, tdep, to.e, tvp);
        if (r !== 0) return r;
      } else {
        if (isDir) return ENOTDIR;
        const r = (await removede(mp, tdep, to.e)) || (await released(mp, tvp));
        if (r !== 0) return r;
      }
    }
    // A file replaced lends its name: the one on disk, not the alias or case tname found it by.
    const name = to.e !== null && tvp !== vp ? to.e.name : tname;
    if (isDir) return await moveDir(mp, pmp, vp.data as Denode, fdep, from.e, tdep, name, tvp === vp);
    // The entry on disk must say what the file is now before it is copied.
    const dep = vp.data as Denode;
    dep.modified = true;
    const e = await deupdat(mp, dep, false);
    if (e !== 0) return e;
    const c = await enterRenamed(mp, fdep, from.e, tdep, name, dep.attr, dep.startCluster, dep.raw, tvp === vp);
    if (c.error !== 0) return c.error;
    const loc = slotBuf(pmp, c.pos);
    if (loc === null) return EINVAL;
    const { error: re, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
    if (re !== 0 || bp === null) return re;
    dep.raw.set(bp.data.subarray(loc.off, loc.off + DIRENT_SIZE));
    mp.bufcache.brelse(bp);
    // The new short entry may be the old one's own slot, given up first: then the file keeps its number.
    if (c.pos / DIRENT_SIZE !== vp.ino) {
      const stale = mp.vnodeHash.get(c.pos / DIRENT_SIZE);
      if (stale !== undefined && stale !== vp) mp.vnodeHash.delete(c.pos / DIRENT_SIZE); // a removed file's, waiting to go
      vfsHashRehash(vp, c.pos / DIRENT_SIZE);
      dep.ino = vp.ino;
    }
    return 0;
  } finally {
    await vrele(vp);
    if (tvp !== null) await vrele(tvp);
  }
}

/**
 * The new entry tname in tdep for the file of entry e in fdep, then e's
 * slots freed: the new entry first, so the file is always named. A
 * directory that cannot grow (the fixed root of FAT12/16, or a full disk)
 * and is both source and target gives up e's slots first, as FreeBSD
 * orders it, and takes them back when even they are not enough; so does a
 * change of case only (caseOnly), whose new name is the old one to FAT. => may sleep
 */
async function enterRenamed(
  mp: Mount, fdep: Denode, e: DirEntryInfo, tdep: Denode, tname: string, attr: number, cluster: number, base: Uint8Array, caseOnly: boolean,
): Promise<{ error: number; pos: number }> {
  if (!caseOnly) {
    const c = await createde(mp, tdep, tname, attr, cluster, msdosfsNow(), base);
    if (c.error === 0) {
      // The new entry on disk before the old one's removal: a kill between leaves both names on the one chain
      // (fsck.fat keeps one), never neither.
      const f = mp.async ? 0 : await mp.bufcache.bflush();
      return { error: f || (await removede(mp, fdep, e)), pos: c.pos };
    }
    if (c.error !== ENOSPC || fdep !== tdep) return c;
  }
  const saved: number[] = [];
  const r = await removede(mp, fdep, e, saved);
  if (r !== 0) return { error: r, pos: 0 };
  const again = await createde(mp, tdep, tname, attr, cluster, msdosfsNow(), base);
  if (again.error === 0) return again;
  return { error: (await restorede(mp, fdep, e, saved)) || again.error, pos: 0 };
}

/** The 32 bytes of the directory slot at device byte pos. => may sleep */
async function readSlot(mp: Mount, pmp: MsdosFs, pos: number): Promise<{ error: number; raw: Uint8Array | null }> {
  const loc = slotBuf(pmp, pos);
  if (loc === null) return { error: EINTEGRITY, raw: null };
  const { error, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
  if (error !== 0 || bp === null) return { error: error || EIO, raw: null };
  const raw = bp.data.slice(loc.off, loc.off + DIRENT_SIZE);
  mp.bufcache.brelse(bp);
  return { error: 0, raw };
}

/** The device byte place of the ".." entry of the directory whose first cluster is cn. */
function dotdotPos(pmp: MsdosFs, cn: number): number {
  return pmp.g.dataOff + (cn - 2) * pmp.g.clusterBytes + DIRENT_SIZE;
}

/**
 * 0 when directory tdep is not dep nor below it: tdep's ".." entries are
 * followed up to the root (cluster 0, or FAT32's root cluster), at most one
 * step per cluster, so a loop in damaged ".." entries ends in EINTEGRITY. => may sleep
 */
async function notBelow(mp: Mount, pmp: MsdosFs, dep: Denode, tdep: Denode): Promise<number> {
  if (tdep.isRoot) return 0;
  const root = pmp.fatBits === 32 ? pmp.g.rootClust : 0;
  let cn = tdep.startCluster;
  for (let steps = 0; cn !== 0 && cn !== root; steps++) {
    if (cn === dep.startCluster) return EINVAL;
    if (cn < 2 || cn > pmp.g.maxCluster || steps > pmp.g.maxCluster) return EINTEGRITY;
    const { error, raw } = await readSlot(mp, pmp, dotdotPos(pmp, cn));
    if (error !== 0 || raw === null) return error;
    if (!isDotName(raw, 0, 2)) return EINTEGRITY;
    cn = entryCluster(pmp, raw, 0);
  }
  return 0;
}

/** Removes the empty directory entry e of tdep, whose vnode is tvp, for a directory renamed over it. => may sleep */
async function replaceEmptyDir(mp: Mount, tdep: Denode, e: DirEntryInfo, tvp: Vnode): Promise<number> {
  await tvp.lock.lock();
  try {
    const d = await dirEmpty(mp, tvp.data as Denode);
    if (d.error !== 0) return d.error;
    if (!d.empty) return ENOTEMPTY;
    const r = await removede(mp, tdep, e);
    if (r !== 0) return r;
    return await released(mp, tvp); // (its buffers go out before its clusters can be another file's: freeClusters)
  } finally {
    tvp.lock.unlock();
  }
}

/**
 * Moves directory dep from entry e of fdep to tname in tdep: the new entry
 * first (a copy of the old one: attributes, times, first cluster), then the
 * old one's slots freed, then ".." pointed at the new parent (0 for the
 * root, as FAT has it). The vnode keeps its file number. => may sleep
 */
async function moveDir(mp: Mount, pmp: MsdosFs, dep: Denode, fdep: Denode, e: DirEntryInfo, tdep: Denode, tname: string, caseOnly: boolean): Promise<number> {
  const old = await readSlot(mp, pmp, e.pos);
  if (old.error !== 0 || old.raw === null) return old.error;
  const c = await enterRenamed(mp, fdep, e, tdep, tname, old.raw[DE_ATTR], dep.startCluster, old.raw, caseOnly);
  if (c.error !== 0 || fdep === tdep) return c.error;
  const loc = slotBuf(pmp, dotdotPos(pmp, dep.startCluster));
  if (loc === null) return EINTEGRITY;
  const { error, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
  if (error !== 0 || bp === null) return error || EIO;
  if (!isDotName(bp.data, loc.off, 2)) {
    mp.bufcache.brelse(bp);
    return EINTEGRITY;
  }
  const parent = tdep.isRoot ? 0 : tdep.startCluster;
  put16(bp.data, loc.off + DE_STARTCLUST, parent & 0xffff);
  if (pmp.fatBits === 32) put16(bp.data, loc.off + DE_HIGHCLUST, parent >>> 16);
  mp.bufcache.bdwrite(bp);
  return 0;
}

/** The modes a FAT file can have here (getattr's): writable, or read-only (the read-only attribute). */
const FAT_FILE_WRITABLE = 0o644;
const FAT_FILE_READONLY = 0o444;

/**
 * VOP_SETATTR (cf. msdosfs_setattr): a mode sets or clears the read-only
 * attribute, and a mode FAT cannot keep (set-ID or sticky bits, x bits,
 * reads taken away, writes for others than the owner) is EPERM, as Linux's
 * vfat answers one its masks do not allow; times set the modification and
 * access dates; owners other than the mount's are EPERM. => vp locked exclusively
 */
export async function msdosfsSetattr(vp: Vnode, va: SetattrArgs): Promise<number> {
  const w = msdosfsWritable(vp);
  if (w.error !== 0) return w.error;
  const dep = vp.data as Denode;
  if ((va.uid !== undefined && va.uid !== 0) || (va.gid !== undefined && va.gid !== 0)) return EPERM;
  if (dep.isRoot) return va.mode !== undefined || va.mtime !== undefined ? EPERM : 0;
  // A directory's attributes and times live in its parent's entry, which its denode does not hold.
  if (dep.isDir) return va.mode !== undefined || va.mtime !== undefined || va.atime !== undefined ? EOPNOTSUPP : 0;
  if (va.mode !== undefined) {
    const perm = va.mode & 0o7777;
    if (perm !== FAT_FILE_WRITABLE && perm !== FAT_FILE_READONLY) return EPERM;
    if (perm === FAT_FILE_READONLY) dep.raw[DE_ATTR] |= ATTR_READONLY;
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
  return 0;
}

/** VOP_LINK: FAT has no hard links. */
export function msdosfsLink(): Promise<number> {
  return Promise.resolve(EPERM);
}
