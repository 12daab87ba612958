/*
 * Accessing memory through a map entry: what the MMU and vm_fault do for a
 * load or a store (cf. vm_fault with its backing-object walk). A page past
 * the end of the vnode object is the kernel's SIGBUS; inside the last page,
 * bytes past EOF read as zeros (they are never written back). A store to a
 * private entry copies the page into the shadow object first (copy on
 * write); a store to a shared entry dirties the vnode object's page.
 *   error = await vmMapAccess(entry, offset, buf, write)
 * => offset and buf lie inside the entry; the protection was checked
 */

import { EFAULT_SIGBUS, ENOMEM } from '../kern/errno.js';
import { copy } from '../vfs/uio.js';
import { VM_PAGER_AGAIN, VM_PAGER_BAD, VM_PAGER_ERROR, VM_PAGER_OK, pagerErrno } from './pager/vm_pager.js';
import type { VmMapEntry } from './vm_map.js';
import { PG_BUSY, vmPageWakeup, type VmPage, vmPageSleep, vmPageReference } from './vm_page.js';
import { vmPageSetAllValidClean, vmPageSetDirty } from './vm_page_bits.js';
import { vmPageAlloc } from './vm_page_alloc.js';
import { type FaultResult, vmFaultPage } from './vm_fault.js';
import { vmPageoutWait } from './vm_pageout_launder.js';

/** Moves bytes between buf and the entry's memory at `offset`. Returns an errno. */
export async function vmMapAccess(e: VmMapEntry, offset: number, buf: Uint8Array, write: boolean): Promise<number> {
  const sys = e.object.vm;
  const P = sys.param.pageSize;
  const vobj = e.vobject;
  let done = 0;
  while (done < buf.length) {
    const off = offset + done;
    const rel = Math.floor(off / P); // page of the entry
    const poff = off - rel * P;
    const n = Math.min(P - poff, buf.length - done);
    const vindex = e.pindex + rel;
    // Re-read the size every time: a truncation may have run since the last page.
    if (vindex >= sys.param.pagesFor(vobj.vnpSize)) return EFAULT_SIGBUS;
    if (!e.shared) {
      const shadow = e.object.pages.get(rel);
      if (shadow !== undefined) {
        if (write) copy(buf, done, shadow.frame, poff, n);
        else copy(shadow.frame, poff, buf, done, n);
        done += n;
        continue;
      }
    }
    const r = await vmFaultPage(vobj, vindex);
    if (r.m === null) return r.rv === VM_PAGER_BAD ? EFAULT_SIGBUS : pagerErrno(r.rv, r.error);
    const m = r.m;
    vmPageReference(m);
    if (!write) {
      copy(m.frame, poff, buf, done, n);
      vmPageWakeup(m);
    } else if (e.shared) {
      if (m.busy !== 0) {
        // Being written out: the store waits, as a write-protected page would make it.
        vmPageWakeup(m);
        await vmPageSleep(sys, m, 'mapwr');
        continue;
      }
      copy(buf, done, m.frame, poff, n);
      vmPageSetDirty(m, poff, n);
      vmPageWakeup(m);
    } else {
      const c = await cowPage(e, rel, m);
      if (c.rv === VM_PAGER_AGAIN) continue; // waited for memory: look everything up again
      if (c.m === null) return c.error; // ENOMEM
      copy(buf, done, c.m.frame, poff, n);
    }
    done += n;
  }
  return 0;
}

/**
 * Copies busy vnode page m into the shadow at index rel (copy on write) and
 * releases m. Shadow pages are anonymous: with no swap they stay resident,
 * on no page queue, until the mapping goes. Answers as the fault does: OK
 * with the shadow page (not busy); ERROR with ENOMEM when memory is full;
 * AGAIN after waiting for memory (m released first: never wait holding a
 * busy page), and the caller starts the page over.
 */
async function cowPage(e: VmMapEntry, rel: number, m: VmPage): Promise<FaultResult> {
  const sys = e.object.vm;
  const existing = e.object.pages.get(rel);
  if (existing !== undefined) {
    vmPageWakeup(m);
    return { rv: VM_PAGER_OK, error: 0, m: existing };
  }
  const s = vmPageAlloc(sys, e.object, rel);
  if (s !== null) {
    s.frame.set(m.frame);
    vmPageSetAllValidClean(s);
    s.flags &= ~PG_BUSY; // resident, unqueued, owned by the shadow
    vmPageWakeup(m);
    return { rv: VM_PAGER_OK, error: 0, m: s };
  }
  vmPageWakeup(m);
  if (sys.inactiveq.count + sys.activeq.count + sys.laundryq.count === 0) return { rv: VM_PAGER_ERROR, error: ENOMEM, m: null };
  await vmPageoutWait(sys, null);
  return { rv: VM_PAGER_AGAIN, error: 0, m: null };
}
