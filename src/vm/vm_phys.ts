/*
 * The page queues and a page's place in an object (cf. vm_page.c): free,
 * insert into and remove from an object, lookup, activate, deactivate, and
 * the sleeps for a busy page or a free page. Allocation, which may run the
 * page daemon's reclaim scan, is in vm_page_alloc.ts.
 *   m = vmPageAlloc(sys, obj, pindex)   // busy, in obj; null when none free
 *   ... pageWakeup(m) / vmPageFree(sys, m)
 */

import { panic } from '../kern/panic.js';
import { tsleep, wakeup } from '../kern/sleep.js';
import type { VmObject } from './vm_object.js';
import { PG_WANTED, PQ_ACTIVE, PQ_FREE, PQ_INACTIVE, PQ_LAUNDRY, PQ_NONE, pageInvalidate, type VmPage } from './vm_page.js';
import type { VmSystem } from './vm.js';

/** The page of obj at pindex, or undefined (cf. vm_page_lookup). */
export function vmPageLookup(obj: VmObject, pindex: number): VmPage | undefined {
  return obj.pages.get(pindex);
}

/** Puts m into obj at pindex. => m belongs to no object */
export function vmPageInsert(m: VmPage, obj: VmObject, pindex: number): void {
  if (m.object !== null) panic('vm_page_insert: page already in an object');
  if (obj.pages.has(pindex)) panic(`vm_page_insert: index ${pindex} taken`);
  m.object = obj;
  m.pindex = pindex;
  obj.pages.set(pindex, m);
}

/** Takes m out of its object (cf. vm_page_remove). */
export function vmPageRemove(m: VmPage): void {
  const obj = m.object;
  if (obj === null) return;
  if (obj.pages.get(m.pindex) === m) obj.pages.delete(m.pindex);
  m.object = null;
}

function dequeue(sys: VmSystem, m: VmPage): void {
  switch (m.queue) {
    case PQ_NONE:
      return;
    case PQ_FREE:
      sys.freeq.remove(m);
      return;
    case PQ_INACTIVE:
      sys.inactiveq.remove(m);
      return;
    case PQ_ACTIVE:
      sys.activeq.remove(m);
      return;
    case PQ_LAUNDRY:
      sys.laundryq.remove(m);
      return;
  }
}

/**
 * Frees m: out of its object and queue, onto the free queue; wakes anyone
 * waiting for the page or for free memory (cf. vm_page_free).
 * => nobody else holds m busy
 */
export function vmPageFree(sys: VmSystem, m: VmPage): void {
  if (m.busy !== 0) panic('vm_page_free: page under I/O');
  if (m.holdCount !== 0) panic('vm_page_free: page held');
  const wanted = (m.flags & PG_WANTED) !== 0;
  vmPageRemove(m);
  dequeue(sys, m);
  pageInvalidate(m);
  m.flags = 0;
  // Last freed, first reused: its frame is likely still in the CPU's caches
  // (and, for a fresh arena, already touched).
  sys.freeq.insertHead(m);
  if (wanted) wakeup(m);
  wakeup(sys.freeChan);
}

/** Moves m to the tail of the active queue (cf. vm_page_activate). */
export function vmPageActivate(sys: VmSystem, m: VmPage): void {
  dequeue(sys, m);
  sys.activeq.insertTail(m);
}

/** Moves m to the tail of the inactive queue (cf. vm_page_deactivate). */
export function vmPageDeactivate(sys: VmSystem, m: VmPage): void {
  dequeue(sys, m);
  sys.inactiveq.insertTail(m);
}

/** Moves dirty m to the laundry queue, to be written back before it can be freed. */
export function vmPageLaunder(sys: VmSystem, m: VmPage): void {
  dequeue(sys, m);
  sys.laundryq.insertTail(m);
}

/** Moves m to the head of the inactive queue: the next page the reclaim scan frees. */
export function vmPageDeactivateHead(sys: VmSystem, m: VmPage): void {
  dequeue(sys, m);
  sys.inactiveq.insertHead(m);
}

/** Takes m off every queue (while it is busy for I/O, say). */
export function vmPageUnqueue(sys: VmSystem, m: VmPage): void {
  dequeue(sys, m);
}

/** Sleeps until busy page m is released (cf. vm_page_sleep). => look m up again after */
export async function vmPageSleep(sys: VmSystem, m: VmPage, wmesg: string): Promise<void> {
  sys.meter.v_busywait++;
  m.flags |= PG_WANTED;
  await tsleep(m, wmesg);
}

/**
 * Sleeps until a page is freed, or becomes freeable: unbusied, or its I/O
 * done (cf. vm_wait). The caller looks for memory again after.
 */
export async function vmWait(sys: VmSystem): Promise<void> {
  sys.meter.v_freewait++;
  sys.freeWaiters++;
  try {
    await tsleep(sys.freeChan, 'vmwait');
  } finally {
    sys.freeWaiters--;
  }
}
