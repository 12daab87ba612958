/*
 * The vnode pager: pages of a VM object to and from the file of a vnode
 * (cf. FreeBSD sys/vm/vnode_pager.c, 1997). One object per vnode; page-in
 * (vnode_pager_getpages.ts) goes through the file system's block map
 * (VOP_BMAP, vnode_pager_bmap.ts) to one device read per physically
 * contiguous run (VOP_STRATEGY); page-out goes through VOP_WRITE from the
 * pages' own frames.
 *   obj = await vnodePagerAlloc(sys, vp)   ...   await vmObjectDeallocate(obj)
 * Departures from the seed are marked "departure:" where they are made.
 */

import { EINVAL, EIO, EOPNOTSUPP } from '../../kern/errno.js';
import { panic } from '../../kern/panic.js';
import { DEV_BSIZE } from '../../kern/param.js';
import { tsleep, wakeup } from '../../kern/sleep.js';
import type { Mount } from '../../vfs/mount.js';
import { Uio, UIO_NOCOPY, UIO_WRITE } from '../../vfs/uio.js';
import { VAGE, VOLOCK, VOWANT, VType, VVMIO, type Vnode } from '../../vfs/vnode.js';
import { IO_SYNC, IO_VMIO } from '../../vfs/vnode_if.js';
import { vrele, vref } from '../../vfs/vfs_subr.js';
import {
  OBJ_CANPERSIST,
  OBJ_DEAD,
  OBJ_VNODE_GONE,
  OBJT_VNODE,
  type VmObject,
  vmObjectAllocate,
  vmObjectDeallocate,
  vmObjectPageRemove,
  vmObjectReference,
} from '../vm_object.js';
import { PG_BUSY, vmPageBusyDone, type VmPage, vmPageSleep } from '../vm_page.js';
import { vmPageBlockDirty, vmPageClearDirtyBlocks, vmPageSetDirty } from '../vm_page_bits.js';
import type { VmSystem } from '../vm.js';
import { vnodePagerRun } from './vnode_pager_bmap.js';
import { vnodePagerGetpages } from './vnode_pager_getpages.js';
import {
  type HaspageResult,
  type PagerOps,
  type PagerResult,
  VM_PAGER_AGAIN,
  VM_PAGER_BAD,
  VM_PAGER_ERROR,
  VM_PAGER_OK,
  pagerResult,
  pagerRv,
} from './vm_pager.js';

export const vnodePagerOps: PagerOps = Object.freeze({
  name: 'vnode',
  dealloc: vnodePagerDealloc,
  getpages: vnodePagerGetpages,
  putpages: vnodePagerPutpages,
  haspage: vnodePagerHaspage,
});

function vnodeOf(obj: VmObject): Vnode {
  const vp = obj.handle;
  if (vp === null) panic('vnode_pager: object has no vnode');
  return vp;
}

/**
 * Finds or makes the VM object of vp, with a reference for the caller
 * (cf. vnode_pager_alloc). Allocation on one vnode is serialised with
 * VOLOCK/VOWANT; an object being terminated is waited out.
 * => may sleep; resolves to null for a null vnode
 */
export async function vnodePagerAlloc(sys: VmSystem, vp: Vnode | null): Promise<{ error: number; obj: VmObject | null }> {
  if (vp === null) return { error: 0, obj: null };
  while ((vp.flag & VOLOCK) !== 0) {
    vp.flag |= VOWANT;
    await tsleep(vp, 'vnpobj');
  }
  vp.flag |= VOLOCK;
  try {
    let obj = vp.object as VmObject | null;
    while (obj !== null && (obj.flags & OBJ_DEAD) !== 0) {
      await tsleep(obj, 'vadead');
      obj = vp.object as VmObject | null;
    }
    if (obj === null) {
      // departure: the seed took the size in pages from its caller and set
      // vnp_size to a page multiple; the size here is the file's, in bytes.
      const { error, va } = await vp.op.getattr(vp);
      if (error !== 0 || va === null) return { error: error || EINVAL, obj: null };
      obj = vmObjectAllocate(sys, OBJT_VNODE, vnodePagerOps, sys.param.pagesFor(va.size));
      // departure: directories and symlinks persist too, so that lookups
      // find their blocks cached; the seed kept only regular files.
      obj.flags = vp.type === VType.VREG || vp.type === VType.VDIR || vp.type === VType.VLNK ? OBJ_CANPERSIST : 0;
      vref(vp);
      obj.vnpSize = va.size;
      obj.handle = vp;
      vp.object = obj;
    } else {
      vmObjectReference(obj);
    }
    if (vp.type === VType.VREG) vp.flag |= VVMIO;
    return { error: 0, obj };
  } finally {
    vp.flag &= ~VOLOCK;
    if ((vp.flag & VOWANT) !== 0) {
      vp.flag &= ~VOWANT;
      wakeup(vp);
    }
  }
}

/**
 * Detaches object and vnode once paging has drained, dropping the object's
 * vnode reference (cf. vnode_pager_dealloc).
 */
export async function vnodePagerDealloc(obj: VmObject): Promise<void> {
  const vp = obj.handle;
  if (vp === null) panic('vnode_pager_dealloc: pager already dealloced');
  await obj.pipWait('vnpdea');
  obj.handle = null;
  vp.object = null;
  vp.flag &= ~VVMIO;
  vp.flag |= VAGE;
  await vrele(vp);
}

/**
 * Does the file have page pindex on disk, where, and how many pages around
 * it are contiguous with it (cf. vnode_pager_haspage; see vnodePagerRun)?
 */
export async function vnodePagerHaspage(obj: VmObject, pindex: number): Promise<HaspageResult> {
  return vnodePagerRun(obj, vnodeOf(obj), pindex);
}

/**
 * The file's size changed (cf. vnode_pager_setsize): on shrink, pages
 * wholly past the new EOF go, and the page straddling it has its tail
 * zeroed. => vp locked exclusively; may sleep
 */
export async function vnodePagerSetsize(vp: Vnode, nsize: number): Promise<void> {
  const obj = vp.object as VmObject | null;
  if (obj === null || nsize === obj.vnpSize) return;
  // departure: wait for paging in progress, so that a read in flight does not
  // mark valid a page the truncation is about to remove (PITFALLS 1).
  await obj.pipWait('vnpsz');
  const P = obj.vm.param.pageSize;
  const old = obj.vnpSize;
  // Set the size first: a fault starting after this clamps to it.
  obj.vnpSize = nsize;
  obj.size = obj.vm.param.pagesFor(nsize);
  if (nsize > old) {
    // departure (cf. Linux pagecache_isize_extended): a mapping may have
    // written past the old EOF inside its last page; those bytes were never
    // file data, and the grown file must read zeros there.
    const tail = obj.pages.get(Math.floor(old / P));
    const base = old % P;
    if (tail !== undefined && base !== 0 && (tail.flags & PG_BUSY) === 0) {
      tail.frame.fill(0, base);
      // Dirty, so that the zeros also reach the disk (the sector holding the
      // old EOF may have gone out with those bytes in it).
      vmPageSetDirty(tail, base, P - base);
    }
    return;
  }
  if (nsize === old) return;
  await vmObjectPageRemove(obj, obj.size, Infinity);
  const base = nsize % P;
  if (base === 0) return;
  for (;;) {
    const m = obj.pages.get(Math.floor(nsize / P));
    if (m === undefined) return;
    if ((m.flags & PG_BUSY) !== 0 || m.busy !== 0) {
      await vmPageSleep(obj.vm, m, 'vnpstr');
      continue;
    }
    if (obj.vnpSize !== nsize) return; // resized again while we slept
    m.frame.fill(0, base);
    // Keep the valid bits; keep the dirty bit of the block EOF falls inside
    // (it holds file bytes), clear those of blocks wholly past EOF.
    const firstPast = Math.ceil(base / DEV_BSIZE);
    vmPageClearDirtyBlocks(m, firstPast, P / DEV_BSIZE - firstPast);
    return;
  }
}

/**
 * Uncaches the object of every vnode of mp, so each terminates once its
 * users are gone (cf. vnode_pager_umount). The walk restarts when a vnode
 * leaves the mount under it.
 */
export async function vnodePagerUmount(mp: Mount): Promise<void> {
  restart: for (;;) {
    for (const vp of [...mp.vnodelist]) {
      if (vp.mount !== mp) continue restart;
      if (vp.object === null) continue;
      await vp.lock.lock();
      try {
        await vnodePagerUncache(vp);
      } finally {
        vp.lock.unlock();
      }
    }
    return;
  }
}

/**
 * Drops vp's object from the object cache so that it terminates, writing
 * its dirty pages, when unreferenced (cf. vnode_pager_uncache).
 * => vp locked
 */
export async function vnodePagerUncache(vp: Vnode): Promise<void> {
  const obj = vp.object as VmObject | null;
  if (obj === null) return;
  vmObjectReference(obj);
  obj.flags &= ~OBJ_CANPERSIST;
  // As in the seed: unlock, since terminating the object writes its dirty
  // pages, and putpages locks the vnode itself.
  vp.lock.unlock();
  try {
    await vmObjectDeallocate(obj);
  } finally {
    await vp.lock.lock();
  }
}

/**
 * Page-out (cf. vnode_pager_putpages): the file system's own VOP_PUTPAGES
 * first, the generic path when it answers EOPNOTSUPP.
 */
export async function vnodePagerPutpages(obj: VmObject, m: VmPage[], count: number, sync: boolean, rtvals: number[]): Promise<PagerResult> {
  if ((obj.flags & OBJ_VNODE_GONE) !== 0) {
    rtvals.fill(VM_PAGER_ERROR, 0, count);
    return pagerResult(EIO);
  }
  const vp = vnodeOf(obj);
  const error = await vp.op.putpages(vp, m, count, sync, rtvals);
  if (error === EOPNOTSUPP) return vnodePagerLeafPutpages(obj, m, count, sync, rtvals);
  return error === 0 ? pagerRv(rtvals[0]) : pagerResult(error);
}

/**
 * The generic page-out (cf. vnode_pager_leaf_putpages): pages wholly past
 * EOF answer BAD, the rest go to VOP_WRITE from their own frames
 * (UIO_NOCOPY, the frames in uio.iov).
 * departure: the seed wrote every page whole in one VOP_WRITE; here each run
 * of dirty DEV_BSIZE blocks is one VOP_WRITE, so clean blocks are never
 * rewritten, and a write error is returned instead of printed.
 * => every m[i] busy, consecutive indexes; vnode locked exclusively
 */
export async function vnodePagerLeafPutpages(obj: VmObject, m: VmPage[], count: number, sync: boolean, rtvals: number[]): Promise<PagerResult> {
  const sys = obj.vm;
  const P = sys.param.pageSize;
  const vp = vnodeOf(obj);
  for (let i = 0; i < count; i++) rtvals[i] = VM_PAGER_AGAIN;
  const poffset = m[0].pindex * P;
  let maxsize = count * P;
  let ncount = count;
  if (poffset + maxsize > obj.vnpSize) {
    maxsize = obj.vnpSize > poffset ? obj.vnpSize - poffset : 0;
    ncount = sys.param.pagesFor(maxsize);
    for (let i = ncount; i < count; i++) rtvals[i] = VM_PAGER_BAD;
    if (ncount > 0) {
      // departure: dirty bits past EOF are cleared, or a mapped last page
      // would be written again on every sync (cf. vnode_pager_undirty_pages).
      const last = m[ncount - 1];
      const base = obj.vnpSize - last.pindex * P;
      if (base < P) {
        const firstPast = Math.ceil(base / DEV_BSIZE);
        vmPageClearDirtyBlocks(last, firstPast, P / DEV_BSIZE - firstPast);
      }
    }
    for (let i = ncount; i < count; i++) vmPageClearDirtyBlocks(m[i], 0, P / DEV_BSIZE);
  }
  if (ncount === 0) return pagerRv(rtvals[0]);
  for (let i = 0; i < count; i++) m[i].busy++;
  let error = 0;
  const bpp = P / DEV_BSIZE;
  const nblocks = Math.ceil(maxsize / DEV_BSIZE);
  // Runs of dirty DEV_BSIZE blocks across the pages, each one VOP_WRITE.
  for (let b = 0; b < nblocks && error === 0; ) {
    if (!vmPageBlockDirty(m[Math.floor(b / bpp)], b % bpp)) {
      b++;
      continue;
    }
    let e = b + 1;
    while (e < nblocks && vmPageBlockDirty(m[Math.floor(e / bpp)], e % bpp)) e++;
    const off = b * DEV_BSIZE;
    const end = Math.min(e * DEV_BSIZE, maxsize);
    const iov: Uint8Array[] = [];
    for (let p = Math.floor(off / P); p * P < end; p++) {
      const from = Math.max(off - p * P, 0);
      const to = Math.min(end - p * P, P);
      iov.push(from === 0 && to === P ? m[p].frame : m[p].frame.subarray(from, to));
    }
    const uio = new Uio(iov, poffset + off, UIO_WRITE, UIO_NOCOPY);
    error = await vp.op.write(vp, uio, IO_VMIO | (sync ? IO_SYNC : 0));
    if (error === 0 && uio.resid > 0) error = EIO;
    sys.meter.v_vnodeout++;
    b = e;
  }
  sys.meter.v_vnodepgsout += ncount;
  for (let i = 0; i < count; i++) {
    vmPageBusyDone(m[i]);
    if (i < ncount) rtvals[i] = error !== 0 ? VM_PAGER_ERROR : VM_PAGER_OK;
  }
  return error !== 0 ? pagerResult(error) : pagerRv(rtvals[0]);
}
