/*
 * The FAT boot sector and its BIOS parameter block (cf. FreeBSD bpb.h and
 * the checks of msdosfs_mountfs): decoded from the first sector, then
 * checked field by field against itself and the device, giving the
 * geometry every other part of msdosfs computes with (FAT12/16/32 by the
 * cluster count, where the FATs, the root directory and the data lie).
 *   { error, reason, found, geom } = bpbDecode(sector0, devSize)
 */

import { EINTEGRITY, EOPNOTSUPP } from '../../kern/errno.js';

/** The FSInfo sector's signatures (cf. fsinfo in bpb.h). */
export const FSI_LEAD_SIG = 0x41615252;
export const FSI_STRUC_SIG = 0x61417272;
export const FSI_TRAIL_SIG = 0xaa550000;
/** Cluster-count limits between FAT12, FAT16 and FAT32 (the Microsoft ones). */
export const FAT12_MAX_CLUSTERS = 4084;
export const FAT16_MAX_CLUSTERS = 65524;
export const FAT32_MAX_CLUSTERS = 0x0ffffff5;

export interface FatGeom {
  /** 12, 16 or 32. */
  fatBits: 12 | 16 | 32;
  bytesPerSec: number;
  secPerClust: number;
  /** Bytes per cluster. */
  clusterBytes: number;
  resSectors: number;
  nFats: number;
  /** Sectors per FAT. */
  fatSecs: number;
  /** Entries of the fixed root directory (FAT12/16); 0 on FAT32. */
  rootDirEnts: number;
  totalSecs: number;
  /** Byte offsets on the device. */
  fatOff: number;
  rootOff: number;
  rootBytes: number;
  dataOff: number;
  /** Clusters 2..maxCluster hold data. */
  maxCluster: number;
  /** FAT32: the root directory's first cluster. */
  rootClust: number;
  /** FAT32: the FSInfo sector, or 0 when there is none. */
  fsInfoSec: number;
  backupSec: number;
  /** FAT32 active FAT when mirroring is off, else -1. */
  activeFat: number;
  mediaByte: number;
  /** The label in the boot sector ('' for none or NO NAME), and the volume serial. */
  bpbLabel: string;
  volId: number;
}

export interface BpbResult {
  error: number;
  reason: string;
  /** The sector looked like a FAT (or exFAT/NTFS) boot sector at all. */
  found: boolean;
  geom: FatGeom | null;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[off + i]);
  return s;
}

/** The label of a BPB field: trailing spaces go, NO NAME is none. */
export function trimLabel(s: string): string {
  const t = s.replace(/[ \0]+$/, '');
  return t === 'NO NAME' ? '' : t;
}

/**
 * Decodes and checks the boot sector b (at least 512 bytes) of a device of
 * devSize bytes. found false: no FAT-like boot sector; EOPNOTSUPP: exFAT or
 * NTFS; EINTEGRITY: a FAT boot sector with an impossible field.
 */
export function bpbDecode(b: Uint8Array, devSize: number): BpbResult {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const oem = ascii(b, 3, 8);
  if (oem === 'EXFAT   ') return { error: EOPNOTSUPP, reason: 'unsupported file system: exfat', found: true, geom: null };
  if (oem === 'NTFS    ') return { error: EOPNOTSUPP, reason: 'unsupported file system: ntfs', found: true, geom: null };
  const bytesPerSec = dv.getUint16(11, true);
  const secPerClust = b[13];
  const jump = b[0] === 0xeb || b[0] === 0xe9;
  const sig = b[510] === 0x55 && b[511] === 0xaa;
  // Without a jump or a signature, or with an impossible sector or cluster size, this is no FAT boot sector.
  if (!(jump || sig) || !isPow2(bytesPerSec) || bytesPerSec < 512 || bytesPerSec > 4096 || !isPow2(secPerClust)) {
    return { error: 0, reason: '', found: false, geom: null };
  }
  const bad = (reason: string): BpbResult => ({ error: EINTEGRITY, reason, found: true, geom: null });
  const clusterBytes = bytesPerSec * secPerClust;
  if (clusterBytes > 65536) return bad(`bad cluster size (${clusterBytes} bytes)`);
  const resSectors = dv.getUint16(14, true);
  const nFats = b[16];
  const rootDirEnts = dv.getUint16(17, true);
  const totalSecs = dv.getUint16(19, true) || dv.getUint32(32, true);
  const mediaByte = b[21];
  const fat16Secs = dv.getUint16(22, true);
  const fat32 = fat16Secs === 0;
  const fatSecs = fat32 ? dv.getUint32(36, true) : fat16Secs;
  if (resSectors < 1) return bad('no reserved sectors');
  if (nFats < 1 || nFats > 4) return bad(`bad FAT count (${nFats})`);
  if (mediaByte < 0xf0 && mediaByte !== 0) return bad(`bad media byte (0x${mediaByte.toString(16)})`);
  if (fatSecs < 1) return bad('FAT size is zero');
  if (totalSecs < 1) return bad('no sectors');
  if (totalSecs * bytesPerSec > devSize) {
    return bad(`image is shorter than the file system (${devSize} bytes, the boot sector says ${totalSecs * bytesPerSec})`);
  }
  if (fat32 && rootDirEnts !== 0) return bad('FAT32 with a fixed root directory');
  if (!fat32 && rootDirEnts === 0) return bad('no root directory entries');
  const rootSecs = Math.ceil((rootDirEnts * 32) / bytesPerSec);
  const metaSecs = resSectors + nFats * fatSecs + rootSecs;
  if (metaSecs >= totalSecs) return bad('FATs and root directory fill the whole file system');
  const clusters = Math.floor((totalSecs - metaSecs) / secPerClust);
  if (clusters < 1) return bad('no data clusters');
  let fatBits: 12 | 16 | 32;
  if (fat32) fatBits = 32;
  else fatBits = clusters <= FAT12_MAX_CLUSTERS ? 12 : 16;
  if (fatBits === 16 && clusters > FAT16_MAX_CLUSTERS) return bad(`too many clusters for FAT16 (${clusters})`);
  if (fatBits === 32 && clusters > FAT32_MAX_CLUSTERS) return bad(`too many clusters for FAT32 (${clusters})`);
  const maxCluster = clusters + 1;
  // The FAT must hold an entry for every cluster (entries 0 and 1 are reserved).
  if (Math.ceil(((maxCluster + 1) * fatBits) / 8) > fatSecs * bytesPerSec) return bad(`FAT too small for ${clusters} clusters`);
  let rootClust = 0;
  let fsInfoSec = 0;
  let backupSec = 0;
  let activeFat = -1;
  let labelOff = 43;
  let volIdOff = 39;
  let extSig = b[38];
  if (fat32) {
    const extFlags = dv.getUint16(40, true);
    if (dv.getUint16(42, true) !== 0) return { error: EOPNOTSUPP, reason: `unsupported FAT32 version ${dv.getUint16(42, true)}`, found: true, geom: null };
    if ((extFlags & 0x80) !== 0) {
      activeFat = extFlags & 0x0f;
      if (activeFat >= nFats) return bad(`bad active FAT (${activeFat})`);
    }
    rootClust = dv.getUint32(44, true);
    if (rootClust < 2 || rootClust > maxCluster) return bad(`bad root cluster (${rootClust})`);
    fsInfoSec = dv.getUint16(48, true);
    if (fsInfoSec === 0xffff || fsInfoSec >= resSectors) fsInfoSec = 0; // none
    backupSec = dv.getUint16(50, true);
    if (backupSec === 0xffff || backupSec >= resSectors) backupSec = 0;
    labelOff = 71;
    volIdOff = 67;
    extSig = b[66];
  }
  const hasExt = extSig === 0x29 || extSig === 0x28;
  const fatOff = resSectors * bytesPerSec;
  const rootOff = fatOff + nFats * fatSecs * bytesPerSec;
  const geom: FatGeom = {
    fatBits,
    bytesPerSec,
    secPerClust,
    clusterBytes,
    resSectors,
    nFats,
    fatSecs,
    rootDirEnts,
    totalSecs,
    fatOff,
    rootOff,
    rootBytes: rootSecs * bytesPerSec,
    dataOff: rootOff + rootSecs * bytesPerSec,
    maxCluster,
    rootClust,
    fsInfoSec,
    backupSec,
    activeFat,
    mediaByte,
    bpbLabel: extSig === 0x29 ? trimLabel(ascii(b, labelOff, 11)) : '',
    volId: hasExt ? dv.getUint32(volIdOff, true) : 0,
  };
  return { error: 0, reason: '', found: true, geom };
}

/** The byte offset of cluster cn's first byte. => 2 <= cn <= maxCluster */
export function cntobyte(g: FatGeom, cn: number): number {
  return g.dataOff + (cn - 2) * g.clusterBytes;
}
