/*
 * The VM's side of the VM↔VFS contract: the one frozen VmOps table a VM
 * installs on each mount it takes (vfs/vnode.ts declares it). vfs and the
 * file systems call rdwr, setsize and clean on `mp.vm`; the table finds the
 * vnode's object (vp.object) and calls the VM, which reaches the file back
 * only through its pager. The object itself knows no pager and no vfs op.
 *   vmMountAttach(sys, mp)   // before the mount's first vnode is read
 */

import { EINVAL } from '../kern/errno.js';
import type { Mount } from '../vfs/mount.js';
import type { Uio } from '../vfs/uio.js';
import type { Vnode, VmOps } from '../vfs/vnode.js';
import { vnodePagerAlloc, vnodePagerSetsize } from './pager/vnode_pager.js';
import { OBJ_DEAD, type VmObject, vmObjectDeallocate, vmObjectDeallocateNow, vmObjectReference } from './vm_object.js';
import { vmObjectPageClean } from './vm_object_clean.js';
import { objectRdwr } from './vm_rdwr.js';
import type { VmSystem } from './vm.js';

/** Each VM's table, made on its first mount. */
const tables = new WeakMap<VmSystem, VmOps>();

/** The VmOps table of sys: frozen, one per VM. */
export function vmVnodeOps(sys: VmSystem): VmOps {
  let ops = tables.get(sys);
  if (ops === undefined) {
    ops = Object.freeze({
      rdwr: (vp: Vnode, uio: Uio, ioflag: number) => vmVnodeRdwr(sys, vp, uio, ioflag),
      setsize: vnodePagerSetsize,
      clean: vmVnodeClean,
    });
    tables.set(sys, ops);
  }
  return ops;
}

/** Installs sys's VmOps on mp: the mount's files read and write through sys's pages. */
export function vmMountAttach(sys: VmSystem, mp: Mount): void {
  mp.vm = vmVnodeOps(sys);
}

/**
 * Reads or writes vp through its object's pages, holding a reference to
 * the object for the call; a vnode with no object gets one (cf.
 * vnode_create_vobject). Unheld, an object whose other holders let go
 * meanwhile (a directory's, cached between its reads) could be terminated
 * by the object cache's trim under the read, whose fault then found no
 * vnode behind it (a panic, under lookups racing creates in a directory).
 * => as VmOps.rdwr
 */
async function vmVnodeRdwr(sys: VmSystem, vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  const cached = vp.object as VmObject | null;
  if (cached !== null && (cached.flags & OBJ_DEAD) === 0) {
    vmObjectReference(cached);
    try {
      return await objectRdwr(cached, uio, ioflag);
    } finally {
      // An open file's reference outlives the call's: dropped without a promise.
      if (!vmObjectDeallocateNow(cached)) await vmObjectDeallocate(cached);
    }
  }
  const { error, obj } = await vnodePagerAlloc(sys, vp);
  if (error !== 0 || obj === null) return error || EINVAL;
  try {
    return await objectRdwr(obj, uio, ioflag);
  } finally {
    await vmObjectDeallocate(obj);
  }
}

/** Writes vp's dirty pages back; 0 for a vnode with no object. => vp locked exclusively */
function vmVnodeClean(vp: Vnode, sync: boolean): Promise<number> {
  const obj = vp.object as VmObject | null;
  return obj === null ? Promise.resolve(0) : vmObjectPageClean(obj, sync, { locked: true });
}
