/*
 * Reading and writing an object's bytes through its pages (cf.
 * uiomove_object / vn_io_fault): the one path by which file reads,
 * writes and mappings share a cache. A valid, unbusy page is a hit: its
 * bytes are copied with no await and no allocation. Anything else faults.
 * A write dirties the DEV_BSIZE blocks it touches; a page it covers whole is
 * not read first, a page it covers in part is (read-modify-write).
 * The file size is re-read after every await: a truncation may have run.
 */

import { EINVAL } from '../kern/errno.js';
import { UIO_READ, UIO_SOURCE, type Uio } from '../vfs/uio.js';
import { IO_NODELOCKED } from '../vfs/vnode_if.js';
import { VM_PAGER_BAD, pagerErrno } from './pager/vm_pager.js';
import type { VmObject } from './vm_object.js';
import { PG_BUSY, vmPageWakeup, type VmPage, vmPageReference } from './vm_page.js';
import { vmPageIsValid, vmPageSetDirty } from './vm_page_bits.js';
import { vmFaultPage } from './vm_fault.js';
import { vmReadaheadHit } from './vm_readahead_async.js';
import { objectFill } from './vm_fill.js';
import { writablePage, writablePageNow } from './vm_page_writable.js';

/**
 * Moves bytes between obj's pages and uio; reads stop at EOF. Returns an errno.
 * => for UIO_WRITE: the vnode is locked exclusively by the caller and the
 *    object's size already covers the range; for a read, IO_NODELOCKED says
 *    the caller holds the vnode lock (the fault must not take it again)
 */
export async function objectRdwr(obj: VmObject, uio: Uio, ioflag: number): Promise<number> {
  if (uio.rw !== UIO_READ) return objectWrite(obj, uio);
  const locked = (ioflag & IO_NODELOCKED) !== 0;
  const P = obj.vm.param.pageSize;
  const meter = obj.vm.meter;
  const allValid = obj.vm.param.validWord;
  while (uio.resid > 0) {
    const off = uio.offset;
    let avail = obj.vnpSize - off;
    if (avail <= 0) break;
    const pindex = Math.floor(off / P);
    const poff = off - pindex * P;
    let m = obj.pages.get(pindex);
    // The common hit: whole valid pages (of one bit word: up to 16 KiB) into
    // the caller's buffer. Pages whose frames lie side by side in the arena
    // (a cluster read into a fresh run of frames) go in one copy.
    if (m !== undefined && poff === 0 && allValid !== 0 && wholeHit(m, allValid)) {
      const room = Math.min(uio.contiguousRoom(), avail);
      if (room >= P) {
        let mark = pindex === obj.ra.mark;
        vmPageReference(m);
        let n = 1;
        for (; (n + 1) * P <= room; n++) {
          const next = obj.pages.get(pindex + n);
          if (next === undefined || next.phys !== m.phys + n || next.phys % obj.vm.arenaFrames === 0 || !wholeHit(next, allValid)) break;
          vmPageReference(next);
          if (pindex + n === obj.ra.mark) mark = true;
        }
        // One page is its own frame; a run is one view of the arena (one view per run, none per page).
        if (n === 1) uio.moveFrom(m.frame, 0, P);
        else uio.moveFrom(obj.vm.arenaOf(m.phys), obj.vm.arenaOffset(m.phys), n * P);
        meter.hits += n;
        // After the copy: the read-ahead's allocations may reclaim these pages.
        if (mark) vmReadaheadHit(obj, obj.ra.mark);
        continue;
      }
    }
    if (m !== undefined && (m.flags & PG_BUSY) === 0 && vmPageIsValid(m, poff, Math.min(P - poff, avail, uio.resid))) {
      meter.hits++;
      vmPageReference(m);
      // Copy first: the read-ahead's allocations may reclaim this very page (and read into its frame).
      uio.move(m.frame, poff, Math.min(P - poff, avail));
      vmReadaheadHit(obj, pindex);
      continue;
    }
    meter.misses++;
    const r = await vmFaultPage(obj, pindex, locked);
    if (r.rv === VM_PAGER_BAD) break; // the file shrank under us: EOF
    if (r.m === null) return pagerErrno(r.rv, r.error);
    m = r.m;
    avail = obj.vnpSize - off;
    if (avail > 0) uio.move(m.frame, poff, Math.min(P - poff, avail));
    vmPageWakeup(m);
    if (avail <= 0) break;
  }
  return 0;
}

/** Is m a whole valid page nobody holds busy? => pages of one bit word */
function wholeHit(m: VmPage, allValid: number): boolean {
  return (m.flags & PG_BUSY) === 0 && m.bits[m.bitBase] === allValid;
}

/** The write half of objectRdwr. */
async function objectWrite(obj: VmObject, uio: Uio): Promise<number> {
  const sys = obj.vm;
  const P = sys.param.pageSize;
  if (uio.offset + uio.resid > obj.vnpSize) return EINVAL; // the file system grows the file first
  if (uio.segflg === UIO_SOURCE) return objectFill(obj, uio);
  while (uio.resid > 0) {
    const off = uio.offset;
    const pindex = Math.floor(off / P);
    const poff = off - pindex * P;
    const n = Math.min(P - poff, uio.resid);
    const whole = poff === 0 && (n === P || off + n >= obj.vnpSize);
    let m = writablePageNow(obj, pindex, whole, n === P);
    if (m === null) {
      const r = await writablePage(obj, pindex, whole, n === P);
      if (r.m === null) return pagerErrno(r.rv, r.error);
      m = r.m;
    }
    uio.move(m.frame, poff, n);
    vmPageSetDirty(m, poff, n);
    vmPageReference(m);
    vmPageWakeup(m);
  }
  return 0;
}
