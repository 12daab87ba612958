/*
 * struct vnode: the file system's object for one file, as the rest of the
 * kernel sees it. The file system keeps its inode in `data` and answers the
 * VOPs in `op`; the VM keeps the file's VM object in `object`, opaque here:
 * vfs and file systems reach the VM only through the mount's VmOps.
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
 * What the VM offers vfs and the file systems: one frozen table, installed
 * on a mount (`mp.vm`) by the VM that takes it (vm/vm_vnode.ts); a mount
 * with none reads files from the device. Each op finds the vnode's VM object
 * itself; setsize and clean do nothing for a vnode that has none.
 */
export interface VmOps {
  /**
   * Moves bytes between the file's pages and uio, finding or making its
   * object (cf. vnode_create_vobject) and faulting pages in; a write marks
   * the pages' blocks dirty (they reach the file system later, through
   * putpages). => for UIO_WRITE: vp locked exclusively by the caller, the
   * file's size already covers the range
   */
  rdwr(vp: Vnode, uio: Uio, ioflag: number): Promise<number>;
  /**
   * The file's size changed (cf. vnode_pager_setsize): on shrink, pages past
   * EOF go and the straddling page's tail is zeroed. => vp locked exclusively
   */
  setsize(vp: Vnode, nsize: number): Promise<void>;
  /** Writes the file's dirty pages back through putpages; returns the first errno. => vp locked exclusively */
  clean(vp: Vnode, sync: boolean): Promise<number>;
}

export class Vnode {
  flag = 0;
  usecount = 0;
  /** The VM object caching this file's pages (the VM's; opaque to vfs), or null. */
  object: object | null = null;
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
