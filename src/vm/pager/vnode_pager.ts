/*
 * The vnode pager: pages of a VM object to and from the file of a vnode
 * (cf. FreeBSD sys/vm/vnode_pager.c, 1997). One object per vnode; page-in
 * goes through the file system's block map (VOP_BMAP) to one device read
 * per physically contiguous run (VOP_STRATEGY); page-out goes through
 * VOP_WRITE from the pages' own frames.
 *   obj = await vnodePagerAlloc(sys, vp)   ...   await vmObjectDeallocate(obj)
 * Departures from the seed are marked "departure:" where they are made.
 */

import { EINVAL, EIO, EOPNOTSUPP } from '../../kern/errno.js';
import { panic } from '../../kern/panic.js';
import { DEV_BSIZE } from '../../kern/param.js';
import { tsleep, wakeup } from '../../kern/sleep.js';
import { B_READ, biowait, strategy } from '../../vfs/buf.js';
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
import {
  PG_BUSY,
  PG_RAHEAD,
  blockDirty,
  pageAnyValid,
  pageClearDirtyBlocks,
  pageSetDirty,
  pageSetAllValidClean,
  pageBusyDone,
  pageWakeup,
  pageInvalidate,
  type VmPage,
} from '../vm_page.js';
import { vmPageDeactivate, vmPageFree, vmPageSleep } from '../vm_phys.js';
import type { VmSystem } from '../vm.js';
import { ArenaRuns } from '../vm_arena_runs.js';
import { inputOld, inputPartial, inputSmlfs, vnodePagerAddr } from './vnode_pager_input.js';
import {
  type HaspageResult,
  PAGER_OK,
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
 * Does the file have page pindex on disk, and how many pages before and
 * after it are physically contiguous with it (cf. vnode_pager_haspage)?
 * A hole answers false; a bmap error answers true (conservatively).
 */
export async function vnodePagerHaspage(obj: VmObject, pindex: number): Promise<HaspageResult> {
  const vp = vnodeOf(obj);
  const P = obj.vm.param.pageSize;
  const mp = vp.mount;
  if (mp === null || pindex * P >= obj.vnpSize) return { has: false, before: 0, after: 0 };
  const bsize = mp.stat.iosize;
  const pagesPerBlock = Math.floor(bsize / P);
  const blocksPerPage = pagesPerBlock > 0 ? 0 : P / bsize;
  const reqblock = pagesPerBlock > 0 ? Math.floor(pindex / pagesPerBlock) : pindex * blocksPerPage;
  const r = await vp.op.bmap(vp, reqblock);
  if (r.error !== 0) return { has: true, before: 0, after: 0 };
  if (r.bn === -1) return { has: false, before: 0, after: 0 };
  let before: number;
  let after: number;
  if (pagesPerBlock > 0) {
    const poff = pindex - reqblock * pagesPerBlock;
    before = r.runb * pagesPerBlock + poff;
    after = r.runp * pagesPerBlock + (pagesPerBlock - poff - 1);
  } else {
    // departure: the seed divided runp by blocks-per-page, which counts a
    // page whose last blocks are not in the run; only whole pages count here.
    before = Math.floor(r.runb / blocksPerPage);
    after = Math.max(0, Math.floor((r.runp + 1) / blocksPerPage) - 1);
  }
  // Never past EOF. (The seed's clamp let one page past a page-aligned EOF through.)
  const lastPage = obj.vm.param.pagesFor(obj.vnpSize) - 1;
  after = Math.max(0, Math.min(after, lastPage - pindex));
  return { has: true, before, after };
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
      pageSetDirty(tail, base, P - base);
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
    pageClearDirtyBlocks(m, firstPast, P / DEV_BSIZE - firstPast);
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
 * The buffers for a transfer of `bytes` into the frames of pages m[0..]:
 * frames that lie side by side in the arena make one buffer.
 */
function framesIov(sys: VmSystem, m: readonly VmPage[], bytes: number): Uint8Array[] {
  const P = sys.param.pageSize;
  const runs = new ArenaRuns();
  for (let i = 0; i * P < bytes; i++) runs.add(m[i].phys * P, Math.min(P, bytes - i * P));
  return runs.views(sys, []);
}

/** Gives back a page the pager will not fill (cf. vnode_pager_freepage). */
export function vnodePagerFreepage(sys: VmSystem, m: VmPage): void {
  pageWakeup(m);
  if ((m.flags & PG_BUSY) === 0 && m.busy === 0 && m.holdCount === 0) vmPageFree(sys, m);
}

/**
 * Page-in (cf. vnode_pager_getpages): the file system's own VOP_GETPAGES
 * first, the generic path when it answers EOPNOTSUPP.
 */
export async function vnodePagerGetpages(obj: VmObject, m: VmPage[], count: number, reqpage: number): Promise<PagerResult> {
  if ((obj.flags & OBJ_VNODE_GONE) !== 0) return pagerResult(EIO);
  const vp = vnodeOf(obj);
  const error = await vp.op.getpages(vp, m, count, reqpage);
  if (error === EOPNOTSUPP) return vnodePagerLeafGetpages(obj, m, count, reqpage);
  return pagerResult(error);
}

function freeAllBut(sys: VmSystem, m: VmPage[], count: number, keep: number): void {
  for (let i = 0; i < count; i++) if (i !== keep) vnodePagerFreepage(sys, m[i]);
}

/**
 * The generic page-in (cf. vnode_pager_leaf_getpages): no bmap → VOP_READ;
 * blocks smaller than a page → per-block input unless the page's blocks are
 * contiguous; otherwise cut the cluster to the contiguous run holding
 * m[reqpage] and read it with one device transfer into the frames.
 * => every m[i] busy, consecutive indexes; vnode locked (shared)
 */
export async function vnodePagerLeafGetpages(obj: VmObject, m: VmPage[], count: number, reqpage: number): Promise<PagerResult> {
  const sys = obj.vm;
  const meter = sys.meter;
  const P = sys.param.pageSize;
  const vp = vnodeOf(obj);
  const mp = vp.mount;
  if (mp === null) return pagerRv(VM_PAGER_BAD);
  const bsize = mp.stat.iosize;

  // Ask the block map about the requested page first: that tells both
  // whether the file system has a bmap and where the page lives.
  const req = await vnodePagerAddr(vp, m[reqpage].pindex * P, P);
  if (req.error === EOPNOTSUPP) {
    freeAllBut(sys, m, count, reqpage);
    meter.v_vnodein++;
    meter.v_vnodepgsin++;
    return inputOld(obj, m[reqpage]);
  }
  if (req.error !== 0) {
    freeAllBut(sys, m, count, reqpage);
    return pagerResult(req.error);
  }
  // departure: the seed marked a partly valid page wholly valid (its "XXX"),
  // exposing whatever the frame held in the invalid blocks. Here only the
  // invalid blocks are read, and valid (possibly dirty) ones are kept.
  if (pageAnyValid(m[reqpage])) {
    freeAllBut(sys, m, count, reqpage);
    meter.v_vnodein++;
    meter.v_vnodepgsin++;
    return bsize < P ? inputSmlfs(obj, m[reqpage]) : inputPartial(obj, m[reqpage]);
  }
  // Small blocks: the seed read every page block by block. Beyond the seed,
  // a page whose blocks are contiguous joins the clustered path below.
  if (bsize < P && (req.addr === -1 || req.run === 0)) {
    freeAllBut(sys, m, count, reqpage);
    meter.v_vnodein++;
    meter.v_vnodepgsin++;
    return inputSmlfs(obj, m[reqpage]);
  }
  if (req.addr === -1) {
    // departure: the seed panicked on a requested page in a hole; a hole reads as zeros.
    freeAllBut(sys, m, count, reqpage);
    const r = m[reqpage];
    r.frame.fill(0);
    pageSetAllValidClean(r);
    meter.v_zfod++;
    return PAGER_OK;
  }

  // Find the run that holds the requested page; free the pages outside it.
  let first = 0;
  let firstaddr = -1;
  for (let i = 0, runend = 0; i < count; i = runend) {
    const a = i === reqpage ? req : await vnodePagerAddr(vp, m[i].pindex * P, P);
    if (a.error !== 0 || a.addr === -1 || a.run === 0) {
      // A hole, a partial small-block page or a bmap error outside the
      // requested page: that page is simply not read ahead.
      vnodePagerFreepage(sys, m[i]);
      runend = i + 1;
      first = runend;
      continue;
    }
    runend = i + a.run;
    // Pages go back highest first: the free queue hands out the last freed
    // first, so the next cluster gets these frames in ascending order again
    // (neighbouring pages in neighbouring frames read and copy as one piece).
    if (runend <= reqpage) {
      for (let j = runend - 1; j >= i; j--) vnodePagerFreepage(sys, m[j]);
    } else {
      if (a.run < count - first) {
        for (let j = count - 1; j >= first + a.run; j--) vnodePagerFreepage(sys, m[j]);
        count = first + a.run;
      }
      firstaddr = a.addr;
      break;
    }
    first = runend;
  }
  if (firstaddr === -1) panic('vnode_pager_leaf_getpages: lost the requested page');
  if (first !== 0) {
    m = m.slice(first, count);
    count -= first;
    reqpage -= first;
  }

  const foff = m[0].pindex * P;
  let size = Math.min(count * P, obj.vnpSize - foff);
  if (size <= 0) {
    // Every page of the run lies past EOF: the file shrank, which the vnode
    // lock should have prevented.
    panic('vnode_pager_leaf_getpages: read past EOF');
  }
  // Device transfers are whole DEV_BSIZE sectors.
  const xfer = Math.ceil(size / DEV_BSIZE) * DEV_BSIZE;
  const iov = framesIov(sys, m, xfer);

  const bp = await sys.pbufs.getpbuf();
  bp.flags = B_READ;
  bp.blkno = firstaddr;
  bp.bcount = xfer;
  bp.iov = iov;
  meter.v_vnodein++;
  meter.v_vnodepgsin += count;
  strategy(mp.dev, bp);
  const error = await biowait(bp);
  sys.pbufs.relpbuf(bp);

  if (error === 0 && size < count * P) {
    // Zero from EOF to the end of the run.
    const last = Math.floor(size / P);
    m[last].frame.fill(0, size - last * P);
    for (let i = last + 1; i < count; i++) m[i].frame.fill(0);
  }
  for (let i = 0; i < count; i++) {
    if (error === 0) pageSetAllValidClean(m[i]);
    else pageInvalidate(m[i]);
    if (i === reqpage) continue;
    if (error === 0) {
      m[i].flags |= PG_RAHEAD;
      meter.v_readahead++;
      vmPageDeactivate(sys, m[i]);
      pageWakeup(m[i]);
    } else {
      vnodePagerFreepage(sys, m[i]);
    }
  }
  return pagerResult(error);
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
        pageClearDirtyBlocks(last, firstPast, P / DEV_BSIZE - firstPast);
      }
    }
    for (let i = ncount; i < count; i++) pageClearDirtyBlocks(m[i], 0, P / DEV_BSIZE);
  }
  if (ncount === 0) return pagerRv(rtvals[0]);
  for (let i = 0; i < count; i++) m[i].busy++;
  let error = 0;
  const bpp = P / DEV_BSIZE;
  const nblocks = Math.ceil(maxsize / DEV_BSIZE);
  // Runs of dirty DEV_BSIZE blocks across the pages, each one VOP_WRITE.
  for (let b = 0; b < nblocks && error === 0; ) {
    if (!blockDirty(m[Math.floor(b / bpp)], b % bpp)) {
      b++;
      continue;
    }
    let e = b + 1;
    while (e < nblocks && blockDirty(m[Math.floor(e / bpp)], e % bpp)) e++;
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
    pageBusyDone(m[i]);
    if (i < ncount) rtvals[i] = error !== 0 ? VM_PAGER_ERROR : VM_PAGER_OK;
  }
  return error !== 0 ? pagerResult(error) : pagerRv(rtvals[0]);
}
