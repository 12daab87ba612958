/*
 * What each page of an object is doing, one byte a page, for page maps (the
 * explorer page's, tests): a snapshot between two awaits.
 *   const map = vmObjectPageMap(obj)   // map[pindex] = PAGEMAP_*
 */

import type { VmObject } from './vm_object.js';
import { PG_BUSY, PG_RAHEAD, PQ_ACTIVE, PQ_INACTIVE, PQ_LAUNDRY } from './vm_page.js';
import { vmPageIsDirty } from './vm_page_bits.js';

/** Not in memory. */
export const PAGEMAP_ABSENT = 0;
/** Resident, clean, on the active queue (used lately). */
export const PAGEMAP_ACTIVE = 1;
/** Resident, clean, on the inactive queue (the page daemon's next candidates). */
export const PAGEMAP_INACTIVE = 2;
/** Read ahead and not used yet. */
export const PAGEMAP_READAHEAD = 3;
/** Newer than the file (dirty, or waiting in the laundry). */
export const PAGEMAP_DIRTY = 4;
/** I/O in progress (PG_BUSY or share-busied). */
export const PAGEMAP_BUSY = 5;

/** One PAGEMAP_* byte per page of obj's size. */
export function vmObjectPageMap(obj: VmObject): Uint8Array {
  const out = new Uint8Array(obj.size);
  for (const m of obj.pages.values()) {
    if (m.pindex >= out.length) continue;
    let s: number;
    if ((m.flags & PG_BUSY) !== 0 || m.busy > 0) s = PAGEMAP_BUSY;
    else if (m.queue === PQ_LAUNDRY || vmPageIsDirty(m)) s = PAGEMAP_DIRTY;
    else if ((m.flags & PG_RAHEAD) !== 0) s = PAGEMAP_READAHEAD;
    else if (m.queue === PQ_INACTIVE) s = PAGEMAP_INACTIVE;
    else if (m.queue === PQ_ACTIVE) s = PAGEMAP_ACTIVE;
    else s = PAGEMAP_ACTIVE; // held outside the queues (wired by a reader or a mapping)
    out[m.pindex] = s;
  }
  return out;
}
