/*
 * How many pages to bring in around a faulted page (cf. FreeBSD
 * vm_fault_readahead): a fault at the page a sequential reader would touch
 * next grows the read-ahead window (7, 15, 23, ... up to MAXPHYS/PAGE - 1);
 * any other fault reads the aligned cluster of 16 pages holding it;
 * MADV_RANDOM reads the page alone. The pager then cuts the cluster to what
 * is contiguous on disk.
 */

import type { VmObject } from './vm_object.js';
import type { VmSystem } from './vm.js';

export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;

/** First window of a sequential run, and its growth per sequential fault. */
export const VM_FAULT_READ_AHEAD_INIT = 7;
export const VM_FAULT_READ_AHEAD_STEP = 8;
/** The aligned cluster a random fault reads. */
export const VM_FAULT_READ_DEFAULT = 16;

export interface ReadAheadWish {
  behind: number;
  ahead: number;
  sequential: boolean;
}

/** The most pages one cluster may hold: MAXPHYS, and no more than a quarter of memory. */
export function readaheadMaxPages(sys: VmSystem): number {
  return Math.max(1, Math.min(sys.param.maxPhysPages, Math.floor(sys.pageCount / 4)));
}

/** Grows the sequential window one step: 7, 15, 23, ... up to the cluster limit less one. */
export function readaheadGrow(obj: VmObject, maxPages: number): number {
  const ra = obj.ra;
  ra.window = ra.window === 0 ? VM_FAULT_READ_AHEAD_INIT : ra.window + VM_FAULT_READ_AHEAD_STEP;
  return (ra.window = Math.min(ra.window, Math.max(0, maxPages - 1)));
}

/**
 * Is a fault at pindex sequential? It is at the page a sequential reader
 * would fault next, or inside the window read asynchronously ahead of it
 * (the pager may have cut that window short at a discontiguity).
 */
function isSequential(obj: VmObject, pindex: number): boolean {
  const ra = obj.ra;
  return pindex === ra.nextRead || (ra.mark >= 0 && pindex >= ra.mark && pindex <= ra.asyncNext);
}

/** The cluster a fault at pindex would like. => call once per fault */
export function vmFaultReadahead(obj: VmObject, pindex: number, maxPages: number): ReadAheadWish {
  const ra = obj.ra;
  if (ra.advice === MADV_RANDOM) return { behind: 0, ahead: 0, sequential: false };
  if (isSequential(obj, pindex) || ra.advice === MADV_SEQUENTIAL) {
    return { behind: 0, ahead: readaheadGrow(obj, maxPages), sequential: true };
  }
  ra.window = 0;
  ra.mark = -1;
  ra.marks.length = 0;
  const cluster = Math.min(VM_FAULT_READ_DEFAULT, maxPages);
  const behind = pindex % cluster;
  return { behind, ahead: cluster - 1 - behind, sequential: false };
}

/** After a fault brought in pages up to `last`, the next sequential fault is at last + 1. */
export function vmFaultReadaheadDone(obj: VmObject, last: number): void {
  obj.ra.nextRead = last + 1;
}

/** Under MADV_SEQUENTIAL, pages this far behind the reader are freed (cf. vm_fault_dontneed). */
export const DROP_BEHIND_BYTES = 1 << 20;
