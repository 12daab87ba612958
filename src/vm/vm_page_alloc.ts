/*
 * Page allocation (cf. vm_page_alloc): a free frame for a page of an object.
 * When none is free, the page daemon's reclaim scan (vm_pageout.ts) runs
 * first, in the allocating task: the one place the page layer calls the
 * daemon, which itself only moves and frees pages.
 *   m = vmPageAlloc(sys, obj, pindex)   // busy, in obj; null when none free
 * A page next to a resident page of its object takes the frame next to that
 * page's when it is free (cf. FreeBSD's reservations, vm_reserv_alloc_page),
 * so a cluster's frames mostly lie side by side and a transfer into them is
 * one or a few pieces of memory rather than one per scattered run of frames.
 */

import type { VmObject } from './vm_object.js';
import { PG_BUSY, PQ_FREE, type VmPage, vmPageInsert } from './vm_page.js';
import { vmPageInvalidate } from './vm_page_bits.js';
import { vmPageoutReclaim } from './vm_pageout.js';
import type { VmSystem } from './vm.js';

/**
 * Takes a free page, reclaiming clean inactive pages when none is free, and
 * inserts it busy into obj at pindex. Null when nothing can be freed now
 * (the caller may vmWait and retry).
 */
export function vmPageAlloc(sys: VmSystem, obj: VmObject, pindex: number): VmPage | null {
  if (sys.freeq.count === 0) {
    if (sys.fresh > 0) sys.freshPage();
    else vmPageoutReclaim(sys, sys.freeTarget);
  }
  const m = neighbourFrame(sys, obj, pindex) ?? sys.freeq.head;
  if (m === null) return null;
  sys.freeq.remove(m);
  m.flags = PG_BUSY;
  m.busy = 0;
  m.holdCount = 0;
  vmPageInvalidate(m);
  vmPageInsert(m, obj, pindex);
  return m;
}

/**
 * The free page whose frame follows the frame of obj's page pindex-1 (or
 * precedes that of page pindex+1), in the same arena; null when there is
 * none. Only frames already on the free queue: a fresh frame is never
 * touched for this, so what a stream recycles stays as small as it was.
 */
function neighbourFrame(sys: VmSystem, obj: VmObject, pindex: number): VmPage | null {
  const F = sys.arenaFrames;
  const before = pindex > 0 ? obj.pages.get(pindex - 1) : undefined;
  if (before !== undefined && (before.phys + 1) % F !== 0) {
    const n = sys.pages[before.phys + 1];
    if (n !== undefined && n.queue === PQ_FREE) return n;
  }
  const after = obj.pages.get(pindex + 1);
  if (after !== undefined && after.phys % F !== 0) {
    const n = sys.pages[after.phys - 1];
    if (n !== undefined && n.queue === PQ_FREE) return n;
  }
  return null;
}
