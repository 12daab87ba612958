/*
 * FAT directories (cf. FreeBSD msdosfs_lookup.c): a directory is the fixed
 * root region of FAT12/16 or a cluster chain, read through the buffer cache
 * (a directory entry is also its file's inode, so directories are metadata
 * here, never pages). The walk gathers long names and checks them against
 * their short entry; it ends at the first never-used slot. Lookups match
 * the long name exactly, else either name without regard to case; a large
 * directory's names go into dirhash (upper-cased) after one scan.
 *   error = await dirWalk(mp, dep, (pos, data, off) => true)   // every slot
 *   error = await scanEntries(mp, dep, (e) => true)            // every live entry
 *   { error, vp } = await msdosfsLookup(dvp, name)
 */

import { EINTEGRITY, EIO, ENAMETOOLONG, ENOENT, ENOTDIR } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import { vref } from '../../vfs/vfs_subr.js';
import { dirhashResolve } from '../../vfs/vfs_dirhash.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { Dirent, LookupResult } from '../../vfs/vnode_if.js';
import { type Denode, entryCluster, isDotName } from './msdosfs_denode.js';
import {
  ATTR_DIRECTORY, ATTR_VOLUME, ATTR_WIN95, DE_ATTR, DIRENT_SIZE, LongNameAcc, SLOT_DELETED, SLOT_EMPTY, WIN_MAXLEN,
  shortName,
} from './msdosfs_direntry.js';
import { entryKind, fatGet } from './msdosfs_fat.js';
import type { MsdosFs } from './msdosfsmount.js';

/** One slot: its device byte offset, and the buffer holding it. Answer false to stop. */
export type SlotFn = (pos: number, data: Uint8Array, off: number) => boolean;

/**
 * Calls fn for every slot of directory dep in order, a buffer at a time
 * (fn runs while the buffer is held: it must not sleep). => dep.isDir,
 * its chain checked (deget did); may sleep
 */
export async function dirWalk(mp: Mount, dep: Denode, fn: SlotFn): Promise<number> {
  const pmp = mp.data as MsdosFs;
  const g = pmp.g;
  const visit = async (start: number, size: number): Promise<{ error: number; stop: boolean }> => {
    const { error, bp } = await mp.bufcache.bread(start / DEV_BSIZE, size);
    if (error !== 0 || bp === null) return { error: error || EIO, stop: true };
    try {
      for (let off = 0; off < size; off += DIRENT_SIZE) if (!fn(start + off, bp.data, off)) return { error: 0, stop: true };
    } finally {
      mp.bufcache.brelse(bp);
    }
    return { error: 0, stop: false };
  };
  if (dep.fixedRoot) {
    for (let o = 0; o < g.rootBytes; o += g.bytesPerSec) {
      const r = await visit(g.rootOff + o, g.bytesPerSec);
      if (r.stop) return r.error;
    }
    return 0;
  }
  let cn = dep.startCluster;
  for (let i = 0; i < dep.chainLength; i++) {
    if (i > 0) {
      const { error, value } = await fatGet(mp, cn);
      if (error !== 0) return error;
      if (entryKind(pmp, value) !== 'next') return EINTEGRITY;
      cn = value;
    }
    const r = await visit(pmp.cntobn(cn) * DEV_BSIZE, g.clusterBytes);
    if (r.stop) return r.error;
  }
  return 0;
}

/** A live entry of a directory. */
export interface DirEntryInfo {
  /** Device byte offset of the short entry. */
  pos: number;
  /** Offsets of the long-name slots that belong to it (empty without a long name). */
  longSlots: number[];
  /** The name shown: the long name when there is a valid one, else the 8.3 name. */
  name: string;
  /** The 8.3 name (with the NT case flags applied). */
  short: string;
  /** The 11 raw bytes of the short name. */
  raw11: Uint8Array;
  attr: number;
  cluster: number;
}

/**
 * Calls fn for every live entry of directory dep ("." and ".." included,
 * volume labels not) until it answers false; stops at the first never-used
 * slot. => as dirWalk
 */
export async function scanEntries(mp: Mount, dep: Denode, fn: (e: DirEntryInfo) => boolean): Promise<number> {
  const pmp = mp.data as MsdosFs;
  const acc = new LongNameAcc();
  let longSlots: number[] = [];
  return dirWalk(mp, dep, (pos, data, off) => {
    const first = data[off];
    if (first === SLOT_EMPTY) return false;
    const attr = data[off + DE_ATTR];
    if (first === SLOT_DELETED) {
      acc.reset();
      longSlots = [];
      return true;
    }
    if (attr === ATTR_WIN95) {
      if ((first & 0x40) !== 0) longSlots = [];
      acc.add(data, off);
      longSlots.push(pos);
      return true;
    }
    if ((attr & ATTR_VOLUME) !== 0) {
      acc.reset();
      longSlots = [];
      return true;
    }
    const long = acc.take(data, off);
    const short = shortName(data, off, pmp.codepage);
    const e: DirEntryInfo = {
      pos,
      longSlots: long === null ? [] : longSlots,
      name: long ?? short,
      short,
      raw11: data.slice(off, off + 11),
      attr,
      cluster: entryCluster(pmp, data, off),
    };
    longSlots = [];
    return fn(e);
  });
}

/** The file number an entry of directory dep names. */
export function entryIno(pmp: MsdosFs, dep: Denode, e: DirEntryInfo): number {
  if ((e.attr & ATTR_DIRECTORY) === 0) return e.pos / DIRENT_SIZE;
  if (isDotName(e.raw11, 0, 1)) return dep.ino;
  if (isDotName(e.raw11, 0, 2)) return pmp.dirIno(e.cluster);
  // A directory without a cluster of its own is damage: its entry's own place makes deget say so.
  return pmp.validCluster(e.cluster) ? pmp.dirIno(e.cluster) : e.pos / DIRENT_SIZE;
}

const encoder = new TextEncoder();

/** Upper case, as FAT compares names. */
export const foldName = (s: string) => s.toUpperCase();

/**
 * Finds `name` in dep: the entry whose name is exactly it, else the first
 * whose long or short name matches it without regard to case.
 * => as scanEntries
 */
export async function findEntry(mp: Mount, dep: Denode, name: string): Promise<{ error: number; e: DirEntryInfo | null }> {
  let found: DirEntryInfo | null = null;
  const want = foldName(name);
  const error = await scanEntries(mp, dep, (e) => {
    if (e.name === name) {
      found = e;
      return false;
    }
    if (found === null && (foldName(e.name) === want || foldName(e.short) === want)) found = e;
    return true;
  });
  return { error, e: found };
}

/** VOP_LOOKUP (cf. msdosfs_lookup): the entry `name` of directory dvp, referenced. => may sleep */
export async function msdosfsLookup(dvp: Vnode, name: string): Promise<LookupResult> {
  const mp = dvp.mount;
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, vp: null };
  if (mp === null || name === '') return { error: ENOENT, vp: null };
  if (name.length > WIN_MAXLEN) return { error: ENAMETOOLONG, vp: null };
  const dep = dvp.data as Denode;
  if (name === '.' || (name === '..' && dep.isRoot)) {
    vref(dvp);
    return { error: 0, vp: dvp };
  }
  const pmp = mp.data as MsdosFs;
  // Large directories: one scan builds a hash of both names, upper-cased, to the file number.
  const h = await dirhashResolve(dep, encoder.encode(foldName(name)), (fn) =>
    scanEntries(mp, dep, (e) => {
      const ino = entryIno(pmp, dep, e);
      const a = encoder.encode(foldName(e.name));
      const b = encoder.encode(foldName(e.short));
      return fn(ino, a, 0, a.length) && fn(ino, b, 0, b.length);
    }),
  );
  if (h.error !== 0) return { error: h.error, vp: null };
  if (h.ino !== undefined) return h.ino === 0 ? { error: ENOENT, vp: null } : mp.op.vget(mp, h.ino);
  const { error, e } = await findEntry(mp, dep, name);
  if (error !== 0) return { error, vp: null };
  if (e === null) return { error: ENOENT, vp: null };
  return mp.op.vget(mp, entryIno(pmp, dep, e));
}

/** VOP_READDIR: fn for each entry of vp in on-disk order until it answers false. => may sleep */
export async function msdosfsReaddir(vp: Vnode, fn: (d: Dirent) => boolean): Promise<number> {
  const mp = vp.mount;
  if (vp.type !== VType.VDIR) return ENOTDIR;
  if (mp === null) return ENOENT;
  const dep = vp.data as Denode;
  const pmp = mp.data as MsdosFs;
  return scanEntries(mp, dep, (e) => fn({ name: e.name, ino: entryIno(pmp, dep, e), type: (e.attr & ATTR_DIRECTORY) !== 0 ? VType.VDIR : VType.VREG }));
}

/** The volume label entry of the root directory, or null (cf. the label mkfs.fat and mlabel write there). => may sleep */
export async function rootLabel(mp: Mount, root: Denode): Promise<{ error: number; label: string | null }> {
  const pmp = mp.data as MsdosFs;
  let label: string | null = null;
  const error = await dirWalk(mp, root, (_pos, data, off) => {
    const first = data[off];
    if (first === SLOT_EMPTY) return false;
    const attr = data[off + DE_ATTR];
    if (first !== SLOT_DELETED && attr !== ATTR_WIN95 && (attr & (ATTR_VOLUME | ATTR_DIRECTORY)) === ATTR_VOLUME) {
      let s = '';
      for (let i = 0; i < 11; i++) s += String.fromCharCode(pmp.codepage.toUnicode[data[off + i]]);
      label = s.replace(/ +$/, '');
      return false;
    }
    return true;
  });
  return { error, label };
}
