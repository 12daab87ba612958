/*
 * The in-core FAT file system (cf. struct msdosfsmount): the checked
 * geometry, the FSInfo hints, the code page of short names, and on a
 * read-write mount the map of clusters in use (cf. pm_inusemap), built by
 * reading the whole FAT once. mp.data of every FAT mount is one of these.
 *   pmp = mp.data as MsdosFs; pmp.g.clusterBytes; pmp.inuse(cn)
 */

import { DEV_BSIZE } from '../../kern/param.js';
import type { FatGeom } from './msdosfs_bpb.js';
import type { CodePage } from './msdosfs_codepage.js';

/** The root directory's file number (no directory entry names it). */
export const MSDOSFSROOT_INO = 1;

export class MsdosFs {
  /** Free clusters: FSInfo's hint until the FAT was read, then exact. */
  freeClusters = -1;
  /** Where the next allocation starts looking (cf. pm_nxtfree). */
  nextFree = 2;
  /** The FSInfo sector exists and carries its signatures. */
  fsinfoValid = false;
  /** FSInfo's numbers must be written at sync. */
  fsinfoDirty = false;
  /** FAT[1] as it was at mount (its clean bits go back at unmount). */
  fat1AtMount = 0;
  /** Read-write mounts: bit per cluster, set when in use (cf. pm_inusemap). */
  inusemap: Uint32Array | null = null;
  /** Mask of a FAT entry's meaningful bits. */
  readonly fatMask: number;
  /** Entries at or above this end a chain (cf. CLUST_EOFS). */
  readonly eofMin: number;
  /** The bad-cluster mark. */
  readonly badClust: number;
  /** Bytes of one FAT buffer: 3 sectors on FAT12, so no entry straddles two buffers. */
  readonly fatBlockBytes: number;

  constructor(
    readonly g: FatGeom,
    readonly codepage: CodePage,
    /** The volume label (root directory entry, else boot sector). */
    public label: string,
  ) {
    this.fatMask = g.fatBits === 12 ? 0xfff : g.fatBits === 16 ? 0xffff : 0x0fffffff;
    this.eofMin = this.fatMask - 7;
    this.badClust = this.fatMask - 8;
    this.fatBlockBytes = g.fatBits === 12 ? 3 * g.bytesPerSec : Math.max(g.bytesPerSec, 4096);
  }

  get fatBits(): 12 | 16 | 32 {
    return this.g.fatBits;
  }

  /** DEV_BSIZE address of cluster cn. => 2 <= cn <= maxCluster */
  cntobn(cn: number): number {
    return (this.g.dataOff + (cn - 2) * this.g.clusterBytes) / DEV_BSIZE;
  }

  /** True when cn may name a data cluster. */
  validCluster(cn: number): boolean {
    return cn >= 2 && cn <= this.g.maxCluster;
  }

  inuse(cn: number): boolean {
    const m = this.inusemap!;
    return (m[cn >>> 5] & (1 << (cn & 31))) !== 0;
  }

  setInuse(cn: number, on: boolean): void {
    const m = this.inusemap!;
    if (on) m[cn >>> 5] |= 1 << (cn & 31);
    else m[cn >>> 5] &= ~(1 << (cn & 31));
  }

  /** The file number of a directory whose first cluster is cn (its "." entry's place). */
  dirIno(cn: number): number {
    if (cn === 0 || (this.g.fatBits === 32 && cn === this.g.rootClust)) return MSDOSFSROOT_INO;
    return (this.g.dataOff + (cn - 2) * this.g.clusterBytes) / 32;
  }
}
