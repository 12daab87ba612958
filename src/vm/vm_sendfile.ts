/*
 * Handing an object's bytes to a consumer straight from its page frames,
 * with no copy (cf. sendfile(2), which sends a file's cached pages to a
 * socket). Pages are gathered into batches of up to one cluster; each
 * batch's pages are share-busied (m.busy, as for I/O in progress) while the
 * consumer has them, so they are neither freed nor changed under it, then
 * released before the next batch faults anything in.
 *   error = await vmSendfile(obj, offset, length, sink)
 * The consumer gets views of the frames, valid until its promise resolves.
 * The size is re-read after every await: a truncation ends the transfer at
 * the new EOF. A hole none of whose pages is resident goes out as views of
 * one shared zero region, with no page allocated (SEEK_HOLE's effect): the
 * region is never a page of any object, so nothing is ever written into it.
 * Such a batch may be larger than a cluster (up to HOLE_BATCH bytes, from
 * as many bmap runs as it takes): views of one region cost no memory, and
 * a sparse file's gigabytes of zeros then go out in few large writes.
 */

import { LK_SHARED } from '../kern/lock.js';
import { MAXPHYS } from '../kern/param.js';
import { VM_PAGER_BAD, pagerErrno } from './pager/vm_pager.js';
import { OBJ_VNODE_GONE, OBJT_VNODE, type VmObject, vmObjectVnodeLock } from './vm_object.js';
import { PG_BUSY, vmPageBusyDone, vmPageFreeable, vmPageWakeup, type VmPage, vmPageFree, vmPageReference } from './vm_page.js';
import { vmPageIsValid } from './vm_page_bits.js';
import { vmFaultPage } from './vm_fault.js';
import { vmReadaheadHit } from './vm_readahead_async.js';
import { readaheadMaxPages } from './vm_readahead.js';
import { ArenaRuns } from './vm_arena_runs.js';

/** The most bytes of holes one batch gives the sink (a multiple of the zero region's size). */
export const HOLE_BATCH = 64 * MAXPHYS;

/** Takes one batch of frames; resolves (or returns) once it is done with them. Rejecting ends the transfer. */
export type FrameSink = (frames: readonly Uint8Array[]) => Promise<void> | void;

export interface SendfileResult {
  /** An errno from reading, or 0. A sink's rejection is rethrown instead. */
  error: number;
  /** Bytes the sink was given. */
  sent: number;
}

export async function vmSendfile(obj: VmObject, offset: number, length: number, sink: FrameSink): Promise<SendfileResult> {
  const sys = obj.vm;
  const P = sys.param.pageSize;
  const maxBatch = readaheadMaxPages(sys);
  const end = offset + length;
  let off = offset;
  const held: VmPage[] = [];
  const frames: Uint8Array[] = [];
  const runs = new ArenaRuns(); // the batch's bytes: frames side by side make one view
  /** Adds the bytes of page m from off on to the batch; false at EOF. */
  const take = (m: VmPage): boolean => {
    const poff = off - m.pindex * P;
    const n = Math.min(P - poff, Math.min(end, obj.vnpSize) - off);
    if (n <= 0) return false;
    m.busy++;
    held.push(m);
    runs.add(m.phys * P + poff, n);
    off += n;
    return true;
  };
  let error = 0;
  try {
    for (;;) {
      // Gather resident, valid pages from off on: a hit costs no copy and no await.
      while (off < Math.min(end, obj.vnpSize) && held.length < maxBatch) {
        const pindex = Math.floor(off / P);
        const m = obj.pages.get(pindex);
        const poff = off - pindex * P;
        if (m === undefined || (m.flags & PG_BUSY) !== 0 || !vmPageIsValid(m, poff, Math.min(P - poff, Math.min(end, obj.vnpSize) - off))) break;
        sys.meter.hits++;
        vmPageReference(m);
        // Busy it before the read-ahead runs: the read-ahead's allocations may reclaim any page not busy.
        take(m);
        vmReadaheadHit(obj, pindex);
      }
      if (held.length > 0) {
        await sink(runs.views(sys, frames));
        release(held, obj.ra.noreuse);
        frames.length = 0;
        continue;
      }
      if (off >= Math.min(end, obj.vnpSize)) break;
      // Not resident, and in a hole: zeros from the shared region, no page allocated.
      const zeros = await holeBytes(obj, off, end, Math.max(maxBatch, Math.floor(HOLE_BATCH / P)));
      if (zeros > 0) {
        sys.meter.v_zerosend += Math.ceil((off + zeros) / P) - Math.floor(off / P);
        await sink(zeroViews(zeros, frames));
        frames.length = 0;
        off += zeros;
        continue;
      }
      // Not resident, or busy: fault it in with its cluster; the gathering goes on from it.
      sys.meter.misses++;
      const r = await vmFaultPage(obj, Math.floor(off / P));
      if (r.rv === VM_PAGER_BAD) break; // the file shrank: EOF
      if (r.m === null) {
        error = pagerErrno(r.rv, r.error);
        break;
      }
      const more = take(r.m);
      vmPageWakeup(r.m); // busy shared (m.busy) now, while the sink has it
      if (!more) break;
    }
  } finally {
    release(held);
  }
  return { error, sent: off - offset };
}

/** The shared zero region (cf. the kernel's zero_region), made on first use; never written. */
let zeroRegion: Uint8Array | null = null;

/** Views of the zero region adding up to n bytes, in out. */
function zeroViews(n: number, out: Uint8Array[]): Uint8Array[] {
  zeroRegion ??= new Uint8Array(MAXPHYS);
  for (let left = n; left > 0; left -= zeroRegion.length) out.push(zeroRegion.subarray(0, Math.min(left, zeroRegion.length)));
  return out;
}

/**
 * Bytes from off (before end and EOF) that lie in a hole of the vnode's
 * file with no page of them resident, at most maxPages pages' worth, from
 * as many haspage answers as it takes; 0 when off's page is not in a hole
 * (or is resident, or the vnode is gone).
 * => may sleep (takes the vnode lock shared for haspage)
 */
async function holeBytes(obj: VmObject, off: number, end: number, maxPages: number): Promise<number> {
  const P = obj.vm.param.pageSize;
  const pindex = Math.floor(off / P);
  if (obj.type !== OBJT_VNODE || obj.pages.has(pindex)) return 0;
  const vp = await vmObjectVnodeLock(obj, LK_SHARED);
  if (vp === null) return 0;
  let pages = 0;
  try {
    if (vp !== obj.handle || vp.mount === null || (obj.flags & OBJ_VNODE_GONE) !== 0 || pindex >= obj.size) return 0;
    // Each answer covers the hole up to its run's end (a cluster at most): the next run is asked from there.
    const most = Math.min(pindex + maxPages, obj.size);
    let limit = pindex;
    while (limit < most) {
      const hp = await obj.pager.haspage(obj, limit);
      if (hp.has) break;
      limit = Math.min(limit + 1 + hp.after, most);
    }
    // Decided under the lock, after the last await: pages that became resident meanwhile end the run.
    pages = obj.pages.nextFrom(pindex, limit) - pindex;
  } finally {
    vp.lock.unlock();
  }
  return Math.max(0, Math.min((pindex + pages) * P, end, obj.vnpSize) - off);
}

/**
 * Ends the share-busy of the batch's pages. `noreuse`: the reader will not
 * come back, so clean pages nobody else holds go straight to the free queue,
 * highest first, and the next window reuses the same few frames (still in
 * the CPU's caches) in ascending order.
 */
function release(held: VmPage[], noreuse = false): void {
  for (const m of held) vmPageBusyDone(m);
  if (noreuse) {
    for (let i = held.length - 1; i >= 0; i--) {
      const m = held[i];
      if (m.object !== null && vmPageFreeable(m)) vmPageFree(m.object.vm, m);
    }
  }
  held.length = 0;
}
