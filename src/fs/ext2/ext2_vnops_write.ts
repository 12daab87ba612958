/*
 * The ext2/ext3 name operations (cf. FreeBSD ext2_vnops.c): create, mkdir,
 * symlink, remove, rmdir. A new inode is written before the entry naming it;
 * an entry is removed (its directory's pages written) before its inode is
 * freed, at once, or by VOP_INACTIVE while the file is still open.
 *   { error, vp } = await ext2Create(dvp, name, mode)     => dvp locked exclusively
 */

import { nameEncode } from '../../kern/namebytes.js';
import {
  EBUSY, EEXIST, EINVAL, EISDIR, EMLINK, ENAMETOOLONG, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY, EOPNOTSUPP,
} from '../../kern/errno.js';
import { insmntque, vrele } from '../../vfs/vfs_subr.js';
import { VROOT, VType, Vnode } from '../../vfs/vnode.js';
import type { LookupResult } from '../../vfs/vnode_if.js';
import type { Mount } from '../../vfs/mount.js';
import { UIO_WRITE, Uio } from '../../vfs/uio.js';
import { PATH_MAX } from '../../vfs/vfs_lookup.js';
import {
  EXT4_EXTENTS_FL, EXT2_FT_DIR, EXT2_FT_REG_FILE, EXT2_FT_SYMLINK, EXT2_IBLOCK_BYTES, EXT2_NAME_LEN, S_IFDIR,
  S_IFLNK, S_IFMT, S_IFREG,
} from './ext2_fs.js';
import { ext2DirEmpty, ext2DirEnter, ext2DirRemove, ext2DirTemplate } from './ext2_dir_write.js';
import { ext2Valloc, ext2Vfree } from './ext2_ialloc.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';
import { ext2InodeInit, ext2Update, ext2UpdateDelayed } from './ext2_inode_write.js';
import { ext2LookupLocked } from './ext2_lookup.js';
import { ext2OrphanAdd, ext2OrphanUndo, ext2Release, ext2ReleaseCheck } from './ext2_truncate.js';
import { ext2DecLinks, ext2IncLinks, ext2LinkFull } from './ext2_nlink.js';
import { ext2AclInherit } from './ext2_acl_inherit.js';
import { ext2Writable, ext2WriteUser } from './ext2_write.js';
import { EXT2_CTIME, ext2NowTime, ext2Stamp } from './ext2_itimes.js';

const S_ISGID = 0o2000;

/** The name bytes of a failed checkNew (never written to). */
const NO_BYTES = new Uint8Array(0);

/** A name's bytes, checked for a directory entry ("." and ".." are the caller's to refuse). */
export function entryName(name: string): { error: number; bytes: Uint8Array } {
  const bytes = nameEncode(name);
  if (bytes.length === 0 || bytes.includes(0x2f) || bytes.includes(0)) return { error: EINVAL, bytes };
  if (bytes.length > EXT2_NAME_LEN) return { error: ENAMETOOLONG, bytes };
  return { error: 0, bytes };
}

/** Common checks of create and mkdir: a live directory without `name`. */
export async function checkNew(dvp: Vnode, name: string): Promise<{ error: number; mp: Mount | null; bytes: Uint8Array }> {
  const w = ext2Writable(dvp);
  const none = NO_BYTES;
  if (w.error !== 0) return { error: w.error, mp: null, bytes: none };
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, mp: null, bytes: none };
  const dip = ext2Inode(dvp);
  if (dip.din.linksCount === 0 || dip.freed) return { error: ENOENT, mp: null, bytes: none };
  if (w.mp!.vm === null) return { error: EOPNOTSUPP, mp: null, bytes: none };
  if (name === '.' || name === '..') return { error: EEXIST, mp: null, bytes: none };
  const n = entryName(name);
  if (n.error !== 0) return { error: n.error, mp: null, bytes: none };
  const r = await ext2LookupLocked(dvp, name);
  if (r.vp !== null) {
    await vrele(r.vp);
    return { error: EEXIST, mp: null, bytes: none };
  }
  if (r.error !== ENOENT) return { error: r.error, mp: null, bytes: none };
  return { error: 0, mp: w.mp, bytes: n.bytes };
}

/**
 * Allocates and initialises a new inode near dvp and its vnode, referenced.
 * The bitmaps and group descriptors that allocate it, then the inode, are
 * written synchronously: all on disk before an entry names it (MNT_ASYNC:
 * delayed, like everything else).
 */
export async function newVnode(dvp: Vnode, mp: Mount, mode: number, links: number, init?: (ip: Inode) => void): Promise<LookupResult> {
  const isDir = (mode & S_IFMT) === S_IFDIR;
  const a = await ext2Valloc(mp, dvp.ino, isDir);
  if (a.error !== 0) return { error: a.error, vp: null };
  const { error, ip } = await ext2InodeInit(mp, a.ino, mode, links, ext2NowTime());
  const old = mp.vnodeHash.get(a.ino);
  if (error !== 0 || ip === null || (old !== undefined && !ext2Inode(old).freed)) {
    // An in-core inode the bitmap calls free is damage; leave the bit set.
    if (old === undefined) await ext2Vfree(mp, a.ino, isDir);
    return { error: error || EBUSY, vp: null };
  }
  if (old !== undefined) mp.vnodeHash.delete(a.ino); // the freed inode's vnode, waiting to be reclaimed
  // In a set-group-ID directory a new inode takes the directory's group, and a new directory the bit too (cf. inode_init_owner).
  const dip = ext2Inode(dvp);
  if ((dip.din.mode & S_ISGID) !== 0) {
    ip.din.gid = dip.din.gid;
    if (isDir) ip.din.mode |= S_ISGID;
  }
  init?.(ip);
  const vp = insmntque(new Vnode(ip.type, mp, dvp.op, ip, a.ino));
  const e = mp.async ? 0 : await ext2Update(mp, ip, true); // MNT_ASYNC: modified, written at sync or reclaim
  if (e !== 0) {
    await ext2Release(vp);
    await vrele(vp);
    return { error: e, vp: null };
  }
  return { error: 0, vp };
}

/** Does anyone besides the caller's reference and a cached VM object use vp? */
function inUse(vp: Vnode): boolean {
  return vp.usecount > 1 + (vp.object !== null ? 1 : 0);
}

/**
 * The last link of vp went: free it now, or, when it is open, leave it to
 * VOP_INACTIVE. => the caller holds one reference; vp not locked
 */
export async function ext2LastLink(vp: Vnode): Promise<number> {
  const mp = vp.mount!;
  const ip = ext2Inode(vp);
  if (inUse(vp)) return ext2OrphanAdd(mp, ip);
  await vp.lock.lock();
  try {
    return await ext2Release(vp);
  } finally {
    vp.lock.unlock();
  }
}

/** A directory operation ends: its pages, then its inode, go out (MNT_ASYNC: at the next sync). */
export function ext2DirDone(dvp: Vnode, mp: Mount): Promise<number> {
  if (mp.async) return ext2UpdateDelayed(mp, ext2Inode(dvp));
  return dirDoneNow(dvp, mp);
}

async function dirDoneNow(dvp: Vnode, mp: Mount): Promise<number> {
  const error = (await dvp.mount?.vm?.clean(dvp, true)) ?? 0;
  return error || ext2Update(mp, ext2Inode(dvp), false);
}

/** The end of create, mkdir and symlink: the directory written, the new vnode handed over (or released on error). */
export async function finish(dvp: Vnode, mp: Mount, vp: Vnode): Promise<LookupResult> {
  const error = await ext2DirDone(dvp, mp);
  if (error === 0) return { error, vp };
  await vrele(vp);
  return { error, vp: null };
}

/**
 * Writes the first bytes of a new directory or slow symlink through its VM
 * object and out, then its inode, synchronously: all before an entry names it.
 */
async function fillNew(mp: Mount, vp: Vnode, bytes: Uint8Array): Promise<number> {
  await vp.lock.lock();
  try {
    let error = await ext2WriteUser(vp, Uio.of(bytes, 0, UIO_WRITE), 0);
    if (!mp.async) error ||= (await vp.mount?.vm?.clean(vp, true)) ?? 0;
    error ||= mp.async ? await ext2UpdateDelayed(mp, ext2Inode(vp)) : await ext2Update(mp, ext2Inode(vp), true);
    return error;
  } finally {
    vp.lock.unlock();
  }
}

/** A new inode that no entry will name: freed again, and the error handed back. */
export async function abandon(dvp: Vnode, mp: Mount, vp: Vnode, error: number): Promise<LookupResult> {
  await vp.lock.lock();
  try {
    await ext2Release(vp);
  } finally {
    vp.lock.unlock();
  }
  await vrele(vp);
  await ext2DirDone(dvp, mp);
  return { error, vp: null };
}

/** VOP_CREATE: a new empty regular file `name` in dvp, referenced. => dvp locked exclusively */
export async function ext2Create(dvp: Vnode, name: string, mode: number): Promise<LookupResult> {
  const c = await checkNew(dvp, name);
  if (c.error !== 0) return { error: c.error, vp: null };
  const mp = c.mp!;
  const { error, vp } = await newVnode(dvp, mp, S_IFREG | (mode & 0o7777), 1);
  if (error !== 0 || vp === null) return { error, vp: null };
  const a = await ext2AclInherit(dvp, vp);
  if (a !== 0) return abandon(dvp, mp, vp, a);
  const e = await ext2DirEnter(dvp, c.bytes, vp.ino, EXT2_FT_REG_FILE);
  if (e !== 0) return abandon(dvp, mp, vp, e);
  return finish(dvp, mp, vp);
}

/** VOP_MKDIR: a new directory `name` in dvp holding "." and "..", referenced. => dvp locked exclusively */
export async function ext2Mkdir(dvp: Vnode, name: string, mode: number): Promise<LookupResult> {
  const c = await checkNew(dvp, name);
  if (c.error !== 0) return { error: c.error, vp: null };
  const mp = c.mp!;
  const dip = ext2Inode(dvp);
  if (ext2LinkFull(dip)) return { error: EMLINK, vp: null };
  // A directory takes a block: with none free, ENOSPC before an inode is taken and given back.
  if (dip.fs.sb.freeBlocksCount <= 0) return { error: ENOSPC, vp: null };
  const { error, vp } = await newVnode(dvp, mp, S_IFDIR | (mode & 0o7777), 2);
  if (error !== 0 || vp === null) return { error, vp: null };
  const a = await ext2AclInherit(dvp, vp);
  if (a !== 0) return abandon(dvp, mp, vp, a);
  // Named while still empty (no block): a crash before its first block leaves a zero-length
  // directory e2fsck -p clears, where a filled one no entry names would need e2fsck by hand.
  let e = await ext2DirEnter(dvp, c.bytes, vp.ino, EXT2_FT_DIR);
  if (e === 0 && !mp.async) e = await ext2DirDone(dvp, mp);
  if (e !== 0) return abandon(dvp, mp, vp, e);
  // The parent's count for the child's '..' is on disk before the '..' is: a crash between leaves it
  // one too high, which e2fsck -p mends, never too low (the child's block was written first: a kill
  // there left the root's count one short).
  ext2IncLinks(dip);
  if (!mp.async) e = await ext2Update(mp, dip, true);
  e ||= await fillNew(mp, vp, ext2DirTemplate(dip.fs, vp.ino, ext2Inode(vp).din.generation, dvp.ino));
  if (e !== 0) {
    ext2DecLinks(dip);
    await ext2DirRemove(dvp, c.bytes);
    return abandon(dvp, mp, vp, e);
  }
  return finish(dvp, mp, vp);
}

/**
 * VOP_SYMLINK: a symbolic link `name` in dvp to `target`, referenced. A
 * target shorter than i_block's 60 bytes lives there (a fast symlink),
 * a longer one in a data block written through the link's VM object.
 * => dvp locked exclusively
 */
export async function ext2Symlink(dvp: Vnode, name: string, target: string): Promise<LookupResult> {
  const c = await checkNew(dvp, name);
  if (c.error !== 0) return { error: c.error, vp: null };
  const mp = c.mp!;
  const t = nameEncode(target);
  const bad = ext2SymlinkTargetError(ext2Inode(dvp).fs, t);
  if (bad !== 0) return { error: bad, vp: null };
  const fast = t.length < EXT2_IBLOCK_BYTES;
  // Not live until named (no links, a deletion time: to e2fsck, a deleted file), then made live: a kill
  // between leaves an entry e2fsck -p clears, where a live link no entry named stopped it (unattached,
  // and not empty as a new file or directory is). MNT_ASYNC: live at once.
  const live = mp.async;
  const { error, vp } = await newVnode(dvp, mp, S_IFLNK | 0o777, live ? 1 : 0, (ip) => {
    if (fast) ext2FastSymlink(ip, t);
    if (!live) ip.dtime = ext2NowTime().sec;
  });
  if (error !== 0 || vp === null) return { error, vp: null };
  let e = fast ? 0 : await fillNew(mp, vp, t);
  e ||= await ext2DirEnter(dvp, c.bytes, vp.ino, EXT2_FT_SYMLINK);
  if (e !== 0) return abandon(dvp, mp, vp, e);
  if (!live) {
    e = await ext2DirDone(dvp, mp);
    const ip = ext2Inode(vp);
    ip.din.linksCount = 1;
    ip.dtime = 0;
    ip.modified = true;
    e ||= await ext2Update(mp, ip, true);
    if (e !== 0) {
      await ext2DirRemove(dvp, c.bytes);
      return abandon(dvp, mp, vp, e);
    }
  }
  return finish(dvp, mp, vp);
}

/** Why a symlink cannot hold target t (EINVAL, ENAMETOOLONG), or 0. */
export function ext2SymlinkTargetError(fs: Ext2Fs, t: Uint8Array): number {
  if (t.length === 0 || t.includes(0)) return EINVAL;
  if (t.length >= Math.min(fs.bsize, PATH_MAX)) return ENAMETOOLONG;
  return 0;
}

/** A new symlink's target t (shorter than i_block) stored in i_block: a fast symlink. */
export function ext2FastSymlink(ip: Inode, t: Uint8Array): void {
  ip.din.flags &= ~EXT4_EXTENTS_FL; // the target lives where an extent root would
  ip.extMap = null;
  ip.din.iblock.fill(0);
  ip.din.iblock.set(t);
  ip.size = t.length;
}

/**
 * What VOP_REMOVE and VOP_RMDIR check before changing anything: a writable
 * directory, a name that may go ("." and ".." answer `dot` and `dotdot`),
 * and the entry, looked up and referenced (the caller vreles it).
 */
async function removalTarget(
  dvp: Vnode,
  name: string,
  dot: number,
  dotdot: number,
): Promise<{ error: number; mp: Mount | null; bytes: Uint8Array; vp: Vnode | null }> {
  const none = { mp: null, bytes: new Uint8Array(0), vp: null };
  const w = ext2Writable(dvp);
  if (w.error !== 0) return { error: w.error, ...none };
  const mp = w.mp!;
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, ...none };
  if (name === '.') return { error: dot, ...none };
  if (name === '..') return { error: dotdot, ...none };
  const n = entryName(name);
  if (n.error !== 0) return { error: n.error, ...none };
  if (mp.vm === null) return { error: EOPNOTSUPP, ...none };
  const { error, vp } = await ext2LookupLocked(dvp, name);
  if (error !== 0 || vp === null) return { error: error || ENOENT, ...none };
  return { error: 0, mp, bytes: n.bytes, vp };
}

/** VOP_REMOVE: unlinks `name` (not a directory) from dvp. => dvp locked exclusively */
export async function ext2Remove(dvp: Vnode, name: string): Promise<number> {
  const { error, mp, bytes, vp } = await removalTarget(dvp, name, EISDIR, EISDIR);
  if (error !== 0 || mp === null || vp === null) return error;
  try {
    if (vp.type === VType.VDIR) return EISDIR;
    const ip = ext2Inode(vp);
    // The last name of a file whose freeing would meet damage at once stays (nothing changed).
    if (ip.din.linksCount <= 1) {
      const ck = await ext2ReleaseCheck(mp, ip);
      if (ck !== 0) return ck;
    }
    const last = ip.din.linksCount <= 1 && !mp.async;
    if (last) {
      // The last name: the file goes on the orphan list, its count 0, before the name goes, so that
      // a kill after the name's removal leaves e2fsck -p an orphan to free, not an unnamed file to ask about.
      ip.din.linksCount = 0;
      const eo = await ext2OrphanAdd(mp, ip, true);
      if (eo !== 0) {
        // Not written: off the list in core again (and on disk, if the device lets it).
        ip.din.linksCount = 1;
        await ext2OrphanUndo(mp, ip);
        return eo;
      }
    }
    const r = await ext2DirRemove(dvp, bytes);
    const e = await ext2DirDone(dvp, mp);
    if (r.error !== 0) {
      // The name stays: so does the file, off the list again.
      if (last) {
        ip.din.linksCount = 1;
        await ext2OrphanUndo(mp, ip);
      }
      return r.error;
    }
    ip.din.linksCount = Math.max(0, ip.din.linksCount - 1);
    ext2Stamp(ip.din, EXT2_CTIME);
    ip.modified = true;
    const e2 = ip.din.linksCount === 0 ? await ext2LastLink(vp) : await ext2Update(mp, ip, false);
    return e || e2;
  } finally {
    await vrele(vp);
  }
}

/** VOP_RMDIR: removes the empty directory `name` from dvp. => dvp locked exclusively */
export async function ext2Rmdir(dvp: Vnode, name: string): Promise<number> {
  const { error, mp, bytes, vp } = await removalTarget(dvp, name, EINVAL, ENOTEMPTY);
  if (error !== 0 || mp === null || vp === null) return error;
  try {
    if (vp.type !== VType.VDIR) return ENOTDIR;
    if (vp === dvp) return EINVAL;
    if ((vp.flag & VROOT) !== 0) return EBUSY;
    const ip = ext2Inode(vp);
    const links = ip.din.linksCount;
    // Under the child's lock: empty, and no create may enter it once its links are 0.
    await vp.lock.lock();
    try {
      const r = await ext2DirEmpty(vp);
      if (r.error !== 0) return r.error;
      if (!r.empty) return ENOTEMPTY;
      ip.din.linksCount = 0;
    } finally {
      vp.lock.unlock();
    }
    // As for a file's last name (ext2Remove): on the orphan list before the name goes.
    if (!mp.async) {
      const eo = await ext2OrphanAdd(mp, ip, true);
      if (eo !== 0) {
        ip.din.linksCount = links;
        await ext2OrphanUndo(mp, ip);
        return eo;
      }
    }
    const r = await ext2DirRemove(dvp, bytes);
    const e = await ext2DirDone(dvp, mp);
    if (r.error !== 0) {
      ip.din.linksCount = links;
      if (!mp.async) await ext2OrphanUndo(mp, ip);
      return r.error;
    }
    const dip = ext2Inode(dvp);
    ext2DecLinks(dip); // the child's '..'
    ext2Stamp(ip.din, EXT2_CTIME);
    ip.modified = true;
    const e2 = await ext2LastLink(vp);
    const e3 = await ext2Update(mp, dip, false);
    return e || e2 || e3;
  } finally {
    await vrele(vp);
  }
}

