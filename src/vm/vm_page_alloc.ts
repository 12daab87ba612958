/*
 * Page allocation (cf. vm_page_alloc): a free frame for a page of an object.
 * When none is free, the page daemon's reclaim scan (vm_pageout.ts) runs
 * first, in the allocating task: the one place the page layer calls the
 * daemon, which itself only moves and frees pages.
 *   m = vmPageAlloc(sys, obj, pindex)   // busy, in obj; null when none free
 */

import type { VmObject } from './vm_object.js';
import { PG_BUSY, type VmPage, vmPageInsert } from './vm_page.js';
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
  const m = sys.freeq.head;
  if (m === null) return null;
  sys.freeq.remove(m);
  m.flags = PG_BUSY;
  m.busy = 0;
  m.holdCount = 0;
  vmPageInvalidate(m);
  vmPageInsert(m, obj, pindex);
  return m;
}
