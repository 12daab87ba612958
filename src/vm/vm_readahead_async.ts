/*
 * Asynchronous read-ahead (cf. the buffer cache's cluster_read and
 * MADV_WILLNEED): pages are allocated busy, handed to the pager, and the
 * caller goes on without waiting. A reader that reaches one of them before
 * its read completes sleeps on the busy page as on any other.
 * A sequential reader keeps READAHEAD_DEPTH windows in flight (or as many
 * as its device asks for, BlockDevice.readAheadDepth): the first
 * page of the oldest is the mark, and reaching the mark starts one more.
 * => the vnode lock is taken with tryLock before any page is busied: when
 *    it is not free at once there is no read-ahead (never wait for it
 *    holding busy pages)
 */

import { LK_SHARED } from '../kern/lock.js';
import { panic } from '../kern/panic.js';
import { VM_PAGER_OK } from './pager/vm_pager.js';
import type { VmObject } from './vm_object.js';
import { PG_RAHEAD, PG_RAKEEP, vmPageWakeup, type VmPage, vmPageDeactivate, vmPageFree } from './vm_page.js';
import { vmPageAnyValid, vmPageIsDirty } from './vm_page_bits.js';
import { vmPageAlloc } from './vm_page_alloc.js';
import { MADV_RANDOM, readaheadGrow, readaheadMaxPages } from './vm_readahead.js';
import { vmDropBehind } from './vm_dropbehind.js';

/**
 * Starts reading pages [start, start + count) of obj without waiting, as far
 * as they are not resident and memory allows. Returns the index after the
 * last page started (start when none was).
 */
export function vmReadaheadStart(obj: VmObject, start: number, count: number): number {
  const sys = obj.vm;
  const vp = obj.handle;
  if (vp === null || count <= 0 || start >= obj.size) return start;
  if (!vp.lock.tryLock(LK_SHARED)) return start;
  const end = Math.min(start + count, obj.size, start + sys.param.maxPhysPages);
  const pages: VmPage[] = [];
  // Leave free memory for the reader: take at most half of what is free.
  const budget = Math.floor(sys.freeCount / 2) + sys.inactiveq.count;
  for (let i = start; i < end && pages.length < budget; i++) {
    if (obj.pages.has(i)) break;
    const m = vmPageAlloc(sys, obj, i);
    if (m === null) break;
    pages.push(m);
  }
  if (pages.length === 0) {
    vp.lock.unlock();
    return start;
  }
  obj.pipAdd();
  const first = pages[0];
  obj.pager.getpages(obj, pages, pages.length, 0, null, true).then(
    ({ rv }) => {
      obj.pipWakeup();
      vp.lock.unlock();
      if (rv === VM_PAGER_OK) {
        first.flags |= PG_RAHEAD;
        sys.meter.v_readahead++;
        // A sequential reader is coming for these: keep them until it does.
        for (const m of pages) if (m.object === obj && (m.flags & PG_RAHEAD) !== 0) m.flags |= PG_RAKEEP;
        vmPageDeactivate(sys, first);
        vmPageWakeup(first);
      } else if (!vmPageIsDirty(first) && !vmPageAnyValid(first)) {
        // A hole (FAIL), or an error that is not the reader's yet: a fault on the page will try again and report it.
        vmPageFree(sys, first);
      } else {
        vmPageWakeup(first);
      }
    },
    (e: unknown) => panic(`read-ahead: pager threw: ${String(e)}`),
  );
  return start + pages.length;
}

/**
 * Windows a sequential reader keeps in flight ahead of the one it reads:
 * two, so that two transfers can run at once on a device that reads off
 * the main thread (an image file's thread pool), and the reader never waits
 * for a transfer that started only when it reached the previous window.
 */
export const READAHEAD_DEPTH = 2;

/** The windows to keep in flight on obj's device: its own wish (BlockDevice.readAheadDepth), else READAHEAD_DEPTH. */
function readaheadDepth(obj: VmObject): number {
  const d = obj.handle?.mount?.dev.readAheadDepth;
  return d !== undefined && Number.isInteger(d) && d >= 1 ? d : READAHEAD_DEPTH;
}

/** Starts the next window after asyncNext, one step larger; false when none could start. */
function startWindow(obj: VmObject, size: number): boolean {
  const ra = obj.ra;
  const start = ra.asyncNext;
  const next = vmReadaheadStart(obj, start, size);
  if (next === start) return false;
  if (ra.mark < 0) ra.mark = start;
  else ra.marks.push(start);
  ra.asyncNext = next;
  ra.nextRead = next;
  return true;
}

/** A sequential fault read up to `last`: put the next windows in flight and mark the first one's first page. */
export function vmReadaheadAfterFault(obj: VmObject, last: number): void {
  const ra = obj.ra;
  if (ra.advice === MADV_RANDOM || ra.window === 0) return;
  ra.mark = -1;
  ra.marks.length = 0;
  ra.asyncNext = last + 1;
  if (!startWindow(obj, ra.window + 1)) return;
  const maxPages = readaheadMaxPages(obj.vm);
  const depth = readaheadDepth(obj);
  for (let d = 1; d < depth; d++) if (!startWindow(obj, readaheadGrow(obj, maxPages) + 1)) break;
}

/**
 * A reader used page pindex without a fault (a hit): if it is the mark, the
 * next window starts and the pages behind are dropped (under MADV_SEQUENTIAL).
 * => after the reader's copy: the read-ahead's allocations may reclaim any page not busy
 */
export function vmReadaheadHit(obj: VmObject, pindex: number): void {
  if (pindex !== obj.ra.mark) return;
  vmReadaheadMark(obj);
  vmDropBehind(obj, pindex);
}

/**
 * The reader reached the mark: the next window in flight becomes the mark,
 * and one more window, a step larger, starts after the last.
 */
export function vmReadaheadMark(obj: VmObject): void {
  const ra = obj.ra;
  ra.mark = ra.marks.length > 0 ? ra.marks.shift()! : -1;
  startWindow(obj, readaheadGrow(obj, readaheadMaxPages(obj.vm)) + 1);
}
