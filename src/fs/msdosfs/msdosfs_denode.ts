/*
 * The in-core FAT file (cf. struct denode and deget/deupdat in FreeBSD
 * msdosfs_denode.c). FAT has no inodes: a file is its short directory
 * entry, so its file number is that entry's place on the device (byte
 * offset / 32); a directory's is the place of the "." entry that opens its
 * first cluster, so that its name in the parent and ".." inside its
 * children find the same vnode; the root's is MSDOSFSROOT_INO.
 *   { error, dep } = await deget(mp, ino);  error = await deupdat(mp, dep, sync)
 */

import { EINTEGRITY, EINVAL, EIO, ENOENT } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import { RangeSet } from '../../kern/rangeset.js';
import type { Mount } from '../../vfs/mount.js';
import { fatChain } from './msdosfs_fat.js';
import {
  ATTR_DIRECTORY, ATTR_VOLUME, ATTR_WIN95, DE_ADATE, DE_ATTR, DE_CDATE, DE_CHUNDREDTH, DE_CTIME, DE_FILESIZE,
  DE_HIGHCLUST, DE_MDATE, DE_MTIME, DE_STARTCLUST, DIRENT_SIZE, SLOT_DELETED, SLOT_EMPTY, put16, put32,
  u16, u32,
} from './msdosfs_direntry.js';
import { MSDOSFSROOT_INO, type MsdosFs } from './msdosfsmount.js';

/** Runs of a cluster chain: run i maps file clusters [file[i], file[i] + len[i]) to disk clusters from disk[i]. */
export interface ChainRuns {
  file: number[];
  disk: number[];
  len: number[];
}

/** Runs a denode keeps at most; a chain in more pieces is walked in the FAT instead. */
export const MAX_CHAIN_RUNS = 1 << 16;

/** Adds disk cluster cn as the next file cluster fileCn of the runs; false when they would grow past the bound. */
export function runsAppend(x: ChainRuns, fileCn: number, cn: number): boolean {
  const n = x.file.length;
  if (n > 0 && x.disk[n - 1] + x.len[n - 1] === cn && x.file[n - 1] + x.len[n - 1] === fileCn) {
    x.len[n - 1]++;
    return true;
  }
  if (n >= MAX_CHAIN_RUNS) return false;
  x.file.push(fileCn);
  x.disk.push(cn);
  x.len.push(1);
  return true;
}

/** Cuts the runs to the first `keep` file clusters. */
export function runsTruncate(x: ChainRuns, keep: number): void {
  while (x.file.length > 0 && x.file[x.file.length - 1] >= keep) {
    x.file.pop();
    x.disk.pop();
    x.len.pop();
  }
  const n = x.file.length;
  if (n > 0 && x.file[n - 1] + x.len[n - 1] > keep) x.len[n - 1] = keep - x.file[n - 1];
}

export class Denode {
  /** The short entry's bytes (for a directory, its "." entry; zeros for the root). */
  readonly raw: Uint8Array;
  /** Clusters in the chain once walked and checked (fatChain), else -1. */
  chainLength = -1;
  /** The chain's last cluster, when chainLength is known. */
  chainLast = 0;
  /** The chain as runs of contiguous clusters (file cluster, disk cluster, length), or null when not kept. */
  ext: ChainRuns | null = null;
  /* The FAT cache (cf. de_fc): the last file cluster mapped, its disk cluster, where its contiguous run began. */
  fcFile = -1;
  fcDisk = 0;
  fcRunStart = 0;
  /** The entry changed in core: deupdat owes it to the disk. */
  modified = false;
  /** Removed from its directory: nothing of it goes to the disk any more. */
  freed = false;
  /** The disk holds zeros from EOF to the end of the last cluster (zeroTail wrote them). */
  tailZeroed = false;
  /** File clusters allocated but never written: they read as zeros (a hole to bmap). */
  readonly unwritten = new RangeSet();

  constructor(
    readonly pmp: MsdosFs,
    /** Changes when a rename moves the file's entry. */
    public ino: number,
    readonly isDir: boolean,
    raw: Uint8Array,
    public startCluster: number,
    public size: number,
  ) {
    this.raw = raw;
  }

  get isRoot(): boolean {
    return this.ino === MSDOSFSROOT_INO;
  }

  get attr(): number {
    return this.raw[DE_ATTR];
  }

  /** The fixed root directory of FAT12/16: no clusters. */
  get fixedRoot(): boolean {
    return this.isRoot && this.pmp.fatBits !== 32;
  }

  /** For dirhash: the file system it belongs to. */
  get fs(): object {
    return this.pmp;
  }

  /** Forgets the FAT cache (the chain changed). */
  fcPurge(): void {
    this.fcFile = -1;
  }
}

/**
 * Where the directory slot at device byte `pos` lives: the directory buffer
 * holding it (a sector of the fixed root directory, or a whole cluster) as
 * a DEV_BSIZE address and size, and its offset there. null: no directory slot can be there.
 */
export function slotBuf(pmp: MsdosFs, pos: number): { blkno: number; size: number; off: number } | null {
  const g = pmp.g;
  if (!Number.isSafeInteger(pos) || pos % DIRENT_SIZE !== 0) return null;
  if (g.rootBytes > 0 && pos >= g.rootOff && pos < g.rootOff + g.rootBytes) {
    const start = g.rootOff + Math.floor((pos - g.rootOff) / g.bytesPerSec) * g.bytesPerSec;
    return { blkno: start / DEV_BSIZE, size: g.bytesPerSec, off: pos - start };
  }
  if (pos < g.dataOff) return null;
  const cn = Math.floor((pos - g.dataOff) / g.clusterBytes) + 2;
  if (cn > g.maxCluster) return null;
  const start = g.dataOff + (cn - 2) * g.clusterBytes;
  return { blkno: start / DEV_BSIZE, size: g.clusterBytes, off: pos - start };
}

/** The start cluster a short entry names (the high half only on FAT32). */
export function entryCluster(pmp: MsdosFs, b: Uint8Array, off: number): number {
  const lo = u16(b, off + DE_STARTCLUST);
  return pmp.fatBits === 32 ? lo + u16(b, off + DE_HIGHCLUST) * 65536 : lo;
}

/** Is the 11-byte name at off "." or ".."? */
export function isDotName(b: Uint8Array, off: number, dots: 1 | 2): boolean {
  for (let i = 0; i < 11; i++) if (b[off + i] !== (i < dots ? 0x2e : 0x20)) return false;
  return true;
}

/** Reads the root directory's denode (cf. deget of MSDOSFSROOT). => may sleep */
async function rootDenode(mp: Mount, pmp: MsdosFs): Promise<{ error: number; dep: Denode | null }> {
  const raw = new Uint8Array(DIRENT_SIZE);
  raw[DE_ATTR] = ATTR_DIRECTORY;
  if (pmp.fatBits !== 32) return { error: 0, dep: new Denode(pmp, MSDOSFSROOT_INO, true, raw, 0, pmp.g.rootBytes) };
  const dep = new Denode(pmp, MSDOSFSROOT_INO, true, raw, pmp.g.rootClust, 0);
  const c = await fatChain(mp, dep.startCluster);
  if (c.error !== 0) return { error: c.error, dep: null };
  dep.chainLength = c.length;
  dep.chainLast = c.last;
  dep.size = c.length * pmp.g.clusterBytes;
  return { error: 0, dep };
}

/**
 * The denode of file number ino, read from its entry (cf. deget). ENOENT:
 * the entry is free or deleted; EINTEGRITY: it cannot be what the number
 * says (a directory without its "." entry, a file past the chain's end).
 * A directory's chain is walked and checked here (its size is its chain).
 * => may sleep
 */
export async function deget(mp: Mount, ino: number): Promise<{ error: number; dep: Denode | null }> {
  const pmp = mp.data as MsdosFs;
  if (ino === MSDOSFSROOT_INO) return rootDenode(mp, pmp);
  const loc = slotBuf(pmp, ino * DIRENT_SIZE);
  if (loc === null) return { error: EINVAL, dep: null };
  const { error, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
  if (error !== 0 || bp === null) return { error: error || EIO, dep: null };
  const raw = bp.data.slice(loc.off, loc.off + DIRENT_SIZE);
  mp.bufcache.brelse(bp);
  const first = raw[0];
  const attr = raw[DE_ATTR];
  if (first === SLOT_EMPTY || first === SLOT_DELETED || attr === ATTR_WIN95 || (attr & ATTR_VOLUME) !== 0) return { error: ENOENT, dep: null };
  const cn = entryCluster(pmp, raw, 0);
  if ((attr & ATTR_DIRECTORY) !== 0) {
    // A directory is named by its "." entry, the first slot of its own first cluster.
    const own = pmp.g.rootBytes > 0 && ino * DIRENT_SIZE < pmp.g.dataOff ? -1 : Math.floor((ino * DIRENT_SIZE - pmp.g.dataOff) / pmp.g.clusterBytes) + 2;
    if (!isDotName(raw, 0, 1) || loc.off !== 0 || cn !== own) return { error: EINTEGRITY, dep: null };
    const dep = new Denode(pmp, ino, true, raw, cn, 0);
    const c = await fatChain(mp, cn);
    if (c.error !== 0) return { error: c.error, dep: null };
    dep.chainLength = c.length;
    dep.chainLast = c.last;
    dep.size = c.length * pmp.g.clusterBytes;
    return { error: 0, dep };
  }
  const size = u32(raw, DE_FILESIZE);
  if (cn !== 0 && !pmp.validCluster(cn)) return { error: EINTEGRITY, dep: null };
  if (cn === 0 && size !== 0) return { error: EINTEGRITY, dep: null };
  return { error: 0, dep: new Denode(pmp, ino, false, raw, cn, size) };
}

/**
 * Walks and checks dep's chain once (cf. the bounds pcbmap needs): a chain
 * shorter than the file's size says, a loop or a bad pointer is EINTEGRITY.
 * => may sleep
 */
export async function deChain(mp: Mount, dep: Denode): Promise<number> {
  if (dep.chainLength >= 0) return 0;
  let x: ChainRuns | null = { file: [], disk: [], len: [] };
  let i = 0;
  const c = await fatChain(mp, dep.startCluster, (cn) => {
    if (x !== null && !runsAppend(x, i, cn)) x = null;
    i++;
  });
  if (c.error !== 0) return c.error;
  if (!dep.isDir && c.length < Math.ceil(dep.size / dep.pmp.g.clusterBytes)) return EINTEGRITY;
  dep.chainLength = c.length;
  dep.chainLast = c.last;
  dep.ext = x;
  dep.fcPurge();
  return 0;
}

/**
 * Writes dep's start cluster, size, attributes and times back into its
 * directory entry (cf. deupdat); directories' entries are left as they are,
 * as FreeBSD does. => read-write mount; may sleep
 */
export async function deupdat(mp: Mount, dep: Denode, sync: boolean): Promise<number> {
  if (!dep.modified || dep.freed || dep.isDir) {
    dep.modified = false;
    return 0;
  }
  const loc = slotBuf(dep.pmp, dep.ino * DIRENT_SIZE);
  if (loc === null) return EINVAL;
  const { error, bp } = await mp.bufcache.bread(loc.blkno, loc.size);
  if (error !== 0 || bp === null) return error || EIO;
  const r = dep.raw;
  put16(r, DE_STARTCLUST, dep.startCluster & 0xffff);
  put16(r, DE_HIGHCLUST, dep.pmp.fatBits === 32 ? Math.floor(dep.startCluster / 65536) : 0);
  put32(r, DE_FILESIZE, dep.size);
  bp.data.set(r, loc.off);
  dep.modified = false;
  if (sync) return mp.bufcache.bwrite(bp);
  mp.bufcache.bdwrite(bp);
  return 0;
}

/** The DOS time fields of a short entry, for getattr. */
export function entryTimes(raw: Uint8Array): { cdate: number; ctime: number; chund: number; adate: number; mdate: number; mtime: number } {
  return {
    cdate: u16(raw, DE_CDATE),
    ctime: u16(raw, DE_CTIME),
    chund: raw[DE_CHUNDREDTH],
    adate: u16(raw, DE_ADATE),
    mdate: u16(raw, DE_MDATE),
    mtime: u16(raw, DE_MTIME),
  };
}

