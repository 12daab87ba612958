/*
 * The name cache (cf. FreeBSD vfs_cache.c): (directory vnode, name) -> the
 * vnode that name leads to, entered by namei after a VOP_LOOKUP so that
 * walking the same path again costs a Map probe per component (a tree copy
 * walks each file's parents several times per file, and names the file
 * itself for its attributes, its stat and its open). Never "." or "..", and
 * no negative entries (a name not found is looked up again). Entries hold
 * no reference: a hit is used only while its vnode still belongs to the
 * mount (a reclaimed vnode is looked up again). Whatever
 * removes or moves a name (remove, rmdir, rename) purges the mount's cache
 * when it is done (cachePurgeMount, coarser than the kernel's per-vnode
 * purge); a lookup that was under way meanwhile enters nothing, because the
 * purge moves the mount's generation on.
 *   const hit = cacheLookup(dvp, name)         // referenced, or null
 *   const gen = cacheGen(mp); ...VOP_LOOKUP...; cacheEnter(dvp, name, vp, gen)
 *   cachePurgeMount(mp)
 */

import type { Mount } from './mount.js';
import { vref } from './vfs_subr.js';
import { VDOOMED, type Vnode } from './vnode.js';

/** Entries a mount keeps at most; past it the cache starts again empty. */
export const NCACHE_MAX = 8192;

interface MountCache {
  byDir: Map<Vnode, Map<string, Vnode>>;
  entries: number;
  gen: number;
}

const caches = new WeakMap<Mount, MountCache>();

function cacheOf(mp: Mount): MountCache {
  let c = caches.get(mp);
  if (c === undefined) {
    c = { byDir: new Map(), entries: 0, gen: 0 };
    caches.set(mp, c);
  }
  return c;
}

/** The vnode `name` of dvp names, referenced, when the cache knows it; else null. */
export function cacheLookup(dvp: Vnode, name: string): Vnode | null {
  const mp = dvp.mount;
  if (mp === null) return null;
  const vp = caches.get(mp)?.byDir.get(dvp)?.get(name);
  if (vp === undefined) return null;
  if (vp.mount !== mp || (vp.flag & VDOOMED) !== 0) return null; // reclaimed since
  vref(vp);
  return vp;
}

/** The mount's generation, to be handed to cacheEnter after the lookup. */
export function cacheGen(mp: Mount | null): number {
  return mp === null ? -1 : cacheOf(mp).gen;
}

/** Remembers that `name` in dvp leads to vp, unless the mount's names changed since `gen`. */
export function cacheEnter(dvp: Vnode, name: string, vp: Vnode, gen: number): void {
  const mp = dvp.mount;
  if (mp === null || name === '.' || name === '..' || vp.mount !== mp) return;
  const c = cacheOf(mp);
  if (c.gen !== gen) return;
  if (c.entries >= NCACHE_MAX) {
    c.byDir.clear();
    c.entries = 0;
  }
  let names = c.byDir.get(dvp);
  if (names === undefined) {
    names = new Map();
    c.byDir.set(dvp, names);
  }
  if (!names.has(name)) c.entries++;
  names.set(name, vp);
}

/** Forgets every name of the mount (a name was removed or moved). */
export function cachePurgeMount(mp: Mount): void {
  const c = cacheOf(mp);
  c.byDir.clear();
  c.entries = 0;
  c.gen++;
}
