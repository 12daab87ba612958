/*
 * The file allocation table (cf. FreeBSD msdosfs_fat.c): 12-, 16- and
 * 28-bit entries read and written through the buffer cache (every FAT copy
 * written alike), pcbmap — a file's cluster number to a device address
 * with the contiguous run after it — and the one walk of a whole chain that
 * bounds it and finds loops. Every entry is checked before use: a pointer
 * outside 2..maxCluster, a bad-cluster mark or a loop is EINTEGRITY.
 *   { error, value } = await fatGet(mp, cn);  error = await fatSet(mp, cn, v)
 *   { error, cn, runp, runb } = await pcbmap(mp, dep, fileCluster)
 */

import { EINTEGRITY, EIO } from '../../kern/errno.js';
import { DEV_BSIZE, MAXPHYS } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import type { Denode } from './msdosfs_denode.js';
import type { MsdosFs } from './msdosfsmount.js';

/** Where entry cn of FAT copy `copy` lies: its buffer (DEV_BSIZE address, bytes) and offset inside. */
function fatBlock(pmp: MsdosFs, copy: number, cn: number): { blkno: number; size: number; off: number } {
  const g = pmp.g;
  const byteOff = Math.floor((cn * g.fatBits) / 8);
  const fatBytes = g.fatSecs * g.bytesPerSec;
  const fbs = pmp.fatBlockBytes;
  const start = Math.floor(byteOff / fbs) * fbs;
  const size = Math.min(fbs, fatBytes - start);
  return { blkno: (g.fatOff + copy * fatBytes + start) / DEV_BSIZE, size, off: byteOff - start };
}

function getEntry(pmp: MsdosFs, d: Uint8Array, off: number, cn: number): number {
  switch (pmp.fatBits) {
    case 12: {
      const w = d[off] | (d[off + 1] << 8);
      return (cn & 1) !== 0 ? w >>> 4 : w & 0xfff;
    }
    case 16:
      return d[off] | (d[off + 1] << 8);
    default:
      return (d[off] | (d[off + 1] << 8) | (d[off + 2] << 16) | (d[off + 3] << 24)) & 0x0fffffff;
  }
}

function setEntry(pmp: MsdosFs, d: Uint8Array, off: number, cn: number, v: number): void {
  switch (pmp.fatBits) {
    case 12: {
      let w = d[off] | (d[off + 1] << 8);
      w = (cn & 1) !== 0 ? (w & 0x000f) | ((v & 0xfff) << 4) : (w & 0xf000) | (v & 0xfff);
      d[off] = w & 0xff;
      d[off + 1] = w >>> 8;
      break;
    }
    case 16:
      d[off] = v & 0xff;
      d[off + 1] = (v >>> 8) & 0xff;
      break;
    default: {
      // The top 4 bits of a FAT32 entry are reserved: kept as they are.
      const keep = d[off + 3] & 0xf0;
      d[off] = v & 0xff;
      d[off + 1] = (v >>> 8) & 0xff;
      d[off + 2] = (v >>> 16) & 0xff;
      d[off + 3] = keep | ((v >>> 24) & 0x0f);
    }
  }
}

/** The FAT copy reads come from: the active one when mirroring is off, else the first. */
function readCopy(pmp: MsdosFs): number {
  return pmp.g.activeFat >= 0 ? pmp.g.activeFat : 0;
}

/** FAT entry cn. => 0 <= cn <= maxCluster; may sleep */
export async function fatGet(mp: Mount, cn: number): Promise<{ error: number; value: number }> {
  const pmp = mp.data as MsdosFs;
  const fb = fatBlock(pmp, readCopy(pmp), cn);
  const { error, bp } = await mp.bufcache.bread(fb.blkno, fb.size);
  if (error !== 0 || bp === null) return { error: error || EIO, value: 0 };
  const value = getEntry(pmp, bp.data, fb.off, cn);
  mp.bufcache.brelse(bp);
  return { error: 0, value };
}

/**
 * Sets FAT entry cn to v in every FAT copy (only the active one when
 * mirroring is off), as delayed writes. => read-write mount; may sleep
 */
export async function fatSet(mp: Mount, cn: number, v: number): Promise<number> {
  const pmp = mp.data as MsdosFs;
  const g = pmp.g;
  for (let copy = 0; copy < g.nFats; copy++) {
    if (g.activeFat >= 0 && copy !== g.activeFat) continue;
    const fb = fatBlock(pmp, copy, cn);
    const { error, bp } = await mp.bufcache.bread(fb.blkno, fb.size);
    if (error !== 0 || bp === null) return error || EIO;
    setEntry(pmp, bp.data, fb.off, cn, v);
    mp.bufcache.bdwrite(bp);
  }
  return 0;
}

/** What a FAT entry says of the chain: the next cluster, its end, or damage. */
export function entryKind(pmp: MsdosFs, v: number): 'next' | 'eof' | 'bad' {
  if (v >= pmp.eofMin) return 'eof';
  return pmp.validCluster(v) ? 'next' : 'bad';
}

export interface ChainResult {
  error: number;
  /** Clusters in the chain. */
  length: number;
  /** The last cluster of the chain (0 for an empty one). */
  last: number;
}

/**
 * Walks the whole chain from cluster `start` to its end mark, counting it;
 * a pointer outside the data clusters, a free or bad entry inside the chain,
 * or a loop (Brent's cycle finding: constant memory, at most about twice the
 * chain's steps) is EINTEGRITY. => may sleep
 */
export async function fatChain(mp: Mount, start: number, visit?: (cn: number) => void): Promise<ChainResult> {
  const pmp = mp.data as MsdosFs;
  if (start === 0) return { error: 0, length: 0, last: 0 };
  if (!pmp.validCluster(start)) return { error: EINTEGRITY, length: 0, last: 0 };
  let length = 1;
  let cur = start;
  visit?.(start);
  let tortoise = start;
  let power = 1;
  let lam = 0;
  for (;;) {
    const { error, value } = await fatGet(mp, cur);
    if (error !== 0) return { error, length, last: cur };
    const kind = entryKind(pmp, value);
    if (kind === 'eof') return { error: 0, length, last: cur };
    if (kind === 'bad') return { error: EINTEGRITY, length, last: cur };
    cur = value;
    length++;
    visit?.(cur);
    if (cur === tortoise) return { error: EINTEGRITY, length, last: cur }; // a loop
    if (++lam === power) {
      tortoise = cur;
      power *= 2;
      lam = 0;
    }
    if (length > pmp.g.maxCluster) return { error: EINTEGRITY, length, last: cur };
  }
}

export interface PcbmapResult {
  error: number;
  /** The disk cluster holding file cluster findcn. */
  cn: number;
  /** File clusters after it that follow it on the disk (bounded by maxrun and the chain's checked length). */
  runp: number;
  /** File clusters before it that precede it on the disk (as far as known). */
  runb: number;
}

/**
 * Maps file cluster findcn of dep to its disk cluster (cf. pcbmap): from
 * the runs of the chain kept in the denode when it has them, else walking
 * from the denode's FAT cache (the last cluster mapped) when that lies
 * before, else from the first cluster. => dep.chainLength known (fatChain
 * done) and findcn < dep.chainLength; may sleep
 */
export async function pcbmap(mp: Mount, dep: Denode, findcn: number): Promise<PcbmapResult> {
  const pmp = mp.data as MsdosFs;
  const fail = (error: number): PcbmapResult => ({ error, cn: 0, runp: 0, runb: 0 });
  if (findcn < 0 || findcn >= dep.chainLength) return fail(EINTEGRITY);
  const maxrun = Math.max(0, Math.floor(MAXPHYS / pmp.g.clusterBytes) - 1);
  const x = dep.ext;
  if (x !== null) {
    // The chain's runs, kept since it was walked: a binary search, no FAT reads.
    let lo = 0;
    let hi = x.file.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (x.file[mid] <= findcn) lo = mid;
      else hi = mid - 1;
    }
    const k = findcn - x.file[lo];
    if (lo < 0 || k < 0 || k >= x.len[lo]) return fail(EINTEGRITY);
    return { error: 0, cn: x.disk[lo] + k, runp: Math.min(maxrun, x.len[lo] - 1 - k, dep.chainLength - 1 - findcn), runb: Math.min(maxrun, k) };
  }
  let i = 0;
  let cn = dep.startCluster;
  let runStart = 0;
  if (dep.fcFile >= 0 && dep.fcFile <= findcn) {
    i = dep.fcFile;
    cn = dep.fcDisk;
    runStart = dep.fcRunStart;
  }
  for (; i < findcn; i++) {
    const { error, value } = await fatGet(mp, cn);
    if (error !== 0) return fail(error);
    if (entryKind(pmp, value) !== 'next') return fail(EINTEGRITY);
    if (value !== cn + 1) runStart = i + 1;
    cn = value;
  }
  dep.fcFile = findcn;
  dep.fcDisk = cn;
  dep.fcRunStart = runStart;
  let runp = 0;
  for (let c = cn; runp < maxrun && findcn + runp + 1 < dep.chainLength; runp++) {
    const { error, value } = await fatGet(mp, c);
    if (error !== 0) return fail(error);
    if (value !== c + 1 || !pmp.validCluster(value)) break;
    c = value;
  }
  return { error: 0, cn, runp, runb: Math.min(findcn - runStart, maxrun) };
}
