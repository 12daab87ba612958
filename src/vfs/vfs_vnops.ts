/*
 * Generic vnode read: what a file system's VOP_READ does for regular files,
 * directories and slow symlinks. The bytes come through the vnode's VM object
 * (one cache for read, write and mmap); only IO_DIRECT (the pager's
 * input_old path) and a mount without a VM read the device directly, through
 * the file system's own `direct` routine.
 */

import { type Vnode } from './vnode.js';
import type { Uio } from './uio.js';
import { IO_DIRECT } from './vnode_if.js';

export type DirectRead = (vp: Vnode, uio: Uio) => Promise<number>;

/** => uio.rw is UIO_READ; reads stop at EOF (here or in the VM) */
export function vnRead(vp: Vnode, uio: Uio, ioflag: number, direct: DirectRead): Promise<number> {
  if ((ioflag & IO_DIRECT) !== 0) return direct(vp, uio);
  if (vp.object !== null) return vp.object.rdwr(vp, uio, ioflag);
  const vm = vp.mount?.vm ?? null;
  if (vm === null) return direct(vp, uio);
  return vm.rdwr(vp, uio, ioflag);
}
