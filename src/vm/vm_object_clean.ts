/*
 * Writing an object's dirty pages back through its pager (cf.
 * vm_object_page_clean): consecutive dirty pages go out together, up to
 * MAXPHYS at a time. Pages written OK become clean; the others stay dirty,
 * and the first error is returned (msync's EIO).
 * => may sleep; busy pages are waited for; the vnode lock comes before the pages
 */

import { panic } from '../kern/panic.js';
import { EIO } from '../kern/errno.js';
import { LK_EXCLUSIVE } from '../kern/lock.js';
import type { VmObject } from './vm_object.js';
import { PG_BUSY, PQ_LAUNDRY, vmPageWakeup, type VmPage, vmPageDeactivateHead, vmPageSleep } from './vm_page.js';
import { OBJ_MIGHTBEDIRTY, vmPageClearDirty, vmPageIsDirty } from './vm_page_bits.js';
import { VM_PAGER_BAD, VM_PAGER_OK, pagerErrno } from './pager/vm_pager.js';

export interface PageCleanOptions {
  /** The caller holds the vnode lock exclusively already. */
  locked?: boolean;
  start?: number;
  end?: number;
}

/**
 * Writes the dirty pages of obj with index in [start, end); returns the
 * first errno. Takes the vnode lock exclusively unless `locked`.
 */
export function vmObjectPageClean(obj: VmObject, sync: boolean, opts: PageCleanOptions = {}): Promise<number> {
  const start = opts.start ?? 0;
  const end = opts.end ?? Infinity;
  // Most calls (an object's last reference going, a cache trim after a close
  // already wrote it) come after a clean of the whole object and no page
  // dirtied since: they answer without the lock or a task.
  if ((obj.flags & OBJ_MIGHTBEDIRTY) === 0) return NOTHING;
  return opts.locked ? pageClean(obj, sync, start, end) : pageCleanLocked(obj, sync, start, end);
}

const NOTHING = Promise.resolve(0);

async function pageCleanLocked(obj: VmObject, sync: boolean, start: number, end: number): Promise<number> {
  const vp = obj.handle;
  if (vp !== null) await vp.lock.lock(LK_EXCLUSIVE);
  try {
    return await pageClean(obj, sync, start, end);
  } finally {
    vp?.lock.unlock();
  }
}

async function pageClean(obj: VmObject, sync: boolean, start: number, end: number): Promise<number> {
  const sys = obj.vm;
  let firstError = 0;
  // A snapshot of the dirty indexes; pages dirtied meanwhile wait for the next call.
  // A bounded range is visited index by index, the whole object through its page map.
  const todo: number[] = [];
  // The whole object: what is dirty now is in the snapshot; a page dirtied
  // from here on sets the flag again, and so does a page that fails below.
  if (start === 0 && end === Infinity) obj.flags &= ~OBJ_MIGHTBEDIRTY;
  if (end - start <= obj.pages.size) {
    for (let i = start; i < end; i++) {
      const m = obj.pages.get(i);
      if (m !== undefined && vmPageIsDirty(m)) todo.push(i);
    }
  } else {
    for (const m of obj.pages.values()) if (m.pindex >= start && m.pindex < end && vmPageIsDirty(m)) todo.push(m.pindex);
    todo.sort((a, b) => a - b);
  }
  const maxRun = sys.param.maxPhysPages;
  for (let i = 0; i < todo.length; ) {
    // Busy the longest run of consecutive dirty pages starting at todo[i].
    const run: VmPage[] = [];
    let j = i;
    while (j < todo.length && run.length < maxRun) {
      const idx = todo[j];
      if (run.length > 0 && idx !== run[run.length - 1].pindex + 1) break;
      const m = obj.pages.get(idx);
      if (m === undefined || !vmPageIsDirty(m)) {
        j++;
        if (run.length > 0) break;
        continue;
      }
      if ((m.flags & PG_BUSY) !== 0 || m.busy !== 0) {
        if (run.length > 0) break;
        await vmPageSleep(sys, m, 'pgclean');
        continue; // look it up again
      }
      m.flags |= PG_BUSY;
      run.push(m);
      j++;
    }
    i = j;
    if (run.length === 0) continue;
    const rtvals = new Array<number>(run.length).fill(VM_PAGER_OK);
    obj.pipAdd();
    const pr = await obj.pager.putpages(obj, run, run.length, sync, rtvals);
    obj.pipWakeup();
    for (let k = 0; k < run.length; k++) {
      const m = run[k];
      if (m.object !== obj) panic('vm_object_page_clean: page left its object while busy');
      if (rtvals[k] === VM_PAGER_OK || rtvals[k] === VM_PAGER_BAD) {
        vmPageClearDirty(m);
        // Laundered: clean now, and the oldest page there is; the next to be freed.
        if (m.queue === PQ_LAUNDRY) vmPageDeactivateHead(sys, m);
      } else {
        obj.flags |= OBJ_MIGHTBEDIRTY; // still dirty
        if (firstError === 0) firstError = pagerErrno(rtvals[k], pr.error || EIO);
      }
      vmPageWakeup(m);
    }
  }
  return firstError;
}
