/*
 * Reading and writing an object's bytes through its pages (cf.
 * uiomove_object / vn_io_fault): the one path by which file reads,
 * writes and mappings share a cache. A valid, unbusy page is a hit: its
 * bytes are copied with no await and no allocation. Anything else faults.
 * The file size is re-read after every await: a truncation may have run.
 */

import { EOPNOTSUPP } from '../kern/errno.js';
import { UIO_READ, type Uio } from '../vfs/uio.js';
import { VM_PAGER_BAD, pagerErrno } from './pager/vm_pager.js';
import type { VmObject } from './vm_object.js';
import { PG_BUSY, PG_RAHEAD, PG_REFERENCED, pageIsValid, pageWakeup } from './vm_page.js';
import { vmFaultPage } from './vm_fault.js';
import { vmReadaheadMark } from './vm_readahead_async.js';

/** Moves bytes between obj's pages and uio, stopping at EOF. Returns an errno. */
export async function objectRdwr(obj: VmObject, uio: Uio, ioflag: number): Promise<number> {
  void ioflag;
  if (uio.rw !== UIO_READ) return EOPNOTSUPP;
  const P = obj.vm.param.pageSize;
  const meter = obj.vm.meter;
  while (uio.resid > 0) {
    const off = uio.offset;
    let avail = obj.vnpSize - off;
    if (avail <= 0) break;
    const pindex = Math.floor(off / P);
    const poff = off - pindex * P;
    let m = obj.pages.get(pindex);
    if (m !== undefined && (m.flags & PG_BUSY) === 0 && pageIsValid(m, poff, Math.min(P - poff, avail, uio.resid))) {
      meter.hits++;
      m.flags = (m.flags | PG_REFERENCED) & ~PG_RAHEAD;
      if (pindex === obj.ra.mark) vmReadaheadMark(obj);
      uio.move(m.frame, poff, Math.min(P - poff, avail));
      continue;
    }
    meter.misses++;
    const r = await vmFaultPage(obj, pindex);
    if (r.rv === VM_PAGER_BAD) break; // the file shrank under us: EOF
    if (r.m === null) return pagerErrno(r.rv, obj.pagerError);
    m = r.m;
    avail = obj.vnpSize - off;
    if (avail > 0) uio.move(m.frame, poff, Math.min(P - poff, avail));
    pageWakeup(m);
    if (avail <= 0) break;
  }
  return 0;
}
