/*
 * The page daemon's reclaim scan (cf. vm_pageout_scan): when free frames run
 * short, free clean pages, oldest first, with a second chance for pages used
 * since the last scan.
 *   1. Scan the inactive queue from its head: a referenced page goes back to
 *      the active queue (its bit cleared); a page read ahead for a
 *      sequential reader and not used yet is kept (it is about to be used;
 *      the neighbours a random fault brought in are not); a clean unbusy
 *      page is freed.
 *   2. Short still: age the active queue, moving its unreferenced pages to
 *      the inactive queue (referenced ones lose their bit and go round once
 *      more), and scan again.
 *   3. Short still: free read-ahead pages too (counted as wasted).
 * A dirty page goes to the laundry queue once, so that no later scan looks
 * at it again; laundering (vm_pageout_launder.ts) writes it back.
 * => runs without sleeping: no page changes state under it
 */

import { PG_BUSY, PG_RAHEAD, PG_RAKEEP, PG_REFERENCED, vmPageFreeable, vmPageActivate, vmPageDeactivate, vmPageFree, vmPageLaunder } from './vm_page.js';
import { vmPageIsDirty } from './vm_page_bits.js';
import type { VmSystem } from './vm.js';

/** One pass over the inactive queue; `keepReadahead` spares unused read-ahead pages. */
function scanInactive(sys: VmSystem, target: number, keepReadahead: boolean): number {
  const meter = sys.meter;
  let freed = 0;
  let scan = sys.inactiveq.count;
  let m = sys.inactiveq.head;
  while (m !== null && scan-- > 0 && sys.freeCount < target) {
    const next = m.next;
    meter.v_pdpages++;
    if ((m.flags & PG_REFERENCED) !== 0) {
      m.flags &= ~PG_REFERENCED;
      meter.v_reactivated++;
      vmPageActivate(sys, m);
    } else if (keepReadahead && (m.flags & PG_RAKEEP) !== 0) {
      // Read ahead for a sequential reader and not used yet: leave it where it is.
    } else if (vmPageIsDirty(m) && (m.flags & PG_BUSY) === 0 && m.busy === 0) {
      vmPageLaunder(sys, m);
    } else if (vmPageFreeable(m)) {
      if ((m.flags & PG_RAHEAD) !== 0) meter.v_readahead_wasted++;
      vmPageFree(sys, m);
      meter.v_dfree++;
      freed++;
    }
    m = next;
  }
  return freed;
}

/**
 * Moves unreferenced active pages to the inactive queue until `want` of
 * them could be freed there; referenced ones go round once more. Busy or
 * held pages move too but do not count: the scan after would find nothing
 * to free in them, and give up while freeable pages sat further down.
 */
function ageActive(sys: VmSystem, want: number): void {
  let scan = sys.activeq.count;
  let moved = 0;
  while (scan-- > 0 && moved < want) {
    const m = sys.activeq.head!;
    sys.meter.v_pdpages++;
    if ((m.flags & PG_REFERENCED) !== 0) {
      m.flags &= ~PG_REFERENCED;
      vmPageActivate(sys, m); // to the tail
    } else {
      vmPageDeactivate(sys, m);
      if ((m.flags & PG_BUSY) === 0 && m.busy === 0 && m.holdCount === 0) moved++;
    }
  }
}

/** Frees pages until `target` are free or nothing more can go; returns pages freed. */
export function vmPageoutReclaim(sys: VmSystem, target: number): number {
  let freed = scanInactive(sys, target, true);
  for (let round = 0; round < 2 && sys.freeCount < target; round++) {
    ageActive(sys, target - sys.freeCount);
    freed += scanInactive(sys, target, true);
  }
  if (sys.freeCount < target) freed += scanInactive(sys, target, false);
  return freed;
}
