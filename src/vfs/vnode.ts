/*
 * struct vnode: the file system's object for one file, as the rest of the
 * kernel sees it. The file system keeps its inode in `data` and answers the
 * VOPs in `op`; the VM keeps the file's VM object in `object`.
 * Reference counts: usecount (active users, vref/vrele). The VM object holds
 * one reference for as long as it exists (cf. vnode_pager_alloc).
 */

import { Lock } from '../kern/lock.js';
import type { Mount } from './mount.js';
import type { VopVector } from './vnode_if.js';
import type { Uio } from './uio.js';

export const enum VType {
  VNON = 0,
  VREG = 1,
  VDIR = 2,
  VBLK = 3,
  VCHR = 4,
  VLNK = 5,
  VSOCK = 6,
  VFIFO = 7,
  VBAD = 8,
}

/** Object allocation in progress on this vnode (cf. VOLOCK). */
export const VOLOCK = 0x1;
/** Someone waits for VOLOCK to clear (cf. VOWANT). */
export const VOWANT = 0x2;
/** The vnode's pages are in the VM (cf. VVMIO). */
export const VVMIO = 0x4;
/** Recently released: reuse it early (cf. VAGE). */
export const VAGE = 0x8;
/** Being reclaimed or already reclaimed; lookups must not return it. */
export const VDOOMED = 0x10;
/** The root of its mount. */
export const VROOT = 0x20;

/**
 * What the VM offers a vnode through `object` (the VM implements it; vfs
 * and file systems know only this much of a VM object).
 */
export interface VnodeVmObject {
  /**
   * Moves bytes between the object's pages and uio, faulting pages in; a
   * write marks the pages' blocks dirty (they reach the file system later,
   * through putpages). => for UIO_WRITE: vp locked exclusively by the caller,
   * the file's size already covers the range
   */
  rdwr(vp: Vnode, uio: Uio, ioflag: number): Promise<number>;
  /**
   * The file's size changed (cf. vnode_pager_setsize): on shrink, pages past
   * EOF go and the straddling page's tail is zeroed. => vp locked exclusively
   */
  setsize(nsize: number): Promise<void>;
  /** Writes the object's dirty pages back through putpages; returns the first errno. => vp locked exclusively */
  clean(sync: boolean): Promise<number>;
  /** The object's idea of the file size in bytes (cf. vnp_size). */
  readonly vnpSize: number;
}

export class Vnode {
  flag = 0;
  usecount = 0;
  /** The VM object caching this file's pages, or null. */
  object: VnodeVmObject | null = null;
  /** Guards size changes and writes (cf. VOP_LOCK). */
  readonly lock: Lock;

  constructor(
    public type: VType,
    public mount: Mount | null,
    readonly op: VopVector,
    /** File-system private: the in-core inode. */
    public data: unknown,
    /** File number inside its mount (inode number); changed only by vfsHashRehash. */
    public ino: number,
  ) {
    this.lock = new Lock(`vnode ${ino}`);
  }
}
