/*
 * struct vm_page and what FreeBSD's vm_page.c does with one: a page belongs
 * to at most one object at one index (insert, remove, lookup), sits on at
 * most one queue (activate, deactivate, launder, free), and carries a valid
 * and a dirty bit per DEV_BSIZE block (vm_page_bits.ts). Busy (PG_BUSY)
 * means one holder owns the page for I/O or a copy; others mark it
 * PG_WANTED and sleep on the page, then look it up again (the page may be
 * gone or another when they wake). Allocation is in vm_page_alloc.ts.
 *   m = vmPageAlloc(sys, obj, pindex); ...; vmPageWakeup(m) or vmPageFree(sys, m)
 */

import { panic } from '../kern/panic.js';
import { tsleep, wakeup } from '../kern/sleep.js';
import type { VmObject } from './vm_object.js';
import type { VmSystem } from './vm.js';
import { OBJ_MIGHTBEDIRTY, vmPageInvalidate, vmPageIsDirty } from './vm_page_bits.js';

/** Page flags. */
export const PG_BUSY = 0x1;
export const PG_WANTED = 0x2;
/** Accessed since the page daemon last looked (the pmap's reference bit). */
export const PG_REFERENCED = 0x4;
/** The frame is known to hold zeros. */
export const PG_ZERO = 0x8;
/** Read ahead and not used yet (counts wasted read-ahead). */
export const PG_RAHEAD = 0x10;
/** Read ahead for a sequential reader, not used yet: the reclaim scan spares it while it can. */
export const PG_RAKEEP = 0x20;
/** Both read-ahead marks, cleared when the page is used. */
export const PG_RAMARKS = PG_RAHEAD | PG_RAKEEP;

/** Page queues. */
export const PQ_NONE = 0;
export const PQ_FREE = 1;
export const PQ_INACTIVE = 2;
export const PQ_ACTIVE = 3;
/** Dirty pages the reclaim scan found: to be written before they can be freed (cf. PQ_LAUNDRY). */
export const PQ_LAUNDRY = 4;

/** The frame of a page made outside a VmSystem, until its maker sets one. */
const NO_FRAME = new Uint8Array(0);

/*
 * What guards each field (as in vm_object.ts):
 *   [a] changed only between two awaits (the kernel's page and queue locks)
 *   [b] changed by the holder of PG_BUSY (or, for valid bits, under it)
 *   [c] constant once the page structure is made
 */
export class VmPage {
  /** [a] The object the page belongs to, or null when free. */
  object: VmObject | null = null;
  /** [a] Its page index in the object. */
  pindex = 0;
  /** [a] PG_* flags; PG_BUSY itself is taken and let go between awaits. */
  flags = 0;
  /** [a] I/O in progress on the page without PG_BUSY (cf. m->busy): putpages, sendfile. */
  busy = 0;
  /** [a] Pinned by a reader between fault and copy, or by a mapping (cf. hold_count). */
  holdCount = 0;
  /** [a] Which page queue it is on (PQ_*), and its links there. */
  queue = PQ_NONE;
  prev: VmPage | null = null;
  next: VmPage | null = null;
  /** [c] The frame's bytes: a fixed view into the arena (VmSystem.freshPage sets it); its contents [b]. */
  frame: Uint8Array = NO_FRAME;

  constructor(
    /** [c] Frame number in physical memory. */
    readonly phys: number,
    /**
     * The valid and dirty bits of every page, one bit per DEV_BSIZE block:
     * valid ("the frame holds the file's bytes there") in words
     * [bitBase, bitBase + bitWords), dirty ("newer than the file") in the
     * bitWords words after. One array for all pages: a page costs no
     * allocation of its own. [c] the array and place; the bits [b].
     */
    readonly bits: Uint32Array,
    readonly bitBase: number,
    readonly bitWords: number,
  ) {}
}

/**
 * The page was used (cf. vm_page_reference): referenced for the page
 * daemon's second chance, and no longer an unused read-ahead page.
 */
export function vmPageReference(m: VmPage): void {
  m.flags = (m.flags | PG_REFERENCED) & ~PG_RAMARKS;
}

/** Could m go to the free queue now: not busy, not under I/O, not held, and clean? */
export function vmPageFreeable(m: VmPage): boolean {
  return (m.flags & PG_BUSY) === 0 && m.busy === 0 && m.holdCount === 0 && !vmPageIsDirty(m);
}

/** Releases PG_BUSY and wakes whoever waits for the page (cf. PAGE_WAKEUP). */
export function vmPageWakeup(m: VmPage): void {
  const wanted = (m.flags & PG_WANTED) !== 0;
  m.flags &= ~(PG_BUSY | PG_WANTED);
  if (wanted) wakeup(m);
  // An unbusied page may be reclaimable now: a task short of memory looks again.
  const obj = m.object;
  if (obj !== null && obj.vm.freeWaiters !== 0) wakeup(obj.vm.freeChan);
}

/** Wakes sleepers once m.busy (I/O without PG_BUSY) drains. */
export function vmPageBusyDone(m: VmPage): void {
  m.busy--;
  if (m.busy === 0 && (m.flags & PG_WANTED) !== 0 && (m.flags & PG_BUSY) === 0) {
    m.flags &= ~PG_WANTED;
    wakeup(m);
  }
  const obj = m.object;
  if (m.busy === 0 && obj !== null && obj.vm.freeWaiters !== 0) wakeup(obj.vm.freeChan);
}

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
  if (vmPageIsDirty(m)) obj.flags |= OBJ_MIGHTBEDIRTY;
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
  vmPageInvalidate(m);
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
