/*
 * Writing FAT directories (cf. FreeBSD createde, removede and the name
 * generation of msdosfs_conv.c): a new entry takes a run of free slots — its
 * long-name entries, then the short one under a unique alias — and a full
 * directory grows by zeroed clusters (the fixed root of FAT12/16 cannot:
 * ENOSPC). A removed entry's slots, long ones included, are marked 0xE5.
 * Directory buffers are delayed writes; VFS_SYNC writes them.
 *   { error, pos } = await createde(mp, ddep, name, attr, cluster)
 *   error = await removede(mp, ddep, e)
 *   error = await removede(mp, ddep, e, saved); error = await restorede(mp, ddep, e, saved)   // undone
 */

import { EEXIST, EINTEGRITY, EIO, ENOSPC } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import { dirhashDrop } from '../../vfs/vfs_dirhash.js';
import { extendfile } from './msdosfs_alloc.js';
import { type Denode, slotBuf } from './msdosfs_denode.js';
import {
  ATTR_VOLUME, DE_ADATE, DE_ATTR, DE_CDATE, DE_LCASE, DE_CHUNDREDTH, DE_CTIME, DE_HIGHCLUST, DE_MDATE, DE_MTIME,
  DE_STARTCLUST, DIRENT_SIZE, SLOT_DELETED, SLOT_EMPTY, longNameEntries, put16, shortForm, unixToDos, winChksum,
  withTail,
} from './msdosfs_direntry.js';
import { type DirEntryInfo, dirWalk } from './msdosfs_lookup.js';
import type { MsdosFs } from './msdosfsmount.js';

const latin1 = (b: Uint8Array) => String.fromCharCode(...b.subarray(0, 11));

/** A short entry: name, attributes, times of `now`, first cluster, size 0. */
export function shortEntry(pmp: MsdosFs, name11: Uint8Array, attr: number, cluster: number, now: number): Uint8Array {
  const e = new Uint8Array(DIRENT_SIZE);
  e.set(name11.subarray(0, 11));
  e[DE_ATTR] = attr;
  const t = unixToDos(now);
  e[DE_CHUNDREDTH] = t.hundredths;
  put16(e, DE_CTIME, t.time);
  put16(e, DE_CDATE, t.date);
  put16(e, DE_ADATE, t.date);
  put16(e, DE_MTIME, t.time);
  put16(e, DE_MDATE, t.date);
  put16(e, DE_STARTCLUST, cluster & 0xffff);
  if (pmp.fatBits === 32) put16(e, DE_HIGHCLUST, Math.floor(cluster / 65536));
  return e;
}

/** Writes the 32 bytes `e` at directory slot pos through the buffer cache (delayed). => may sleep */
async function putSlot(mp: Mount, pos: number, e: Uint8Array): Promise<number> {
  const loc = slotBuf(mp.data as MsdosFs, pos);
  if (loc === null) return EINTEGRITY;
  const { error, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
  if (error !== 0 || bp === null) return error || EIO;
  bp.data.set(e.subarray(0, DIRENT_SIZE), loc.off);
  mp.bufcache.bdwrite(bp);
  return 0;
}

/** The first run of n free slots of ddep, and the short names in use. => may sleep */
async function freeSlots(mp: Mount, ddep: Denode, n: number): Promise<{ error: number; slots: number[] | null; names: Set<string> }> {
  const names = new Set<string>();
  let run: number[] = [];
  let ended = false;
  let slots: number[] | null = null;
  const error = await dirWalk(mp, ddep, (pos, data, off) => {
    const first = data[off];
    if (first === SLOT_EMPTY) ended = true;
    if (ended || first === SLOT_DELETED) {
      run.push(pos);
      if (run.length === n && slots === null) slots = run.slice();
      return !(ended && slots !== null);
    }
    run = [];
    // The volume label's entry names no file: a file may take its name (cf. uniqdosname skipping ATTR_VOLUME).
    if ((data[off + DE_ATTR] & ATTR_VOLUME) === 0) names.add(latin1(data.subarray(off, off + 11)));
    return true;
  });
  return { error, slots, names };
}

/** Zeroes cluster cn of a directory through the buffer cache (a delayed write). => may sleep */
export async function zeroDirCluster(mp: Mount, cn: number): Promise<void> {
  const pmp = mp.data as MsdosFs;
  const bp = await mp.bufcache.getblk(pmp.cntobn(cn), pmp.g.clusterBytes);
  bp.data.fill(0);
  mp.bufcache.bdwrite(bp);
}

/**
 * Enters `name` in directory ddep as a short entry with `attr` and first
 * cluster `cluster` (size 0), or with everything but the name from the
 * entry `base` (a rename), preceded by long-name entries unless the name
 * is an exact upper-case 8.3 name. Returns the short entry's place (the new
 * file's number). => ddep locked exclusively, name checked (checkLongName)
 * and absent; read-write mount; may sleep
 */
export async function createde(
  mp: Mount,
  ddep: Denode,
  name: string,
  attr: number,
  cluster: number,
  now: number,
  base?: Uint8Array,
): Promise<{ error: number; pos: number }> {
  const pmp = mp.data as MsdosFs;
  dirhashDrop(ddep);
  const form = shortForm(name, pmp.codepage);
  const nLong = form.exact ? 0 : Math.ceil(name.length / 13);
  let r = await freeSlots(mp, ddep, nLong + 1);
  if (r.error !== 0) return { error: r.error, pos: 0 };
  let alias = form.name;
  if (!form.exact) {
    let n = form.lossy ? 1 : 0;
    while (n > 0 ? r.names.has(latin1(withTail(form, n))) : r.names.has(latin1(alias))) {
      if (++n > 999_999) return { error: EEXIST, pos: 0 };
    }
    if (n > 0) alias = withTail(form, n);
  } else if (r.names.has(latin1(alias))) {
    return { error: EEXIST, pos: 0 };
  }
  // Grow the directory until the run fits (twice at most: 21 slots never need more than two clusters).
  for (let tries = 0; r.slots === null; tries++) {
    if (ddep.fixedRoot || tries > 2) return { error: ENOSPC, pos: 0 };
    const before = ddep.chainLength;
    const x = await extendfile(mp, ddep, 1, () => undefined);
    if (x.error !== 0) return { error: x.error, pos: 0 };
    await zeroDirCluster(mp, ddep.chainLast);
    ddep.size = ddep.chainLength * pmp.g.clusterBytes;
    if (ddep.chainLength === before) return { error: EIO, pos: 0 };
    r = await freeSlots(mp, ddep, nLong + 1);
    if (r.error !== 0) return { error: r.error, pos: 0 };
  }
  const slots = r.slots;
  const short = shortEntry(pmp, alias, attr, cluster, now);
  if (base !== undefined) {
    // A renamed file keeps its attributes, times, clusters and size; the case flags go with the old name.
    short.set(base.subarray(11, DIRENT_SIZE), 11);
    short[DE_LCASE] = 0;
  }
  const entries = [...longNameEntries(form.exact ? '' : name, winChksum(alias, 0)).slice(0, nLong), short];
  for (let i = 0; i < entries.length; i++) {
    const error = await putSlot(mp, slots[i], entries[i]);
    if (error !== 0) return { error, pos: 0 };
  }
  return { error: 0, pos: slots[slots.length - 1] };
}

/**
 * Marks the slots of entry e (long-name ones too) deleted (cf. removede);
 * `saved`, when given, receives each slot's first byte for restorede. => may sleep
 */
export async function removede(mp: Mount, ddep: Denode, e: DirEntryInfo, saved?: number[]): Promise<number> {
  return markSlots(mp, ddep, e, (i, old) => {
    saved?.push(old);
    return SLOT_DELETED;
  });
}

/** Puts back the first bytes removede saved: entry e is live again. => its slots untouched since; may sleep */
export function restorede(mp: Mount, ddep: Denode, e: DirEntryInfo, saved: readonly number[]): Promise<number> {
  return markSlots(mp, ddep, e, (i) => saved[i]);
}

async function markSlots(mp: Mount, ddep: Denode, e: DirEntryInfo, first: (i: number, old: number) => number): Promise<number> {
  dirhashDrop(ddep);
  const slots = [...e.longSlots, e.pos];
  for (let i = 0; i < slots.length; i++) {
    const loc = slotBuf(mp.data as MsdosFs, slots[i]);
    if (loc === null) return EINTEGRITY;
    const { error, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
    if (error !== 0 || bp === null) return error || EIO;
    bp.data[loc.off] = first(i, bp.data[loc.off]);
    mp.bufcache.bdwrite(bp);
  }
  return 0;
}
