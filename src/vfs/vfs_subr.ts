/*
 * Vnode life cycle: the in-core vnodes of a mount, found by file number,
 * referenced and released. A vnode whose last reference goes stays in core
 * (its inode and its VM object's pages may serve again) until the mount
 * holds more than `mp.maxVnodes` vnodes; then the oldest unreferenced ones
 * are reclaimed (cf. getnewvnode/vnlru). A vnode whose VM object is cached
 * is referenced by it: the object cache (smaller than the limit) writes it
 * back and lets it go first.
 *   vp = vfsHashGet(mp, ino) ?? insmntque(new Vnode(...)); ... vrele(vp)
 *   { error, vp } = await vfsVget(mp, ino, readVnode)   // a file system's VFS_VGET
 */

import { EBUSY, EINTEGRITY } from '../kern/errno.js';
import { panic } from '../kern/panic.js';
import { tsleep, wakeup } from '../kern/sleep.js';
import type { Mount } from './mount.js';
import { VDOOMED, VType, type Vnode } from './vnode.js';

/** Free (unreferenced) vnodes per mount, oldest first. */
const freelists = new WeakMap<Mount, Set<Vnode>>();

function freelist(mp: Mount): Set<Vnode> {
  let l = freelists.get(mp);
  if (l === undefined) {
    l = new Set();
    freelists.set(mp, l);
  }
  return l;
}

/** Looks up the in-core vnode of ino and references it; null when not in core. */
export function vfsHashGet(mp: Mount, ino: number): Vnode | null {
  const vp = mp.vnodeHash.get(ino);
  if (vp === undefined || (vp.flag & VDOOMED) !== 0) return null;
  vref(vp);
  return vp;
}

/** Puts a new vnode on its mount's lists, referenced once (cf. insmntque + vfs_hash_insert). */
export function insmntque(vp: Vnode): Vnode {
  const mp = vp.mount;
  if (mp === null) panic('insmntque: vnode without a mount');
  if (mp.vnodeHash.has(vp.ino)) panic(`insmntque: ino ${vp.ino} already in core`);
  mp.vnodelist.add(vp);
  mp.vnodeHash.set(vp.ino, vp);
  vp.usecount = 1;
  return vp;
}

/**
 * Gives vp a new file number (cf. vfs_hash_rehash): for a file system whose
 * numbers are places on the disk (FAT: the directory entry), a rename moves
 * the file. => no other vnode holds newIno
 */
export function vfsHashRehash(vp: Vnode, newIno: number): void {
  const mp = vp.mount;
  if (mp === null) return;
  if (mp.vnodeHash.has(newIno)) panic(`vfs_hash_rehash: ino ${newIno} already in core`);
  if (mp.vnodeHash.get(vp.ino) === vp) mp.vnodeHash.delete(vp.ino);
  vp.ino = newIno;
  mp.vnodeHash.set(newIno, vp);
}

/** Adds a reference (cf. vref). */
export function vref(vp: Vnode): void {
  if (vp.usecount === 0 && vp.mount !== null) freelist(vp.mount).delete(vp);
  vp.usecount++;
}

/**
 * Drops a reference (cf. vrele). The last one calls VOP_INACTIVE and puts the
 * vnode on the free list, recycling the oldest free vnodes while the mount
 * holds more than its limit.
 */
export async function vrele(vp: Vnode): Promise<void> {
  if (vp.usecount <= 0) panic(`vrele: ino ${vp.ino}: negative usecount`);
  vp.usecount--;
  if (vp.usecount > 0) return;
  await vp.op.inactive(vp);
  const mp = vp.mount;
  if (vp.usecount > 0 || mp === null) return; // referenced again while inactive slept
  freelist(mp).add(vp);
  if (mp.vnodelist.size > mp.maxVnodes) await vnlruFree(mp, mp.vnodelist.size - mp.maxVnodes);
}

/**
 * vrele for a walk's hot path: a reference that is not the last is dropped
 * at once, without the promise an async vrele costs (null); the last one's
 * vrele is returned, to be awaited.
 */
export function vreleNoWait(vp: Vnode): Promise<void> | null {
  if (vp.usecount > 1) {
    vp.usecount--;
    return null;
  }
  return vrele(vp);
}

/**
 * Reclaims up to n of mp's oldest unreferenced vnodes (cf. vnlru_free);
 * true when any went (the caller looks again: the reclaims slept).
 */
async function vnlruFree(mp: Mount, n: number): Promise<boolean> {
  const fl = freelist(mp);
  let freed = false;
  for (let i = 0; i < n && fl.size > 0; i++) {
    const old = fl.values().next().value as Vnode;
    await vgone(old);
    if (fl.has(old)) break; // kept (referenced again meanwhile, or already going)
    freed = true;
  }
  return freed;
}

/**
 * Reclaims vp at once if nothing references it (cf. vrecycle): for a walk
 * that will not come back to it. True when it went.
 */
export async function vrecycle(vp: Vnode): Promise<boolean> {
  if (vp.usecount > 0 || vp.mount === null) return false;
  await vgone(vp);
  return vp.mount === null;
}

/**
 * Reclaims an unreferenced vnode: the file system drops its inode and the
 * vnode leaves its mount (cf. vgone). A vnode referenced again meanwhile is kept.
 */
export async function vgone(vp: Vnode): Promise<void> {
  const mp = vp.mount;
  if (mp === null || (vp.flag & VDOOMED) !== 0) return;
  if (vp.usecount > 0) return;
  vp.flag |= VDOOMED;
  freelist(mp).delete(vp);
  await vp.op.reclaim(vp);
  mp.vnodelist.delete(vp);
  if (mp.vnodeHash.get(vp.ino) === vp) mp.vnodeHash.delete(vp.ino);
  vp.mount = null;
  wakeup(vp);
}

/** Sleeps until vp has left its mount (used by unmount while a vnode is busy). */
export async function vwaitgone(vp: Vnode): Promise<void> {
  while (vp.mount !== null) await tsleep(vp, 'vgone');
}

/** Unreferenced in-core vnodes of mp (for tests and stats). */
export function freeVnodeCount(mp: Mount): number {
  return freelist(mp).size;
}

export interface VgetResult {
  error: number;
  vp: Vnode | null;
}

/**
 * VFS_VGET's common part (cf. vfs_hash_get + vfs_hash_insert): the in-core
 * vnode of ino, referenced, or a new one `read` makes from the disk (not yet
 * on the mount's lists). One vnode per inode even under concurrent calls: a
 * vnode being reclaimed is waited out, and one another caller made while
 * `read` slept wins. => ino already range-checked; may sleep
 */
export async function vfsVget(mp: Mount, ino: number, read: () => Promise<VgetResult>): Promise<VgetResult> {
  for (;;) {
    const hit = vfsVgetNow(mp, ino, null);
    if (hit !== null) return hit;
    const old = mp.vnodeHash.get(ino);
    if (old !== undefined) {
      await vwaitgone(old); // going away (VDOOMED): vfsVgetNow answers any other vnode in core
      continue;
    }
    if (mp.unmounting) return { error: EBUSY, vp: null };
    // Room for one more first (cf. getnewvnode -> vnlru_free): the oldest unreferenced go.
    if (mp.vnodelist.size >= mp.maxVnodes && (await vnlruFree(mp, mp.vnodelist.size - mp.maxVnodes + 1))) continue;
    const r = await read();
    if (r.error !== 0 || r.vp === null) return r;
    if (mp.vnodeHash.has(ino) || mp.unmounting) continue;
    return { error: 0, vp: insmntque(r.vp) };
  }
}

/**
 * vfsVget without a task: the vnode in core, referenced; else, where the
 * vnode list has room, the vnode readNow makes from a resident inode (null
 * from it: a read is needed). Null where a task is needed (no readNow, a
 * vnode going away, the list full, unmounting).
 */
export function vfsVgetNow(mp: Mount, ino: number, readNow: (() => VgetResult | null) | null): VgetResult | null {
  const old = mp.vnodeHash.get(ino);
  if (old !== undefined) {
    if ((old.flag & VDOOMED) !== 0) return null;
    vref(old);
    return { error: 0, vp: old };
  }
  if (readNow === null || mp.unmounting || mp.vnodelist.size >= mp.maxVnodes) return null;
  const r = readNow();
  if (r === null || r.error !== 0 || r.vp === null) return r;
  return { error: 0, vp: insmntque(r.vp) };
}

/** VFS_ROOT's common part: the root directory from vget; EINTEGRITY when it is no directory. */
export async function vfsRoot(vget: Promise<VgetResult>): Promise<VgetResult> {
  const { error, vp } = await vget;
  if (error !== 0 || vp === null) return { error, vp: null };
  if (vp.type !== VType.VDIR) {
    await vrele(vp);
    return { error: EINTEGRITY, vp: null };
  }
  return { error: 0, vp };
}
