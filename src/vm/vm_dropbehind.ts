/*
 * Drop-behind (cf. FreeBSD vm_fault_dontneed): a reader that declared its
 * access sequential (MADV_SEQUENTIAL) will not come back, so the clean pages
 * more than DROP_BEHIND_BYTES behind it are freed as it goes. A stream then
 * recycles a small set of frames instead of pushing everything else out of
 * memory. Busy, held, dirty and referenced-by-mapping pages are left alone.
 * => called from a sequential fault; runs without sleeping
 */

import type { VmObject } from './vm_object.js';
import { vmPageFreeable, vmPageFree } from './vm_page.js';
import { DROP_BEHIND_BYTES, MADV_SEQUENTIAL } from './vm_readahead.js';

export function vmDropBehind(obj: VmObject, pindex: number): void {
  if (obj.ra.advice !== MADV_SEQUENTIAL) return;
  const sys = obj.vm;
  const end = pindex - Math.ceil(DROP_BEHIND_BYTES / sys.param.pageSize);
  // Only resident pages are visited (a jump over a hole of a million pages costs its chunks, not its pages);
  // highest first: the free queue is LIFO, and the next window then gets these frames in ascending order.
  const behind: number[] = [];
  for (let i = obj.pages.nextFrom(Math.max(0, obj.ra.dropNext), end); i < end; i = obj.pages.nextFrom(i + 1, end)) behind.push(i);
  for (let k = behind.length - 1; k >= 0; k--) {
    const m = obj.pages.get(behind[k])!;
    if (vmPageFreeable(m)) vmPageFree(sys, m);
  }
  if (end > obj.ra.dropNext) obj.ra.dropNext = end;
}
