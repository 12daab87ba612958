/*
 * The vnode pager's page-in (cf. vnode_pager_getpages, _leaf_getpages):
 * the file system's own VOP_GETPAGES first, else the generic path in three
 * steps:
 *   1. choose the input: a single-page path (no block map, a partly valid
 *      page, small blocks not in one run), the hole (every page of the
 *      cluster inside it zero-filled) or the clustered read;
 *   2. cut the cluster to the device run holding the requested page;
 *   3. transfer the run with one device read straight into the frames.
 * A read-ahead (nobody waiting) into a hole fills nothing and answers FAIL.
 * The block map is asked at most once per call, and not at all when the
 * fault hands on haspage's answer (its `hint`): one VOP_BMAP per run read.
 * => every m[i] busy, consecutive indexes; the vnode locked (shared)
 */

import { EIO, EOPNOTSUPP } from '../../kern/errno.js';
import { panic } from '../../kern/panic.js';
import { DEV_BSIZE } from '../../kern/param.js';
import { B_READ, biowait, strategy } from '../../vfs/buf.js';
import type { Vnode } from '../../vfs/vnode.js';
import { OBJ_VNODE_GONE, type VmObject } from '../vm_object.js';
import { PG_BUSY, PG_RAHEAD, vmPageWakeup, type VmPage, vmPageDeactivate, vmPageFree } from '../vm_page.js';
import { vmPageAnyValid, vmPageInvalidate, vmPageSetAllValidClean } from '../vm_page_bits.js';
import type { VmSystem } from '../vm.js';
import { ArenaRuns } from '../vm_arena_runs.js';
import { type HaspageResult, PAGER_OK, type PagerResult, VM_PAGER_BAD, VM_PAGER_FAIL, pagerResult, pagerRv } from './vm_pager.js';
import { type VnodeRun, vnodePagerRun } from './vnode_pager_bmap.js';
import { inputOld, inputPartial, inputSmlfs } from './vnode_pager_input.js';

/** Page-in: the file system's own VOP_GETPAGES, the generic path when it answers EOPNOTSUPP. */
export async function vnodePagerGetpages(obj: VmObject, m: VmPage[], count: number, reqpage: number, hint: HaspageResult | null = null, readahead = false): Promise<PagerResult> {
  if ((obj.flags & OBJ_VNODE_GONE) !== 0) return pagerResult(EIO);
  const vp = obj.handle;
  if (vp === null) panic('vnode_pager_getpages: object has no vnode');
  const error = await vp.op.getpages(vp, m, count, reqpage);
  if (error === EOPNOTSUPP) return vnodePagerLeafGetpages(obj, m, count, reqpage, hint, readahead);
  return pagerResult(error);
}

/** The generic page-in, the three steps above. */
export async function vnodePagerLeafGetpages(obj: VmObject, m: VmPage[], count: number, reqpage: number, hint: HaspageResult | null = null, readahead = false): Promise<PagerResult> {
  const vp = obj.handle;
  if (vp === null) panic('vnode_pager_leaf_getpages: object has no vnode');
  if (vp.mount === null) return pagerRv(VM_PAGER_BAD);
  // haspage's answer holds while the vnode stays locked: a hole, or a page
  // in one device run. Without one (or after a bmap error, or for a page of
  // small blocks split on the disk), ask the block map here, once.
  const known = hint !== null && (hint.addr >= 0 || !hint.has);
  const run: VnodeRun = known ? { ...hint, error: 0 } : await vnodePagerRun(obj, vp, m[reqpage].pindex);
  if (readahead && run.error === 0 && !run.has) {
    // Read-ahead into a hole: nothing to read, and no zeros made in advance.
    freeAllBut(obj.vm, m, count, reqpage);
    return pagerRv(VM_PAGER_FAIL);
  }
  const single = await inputSingle(obj, vp, m, count, reqpage, run);
  if (single !== null) return single;
  const cut = cutRun(obj.vm, m, count, reqpage, run);
  return transfer(obj, vp, cut);
}

/** Gives back a page the pager will not fill (cf. vnode_pager_freepage). */
export function vnodePagerFreepage(sys: VmSystem, m: VmPage): void {
  vmPageWakeup(m);
  if ((m.flags & PG_BUSY) === 0 && m.busy === 0 && m.holdCount === 0) vmPageFree(sys, m);
}

function freeAllBut(sys: VmSystem, m: VmPage[], count: number, keep: number): void {
  for (let i = 0; i < count; i++) if (i !== keep) vnodePagerFreepage(sys, m[i]);
}

/**
 * Step 1: a request one clustered read cannot serve goes to a single-page
 * path, the cluster's other pages freed; null sends it on to the cut.
 */
async function inputSingle(obj: VmObject, vp: Vnode, m: VmPage[], count: number, reqpage: number, run: VnodeRun): Promise<PagerResult | null> {
  const sys = obj.vm;
  const meter = sys.meter;
  const P = sys.param.pageSize;
  const bsize = vp.mount!.stat.iosize;
  const r = m[reqpage];
  if (run.error === EOPNOTSUPP) {
    freeAllBut(sys, m, count, reqpage);
    meter.v_vnodein++;
    meter.v_vnodepgsin++;
    return inputOld(obj, r);
  }
  if (run.error !== 0) {
    freeAllBut(sys, m, count, reqpage);
    return pagerResult(run.error);
  }
  // departure: the seed marked a partly valid page wholly valid (its "XXX"),
  // exposing whatever the frame held in the invalid blocks. Here only the
  // invalid blocks are read, and valid (possibly dirty) ones are kept.
  if (vmPageAnyValid(r)) {
    freeAllBut(sys, m, count, reqpage);
    meter.v_vnodein++;
    meter.v_vnodepgsin++;
    return bsize < P ? inputSmlfs(obj, r) : inputPartial(obj, r);
  }
  // Small blocks: the seed read every page block by block. Beyond the seed,
  // a page whose blocks are contiguous joins the clustered path.
  if (bsize < P && run.addr === -1 && run.has) {
    freeAllBut(sys, m, count, reqpage);
    meter.v_vnodein++;
    meter.v_vnodepgsin++;
    return inputSmlfs(obj, r);
  }
  if (run.addr === -1) {
    // departure: the seed panicked on a requested page in a hole; a hole reads as zeros.
    zeroFill(obj, cutRun(sys, m, count, reqpage, run));
    return PAGER_OK;
  }
  return null;
}

/**
 * A hole reads as zeros: every page of the cut run (the cluster's pages in
 * the hole) is zero-filled in one pass, valid and clean, the read-ahead
 * ones inactive, with no device transfer.
 */
function zeroFill(obj: VmObject, { m, count, reqpage }: Run): void {
  const sys = obj.vm;
  for (let i = 0; i < count; i++) {
    m[i].frame.fill(0);
    vmPageSetAllValidClean(m[i]);
    sys.meter.v_zfod++;
    if (i === reqpage) continue;
    m[i].flags |= PG_RAHEAD;
    sys.meter.v_readahead++;
    vmPageDeactivate(sys, m[i]);
    vmPageWakeup(m[i]);
  }
}

/** A run of busy pages to read with one transfer, from device address `addr` (DEV_BSIZE units). */
interface Run {
  m: VmPage[];
  count: number;
  reqpage: number;
  addr: number;
}

/**
 * Step 2: cuts the cluster to the pages the block map puts in one device
 * run with m[reqpage], freeing the others.
 */
function cutRun(sys: VmSystem, m: VmPage[], count: number, reqpage: number, run: VnodeRun): Run {
  const first = Math.max(0, reqpage - run.before);
  const end = Math.min(count, reqpage + run.after + 1);
  // Pages go back highest first: the free queue hands out the last freed
  // first, so the next cluster gets these frames in ascending order again
  // (neighbouring pages in neighbouring frames read and copy as one piece).
  for (let j = first - 1; j >= 0; j--) vnodePagerFreepage(sys, m[j]);
  for (let j = count - 1; j >= end; j--) vnodePagerFreepage(sys, m[j]);
  const addr = run.addr - ((reqpage - first) * sys.param.pageSize) / DEV_BSIZE;
  if (first === 0 && end === count) return { m, count, reqpage, addr };
  return { m: m.slice(first, end), count: end - first, reqpage: reqpage - first, addr };
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

/**
 * Step 3: one device read of the run into its frames, zeros past EOF; the
 * pages become valid and clean, the read-ahead ones inactive. On an error
 * nothing is valid, and every page but m[reqpage] is freed.
 */
async function transfer(obj: VmObject, vp: Vnode, { m, count, reqpage, addr }: Run): Promise<PagerResult> {
  const sys = obj.vm;
  const meter = sys.meter;
  const P = sys.param.pageSize;
  const foff = m[0].pindex * P;
  const size = Math.min(count * P, obj.vnpSize - foff);
  if (size <= 0) {
    // Every page of the run lies past EOF: the file shrank, which the vnode
    // lock should have prevented.
    panic('vnode_pager_leaf_getpages: read past EOF');
  }
  // Device transfers are whole DEV_BSIZE sectors.
  const xfer = Math.ceil(size / DEV_BSIZE) * DEV_BSIZE;
  const bp = await sys.pbufs.getpbuf();
  bp.flags = B_READ;
  bp.blkno = addr;
  bp.bcount = xfer;
  bp.iov = framesIov(sys, m, xfer);
  meter.v_vnodein++;
  meter.v_vnodepgsin += count;
  strategy(vp.mount!.dev, bp);
  const error = await biowait(bp);
  sys.pbufs.relpbuf(bp);

  if (error === 0 && size < count * P) {
    // Zero from EOF to the end of the run.
    const last = Math.floor(size / P);
    m[last].frame.fill(0, size - last * P);
    for (let i = last + 1; i < count; i++) m[i].frame.fill(0);
  }
  for (let i = 0; i < count; i++) {
    if (error === 0) vmPageSetAllValidClean(m[i]);
    else vmPageInvalidate(m[i]);
    if (i === reqpage) continue;
    if (error === 0) {
      m[i].flags |= PG_RAHEAD;
      meter.v_readahead++;
      vmPageDeactivate(sys, m[i]);
      vmPageWakeup(m[i]);
    } else {
      vnodePagerFreepage(sys, m[i]);
    }
  }
  return pagerResult(error);
}
