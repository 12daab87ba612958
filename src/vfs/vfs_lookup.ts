/*
 * namei: a path to a vnode, one component at a time through VOP_LOOKUP,
 * following symbolic links (at most MAXSYMLINKS) in the middle of a path
 * always and at its end when asked, or when a slash follows it (a trailing
 * slash also asks for a directory: ENOTDIR otherwise). Paths are absolute
 * inside the mount. Names already walked come from the name cache
 * (vfs_cache.ts).
 * nameEquals() is the byte comparison file systems' lookups make.
 */

import { EINVAL, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR } from '../kern/errno.js';
import { VType, type Vnode } from './vnode.js';
import { vref, vrele, vreleNoWait } from './vfs_subr.js';
import { cacheEnter, cacheGen, cacheLookup } from './vfs_cache.js';

export const MAXSYMLINKS = 32;
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

export interface NameiResult {
  error: number;
  /** The vnode, referenced. */
  vp: Vnode | null;
}

/**
 * Resolves `path` from `root`. => root referenced by the caller (namei takes its own reference)
 */
export async function namei(root: Vnode, path: string, follow: boolean): Promise<NameiResult> {
  if (path.length > PATH_MAX) return { error: ENAMETOOLONG, vp: null };
  if (path === '' ) return { error: ENOENT, vp: null };
  // A trailing slash after a name makes it "name/." (POSIX): followed if a link, and a directory.
  let dirOnly = path.charCodeAt(path.length - 1) === 0x2f && skipSlashes(path, 0) < path.length;
  let dvp = root;
  vref(dvp);
  let links = 0;
  // Components are taken from the path as they come (no array of them): at is where the next one starts.
  for (let at = skipSlashes(path, 0); at < path.length;) {
    const slash = path.indexOf('/', at);
    const name = slash < 0 ? path.slice(at) : path.slice(at, slash);
    at = slash < 0 ? path.length : skipSlashes(path, slash);
    if (dvp.type !== VType.VDIR) {
      await vrele(dvp);
      return { error: ENOTDIR, vp: null };
    }
    if (name.length > NAME_MAX) {
      await vrele(dvp);
      return { error: ENAMETOOLONG, vp: null };
    }
    if (name === '.' ) continue;
    if (name === '..' && dvp === root) continue; // the mount's root is its own parent
    let vp = cacheLookup(dvp, name);
    let error = 0;
    if (vp === null) {
      const gen = cacheGen(dvp.mount);
      ({ error, vp } = await dvp.op.lookup(dvp, name));
      if (error === 0 && vp !== null) cacheEnter(dvp, name, vp, gen);
    }
    if (error !== 0 || vp === null) {
      await vrele(dvp);
      return { error: error || ENOENT, vp: null };
    }
    const last = at >= path.length;
    if (vp.type === VType.VLNK && (!last || follow || dirOnly)) {
      if (++links > MAXSYMLINKS) {
        await vrele(vp);
        await vrele(dvp);
        return { error: ELOOP, vp: null };
      }
      const rl = await vp.op.readlink(vp);
      await vrele(vp);
      if (rl.error !== 0 || rl.target === '') {
        await vrele(dvp);
        return { error: rl.error || EINVAL, vp: null };
      }
      if (rl.target.startsWith('/')) {
        await vrele(dvp);
        dvp = root;
        vref(dvp);
      }
      // The link's target, then what followed the link in the path. A target ending in '/' at the
      // path's end asks for a directory, as a trailing slash of the path does.
      if (last && rl.target.charCodeAt(rl.target.length - 1) === 0x2f) dirOnly = true;
      path = last ? rl.target : `${rl.target}/${path.slice(at)}`;
      at = skipSlashes(path, 0);
      continue;
    }
    const wait = vreleNoWait(dvp);
    if (wait !== null) await wait;
    dvp = vp;
  }
  if (dirOnly && dvp.type !== VType.VDIR) {
    await vrele(dvp);
    return { error: ENOTDIR, vp: null };
  }
  return { error: 0, vp: dvp };
}

/** The first index at or after i that is not '/'. */
function skipSlashes(path: string, i: number): number {
  while (i < path.length && path.charCodeAt(i) === 0x2f) i++;
  return i;
}

/** True when the directory entry name buf[off, off + len) is exactly the bytes of `want`. */
export function nameEquals(want: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
  if (want.length !== len) return false;
  for (let i = 0; i < len; i++) if (want[i] !== buf[off + i]) return false;
  return true;
}
