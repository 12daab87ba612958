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

/** The frame of a page made outside a VmSystem, until its maker sets one. */
const NO_FRAME = new Uint8Array(0);

export class VmPage {
  object: VmObject | null = null;
  pindex = 0;
  flags = 0;
  /** I/O in progress on the page without PG_BUSY (cf. m->busy): putpages, sendfile. */
  busy = 0;
  /** Pinned by a reader between fault and copy, or by a mapping (cf. hold_count). */
  holdCount = 0;
  queue = PQ_NONE;
  prev: VmPage | null = null;
  next: VmPage | null = null;
  /** The frame's bytes: a fixed view into the arena (VmSystem.freshPage sets it). */
  frame: Uint8Array = NO_FRAME;

  constructor(
    /** Frame number in physical memory. */
    readonly phys: number,
    /**
     * The valid and dirty bits of every page, one bit per DEV_BSIZE block:
     * valid ("the frame holds the file's bytes there") in words
     * [bitBase, bitBase + bitWords), dirty ("newer than the file") in the
     * bitWords words after. One array for all pages: a page costs no
     * allocation of its own.
     */
    readonly bits: Uint32Array,
    readonly bitBase: number,
    readonly bitWords: number,
  ) {}
}

/** The bits of word i that lie in [first, end). */
function wordMask(i: number, first: number, end: number): number {
  const lo = Math.max(first - i * 32, 0);
  const hi = Math.min(end - i * 32, 32);
  return hi - lo === 32 ? 0xffffffff : (((1 << (hi - lo)) - 1) << lo) >>> 0;
}

/** Sets bits [first, first + count) of the bit words at w[base..], a word at a time. */
function setBits(w: Uint32Array, base: number, first: number, count: number, on: boolean): void {
  const end = first + count;
  for (let i = first >>> 5; i * 32 < end; i++) {
    const mask = wordMask(i, first, end);
    w[base + i] = on ? w[base + i] | mask : w[base + i] & ~mask;
  }
}

/** Are bits [first, first + count) of the bit words at w[base..] all set? */
function allBits(w: Uint32Array, base: number, first: number, count: number): boolean {
  const end = first + count;
  for (let i = first >>> 5; i * 32 < end; i++) {
    const mask = wordMask(i, first, end);
    if (((w[base + i] & mask) >>> 0) !== mask) return false;
  }
  return true;
}

function anyBits(w: Uint32Array, base: number, words: number): boolean {
  for (let i = base; i < base + words; i++) if (w[i] !== 0) return true;
  return false;
}

function clearBits(w: Uint32Array, base: number, words: number): void {
  for (let i = base; i < base + words; i++) w[i] = 0;
}

/** Where page m's dirty bit words start. */
function dirtyBase(m: VmPage): number {
  return m.bitBase + m.bitWords;
}

/** Is every DEV_BSIZE block under bytes [off, off + len) valid? => len > 0 */
export function pageIsValid(m: VmPage, off: number, len: number): boolean {
  const first = off >>> DEV_BSHIFT;
  return allBits(m.bits, m.bitBase, first, ((off + len - 1) >>> DEV_BSHIFT) - first + 1);
}

/** Is the whole page valid? */
export function pageAllValid(m: VmPage): boolean {
  return allBits(m.bits, m.bitBase, 0, m.frame.length >>> DEV_BSHIFT);
}

export function pageAnyValid(m: VmPage): boolean {
  return anyBits(m.bits, m.bitBase, m.bitWords);
}

export function pageIsDirty(m: VmPage): boolean {
  return anyBits(m.bits, dirtyBase(m), m.bitWords);
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
    setBits(m.bits, m.bitBase, first, end - first, true);
    setBits(m.bits, dirtyBase(m), first, end - first, false);
  }
}

/** Marks the whole page valid and clean. */
export function pageSetAllValidClean(m: VmPage): void {
  setBits(m.bits, m.bitBase, 0, m.frame.length >>> DEV_BSHIFT, true);
  clearBits(m.bits, dirtyBase(m), m.bitWords);
}

/** Marks bytes [off, off + len) dirty (and valid), rounded out to DEV_BSIZE. */
export function pageSetDirty(m: VmPage, off: number, len: number): void {
  const first = off >>> DEV_BSHIFT;
  const count = ((off + len - 1) >>> DEV_BSHIFT) - first + 1;
  setBits(m.bits, m.bitBase, first, count, true);
  setBits(m.bits, dirtyBase(m), first, count, true);
}

/** Clears the dirty bits of blocks [first, first + count). */
export function pageClearDirtyBlocks(m: VmPage, first: number, count: number): void {
  setBits(m.bits, dirtyBase(m), first, count, false);
}

/** Clears every dirty bit: the page matches the file now. */
export function pageClearDirty(m: VmPage): void {
  clearBits(m.bits, dirtyBase(m), m.bitWords);
}

/** Is DEV_BSIZE block b of the page valid / dirty? */
export function blockValid(m: VmPage, b: number): boolean {
  return (m.bits[m.bitBase + (b >>> 5)] & (1 << (b & 31))) !== 0;
}

export function blockDirty(m: VmPage, b: number): boolean {
  return (m.bits[dirtyBase(m) + (b >>> 5)] & (1 << (b & 31))) !== 0;
}

/** Forgets every valid and dirty bit. */
export function pageInvalidate(m: VmPage): void {
  clearBits(m.bits, m.bitBase, 2 * m.bitWords);
}

/** Could m go to the free queue now: not busy, not under I/O, not held, and clean? */
export function pageFreeable(m: VmPage): boolean {
  return (m.flags & PG_BUSY) === 0 && m.busy === 0 && m.holdCount === 0 && !pageIsDirty(m);
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
