/*
 * The pager interface (cf. vm_pager.h): what a VM object's backing store
 * offers the VM. A pager is a frozen table of operations; an object points
 * at its table. Results are pager results, not errnos:
 *   OK     the operation succeeded
 *   BAD    the request is out of range (e.g. past the end of the file)
 *   FAIL   in range, but the pager does not have the data
 *   PEND   started, completion comes later (async putpages)
 *   ERROR  an I/O error on data that exists
 *   AGAIN  a temporary shortage; try again
 * A pager call answers { rv, error }: the result and, beside an ERROR, the
 * errno behind it, so that the caller reports the file system's own errno
 * (a value in the answer, not a field of the object another task may have
 * set since). A file system's errno becomes a pager result only in pagerResult().
 */

import { EAGAIN, EFAULT_SIGBUS, EIO, EINTEGRITY } from '../../kern/errno.js';
import type { VmObject } from '../vm_object.js';
import type { VmPage } from '../vm_page.js';

export const VM_PAGER_OK = 0;
export const VM_PAGER_BAD = 1;
export const VM_PAGER_FAIL = 2;
export const VM_PAGER_PEND = 3;
export const VM_PAGER_ERROR = 4;
export const VM_PAGER_AGAIN = 5;

export interface HaspageResult {
  has: boolean;
  /**
   * Pages before pindex that a single transfer could also bring in; when
   * `has` is false, the pages before it known to be absent too (a hole: zeros).
   */
  before: number;
  /** Pages after pindex likewise, never past the end of the object. */
  after: number;
  /**
   * Where page pindex lies in the backing store (the vnode pager: the device
   * address in DEV_BSIZE units), -1 when unknown or not one transfer. The
   * fault hands the whole answer to getpages, which need not ask again.
   */
  addr: number;
}

/** What getpages and putpages answer: a pager result, and on ERROR the errno behind it (else 0). */
export interface PagerResult {
  readonly rv: number;
  readonly error: number;
}

/** The answer of a call that succeeded (shared: a page-in allocates no answer of its own). */
export const PAGER_OK: PagerResult = Object.freeze({ rv: VM_PAGER_OK, error: 0 });

/** A result other than ERROR, which carries no errno. */
export function pagerRv(rv: number): PagerResult {
  return rv === VM_PAGER_OK ? PAGER_OK : { rv, error: 0 };
}

export interface PagerOps {
  readonly name: string;
  /** The object is going away: drop the pager's hold on its backing store. */
  dealloc(obj: VmObject): Promise<void>;
  /**
   * Fills pages m[0..count) (consecutive indexes, all busy, m[reqpage] the one
   * faulted). On return m[reqpage] is still busy, valid on OK; every other
   * page is either valid, unbusied and deactivated, or freed. `hint`:
   * haspage's answer for m[reqpage], asked under the same hold of the vnode
   * lock (so still true), or null. `readahead`: nobody is waiting for any
   * of the pages, and a hole is answered FAIL with every page unfilled (a
   * reader of a hole is better served by the fault, or by sendfile's zeros,
   * than by pages of zeros made in advance).
   */
  getpages(obj: VmObject, m: VmPage[], count: number, reqpage: number, hint: HaspageResult | null, readahead?: boolean): Promise<PagerResult>;
  /**
   * Writes pages m[0..count) (consecutive indexes, busy); rtvals[i] gets each
   * page's result. Answers rtvals[0], with the errno behind any ERROR among
   * rtvals. The caller marks the OK pages clean.
   */
  putpages(obj: VmObject, m: VmPage[], count: number, sync: boolean, rtvals: number[]): Promise<PagerResult>;
  /** Does the backing store hold page pindex, and how many pages around it in one transfer? */
  haspage(obj: VmObject, pindex: number): Promise<HaspageResult>;
}

/** The one place an errno becomes a pager result. */
export function pagerResult(error: number): PagerResult {
  if (error === 0) return PAGER_OK;
  if (error === EAGAIN) return { rv: VM_PAGER_AGAIN, error };
  return { rv: VM_PAGER_ERROR, error };
}

/** A pager result as the errno a caller reports; `lastError`, the errno behind an ERROR, refines it. */
export function pagerErrno(rv: number, lastError = EIO): number {
  switch (rv) {
    case VM_PAGER_OK:
    case VM_PAGER_PEND:
      return 0;
    case VM_PAGER_BAD:
      return EFAULT_SIGBUS;
    case VM_PAGER_AGAIN:
      return EAGAIN;
    case VM_PAGER_FAIL:
      return EIO;
    default:
      return lastError === EINTEGRITY ? EINTEGRITY : EIO;
  }
}
