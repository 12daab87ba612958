/*
 * The page fault (cf. vm_fault): make page pindex of an object resident and
 * valid, reading it in through the object's pager together with a cluster
 * of neighbours, and hand it to the caller busy.
 *   const { rv, m } = await vmFaultPage(obj, pindex); ...use m.frame...; vmPageWakeup(m)
 * A busy page is waited for (never read twice); after every sleep the page
 * is looked up again. The vnode is locked shared across the pager call, so
 * a size change (which locks it exclusively) cannot run under the read.
 */

import { LK_SHARED } from '../kern/lock.js';
import { type HaspageResult, VM_PAGER_BAD, VM_PAGER_OK, type PagerResult } from './pager/vm_pager.js';
import { type VmObject, vmObjectVnodeLock } from './vm_object.js';
import { PG_BUSY, PG_RAHEAD, PG_RAKEEP, vmPageWakeup, type VmPage, vmPageActivate, vmPageFree, vmPageSleep, vmPageReference } from './vm_page.js';
import { vmPageAllValid, vmPageIsDirty, vmPageAnyValid } from './vm_page_bits.js';
import { vmPageAlloc } from './vm_page_alloc.js';
import { vmPageoutWait } from './vm_pageout_launder.js';
import { vmDropBehind } from './vm_dropbehind.js';
import { readaheadMaxPages, vmFaultReadahead, vmFaultReadaheadDone } from './vm_readahead.js';
import { vmReadaheadAfterFault, vmReadaheadMark } from './vm_readahead_async.js';

export interface FaultResult {
  /** A pager result: OK, BAD (past the end of the object) or ERROR. */
  rv: number;
  /** On ERROR: the errno behind it (else 0). */
  error: number;
  /** On OK: the page, busy, valid, owned by the caller. */
  m: VmPage | null;
}

/**
 * Faults page pindex of obj in. => `locked`: the caller holds the vnode lock
 * exclusively (a write); otherwise it holds none and the fault takes it shared
 */
export async function vmFaultPage(obj: VmObject, pindex: number, locked = false): Promise<FaultResult> {
  const sys = obj.vm;
  sys.meter.v_vm_faults++;
  if (pindex === obj.ra.mark && !locked) vmReadaheadMark(obj);
  vmDropBehind(obj, pindex);
  for (;;) {
    const vp = locked ? null : await vmObjectVnodeLock(obj, LK_SHARED);
    let sleepOn: VmPage | null = null;
    let needMemory = false;
    let unlocked = false;
    let sequential = false;
    try {
      if (pindex >= obj.size) return { rv: VM_PAGER_BAD, error: 0, m: null };
      let m = obj.pages.get(pindex);
      let cluster: VmPage[];
      let reqpage = 0;
      let hint: HaspageResult | null = null;
      if (m !== undefined) {
        if ((m.flags & PG_BUSY) !== 0) {
          sleepOn = m;
          continue;
        }
        m.flags |= PG_BUSY;
        if (vmPageAllValid(m)) {
          vmPageReference(m);
          return { rv: VM_PAGER_OK, error: 0, m };
        }
        cluster = [m];
      } else {
        const nm = vmPageAlloc(sys, obj, pindex);
        if (nm === null) {
          needMemory = true;
          continue;
        }
        m = nm;
        ({ cluster, reqpage, sequential, hint } = await faultCluster(obj, m));
      }
      obj.pipAdd();
      let pr: PagerResult;
      try {
        pr = await obj.pager.getpages(obj, cluster, cluster.length, reqpage, hint);
      } finally {
        obj.pipWakeup();
      }
      if (pr.rv !== VM_PAGER_OK) {
        // Nothing half-read stays: a page without dirty data goes back to the free queue.
        if (m.object === obj && !vmPageIsDirty(m) && !vmPageAnyValid(m)) vmPageFree(sys, m);
        else vmPageWakeup(m);
        return { rv: pr.rv, error: pr.error, m: null };
      }
      let last = pindex;
      while (obj.pages.has(last + 1) && last + 1 < obj.size && last - pindex < sys.param.maxPhysPages) last++;
      vmFaultReadaheadDone(obj, last);
      vmPageReference(m);
      vmPageActivate(sys, m);
      if (sequential) for (const p of cluster) if (p.object === obj && (p.flags & PG_RAHEAD) !== 0) p.flags |= PG_RAKEEP;
      if (sequential && !locked && (hint === null || hint.has)) {
        // (Not after a hole: the next fault there fills its cluster with zeros at once, reading nothing.)
        // Release the lock first: the read-ahead takes it again without sleeping.
        vp?.lock.unlock();
        unlocked = true;
        vmReadaheadAfterFault(obj, last);
      }
      return { rv: VM_PAGER_OK, error: 0, m };
    } finally {
      if (!unlocked) vp?.lock.unlock();
      if (sleepOn !== null) await vmPageSleep(sys, sleepOn, 'vmpfw');
      else if (needMemory) await vmPageoutWait(sys, locked ? obj : null);
    }
  }
}

interface FaultCluster {
  /** The pages in index order, all busy. */
  cluster: VmPage[];
  /** The faulted page's place in the cluster. */
  reqpage: number;
  sequential: boolean;
  /** haspage's answer for the faulted page, handed on to getpages (null: not asked). */
  hint: HaspageResult | null;
}

/**
 * Surrounds the faulted page m with the pages read-ahead wants and the pager
 * can bring in one transfer, stopping at resident pages, the object's end
 * and free memory.
 */
async function faultCluster(obj: VmObject, m: VmPage): Promise<FaultCluster> {
  const sys = obj.vm;
  const pindex = m.pindex;
  const maxPages = readaheadMaxPages(sys);
  const wish = vmFaultReadahead(obj, pindex, maxPages);
  const sequential = wish.sequential;
  if (wish.behind === 0 && wish.ahead === 0) return { cluster: [m], reqpage: 0, sequential, hint: null };
  // In a hole too the cluster spans what haspage counts around the page: the pages of the hole, zero-filled at once.
  const hp = await obj.pager.haspage(obj, pindex);
  const behind = Math.min(wish.behind, hp.before, pindex);
  const ahead = Math.min(wish.ahead, hp.after, obj.size - 1 - pindex, maxPages - 1 - behind);
  // After the await above, neighbours may have become resident: look again.
  const before: VmPage[] = [];
  for (let i = 1; i <= behind; i++) {
    if (obj.pages.has(pindex - i)) break;
    const p = vmPageAlloc(sys, obj, pindex - i);
    if (p === null) break;
    before.push(p);
  }
  before.reverse();
  const reqpage = before.length;
  const cluster = before;
  cluster.push(m);
  for (let i = 1; i <= ahead; i++) {
    if (obj.pages.has(pindex + i)) break;
    const p = vmPageAlloc(sys, obj, pindex + i);
    if (p === null) break;
    cluster.push(p);
  }
  return { cluster, reqpage, sequential, hint: hp };
}
