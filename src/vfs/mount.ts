/*
 * struct mount: one mounted file system. It owns the device, the metadata
 * buffer cache, the list of its vnodes (cf. mnt_vnodelist) and the file
 * system's operations (VfsOps).
 *   mp = await ext2Mount(dev, opts); root = await mp.op.root(mp); ... await mp.op.unmount(mp)
 */

import type { BlockDevice } from '../dev/device.js';
import type { BufCache } from './vfs_bio.js';
import type { Vnode, VmOps } from './vnode.js';
import type { Vattr } from './vnode_if.js';

export const MNT_RDONLY = 0x1;
/**
 * Metadata written only at sync, unmount or under memory pressure (cf.
 * mount -o async): no synchronous write orders a new inode before its entry
 * or an entry before the next step. Much faster for filling a new image; a
 * crash leaves it in no state a checker is sure to mend.
 */
export const MNT_ASYNC = 0x40;
/**
 * What is made gets no ACL from its directory's default ACL (a tree copied
 * in keeps its sources' attributes, as mke2fs -d and cp -a leave them).
 */
export const MNT_NOACLINHERIT = 0x100;

export interface Statfs {
  /** 'ext2' | 'ext3' | 'ext4' | 'ufs1' | 'ufs2' ... */
  fstype: string;
  /** The file-system block size: the unit of bmap (cf. f_iosize). */
  iosize: number;
  /** The unit of block addresses, in bytes: a UFS fragment; iosize where blocks are not split. */
  fsize: number;
  blocks: number;
  bfree: number;
  files: number;
  ffree: number;
  /** Volume label, if any. */
  label: string;
  /** Notes for the user (e.g. a journal that needs recovery was not replayed). */
  warnings: string[];
  /** The last on-disk damage the file system met, naming the block ('' when none), for the next EINTEGRITY's message. */
  damage?: string;
}

/** A regular file as VFS_BULKSTAT tells of it. */
export interface Bulkstat {
  va: Vattr;
  /**
   * Its data on the device as VOP_BMAP block by block gives it: (file byte
   * offset, bytes, device byte address) triples in file order, up to its
   * size, joined where both go on; holes and unwritten extents left out.
   */
  runs: number[];
}

/** Adds a run (file offset, bytes, device byte address) to runs, joined to the last where both go on (Bulkstat.runs). */
export function runAppend(runs: number[], pos: number, len: number, dev: number): void {
  const k = runs.length - 3;
  if (k >= 0 && runs[k] + runs[k + 1] === pos && runs[k + 2] + runs[k + 1] === dev) runs[k + 1] += len;
  else runs.push(pos, len, dev);
}

export interface VfsOps {
  /** Returns the root directory, referenced. */
  root(mp: Mount): Promise<{ error: number; vp: Vnode | null }>;
  /** Returns the vnode of file number ino, referenced (cf. VFS_VGET). */
  vget(mp: Mount, ino: number): Promise<{ error: number; vp: Vnode | null }>;
  /**
   * vget without a task where that needs no read and no recycling (the
   * vnode in core, or the inode's block resident); null where it does (a
   * file system may have none).
   */
  vgetNow?(mp: Mount, ino: number): { error: number; vp: Vnode | null } | null;
  /**
   * What a tree copied out of a read-only mount needs of regular file ino,
   * without a vnode and without a task (cf. XFS's bulkstat): its attributes
   * and its block map as VOP_GETATTR and VOP_BMAP of its vnode would give
   * them. Null for anything else, and wherever that would need a read or a
   * report (the caller then takes vget); a file system may have none.
   */
  bulkstatNow?(mp: Mount, ino: number): Bulkstat | null;
  /** Writes every dirty metadata buffer and in-core inode (cf. VFS_SYNC). */
  sync(mp: Mount): Promise<number>;
  /** Last words before the device closes: write the superblock clean. */
  unmount(mp: Mount): Promise<number>;
}

export class Mount {
  flag = 0;
  /** Every vnode of this mount that is in core (cf. mnt_vnodelist). */
  readonly vnodelist = new Set<Vnode>();
  /** In-core vnodes by file number (cf. vfs_hash). */
  readonly vnodeHash = new Map<number, Vnode>();
  /** In-core vnodes past which unreferenced ones are recycled, oldest first (cf. desiredvnodes; see vfs_limits). */
  maxVnodes = 320;
  /** Set by unmount: no new vnodes. */
  unmounting = false;
  /** The VM's operations, installed by the VM that uses this mount (see VmOps). */
  vm: VmOps | null = null;

  constructor(
    readonly dev: BlockDevice,
    readonly bufcache: BufCache,
    readonly op: VfsOps,
    public stat: Statfs,
    /** File-system private: the in-core superblock. */
    public data: unknown,
  ) {}

  get readOnly(): boolean {
    return (this.flag & MNT_RDONLY) !== 0;
  }

  /** MNT_ASYNC: ordering writes are delayed with the rest. */
  get async(): boolean {
    return (this.flag & MNT_ASYNC) !== 0;
  }
}
