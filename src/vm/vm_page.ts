/*
 * struct vm_page: one page frame and what it holds. A page belongs to at
 * most one object at one index, sits on at most one queue, and carries a
 * valid and a dirty bit per DEV_BSIZE block of the page (cf. vm_page_bits).
 * Busy (PG_BUSY) means one holder owns the page for I/O or a copy; others
 * mark it PG_WANTED and sleep on the page, then look it up again
 * (the page may be gone or another when they wake).
 */

import { DEV_BSHIFT } from '../kern/param.js';
import { wakeup } from '../kern/sleep.js';
import type { VmObject } from './vm_object.js';

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

export class VmPage {
  object: VmObject | null = null;
  pindex = 0;
  flags = 0;
  /** I/O in progress on the page without PG_BUSY (cf. m->busy): putpages. */
  busy = 0;
  /** Pinned by a reader between fault and copy, or by a mapping (cf. hold_count). */
  holdCount = 0;
  queue = PQ_NONE;
  prev: VmPage | null = null;
  next: VmPage | null = null;
  /** One bit per DEV_BSIZE block: the frame holds the file's bytes there. */
  readonly valid: Uint32Array;
  /** One bit per DEV_BSIZE block: newer than the file. */
  readonly dirty: Uint32Array;

  constructor(
    /** Frame number in physical memory. */
    readonly phys: number,
    /** The frame's bytes: a fixed view into the arena. */
    readonly frame: Uint8Array,
    bitWords: number,
  ) {
    this.valid = new Uint32Array(bitWords);
    this.dirty = new Uint32Array(bitWords);
  }
}

/** Sets bits [first, first + count) of a bit array. */
function setBits(w: Uint32Array, first: number, count: number, on: boolean): void {
  for (let b = first; b < first + count; b++) {
    if (on) w[b >>> 5] |= 1 << (b & 31);
    else w[b >>> 5] &= ~(1 << (b & 31));
  }
}

/** Are bits [first, first + count) all set? */
function allBits(w: Uint32Array, first: number, count: number): boolean {
  for (let b = first; b < first + count; b++) if ((w[b >>> 5] & (1 << (b & 31))) === 0) return false;
  return true;
}

function anyBits(w: Uint32Array): boolean {
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return true;
  return false;
}

/** DEV_BSIZE blocks touched by bytes [off, off + len) of a page. */
function blockRange(off: number, len: number): [number, number] {
  const first = off >>> DEV_BSHIFT;
  const last = (off + len - 1) >>> DEV_BSHIFT;
  return [first, last - first + 1];
}

/** Is every DEV_BSIZE block under bytes [off, off + len) valid? => len > 0 */
export function pageIsValid(m: VmPage, off: number, len: number): boolean {
  const [first, count] = blockRange(off, len);
  if (count === 32 && first === 0) return m.valid[0] === 0xffffffff;
  return allBits(m.valid, first, count);
}

/** Is the whole page valid? */
export function pageAllValid(m: VmPage): boolean {
  return allBits(m.valid, 0, m.frame.length >>> DEV_BSHIFT);
}

export function pageAnyValid(m: VmPage): boolean {
  return anyBits(m.valid);
}

export function pageIsDirty(m: VmPage): boolean {
  return anyBits(m.dirty);
}

/**
 * Marks bytes [off, off + len) valid and clean (cf. vm_page_set_validclean).
 * Only blocks the range covers entirely become valid: a partial block would
 * claim bytes nobody read.
 */
export function pageSetValidClean(m: VmPage, off: number, len: number): void {
  const first = (off + (1 << DEV_BSHIFT) - 1) >>> DEV_BSHIFT;
  const end = (off + len) >>> DEV_BSHIFT;
  if (end > first) {
    setBits(m.valid, first, end - first, true);
    setBits(m.dirty, first, end - first, false);
  }
}

/** Marks the whole page valid and clean. */
export function pageSetAllValidClean(m: VmPage): void {
  setBits(m.valid, 0, m.frame.length >>> DEV_BSHIFT, true);
  m.dirty.fill(0);
}

/** Marks bytes [off, off + len) dirty (and valid), rounded out to DEV_BSIZE. */
export function pageSetDirty(m: VmPage, off: number, len: number): void {
  const [first, count] = blockRange(off, len);
  setBits(m.valid, first, count, true);
  setBits(m.dirty, first, count, true);
}

/** Clears the dirty bits of blocks [first, first + count). */
export function pageClearDirtyBlocks(m: VmPage, first: number, count: number): void {
  setBits(m.dirty, first, count, false);
}

/** Is DEV_BSIZE block b of the page valid / dirty? */
export function blockValid(m: VmPage, b: number): boolean {
  return (m.valid[b >>> 5] & (1 << (b & 31))) !== 0;
}

export function blockDirty(m: VmPage, b: number): boolean {
  return (m.dirty[b >>> 5] & (1 << (b & 31))) !== 0;
}

/** Forgets every valid and dirty bit. */
export function pageInvalidate(m: VmPage): void {
  m.valid.fill(0);
  m.dirty.fill(0);
}

/** Releases PG_BUSY and wakes whoever waits for the page (cf. PAGE_WAKEUP). */
export function pageWakeup(m: VmPage): void {
  const wanted = (m.flags & PG_WANTED) !== 0;
  m.flags &= ~(PG_BUSY | PG_WANTED);
  if (wanted) wakeup(m);
  // An unbusied page may be reclaimable now: a task short of memory looks again.
  const obj = m.object;
  if (obj !== null && obj.vm.freeWaiters !== 0) wakeup(obj.vm.freeChan);
}

/** Wakes sleepers once m.busy (I/O without PG_BUSY) drains. */
export function pageBusyDone(m: VmPage): void {
  m.busy--;
  if (m.busy === 0 && (m.flags & PG_WANTED) !== 0 && (m.flags & PG_BUSY) === 0) {
    m.flags &= ~PG_WANTED;
    wakeup(m);
  }
  const obj = m.object;
  if (m.busy === 0 && obj !== null && obj.vm.freeWaiters !== 0) wakeup(obj.vm.freeChan);
}
