/*
 * struct vm_object: a set of pages indexed by pindex, backed by a pager
 * (for a vnode object, the file). Holds references (refCount) from its
 * users; paging in progress (pip) counts pager I/O under way, and anything
 * that would free or resize the object first waits for pip to drain.
 * An unreferenced object with OBJ_CANPERSIST stays cached with its pages
 * (cf. vm_object_cache) until the cache overflows or it is uncached.
 * The object is a data structure: it knows its pager only as a table
 * (`pager`), and no vfs op. Each field says what guards it (cf. UVM):
 *   [a] changed only between two awaits (the kernel's object lock: code
 *       that does not await runs alone); read again after any await
 *   [v] changed with the vnode locked exclusively; a reader holding it
 *       shared may rely on it across an await (the fault does)
 *   [L] changed under VOLOCK on the vnode (vnode_pager_alloc/dealloc)
 *   [c] constant once the object is made (or the mapping entered)
 */

import { LK_SHARED } from '../kern/lock.js';
import { panic } from '../kern/panic.js';
import { tsleep, wakeup } from '../kern/sleep.js';
import type { Vnode } from '../vfs/vnode.js';
import type { PagerOps } from './pager/vm_pager.js';
import { PG_BUSY, type VmPage, vmPageFree, vmPageSleep } from './vm_page.js';
import type { VmSystem } from './vm.js';
import { VmRadix } from './vm_radix.js';
import { vmObjectPageClean } from './vm_object_clean.js';

export const OBJT_DEFAULT = 0;
export const OBJT_VNODE = 2;

/** Being terminated: lookups must wait for it to go (cf. OBJ_DEAD). */
export const OBJ_DEAD = 0x8;
/** May stay cached when unreferenced (cf. OBJ_CANPERSIST). */
export const OBJ_CANPERSIST = 0x10;
/** Someone waits for paging in progress to drain (cf. OBJ_PIPWNT). */
export const OBJ_PIPWNT = 0x40;
/** The vnode went away under the object: pager calls fail. */
export const OBJ_VNODE_GONE = 0x100;
/** A page may be dirty (kept by vm_page_bits.ts, where pages are dirtied). */
export { OBJ_MIGHTBEDIRTY } from './vm_page_bits.js';

/** Read-ahead state of an object (cf. the map entry's next_read and read-ahead window). */
export interface ReadAheadState {
  /** The page a sequential reader would fault next. */
  nextRead: number;
  /** Current window in pages, 0 until a sequential run starts. */
  window: number;
  /** 0 NORMAL, 1 RANDOM, 2 SEQUENTIAL (madvise). */
  advice: number;
  /** The first page of the oldest window read asynchronously; reaching it starts the next (-1: none). */
  mark: number;
  /** The first pages of the younger windows in flight, oldest first: the marks to come. */
  marks: number[];
  /** Where the next asynchronous window starts. */
  asyncNext: number;
  /** Drop-behind has freed the pages before this one. */
  dropNext: number;
  /** POSIX_FADV_NOREUSE: each page is read once; free it as soon as the reader is done with it. */
  noreuse: boolean;
}

export class VmObject {
  /** [a] OBJ_* flags. */
  flags = 0;
  /** [a] References from users; 0 while cached. */
  refCount = 1;
  /** [a] Paging in progress (cf. paging_in_progress). */
  pip = 0;
  /** [v] Size in pages. */
  size: number;
  /** [L] The vnode for OBJT_VNODE, else null. */
  handle: Vnode | null = null;
  /** [v] File size in bytes (cf. un_pager.vnp.vnp_size). */
  vnpSize = 0;
  /** [a] Resident pages by index (a page's own fields: see VmPage). */
  readonly pages = new VmRadix<VmPage>();
  /** [c] Copy-on-write: the object behind this one (null once unmapped), and this one's offset into it in pages. */
  backingObject: VmObject | null = null;
  backingOffset = 0;
  /** [a] The read-ahead state of the object's sequential reader. */
  readonly ra: ReadAheadState = { nextRead: -1, window: 0, advice: 0, mark: -1, marks: [], asyncNext: -1, dropNext: 0, noreuse: false };

  constructor(
    /** [c] The VM the object's pages come from. */
    readonly vm: VmSystem,
    /** [c] OBJT_*. */
    readonly type: number,
    /** [c] The pager's operations (cf. UVM's pgops): the object's only way to its backing store. */
    readonly pager: PagerOps,
    size: number,
  ) {
    this.size = size;
  }

  /** Starts paging I/O (cf. vm_object_pip_add). */
  pipAdd(n = 1): void {
    this.pip += n;
  }

  /** Ends paging I/O; wakes waiters when none is left (cf. vm_object_pip_wakeup). */
  pipWakeup(n = 1): void {
    this.pip -= n;
    if (this.pip < 0) panic('vm_object: negative paging in progress');
    if (this.pip === 0 && (this.flags & OBJ_PIPWNT) !== 0) {
      this.flags &= ~OBJ_PIPWNT;
      wakeup(this);
    }
  }

  /** Sleeps until no paging I/O is in progress (cf. vm_object_pip_wait). */
  async pipWait(wmesg: string): Promise<void> {
    while (this.pip > 0) {
      this.flags |= OBJ_PIPWNT;
      await tsleep(this, wmesg);
    }
  }
}

/**
 * Locks the vnode behind obj: the first vnode object down its backing chain
 * (cf. FreeBSD vnode_pager_lock, which the fault calls; it needs only the
 * object's own fields). Resolves to the locked vnode, or null.
 */
export async function vmObjectVnodeLock(obj: VmObject | null, mode = LK_SHARED): Promise<Vnode | null> {
  for (; obj !== null; obj = obj.backingObject) {
    if (obj.type !== OBJT_VNODE || obj.handle === null) continue;
    const vp = obj.handle;
    await vp.lock.lock(mode);
    return vp;
  }
  return null;
}

/** Makes an object of `size` pages with one reference (cf. vm_object_allocate). */
export function vmObjectAllocate(sys: VmSystem, type: number, pager: PagerOps, size: number): VmObject {
  return new VmObject(sys, type, pager, size);
}

/** Adds a reference, taking the object out of the cache (cf. vm_object_reference). */
export function vmObjectReference(obj: VmObject): void {
  if (obj.refCount === 0) obj.vm.objectCache.delete(obj);
  obj.refCount++;
}

/**
 * Drops a reference that is not the last, at once, and says so; false (and
 * nothing dropped) for the last, which only vmObjectDeallocate may drop. For
 * a caller's short-lived reference on a hot path: no promise to wait on.
 */
export function vmObjectDeallocateNow(obj: VmObject): boolean {
  if (obj.refCount <= 1) return false;
  obj.refCount--;
  return true;
}

/**
 * Drops a reference. The last one caches a persistent object with its pages
 * (the oldest cached object terminates when the cache is full) and
 * terminates any other (cf. vm_object_deallocate).
 */
export async function vmObjectDeallocate(obj: VmObject): Promise<void> {
  if (obj.refCount <= 0) panic('vm_object_deallocate: no reference');
  obj.refCount--;
  if (obj.refCount > 0) return;
  const sys = obj.vm;
  if ((obj.flags & (OBJ_CANPERSIST | OBJ_DEAD)) === OBJ_CANPERSIST) {
    sys.objectCache.add(obj);
    await vmObjectCacheTrim(sys);
    return;
  }
  await vmObjectTerminate(obj);
}

/**
 * Terminates the oldest cached objects while the cache is over its size.
 * An object is written back first, while still alive: one whose dirty
 * pages cannot be written (a failing device) stays cached, pages and all,
 * for a later sync or the unmount to try again — eviction must not be
 * where data is lost. One that was referenced again meanwhile is left be.
 * An object whose vnode is locked is passed over: a cached object's vnode
 * may be locked by the very task deallocating (a directory being changed
 * caches its object between reads), and writing it back needs that lock;
 * the cache stays over its size until a later deallocation trims it.
 */
async function vmObjectCacheTrim(sys: VmSystem): Promise<void> {
  const failed: VmObject[] = [];
  while (sys.objectCache.size - failed.length > sys.objectCacheMax) {
    let old: VmObject | undefined;
    for (const o of sys.objectCache) {
      if (!failed.includes(o) && o.handle?.lock.locked !== true) {
        old = o;
        break;
      }
    }
    if (old === undefined) break;
    sys.objectCache.delete(old);
    const error = await vmObjectPageClean(old, true);
    // Referenced again meanwhile (and maybe cached again), or terminated by another task: leave it.
    if (old.refCount > 0 || (old.flags & OBJ_DEAD) !== 0 || sys.objectCache.has(old)) continue;
    if (error !== 0) {
      sys.objectCache.add(old);
      failed.push(old);
      continue;
    }
    await vmObjectTerminate(old);
  }
}

/**
 * Uncaches an object so that it terminates once unreferenced (cf. pager_cache(obj, FALSE)).
 * A referenced object only loses OBJ_CANPERSIST.
 */
export async function vmObjectUncache(obj: VmObject): Promise<void> {
  obj.flags &= ~OBJ_CANPERSIST;
  if (obj.refCount === 0 && obj.vm.objectCache.delete(obj)) await vmObjectTerminate(obj);
}

/**
 * Destroys an unreferenced object: waits for paging to drain, writes its
 * dirty pages through the pager, frees every page and deallocates the
 * pager (cf. vm_object_terminate). Returns the first write error; pages
 * that could not be written are lost only here, at termination.
 */
export async function vmObjectTerminate(obj: VmObject): Promise<number> {
  if ((obj.flags & OBJ_DEAD) !== 0) return 0;
  obj.flags |= OBJ_DEAD;
  await obj.pipWait('objtrm');
  const error = await vmObjectPageClean(obj, true);
  await vmObjectPageRemove(obj, 0, Infinity);
  await obj.pager.dealloc(obj);
  wakeup(obj);
  return error;
}

/**
 * Frees the pages of obj with index in [start, end), waiting for busy ones
 * (cf. vm_object_page_remove). Dirty contents are discarded.
 */
export async function vmObjectPageRemove(obj: VmObject, start: number, end: number): Promise<void> {
  const sys = obj.vm;
  for (;;) {
    let waitFor: VmPage | null = null;
    for (const m of obj.pages.values()) {
      if (m.pindex < start || m.pindex >= end) continue;
      if ((m.flags & PG_BUSY) !== 0 || m.busy !== 0 || m.holdCount !== 0) {
        waitFor = m;
        continue;
      }
      vmPageFree(sys, m);
    }
    if (waitFor === null) return;
    await vmPageSleep(sys, waitFor, 'objprm');
  }
}
