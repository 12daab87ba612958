/*
 * ext2 hard links and renames of files (cf. FreeBSD ext2_link, ext2_rename).
 * Every step is ordered so that a crash between two of them leaves what
 * e2fsck -p mends on its own (a link count one too high or too low), never
 * an entry naming a freed inode or a name naming nothing: the link count is
 * raised on disk before a new entry names the inode, and lowered only after
 * an entry is gone. A replaced target whose last name goes is put on the
 * orphan list first (its count 0, the superblock written with it; cf.
 * ext4_orphan_add), as a removal does: killed once its entry names the
 * source, it is an orphan e2fsck -p frees, never an unnamed inode it stops
 * to ask about. A directory moved to another parent has its ".."
 * rewritten and both parents' link counts follow; the caller has made sure
 * it is not moved into its own subtree.
 *   error = await ext2Link(vp, tdvp, name)                 => tdvp locked exclusively
 *   error = await ext2Rename(fdvp, fname, tdvp, tname)     => both directories locked exclusively
 */

import { nameEncode } from '../../kern/namebytes.js';
import { EBUSY, EEXIST, EINVAL, EISDIR, EMLINK, ENAMETOOLONG, ENOENT, ENOTDIR, ENOTEMPTY, EPERM, EXDEV } from '../../kern/errno.js';
import { vrele } from '../../vfs/vfs_subr.js';
import { VROOT, VType, type Vnode } from '../../vfs/vnode.js';
import type { Mount } from '../../vfs/mount.js';
import { EXT2_NAME_LEN } from './ext2_fs.js';
import { ext2DecLinks, ext2IncLinks, ext2LinkFull } from './ext2_nlink.js';
import { ext2DirEmpty, ext2DirEnter, ext2DirRemove, ext2DirRewrite } from './ext2_dir_write.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import { ext2Update } from './ext2_inode_write.js';
import { ext2LookupLocked } from './ext2_lookup.js';
import { ext2OrphanAdd, ext2OrphanUndo, ext2ReleaseCheck } from './ext2_truncate.js';
import { ext2Writable } from './ext2_write.js';
import { ext2DirDone, ext2LastLink } from './ext2_vnops_write.js';
import { EXT2_CTIME, ext2Stamp } from './ext2_itimes.js';


/** An entry's file type from a vnode type (the inverse of the lookup's table). */
function ftOf(t: VType): number {
  switch (t) {
    case VType.VREG: return 1;
    case VType.VDIR: return 2;
    case VType.VCHR: return 3;
    case VType.VBLK: return 4;
    case VType.VFIFO: return 5;
    case VType.VSOCK: return 6;
    case VType.VLNK: return 7;
    default: return 0;
  }
}

/** A name's bytes, checked for an entry. */
function nameBytes(name: string): { error: number; bytes: Uint8Array } {
  const bytes = nameEncode(name);
  if (bytes.length === 0 || bytes.includes(0x2f) || bytes.includes(0) || name === '.' || name === '..') return { error: EINVAL, bytes };
  if (bytes.length > EXT2_NAME_LEN) return { error: ENAMETOOLONG, bytes };
  return { error: 0, bytes };
}

/** Changes ip's link count by delta and writes the inode synchronously (it must be on disk before the entries change). */
export async function ext2SetLinks(vp: Vnode, delta: 1 | -1): Promise<number> {
  const ip = ext2Inode(vp);
  if (delta > 0) ext2IncLinks(ip);
  else if (ip.din.linksCount > 0) ext2DecLinks(ip);
  ext2Stamp(ip.din, EXT2_CTIME);
  ip.modified = true;
  return ext2Update(vp.mount!, ip, true);
}

/** VOP_LINK: a new entry `name` in tdvp naming vp's inode. => tdvp locked exclusively */
export async function ext2Link(vp: Vnode, tdvp: Vnode, name: string): Promise<number> {
  const w = ext2Writable(tdvp);
  if (w.error !== 0) return w.error;
  if (tdvp.type !== VType.VDIR) return ENOTDIR;
  if (vp.mount !== tdvp.mount) return EXDEV;
  const n = nameBytes(name);
  if (n.error !== 0) return n.error === EINVAL && (name === '.' || name === '..') ? EEXIST : n.error;
  const found = await ext2LookupLocked(tdvp, name);
  if (found.vp !== null) {
    await vrele(found.vp);
    return EEXIST;
  }
  if (found.error !== ENOENT) return found.error;
  if (vp.type === VType.VDIR) return EPERM;
  const ip = ext2Inode(vp);
  if (ip.din.linksCount === 0 || ip.freed) return ENOENT;
  if (ext2LinkFull(ip)) return EMLINK;
  let error = await ext2SetLinks(vp, +1);
  if (error !== 0) return error;
  error = await ext2DirEnter(tdvp, n.bytes, vp.ino, ftOf(vp.type));
  const e2 = await ext2DirDone(tdvp, w.mp!);
  if (error !== 0) {
    await ext2SetLinks(vp, -1);
    return error;
  }
  return e2;
}

/**
 * VOP_RENAME of a file (not a directory): fname in fdvp becomes tname in
 * tdvp. A file at tname is replaced: its entry is rewritten to name the
 * source (one record changed in place), then it loses that link (and goes
 * with its last one). Renaming a name onto another link of the same inode
 * does nothing, as rename(2) says. => both directories locked exclusively
 */
export async function ext2Rename(fdvp: Vnode, fname: string, tdvp: Vnode, tname: string): Promise<number> {
  const w = ext2Writable(tdvp);
  if (w.error !== 0) return w.error;
  const mp = w.mp!;
  if (fdvp.type !== VType.VDIR || tdvp.type !== VType.VDIR) return ENOTDIR;
  if (fdvp.mount !== tdvp.mount) return EXDEV;
  const fn = nameBytes(fname);
  const tn = nameBytes(tname);
  if (fn.error !== 0 || tn.error !== 0) return fn.error || tn.error;
  const from = await ext2LookupLocked(fdvp, fname);
  if (from.vp === null) return from.error || ENOENT;
  const vp = from.vp;
  let tvp: Vnode | null = null;
  try {
    const to = await ext2LookupLocked(tdvp, tname);
    if (to.error !== 0 && to.error !== ENOENT) return to.error;
    tvp = to.vp;
    if (tvp === vp) return 0;
    if (vp.type === VType.VDIR) return renameDir(fdvp, fn.bytes, tdvp, tn.bytes, vp, tvp);
    if (tvp !== null && tvp.type === VType.VDIR) return EISDIR;
    const ip = ext2Inode(vp);
    if (ext2LinkFull(ip)) return EMLINK;
    // A target losing its last name whose freeing would meet damage at once: refused, nothing changed (as ext2Remove).
    if (tvp !== null && ext2Inode(tvp).din.linksCount <= 1) {
      const ck = await ext2ReleaseCheck(mp, ext2Inode(tvp));
      if (ck !== 0) return ck;
    }
    // 1. The source counts the link it is about to gain.
    let error = await ext2SetLinks(vp, +1);
    if (error !== 0) return error;
    // 2. A target losing its last name goes on the orphan list first, as in ext2Remove.
    const tip = tvp !== null ? ext2Inode(tvp) : null;
    const last = tip !== null && tip.din.linksCount <= 1 && !mp.async;
    if (last) {
      error = await orphanFirst(mp, tip!, 1);
      if (error !== 0) {
        await ext2SetLinks(vp, -1);
        return error;
      }
    }
    // 3. tname names the source: a new entry, or the target's entry rewritten.
    error = tvp === null
      ? await ext2DirEnter(tdvp, tn.bytes, vp.ino, ftOf(vp.type))
      : await ext2DirRewrite(tdvp, tn.bytes, vp.ino, ftOf(vp.type));
    error ||= await ext2DirDone(tdvp, mp);
    if (error !== 0) {
      if (last) await orphanUndo(mp, tip!, 1);
      await ext2SetLinks(vp, -1);
      return error;
    }
    // 4. The replaced file loses its link (and goes with its last).
    if (tvp !== null) {
      if (!last) {
        const e = await ext2SetLinks(tvp, -1);
        if (e !== 0) return e;
      } else {
        ext2Stamp(tip!.din, EXT2_CTIME);
      }
      if (tip!.din.linksCount === 0) {
        const e3 = await ext2LastLink(tvp);
        if (e3 !== 0) return e3;
      }
    }
    // 5. fname goes, then the link it held.
    const r = await ext2DirRemove(fdvp, fn.bytes);
    error = r.error || (await ext2DirDone(fdvp, mp));
    if (error !== 0) return error;
    return ext2SetLinks(vp, -1);
  } finally {
    await vrele(vp);
    if (tvp !== null) await vrele(tvp);
  }
}

/**
 * The directory vp, named fname in fdvp, becomes tname in tdvp (replacing
 * the empty directory tvp if there is one). => both parents locked exclusively
 */
async function renameDir(fdvp: Vnode, fname: Uint8Array, tdvp: Vnode, tname: Uint8Array, vp: Vnode, tvp: Vnode | null): Promise<number> {
  const mp = vp.mount!;
  if (vp === fdvp || vp === tdvp || (vp.flag & VROOT) !== 0) return EINVAL;
  if (tvp !== null) {
    if (tvp.type !== VType.VDIR) return ENOTDIR;
    if (tvp === fdvp) return ENOTEMPTY; // a/b onto a: a holds b (and is locked by the caller)
    if ((tvp.flag & VROOT) !== 0) return EBUSY;
    await tvp.lock.lock();
    try {
      const r = await ext2DirEmpty(tvp);
      if (r.error !== 0) return r.error;
      if (!r.empty) return ENOTEMPTY;
      ext2Inode(tvp).din.linksCount = 0; // no create may enter it from here on
    } finally {
      tvp.lock.unlock();
    }
  }
  const moving = fdvp !== tdvp;
  // 1. The new parent counts the ".." it is about to gain (a replaced directory's ".." it loses cancels it).
  if (moving && tvp === null) {
    if (ext2LinkFull(ext2Inode(tdvp))) return EMLINK;
    const e = await ext2SetLinks(tdvp, +1);
    if (e !== 0) return e;
  }
  // 2. A replaced directory goes on the orphan list (its count 0 since the emptiness check) before its name goes.
  const orphan = tvp !== null && !mp.async;
  if (orphan) {
    const e = await orphanFirst(mp, ext2Inode(tvp!), 2);
    if (e !== 0) return e;
  }
  // 3. tname names the directory.
  let error = tvp === null ? await ext2DirEnter(tdvp, tname, vp.ino, ftOf(VType.VDIR)) : await ext2DirRewrite(tdvp, tname, vp.ino, ftOf(VType.VDIR));
  error ||= await ext2DirDone(tdvp, mp);
  if (error !== 0) {
    if (moving && tvp === null) await ext2SetLinks(tdvp, -1);
    if (orphan) await orphanUndo(mp, ext2Inode(tvp!), 2);
    else if (tvp !== null) ext2Inode(tvp).din.linksCount = 2;
    return error;
  }
  // 4. The replaced directory goes: its entry is gone, so are its links.
  if (tvp !== null) {
    const tip = ext2Inode(tvp);
    tip.din.linksCount = 0;
    ext2Stamp(tip.din, EXT2_CTIME);
    tip.modified = true;
    error = await ext2LastLink(tvp);
    if (error !== 0) return error;
    if (!moving) {
      error = await ext2SetLinks(tdvp, -1); // the replaced directory's ".."
      if (error !== 0) return error;
    }
  }
  // 5. Its ".." names the new parent.
  if (moving) {
    await vp.lock.lock();
    try {
      error = (await ext2DirRewrite(vp, DOTDOT, tdvp.ino, ftOf(VType.VDIR))) || (await ext2DirDone(vp, mp));
    } finally {
      vp.lock.unlock();
    }
    if (error !== 0) return error;
  }
  // 6. fname goes, and the old parent loses the ".." that named it.
  const r = await ext2DirRemove(fdvp, fname);
  error = r.error || (await ext2DirDone(fdvp, mp));
  if (error !== 0) return error;
  if (moving) error = await ext2SetLinks(fdvp, -1);
  const ip = ext2Inode(vp);
  ext2Stamp(ip.din, EXT2_CTIME);
  ip.modified = true;
  return error || ext2Update(mp, ip, false);
}

const DOTDOT = new Uint8Array([0x2e, 0x2e]);

/**
 * A replaced target's last name is about to go: its count 0 and on the
 * orphan list, the inode and the superblock written (ext2OrphanAdd), before
 * the directory block without that name can reach the disk. On failure it
 * is off the list again, its count `links`.
 */
async function orphanFirst(mp: Mount, tip: Inode, links: number): Promise<number> {
  tip.din.linksCount = 0;
  const error = await ext2OrphanAdd(mp, tip, true);
  if (error !== 0) await orphanUndo(mp, tip, links);
  return error;
}

/** The rename failed and the target keeps its name: `links` again, off the orphan list (ext2OrphanUndo). */
async function orphanUndo(mp: Mount, tip: Inode, links: number): Promise<void> {
  tip.din.linksCount = links;
  await ext2OrphanUndo(mp, tip);
}
