/*
 * Formatting a device as FAT12, FAT16 or FAT32 (the layout mkfs.fat makes):
 * the type chosen by size as mkfs.fat does (FAT32 from 512 MiB, else FAT12
 * when the clusters of the default size fit 12 bits, else FAT16) unless
 * asked, a cluster size from the size (one sector on a floppy, else
 * Microsoft's table, 2 KiB up to 128 MiB), two FATs, a fixed root directory of 512
 * entries (224 on a floppy) or FAT32's root cluster with FSInfo and a backup
 * boot sector at sector 6, and the volume label in the boot sector and the root.
 *   { error, reason } = await msdosfsMkfs(dev, { fat: 32, clusterBytes: 4096, label: 'BOOT' })
 */

import { EINVAL, EIO } from '../../kern/errno.js';
import type { BlockDevice } from '../../dev/device.js';
import { FAT12_MAX_CLUSTERS, FAT16_MAX_CLUSTERS, FSI_LEAD_SIG, FSI_STRUC_SIG, FSI_TRAIL_SIG } from './msdosfs_bpb.js';
import { ATTR_VOLUME, DE_ATTR, DE_MDATE, DE_MTIME, put16, put32, unixToDos } from './msdosfs_direntry.js';

export interface MsdosfsMkfsOptions {
  fat?: 12 | 16 | 32;
  /** Bytes per cluster: 512 to 32768, a power of two. */
  clusterBytes?: number;
  label?: string;
  /** The volume serial number (default: from the time). */
  volId?: number;
  /** Bytes of the device to format (default: all of it). */
  size?: number;
  /** Seconds since the epoch for the label's entry (default: now). */
  now?: number;
}

const SECTOR = 512;
const MiB = 2 ** 20;

interface Layout {
  fat: 12 | 16 | 32;
  spc: number;
  res: number;
  rootEnts: number;
  fatSecs: number;
  clusters: number;
}

/** FAT size and cluster count for a type and cluster size, by fixed point (the FATs' size depends on the clusters left). */
function layout(fat: 12 | 16 | 32, spc: number, total: number, rootEnts: number): Layout {
  const res = fat === 32 ? 32 : 1;
  const rootSecs = Math.ceil((rootEnts * 32) / SECTOR);
  let fatSecs = 1;
  let clusters = 0;
  for (let i = 0; i < 64; i++) {
    clusters = Math.floor((total - res - 2 * fatSecs - rootSecs) / spc);
    const need = Math.ceil((Math.ceil(((clusters + 2) * fat) / 8)) / SECTOR);
    if (need <= fatSecs) break;
    fatSecs = need;
  }
  return { fat, spc, res, rootEnts, fatSecs, clusters };
}

/** Microsoft's cluster size for a volume of `bytes` (FAT16 and FAT32 tables). */
function defaultCluster(fat: 12 | 16 | 32, bytes: number): number {
  if (fat === 12) return 512;
  if (fat === 16) return bytes <= 128 * MiB ? 2048 : bytes <= 256 * MiB ? 4096 : bytes <= 512 * MiB ? 8192 : bytes <= 1024 * MiB ? 16384 : 32768;
  return bytes <= 8192 * MiB ? 4096 : bytes <= 16384 * MiB ? 8192 : bytes <= 32768 * MiB ? 16384 : 32768;
}

function fits(l: Layout): boolean {
  if (l.clusters < 1) return false;
  if (l.fat === 12) return l.clusters <= FAT12_MAX_CLUSTERS;
  if (l.fat === 16) return l.clusters > FAT12_MAX_CLUSTERS && l.clusters <= FAT16_MAX_CLUSTERS;
  return l.clusters <= 0x0ffffff5;
}

/** The layout for a device of `total` sectors, or a reason it cannot have one. */
export function chooseLayout(total: number, opts: MsdosfsMkfsOptions): { layout: Layout | null; reason: string } {
  const bytes = total * SECTOR;
  const floppy = bytes <= 2880 * 1024;
  const rootEnts = floppy ? 224 : 512;
  const cb = opts.clusterBytes;
  if (cb !== undefined && (cb < 512 || cb > 32768 || (cb & (cb - 1)) !== 0)) return { layout: null, reason: `bad cluster size ${cb}` };
  const types: Array<12 | 16 | 32> = opts.fat !== undefined ? [opts.fat] : bytes >= 512 * MiB ? [32] : [12, 16];
  for (const fat of types) {
    const tryOne = (c: number) => layout(fat, c / SECTOR, total, fat === 32 ? 0 : rootEnts);
    if (cb !== undefined) {
      const l = tryOne(cb);
      if (fits(l)) return { layout: l, reason: '' };
      continue;
    }
    // The table's size (one sector on a floppy; FAT12 takes FAT16's), smaller while there
    // are too few clusters for the type, larger while too many.
    let c = floppy ? 512 : defaultCluster(fat === 12 ? 16 : fat, bytes);
    let l = tryOne(c);
    while (fat !== 12 && l.clusters <= (fat === 16 ? FAT12_MAX_CLUSTERS : FAT16_MAX_CLUSTERS) && c > 512) l = tryOne((c /= 2));
    while (!fits(l) && c < 32768 && l.clusters > 0 && (opts.fat !== undefined || fat !== 12)) l = tryOne((c *= 2));
    if (fits(l) || (fat === 32 && l.clusters > 0)) return { layout: l, reason: '' };
  }
  const what = opts.fat !== undefined ? `FAT${opts.fat}` : 'FAT';
  return { layout: null, reason: `${bytes} bytes cannot hold a ${what} file system${cb !== undefined ? ` with ${cb}-byte clusters` : ''}` };
}

/** The 11 bytes of a label: upper case, space padded; ASCII only. */
function labelBytes(label: string | undefined): Uint8Array | null {
  const out = new Uint8Array(11).fill(0x20);
  const s = (label ?? 'NO NAME').toUpperCase();
  if (s.length > 11) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || '"*+,./:;<=>?[\\]|'.includes(s[i])) return null;
    out[i] = c;
  }
  return out;
}

/** The boot sector of layout l. */
function bootSector(l: Layout, total: number, label: Uint8Array, volId: number): Uint8Array {
  const b = new Uint8Array(SECTOR);
  const fat32 = l.fat === 32;
  b.set(fat32 ? [0xeb, 0x58, 0x90] : [0xeb, 0x3c, 0x90], 0);
  b.set(new TextEncoder().encode('mkfs.fat'), 3);
  put16(b, 11, SECTOR);
  b[13] = l.spc;
  put16(b, 14, l.res);
  b[16] = 2;
  put16(b, 17, l.rootEnts);
  put16(b, 19, total < 65536 ? total : 0);
  b[21] = total <= 5760 ? 0xf0 : 0xf8;
  put16(b, 22, fat32 ? 0 : l.fatSecs);
  put16(b, 24, 32);
  put16(b, 26, 64);
  put32(b, 32, total < 65536 ? 0 : total);
  const ext = fat32 ? 64 : 36;
  if (fat32) {
    put32(b, 36, l.fatSecs);
    put32(b, 44, 2);
    put16(b, 48, 1);
    put16(b, 50, 6);
  }
  b[ext] = 0x80;
  b[ext + 2] = 0x29;
  put32(b, ext + 3, volId);
  b.set(label, ext + 7);
  b.set(new TextEncoder().encode(`FAT${l.fat}   `), ext + 18);
  // Boot code: an endless loop; this volume is not bootable.
  const code = fat32 ? 90 : 62;
  b.set([0xeb, 0xfe], code);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** Writes bufs at byte off; EIO unless the device takes them. */
async function put(dev: BlockDevice, off: number, data: Uint8Array): Promise<number> {
  return (await dev.writev([data], off)) || 0;
}

/** Formats dev as FAT (cf. mkfs.fat). EINVAL with a reason for an impossible request. => may sleep */
export async function msdosfsMkfs(dev: BlockDevice, opts: MsdosfsMkfsOptions = {}): Promise<{ error: number; reason: string }> {
  const total = Math.min(Math.floor(Math.min(opts.size ?? dev.size, dev.size) / SECTOR), 0xffffffff);
  const label = labelBytes(opts.label);
  if (label === null) return { error: EINVAL, reason: `bad FAT volume label: ${opts.label}` };
  const { layout: l, reason } = chooseLayout(total, opts);
  if (l === null) return { error: EINVAL, reason };
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const volId = (opts.volId ?? (now * 2654435761) >>> 0) >>> 0;
  const boot = bootSector(l, total, label, volId);
  const fat32 = l.fat === 32;
  // The reserved sectors, both FATs and the fixed root directory start out zero.
  const rootSecs = Math.ceil((l.rootEnts * 32) / SECTOR);
  const metaBytes = (l.res + 2 * l.fatSecs + rootSecs) * SECTOR;
  const zero = new Uint8Array(Math.min(metaBytes, MiB));
  for (let off = 0; off < metaBytes; off += zero.length) {
    const e = await put(dev, off, zero.subarray(0, Math.min(zero.length, metaBytes - off)));
    if (e !== 0) return { error: e, reason: 'cannot write' };
  }
  let error = await put(dev, 0, boot);
  const fat = new Uint8Array(SECTOR);
  const media = boot[21];
  if (l.fat === 12) fat.set([media, 0xff, 0xff], 0);
  else if (l.fat === 16) fat.set([media, 0xff, 0xff, 0xff], 0);
  else {
    put32(fat, 0, 0x0fffff00 | media);
    put32(fat, 4, 0x0fffffff);
    put32(fat, 8, 0x0fffffff); // the root directory's cluster
  }
  for (let copy = 0; copy < 2 && error === 0; copy++) error = await put(dev, (l.res + copy * l.fatSecs) * SECTOR, fat);
  const rootOff = (l.res + 2 * l.fatSecs) * SECTOR;
  if (fat32 && error === 0) {
    const fsi = new Uint8Array(SECTOR);
    put32(fsi, 0, FSI_LEAD_SIG);
    put32(fsi, 484, FSI_STRUC_SIG);
    put32(fsi, 488, l.clusters - 1);
    put32(fsi, 492, 3);
    put32(fsi, 508, FSI_TRAIL_SIG);
    error = (await put(dev, SECTOR, fsi)) || (await put(dev, 6 * SECTOR, boot)) || (await put(dev, 7 * SECTOR, fsi));
    error ||= await put(dev, rootOff, new Uint8Array(l.spc * SECTOR));
  }
  if (error === 0 && opts.label !== undefined) {
    const e = new Uint8Array(32);
    e.set(label, 0);
    e[DE_ATTR] = ATTR_VOLUME;
    const t = unixToDos(now);
    put16(e, DE_MTIME, t.time);
    put16(e, DE_MDATE, t.date);
    error = await put(dev, rootOff, e);
  }
  if (error !== 0) return { error: error || EIO, reason: 'cannot write' };
  return { error: 0, reason: '' };
}
