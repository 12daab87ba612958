/*
 * A page ready for a write (cf. the page lookup of vn_io_fault's write
 * side): resident, busy, and valid wherever the write does not reach.
 *   const { rv, error, m } = await writablePage(obj, pindex, whole, full)
 *   m = writablePageNow(obj, pindex, whole, full)   // the same when no sleep is needed; else null
 * answers as the fault does (vm_fault.ts's FaultResult): on OK, m busy.
 */

import { VM_PAGER_OK } from './pager/vm_pager.js';
import type { VmObject } from './vm_object.js';
import { PG_BUSY, vmPageWakeup, type VmPage, vmPageActivate, vmPageSleep } from './vm_page.js';
import { vmPageAllValid, vmPageSetAllValidClean, vmPageSetValidClean } from './vm_page_bits.js';
import { type FaultResult, vmFaultPage } from './vm_fault.js';
import { vmPageAlloc } from './vm_page_alloc.js';
import { vmPageoutWait } from './vm_pageout_launder.js';

/**
 * Page pindex of obj, busy, ready to be written: resident and valid where
 * the write does not cover it. `whole`: the write covers the page, or all of
 * it up to EOF, so a missing page needs no read (the part past EOF is zeroed);
 * `full`: the write covers every byte, so a new page needs no zeroing either.
 * `fill`: the bytes come from a source that may end early (vm_fill): a
 * resident page is then taken only when wholly valid, else read in first,
 * and `fill.fresh` tells whether the page was made here, its frame garbage.
 * A failed read answers the fault's result. => vnode locked exclusively by the caller
 */
export async function writablePage(obj: VmObject, pindex: number, whole: boolean, full: boolean, fill?: { fresh: boolean }): Promise<FaultResult> {
  const sys = obj.vm;
  for (;;) {
    const now = writablePageNow(obj, pindex, whole, full, fill);
    if (now !== null) return ready(now);
    const m = obj.pages.get(pindex);
    if (m !== undefined) {
      // Busy, or being written out (m.busy): its bytes must not change under the write.
      if ((m.flags & PG_BUSY) !== 0 || m.busy !== 0) {
        await vmPageSleep(sys, m, 'vmwrite');
        continue;
      }
    } else if (whole) {
      await vmPageoutWait(sys, obj); // no free frame
      continue;
    }
    // A partial write into a page not (wholly) valid: read it first.
    const r = await vmFaultPage(obj, pindex, true);
    if (r.m === null) return r;
    vmPageWakeup(r.m);
  }
}

/**
 * writablePage's answer when it needs no sleep (most pages of a write): the
 * page, busy, ready; null when it would have to wait for the page, for a
 * free frame, or for a read (nothing changed then).
 */
export function writablePageNow(obj: VmObject, pindex: number, whole: boolean, full: boolean, fill?: { fresh: boolean }): VmPage | null {
  const sys = obj.vm;
  const m = obj.pages.get(pindex);
  if (m !== undefined) {
    if ((m.flags & PG_BUSY) !== 0 || m.busy !== 0) return null;
    if (!((whole && fill === undefined) || vmPageAllValid(m))) return null;
    m.flags |= PG_BUSY;
    if (!vmPageAllValid(m)) {
      // Covered from its start to EOF: what lies past EOF is zeros.
      const eof = obj.vnpSize - pindex * sys.param.pageSize;
      if (eof < m.frame.length) {
        m.frame.fill(0, eof);
        vmPageSetValidClean(m, eof, m.frame.length - eof);
      }
    }
    return m;
  }
  if (!whole) return null;
  const nm = vmPageAlloc(sys, obj, pindex);
  if (nm === null) return null;
  if (!full) nm.frame.fill(0);
  else if (fill !== undefined) fill.fresh = true;
  vmPageSetAllValidClean(nm);
  vmPageActivate(sys, nm);
  return nm;
}

function ready(m: VmPage): FaultResult {
  return { rv: VM_PAGER_OK, error: 0, m };
}
