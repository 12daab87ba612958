/*
 * The page daemon's reclaim scan (cf. vm_pageout_scan): when free frames run
 * short, walk the inactive queue from its oldest page: a referenced page goes
 * back to active, a clean unbusy page is freed. When the inactive queue has
 * too little, the active queue is aged into it (reference bits cleared),
 * which approximates LRU with a second chance. Dirty pages are skipped here;
 * laundering them is the write-back path's job.
 * => runs without sleeping: no page changes state under it
 */

import { PG_BUSY, PG_RAHEAD, PG_REFERENCED, pageIsDirty, type VmPage } from './vm_page.js';
import { vmPageActivate, vmPageDeactivate, vmPageFree } from './vm_phys.js';
import type { VmSystem } from './vm.js';

function freeable(m: VmPage): boolean {
  return (m.flags & PG_BUSY) === 0 && m.busy === 0 && m.holdCount === 0 && !pageIsDirty(m);
}

/** Frees pages until `target` are free or nothing more can go; returns pages freed. */
export function vmPageoutReclaim(sys: VmSystem, target: number): number {
  let freed = 0;
  for (let pass = 0; pass < 2 && sys.freeq.count < target; pass++) {
    // Age the active queue so that the inactive queue holds about a third of memory.
    let budget = sys.activeq.count;
    while (budget-- > 0 && sys.inactiveq.count < Math.max(target, sys.pageCount / 3)) {
      const m = sys.activeq.head!;
      sys.meter.v_pdpages++;
      if ((m.flags & PG_REFERENCED) !== 0 && pass === 0) {
        m.flags &= ~PG_REFERENCED;
        vmPageActivate(sys, m); // to the tail: second chance
      } else {
        vmPageDeactivate(sys, m);
      }
    }
    let scan = sys.inactiveq.count;
    let m = sys.inactiveq.head;
    while (m !== null && scan-- > 0 && sys.freeq.count < target) {
      const next = m.next;
      sys.meter.v_pdpages++;
      if ((m.flags & PG_REFERENCED) !== 0 && pass === 0) {
        m.flags &= ~PG_REFERENCED;
        sys.meter.v_reactivated++;
        vmPageActivate(sys, m);
      } else if (freeable(m)) {
        if ((m.flags & PG_RAHEAD) !== 0) sys.meter.v_readahead_wasted++;
        vmPageFree(sys, m);
        sys.meter.v_dfree++;
        freed++;
      }
      m = next;
    }
  }
  return freed;
}
