/*
 * Cluster allocation (cf. FreeBSD msdosfs_fat.c: fillinusemap,
 * clusteralloc, freeclusterchain, extendfile): the map of clusters in use
 * is read from the FAT once at a read-write mount; new clusters are taken
 * right after the file's last one when free, else from the next-free hint
 * on, chained in every FAT copy, and counted in FSInfo's free count.
 *   error = await fillinusemap(mp); { error, got } = await extendfile(mp, dep, n, (fileCn) => ...)
 */

import { EINTEGRITY, ENOSPC } from '../../kern/errno.js';
import type { Mount } from '../../vfs/mount.js';
import { type Denode, runsAppend, runsTruncate } from './msdosfs_denode.js';
import { entryKind, fatGet, fatSet } from './msdosfs_fat.js';
import type { MsdosFs } from './msdosfsmount.js';

const CHUNK = 1 << 20;

/** Reads the whole FAT into pmp.inusemap and counts the free clusters (cf. fillinusemap). => may sleep */
export async function fillinusemap(mp: Mount): Promise<number> {
  const pmp = mp.data as MsdosFs;
  const g = pmp.g;
  const map = new Uint32Array(Math.ceil((g.maxCluster + 1) / 32));
  pmp.inusemap = map;
  const copy = g.activeFat >= 0 ? g.activeFat : 0;
  const fatBytes = Math.ceil(((g.maxCluster + 1) * g.fatBits) / 8);
  const base = g.fatOff + copy * g.fatSecs * g.bytesPerSec;
  let free = 0;
  const buf = new Uint8Array(Math.min(CHUNK, Math.ceil(fatBytes / g.bytesPerSec) * g.bytesPerSec) + 4);
  // Chunks hold whole entry pairs (FAT12 pairs are 3 bytes): CHUNK is a multiple of 3 * 4 bytes... not quite, so step by entries.
  const perChunk = Math.floor(((buf.length - 4) * 8) / g.fatBits / 2) * 2;
  for (let first = 0; first <= g.maxCluster; first += perChunk) {
    const off = Math.floor((first * g.fatBits) / 8);
    const n = Math.min(perChunk, g.maxCluster + 1 - first);
    const len = Math.ceil(((first + n) * g.fatBits) / 8) - off;
    const view = buf.subarray(0, len);
    const error = await mp.dev.readv([view], base + off);
    if (error !== 0) return error;
    for (let i = 0; i < n; i++) {
      const cn = first + i;
      let v: number;
      if (g.fatBits === 12) {
        const o = Math.floor((cn * 3) / 2) - off;
        const w = view[o] | (view[o + 1] << 8);
        v = (cn & 1) !== 0 ? w >>> 4 : w & 0xfff;
      } else if (g.fatBits === 16) {
        const o = cn * 2 - off;
        v = view[o] | (view[o + 1] << 8);
      } else {
        const o = cn * 4 - off;
        v = (view[o] | (view[o + 1] << 8) | (view[o + 2] << 16) | (view[o + 3] << 24)) & 0x0fffffff;
      }
      if (cn < 2 || v !== 0) map[cn >>> 5] |= 1 << (cn & 31);
      else free++;
    }
  }
  pmp.freeClusters = free;
  if (!pmp.validCluster(pmp.nextFree)) pmp.nextFree = 2;
  return 0;
}

/** A free cluster at or after `from`, wrapping around; 0 when none. */
function findFree(pmp: MsdosFs, from: number): number {
  const max = pmp.g.maxCluster;
  if (pmp.freeClusters <= 0) return 0;
  const start = pmp.validCluster(from) ? from : 2;
  for (let cn = start; cn <= max; cn++) if (!pmp.inuse(cn)) return cn;
  for (let cn = 2; cn < start; cn++) if (!pmp.inuse(cn)) return cn;
  return 0;
}

/** Marks cn in use in the map and the counts. */
function take(pmp: MsdosFs, cn: number): void {
  pmp.setInuse(cn, true);
  pmp.freeClusters--;
  pmp.nextFree = cn + 1 > pmp.g.maxCluster ? 2 : cn + 1;
  pmp.fsinfoDirty = true;
}

/**
 * Adds `count` clusters to the end of dep's chain (cf. extendfile), each
 * after the chain's last one when that is free, else the first free from
 * the next-free hint; `fresh` hears each new file cluster number. On
 * ENOSPC the clusters found so far stay (got says how many).
 * => dep's chain checked (chainLength known); read-write mount; may sleep
 */
export async function extendfile(mp: Mount, dep: Denode, count: number, fresh: (fileCn: number) => void): Promise<{ error: number; got: number }> {
  const pmp = mp.data as MsdosFs;
  let got = 0;
  while (got < count) {
    const want = dep.chainLength > 0 ? dep.chainLast + 1 : pmp.nextFree;
    const cn = pmp.validCluster(want) && !pmp.inuse(want) ? want : findFree(pmp, want);
    if (cn === 0) return { error: ENOSPC, got };
    take(pmp, cn);
    let error = await fatSet(mp, cn, pmp.fatMask);
    if (error === 0 && dep.chainLength > 0) error = await fatSet(mp, dep.chainLast, cn);
    if (error !== 0) return { error, got };
    if (dep.chainLength <= 0) {
      dep.startCluster = cn;
      dep.chainLength = 0;
      dep.modified = true;
    }
    if (dep.ext !== null && !runsAppend(dep.ext, dep.chainLength, cn)) dep.ext = null;
    fresh(dep.chainLength);
    dep.chainLength++;
    dep.chainLast = cn;
    got++;
  }
  return { error: 0, got };
}

/**
 * Frees the chain from cluster `start` to its end mark (cf.
 * freeclusterchain), bounded by the cluster count; a damaged pointer stops
 * the walk with EINTEGRITY (what was freed stays freed). => read-write mount; may sleep
 */
export async function freeclusterchain(mp: Mount, start: number): Promise<number> {
  const pmp = mp.data as MsdosFs;
  let cn = start;
  for (let steps = 0; pmp.validCluster(cn); steps++) {
    if (steps > pmp.g.maxCluster) return EINTEGRITY;
    const { error, value } = await fatGet(mp, cn);
    if (error !== 0) return error;
    if (!pmp.inuse(cn)) return EINTEGRITY; // freed already: a loop or a shared chain
    const e = await fatSet(mp, cn, 0);
    if (e !== 0) return e;
    pmp.setInuse(cn, false);
    pmp.freeClusters++;
    pmp.fsinfoDirty = true;
    const kind = entryKind(pmp, value);
    if (kind === 'eof') return 0;
    if (kind === 'bad') return EINTEGRITY;
    cn = value;
  }
  return 0;
}

/**
 * Cuts dep's chain to its first `keep` clusters and frees the rest (cf.
 * detrunc's FAT part). => dep's chain checked; keep <= chainLength; may sleep
 */
export async function truncateChain(mp: Mount, dep: Denode, keep: number): Promise<number> {
  const pmp = mp.data as MsdosFs;
  if (keep >= dep.chainLength) return 0;
  dep.fcPurge();
  if (dep.ext !== null) runsTruncate(dep.ext, keep);
  if (keep === 0) {
    const start = dep.startCluster;
    dep.startCluster = 0;
    dep.chainLength = 0;
    dep.chainLast = 0;
    dep.modified = true;
    return start === 0 ? 0 : freeclusterchain(mp, start);
  }
  let cn = dep.startCluster;
  for (let i = 1; i < keep; i++) {
    const { error, value } = await fatGet(mp, cn);
    if (error !== 0) return error;
    if (entryKind(pmp, value) !== 'next') return EINTEGRITY;
    cn = value;
  }
  const { error, value } = await fatGet(mp, cn);
  if (error !== 0) return error;
  const e = await fatSet(mp, cn, pmp.fatMask);
  if (e !== 0) return e;
  dep.chainLength = keep;
  dep.chainLast = cn;
  return entryKind(pmp, value) === 'next' ? freeclusterchain(mp, value) : 0;
}
