/*
 * A page's valid and dirty bits, one of each per DEV_BSIZE block (cf.
 * vm_page_bits, vm_page_set_validclean): valid says the frame holds the
 * file's bytes there, dirty that they are newer than the file's. The bits of
 * every page live in one array (VmPage.bits): a page costs no allocation.
 */

import { DEV_BSHIFT } from '../kern/param.js';
import type { VmPage } from './vm_page.js';

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
export function vmPageIsValid(m: VmPage, off: number, len: number): boolean {
  const first = off >>> DEV_BSHIFT;
  return allBits(m.bits, m.bitBase, first, ((off + len - 1) >>> DEV_BSHIFT) - first + 1);
}

/** Is the whole page valid? */
export function vmPageAllValid(m: VmPage): boolean {
  return allBits(m.bits, m.bitBase, 0, m.frame.length >>> DEV_BSHIFT);
}

export function vmPageAnyValid(m: VmPage): boolean {
  return anyBits(m.bits, m.bitBase, m.bitWords);
}

export function vmPageIsDirty(m: VmPage): boolean {
  return anyBits(m.bits, dirtyBase(m), m.bitWords);
}

/**
 * Marks bytes [off, off + len) valid and clean (cf. vm_page_set_validclean).
 * Only blocks the range covers entirely become valid: a partial block would
 * claim bytes nobody read.
 */
export function vmPageSetValidClean(m: VmPage, off: number, len: number): void {
  const first = (off + (1 << DEV_BSHIFT) - 1) >>> DEV_BSHIFT;
  const end = (off + len) >>> DEV_BSHIFT;
  if (end > first) {
    setBits(m.bits, m.bitBase, first, end - first, true);
    setBits(m.bits, dirtyBase(m), first, end - first, false);
  }
}

/** Marks the whole page valid and clean. */
export function vmPageSetAllValidClean(m: VmPage): void {
  setBits(m.bits, m.bitBase, 0, m.frame.length >>> DEV_BSHIFT, true);
  clearBits(m.bits, dirtyBase(m), m.bitWords);
}

/**
 * An object flag (cf. OBJ_MIGHTBEDIRTY): a page of the object may be dirty.
 * Set whenever one of its pages is dirtied (here) or a dirty page joins it
 * (vmPageInsert); cleared by a page clean of the whole object, so that
 * asking an object that was written back whether it has work costs nothing.
 */
export const OBJ_MIGHTBEDIRTY = 0x200;

/** Marks bytes [off, off + len) dirty (and valid), rounded out to DEV_BSIZE. */
export function vmPageSetDirty(m: VmPage, off: number, len: number): void {
  const first = off >>> DEV_BSHIFT;
  const count = ((off + len - 1) >>> DEV_BSHIFT) - first + 1;
  setBits(m.bits, m.bitBase, first, count, true);
  setBits(m.bits, dirtyBase(m), first, count, true);
  if (m.object !== null) m.object.flags |= OBJ_MIGHTBEDIRTY;
}

/** Clears the dirty bits of blocks [first, first + count). */
export function vmPageClearDirtyBlocks(m: VmPage, first: number, count: number): void {
  setBits(m.bits, dirtyBase(m), first, count, false);
}

/** Clears every dirty bit: the page matches the file now. */
export function vmPageClearDirty(m: VmPage): void {
  clearBits(m.bits, dirtyBase(m), m.bitWords);
}

/** Is DEV_BSIZE block b of the page valid / dirty? */
export function vmPageBlockValid(m: VmPage, b: number): boolean {
  return (m.bits[m.bitBase + (b >>> 5)] & (1 << (b & 31))) !== 0;
}

export function vmPageBlockDirty(m: VmPage, b: number): boolean {
  return (m.bits[dirtyBase(m) + (b >>> 5)] & (1 << (b & 31))) !== 0;
}

/** Forgets every valid and dirty bit. */
export function vmPageInvalidate(m: VmPage): void {
  clearBits(m.bits, m.bitBase, 2 * m.bitWords);
}
