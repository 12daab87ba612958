/*
 * The VOP table (cf. vnode_if.src): every operation a file system offers on
 * its vnodes. A file system fills a VopVector, starting from vopDefault, and
 * freezes it. Every operation answers an errno (0 on success) or a result
 * with an `error` field; none throws. Lock state: the caller holds no vnode
 * lock unless the entry says so.
 */

import { EINVAL, ENOTDIR, EOPNOTSUPP } from '../kern/errno.js';
import type { Uio } from './uio.js';
import type { Buf } from './buf.js';
import { VType, type Vnode } from './vnode.js';
import type { PopulateResult, TreeNode, TreeSource } from './vfs_tree.js';

/**
 * VOP_FSYNC's waitfor (cf. MNT_WAIT / MNT_NOWAIT): MNT_WAIT (the default)
 * writes the inode and the file system's metadata and flushes the device;
 * MNT_NOWAIT writes them but leaves the device's flush (fdatasync) to a sync.
 */
export const MNT_WAIT = 1;
export const MNT_NOWAIT = 2;

/** IO_* flags of VOP_READ/VOP_WRITE. */
export const IO_SYNC = 0x4;
/**
 * The caller is the pager (putpages): uio is UIO_NOCOPY and uio.iov holds
 * the object's own page frames for exactly the range written. The file
 * system allocates what blocks the range needs and writes the device from
 * those frames; it never copies into them. Only dirty blocks are handed
 * over, one call per dirty run.
 */
export const IO_VMIO = 0x800;
/** Read from the disk, not through the VM object (cf. input_old's VOP_READ). */
export const IO_DIRECT = 0x1000;
/** The caller holds the vnode lock already: a fault must not take it again (cf. IO_NODELOCKED). */
export const IO_NODELOCKED = 0x8;

export interface Vattr {
  type: VType;
  /** Permission and type bits, as st_mode. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** Bytes of storage in use, including metadata blocks. */
  bytes: number;
  atime: number;
  mtime: number;
  ctime: number;
  /** Creation time where the file system keeps one, else 0. Seconds. */
  birthtime: number;
  /** Nanoseconds of each time, where the file system keeps them. */
  atimeNsec?: number;
  mtimeNsec?: number;
  ctimeNsec?: number;
  birthtimeNsec?: number;
  ino: number;
  /** Inode generation. */
  gen: number;
  /** The file system's own inode flags (e.g. ext2 i_flags). */
  flags: number;
  /** Preferred I/O size. */
  blksize: number;
  /** For VBLK/VCHR: the device number. */
  rdev: number;
  /** File-system specific facts for `stat`, by name (e.g. { extents: 1 }). */
  extra: Record<string, number | string | boolean>;
}

/** What VOP_SETATTR may change; absent fields stay. Times in seconds. */
export interface SetattrArgs {
  /** Permission bits (07777); the type bits stay. */
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: number;
  mtime?: number;
  /** Nanoseconds of atime and mtime (0 when absent); a file system without them ignores them. */
  atimeNsec?: number;
  mtimeNsec?: number;
}

/** setextattr's flag: 0, or one of these (as setxattr(2)'s). */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

export interface Dirent {
  name: string;
  ino: number;
  /** From the directory entry where the file system records it, else VNON. */
  type: VType;
}

export interface BmapResult {
  error: number;
  /** Device address of logical block `bn`, in DEV_BSIZE units; -1 for a hole. */
  bn: number;
  /** Logical blocks after bn that follow it contiguously on the device (cf. runp); for a hole, the hole blocks after it (0: unknown). */
  runp: number;
  /** Logical blocks before bn that precede it contiguously (cf. runb); for a hole, the hole blocks before it. */
  runb: number;
}

export interface LookupResult {
  error: number;
  /** The found vnode, referenced (vrele it when done). */
  vp: Vnode | null;
}

export interface VopVector {
  readonly name: string;
  /** Finds `name` in directory dvp. => dvp is VDIR; returns a referenced vnode */
  lookup(dvp: Vnode, name: string): Promise<LookupResult>;
  getattr(vp: Vnode): Promise<{ error: number; va: Vattr | null }>;
  /**
   * Calls `fn` for each entry of directory vp, in on-disk order, until it
   * answers false. "." and ".." are included when the directory records them.
   * IO_DIRECT (a walk that meets each directory once): on a read-only mount,
   * its blocks may be read straight from the device and not kept in the VM.
   */
  readdir(vp: Vnode, fn: (d: Dirent) => boolean, ioflag?: number): Promise<number>;
  readlink(vp: Vnode): Promise<{ error: number; target: string }>;
  /** Reads at uio.offset; short at EOF. IO_DIRECT: bypass the VM object. */
  read(vp: Vnode, uio: Uio, ioflag: number): Promise<number>;
  /**
   * Writes at uio.offset, growing the file as needed. A user write allocates
   * the blocks, sets the size (mp.vm.setsize) and moves the bytes into
   * the VM object's pages through the mount's VM (the pages are written
   * later by putpages). IO_VMIO: see above. => vp locked exclusively
   */
  write(vp: Vnode, uio: Uio, ioflag: number): Promise<number>;
  /** Creates regular file `name` in dvp. => dvp locked exclusively; returns the new vnode referenced */
  create(dvp: Vnode, name: string, mode: number): Promise<LookupResult>;
  /** Creates directory `name` in dvp. => dvp locked exclusively; returns the new vnode referenced */
  mkdir(dvp: Vnode, name: string, mode: number): Promise<LookupResult>;
  /** Creates symbolic link `name` in dvp pointing to `target`. => dvp locked exclusively; returns the new vnode referenced */
  symlink(dvp: Vnode, name: string, target: string): Promise<LookupResult>;
  /** Removes the entry `name` (not a directory) from dvp; the inode goes with its last link. => dvp locked exclusively */
  remove(dvp: Vnode, name: string): Promise<number>;
  /** Removes the empty directory `name` from dvp. => dvp locked exclusively */
  rmdir(dvp: Vnode, name: string): Promise<number>;
  /**
   * Creates the special file `name` in dvp: mode's type bits say which (a
   * character or block device with its major and minor, a FIFO, a socket).
   * => dvp locked exclusively; returns the new vnode referenced
   */
  mknod(dvp: Vnode, name: string, mode: number, major: number, minor: number): Promise<LookupResult>;
  /** Makes `name` in tdvp another link to vp's file. => tdvp locked exclusively */
  link(vp: Vnode, tdvp: Vnode, name: string): Promise<number>;
  /**
   * Makes each of `nodes` (names dvp does not hold), and everything below
   * them, in dvp from `src` at once (vfs_tree.ts); EOPNOTSUPP where the file
   * system makes files one at a time only. => dvp locked exclusively
   */
  populate(dvp: Vnode, nodes: readonly TreeNode[], src: TreeSource): Promise<PopulateResult>;
  /**
   * Renames fname in fdvp to tname in tdvp, replacing a file there (rename(2)).
   * => fdvp and tdvp locked exclusively (once when they are one)
   */
  rename(fdvp: Vnode, fname: string, tdvp: Vnode, tname: string): Promise<number>;
  /** Changes the attributes va names; ctime becomes now. => vp locked exclusively */
  setattr(vp: Vnode, va: SetattrArgs): Promise<number>;
  /**
   * The value of extended attribute `name` (the full Linux name, e.g.
   * 'user.comment'); ENOATTR when absent, EOPNOTSUPP where the file system
   * keeps none (cf. VOP_GETEXTATTR).
   */
  getextattr(vp: Vnode, name: string): Promise<{ error: number; value: Uint8Array | null }>;
  /** The names of vp's extended attributes, in on-disk order (cf. VOP_LISTEXTATTR). */
  listextattr(vp: Vnode): Promise<{ error: number; names: string[] }>;
  /**
   * Sets extended attribute `name` to value; flag XATTR_CREATE fails with
   * EEXIST when it exists, XATTR_REPLACE with ENOATTR when it does not; ctime
   * becomes now (cf. VOP_SETEXTATTR). => vp locked exclusively
   */
  setextattr(vp: Vnode, name: string, value: Uint8Array, flag: number): Promise<number>;
  /** Removes extended attribute `name`; ENOATTR when absent (cf. VOP_DELETEEXTATTR). => vp locked exclusively */
  deleteextattr(vp: Vnode, name: string): Promise<number>;
  /**
   * Maps logical block bn (file-system blocks) to a device address.
   * Runs never reach past the file's last block.
   * EOPNOTSUPP: the file system has no block map (the pager reads via VOP_READ).
   */
  bmap(vp: Vnode, bn: number): Promise<BmapResult>;
  /** The file system's own page-in; EOPNOTSUPP sends the pager its generic path. */
  getpages(vp: Vnode, pages: readonly unknown[], count: number, reqpage: number): Promise<number>;
  /** The file system's own page-out; EOPNOTSUPP sends the pager its generic path. */
  putpages(vp: Vnode, pages: readonly unknown[], count: number, sync: boolean, rtvals: number[]): Promise<number>;
  /**
   * Sets the file size (truncate/extend): a shrink frees the blocks past EOF
   * and zeroes the tail of the last block, on disk and in the pages
   * (mp.vm.setsize). => vp locked exclusively
   */
  setsize(vp: Vnode, size: number): Promise<number>;
  /** Writes the inode and the file's metadata. */
  fsync(vp: Vnode, waitfor?: number): Promise<number>;
  /** The last reference went away. */
  inactive(vp: Vnode): Promise<number>;
  /** The vnode is being recycled: drop the file system's in-core inode. */
  reclaim(vp: Vnode): Promise<number>;
}

const notsupp = () => Promise.resolve(EOPNOTSUPP);

/** The defaults a file system starts from (cf. vop_defaultop and friends). */
export const vopDefault: VopVector = Object.freeze({
  name: 'default',
  lookup: () => Promise.resolve({ error: ENOTDIR, vp: null }),
  getattr: () => Promise.resolve({ error: EOPNOTSUPP, va: null }),
  readdir: () => Promise.resolve(ENOTDIR),
  readlink: () => Promise.resolve({ error: EINVAL, target: '' }),
  read: notsupp,
  write: notsupp,
  create: () => Promise.resolve({ error: EOPNOTSUPP, vp: null }),
  mkdir: () => Promise.resolve({ error: EOPNOTSUPP, vp: null }),
  symlink: () => Promise.resolve({ error: EOPNOTSUPP, vp: null }),
  remove: notsupp,
  rmdir: notsupp,
  mknod: () => Promise.resolve({ error: EOPNOTSUPP, vp: null }),
  link: notsupp,
  populate: () => Promise.resolve({ error: EOPNOTSUPP, partial: null }),
  rename: notsupp,
  setattr: notsupp,
  getextattr: () => Promise.resolve({ error: EOPNOTSUPP, value: null }),
  listextattr: () => Promise.resolve({ error: EOPNOTSUPP, names: [] }),
  setextattr: notsupp,
  deleteextattr: notsupp,
  bmap: () => Promise.resolve({ error: EOPNOTSUPP, bn: -1, runp: 0, runb: 0 }),
  getpages: notsupp,
  putpages: notsupp,
  setsize: notsupp,
  fsync: () => Promise.resolve(0),
  inactive: () => Promise.resolve(0),
  reclaim: () => Promise.resolve(0),
});

/** What a device "vnode" offers the pager: strategy() on the mount's device. */
export type Strategy = (bp: Buf) => void;
