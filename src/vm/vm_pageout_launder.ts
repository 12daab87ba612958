/*
 * Laundering (cf. vm_pageout_launder / vm_pageout_flush): when no clean page
 * can be freed, write dirty pages back through their pagers so that the
 * reclaim scan can free them. It runs synchronously, in the allocating
 * task, as the kernel does under memory shortage: a write-back that itself
 * needs memory must not wait for a daemon that waits for it.
 * Objects are cleaned in clusters of neighbouring dirty pages. The vnode
 * lock comes before the pages: a vnode whose lock is not free at once is
 * skipped, except the one the caller already holds (`held`); if nothing
 * else can be freed, the task waits for that lock to be let go and tries
 * again (its holder may be reading ahead, and frees no page when done).
 */

import { LK_EXCLUSIVE, type Lock } from '../kern/lock.js';
import { vmObjectPageClean } from './vm_object_clean.js';
import type { VmObject } from './vm_object.js';
import { PG_BUSY, type VmPage, vmWait } from './vm_page.js';
import { vmPageIsDirty } from './vm_page_bits.js';
import { vmPageoutReclaim } from './vm_pageout.js';
import type { VmSystem } from './vm.js';

/** Oldest dirty, unbusy pages: the laundry queue first, then the inactive and active ones. */
function dirtyCandidates(sys: VmSystem, want: number): VmPage[] {
  const out: VmPage[] = [];
  for (const q of [sys.laundryq, sys.inactiveq, sys.activeq]) {
    for (let m = q.head; m !== null && out.length < want; m = m.next) {
      if (m.object !== null && (m.flags & PG_BUSY) === 0 && m.busy === 0 && vmPageIsDirty(m)) out.push(m);
    }
  }
  return out;
}

export interface LaunderResult {
  /** The first write error (those pages stay dirty), or 0. */
  error: number;
  /** A vnode lock that was held by another task, so its dirty pages were skipped. */
  busyLock: Lock | null;
}

/**
 * Writes back dirty pages until `target` pages could be freed or none is
 * left to try.
 * => `held`: an object whose vnode the caller holds locked exclusively
 */
export async function vmPageoutLaunder(sys: VmSystem, target: number, held: VmObject | null): Promise<LaunderResult> {
  const maxRun = sys.param.maxPhysPages;
  let firstError = 0;
  let busyLock: Lock | null = null;
  const tried = new Set<VmObject>();
  for (const m of dirtyCandidates(sys, target)) {
    const obj = m.object;
    if (obj === null || !vmPageIsDirty(m) || tried.has(obj)) continue;
    const vp = obj.handle;
    const mine = obj === held;
    if (vp !== null && !mine && !vp.lock.tryLock(LK_EXCLUSIVE)) {
      busyLock ??= vp.lock;
      continue;
    }
    tried.add(obj);
    try {
      // The cluster around the page: up to MAXPHYS of neighbouring dirty pages.
      const start = Math.max(0, m.pindex - Math.floor(maxRun / 2));
      const error = await vmObjectPageClean(obj, true, { locked: true, start, end: start + maxRun });
      if (firstError === 0) firstError = error;
    } finally {
      if (vp !== null && !mine) vp.lock.unlock();
    }
    vmPageoutReclaim(sys, target);
    if (sys.freeCount >= target) break;
  }
  return { error: firstError, busyLock };
}

/**
 * A task found no free page: launder what it can, then, if still nothing is
 * free, sleep until a vnode lock that kept dirty pages from the laundry is
 * let go, or else until a page is freed or becomes freeable (cf. vm_wait).
 * The caller looks for a page again after.
 */
export async function vmPageoutWait(sys: VmSystem, held: VmObject | null): Promise<void> {
  // Reach the free target, not just one page: a caller that needs two pages
  // (copy on write) would otherwise free its own source page, fault it back
  // in, and go round for ever while dirty pages wait in the laundry.
  vmPageoutReclaim(sys, sys.freeTarget);
  if (sys.freeCount >= sys.freeTarget) return;
  const { busyLock } = await vmPageoutLaunder(sys, sys.freeTarget, held);
  if (sys.freeCount > 0 || vmPageoutReclaim(sys, sys.freeTarget) > 0) return;
  if (busyLock !== null) await busyLock.whenUnlocked();
  else await vmWait(sys);
}
