/*
 * A write whose bytes come from a source that fills the page frames itself
 * (uio UIO_SOURCE; File.writeFrom): the write-side counterpart of
 * vm_sendfile. Where a user write copies its buffer into each page, here the
 * source, say a readv(2) from a host file, puts its bytes straight into the
 * frames, a cluster at a time, and no copy is made.
 *   error = await objectFill(obj, uio)      => vnode locked exclusively
 * Pages are gathered busy into batches of up to one cluster. Only the
 * batch's first page may sleep for memory; the others are taken when they
 * can be had at once, so a batch never holds pages while it waits for more.
 * A source that ends early (or throws) leaves the rest of the batch as it
 * was: a page made for the batch and not filled is freed, so the next access
 * reads what the disk holds, and one filled in part is written again through
 * the ordinary path, which reads the rest in first. (A resident page goes
 * into a batch only when wholly valid, so a short fill cannot leave a block
 * marked valid that holds neither the old bytes nor the source's.) The
 * source must put bytes only where it says it did.
 */

import type { Uio } from '../vfs/uio.js';
import { pagerErrno } from './pager/vm_pager.js';
import type { VmObject } from './vm_object.js';
import { PG_BUSY, vmPageFreeable, vmPageWakeup, type VmPage, vmPageActivate, vmPageFree, vmPageReference } from './vm_page.js';
import { vmPageAllValid, vmPageSetAllValidClean, vmPageSetDirty } from './vm_page_bits.js';
import { vmPageAlloc } from './vm_page_alloc.js';
import { writablePage } from './vm_page_writable.js';
import { vmObjectPageClean } from './vm_object_clean.js';
import { ArenaRuns } from './vm_arena_runs.js';

/** One page of a batch: the bytes [off, off + len) of its frame are the source's to fill. */
interface Slot {
  m: VmPage;
  off: number;
  len: number;
  /** Made for this write: its frame holds garbage until filled. */
  fresh: boolean;
}

export async function objectFill(obj: VmObject, uio: Uio): Promise<number> {
  const sys = obj.vm;
  const P = sys.param.pageSize;
  const source = uio.source!;
  const made = { fresh: false }; // writablePage's answer: was the first page made here
  const slots: Slot[] = [];
  const views: Uint8Array[] = [];
  while (uio.resid > 0) {
    // The first page: it may sleep, nothing being held yet.
    const off = uio.offset;
    const pindex = Math.floor(off / P);
    const poff = off - pindex * P;
    const n = Math.min(P - poff, uio.resid);
    made.fresh = false;
    const { rv, error, m } = await writablePage(obj, pindex, poff === 0 && (n === P || off + n >= obj.vnpSize), n === P, made);
    if (m === null) return pagerErrno(rv, error);
    slots.push({ m, off: poff, len: n, fresh: made.fresh });
    // Whole pages after it, while they can be had without sleeping.
    let bytes = n;
    for (let i = pindex + 1; slots.length < sys.param.maxPhysPages && uio.resid - bytes >= P; i++) {
      const s = takeNow(obj, i);
      if (s === null) break;
      slots.push(s);
      bytes += P;
    }
    const got = await fill(source, uio, obj, slots, views);
    views.length = 0;
    // Filled bytes are dirty. Past a short fill, a page made for this write
    // is freed (its frame is garbage), keeping any bytes the source put in it.
    let left = got;
    let kept: Uint8Array | null = null;
    let keptAt = 0;
    let at = off;
    for (const s of slots) {
      const k = Math.min(left, s.len);
      left -= k;
      if (k > 0) {
        vmPageSetDirty(s.m, s.off, k);
        vmPageReference(s.m);
      }
      if (k < s.len && s.fresh) {
        if (k > 0) {
          kept = s.m.frame.slice(s.off, s.off + k);
          keptAt = at;
        }
        vmPageFree(sys, s.m);
      } else {
        vmPageWakeup(s.m);
      }
      at += s.len;
    }
    const batchEnd = pindex + slots.length;
    slots.length = 0;
    if (kept !== null) {
      // Written again through the ordinary path: the rest of its page is read in first.
      const kindex = Math.floor(keptAt / P);
      const w = await writablePage(obj, kindex, keptAt + kept.length >= obj.vnpSize, false);
      if (w.m === null) return pagerErrno(w.rv, w.error);
      const m2 = w.m;
      m2.frame.set(kept, keptAt - kindex * P);
      vmPageSetDirty(m2, keptAt - kindex * P, kept.length);
      vmPageWakeup(m2);
    }
    uio.advance(got);
    if (got < bytes) break; // the source ended (or threw: uio.sourceError)
    if (obj.ra.noreuse) await writeBehind(obj, pindex, batchEnd);
  }
  return 0;
}

/**
 * Write-behind for a writer that will not come back (advise 'noreuse'; cf.
 * cluster_write's vfs.write_behind): the batch just filled goes to the
 * device at once, while its frames are still in the processor's caches, and
 * its pages are freed, highest first, so that the next batch fills the same
 * frames. A stream of any length then cycles through one cluster of
 * cache-warm memory instead of all of it. A page the write could not clean
 * stays dirty (the error comes back from the next sync).
 * => vnode locked exclusively
 */
async function writeBehind(obj: VmObject, start: number, end: number): Promise<void> {
  await vmObjectPageClean(obj, true, { locked: true, start, end });
  for (let i = end - 1; i >= start; i--) {
    const m = obj.pages.get(i);
    if (m !== undefined && vmPageFreeable(m)) vmPageFree(obj.vm, m);
  }
}

/**
 * Page i of obj, busy, for a write that covers it whole, if that needs no
 * sleep: resident and nobody's, or new from a free frame. Null otherwise.
 */
function takeNow(obj: VmObject, i: number): Slot | null {
  const m = obj.pages.get(i);
  if (m !== undefined) {
    if ((m.flags & PG_BUSY) !== 0 || m.busy !== 0 || !vmPageAllValid(m)) return null;
    m.flags |= PG_BUSY;
    return { m, off: 0, len: obj.vm.param.pageSize, fresh: false };
  }
  const sys = obj.vm;
  if (sys.freeCount === 0) return null;
  const nm = vmPageAlloc(sys, obj, i);
  if (nm === null) return null;
  vmPageSetAllValidClean(nm);
  vmPageActivate(sys, nm);
  return { m: nm, off: 0, len: sys.param.pageSize, fresh: true };
}

/** Hands the batch's frames to the source (side by side frames as one view); the bytes it put there. */
async function fill(source: NonNullable<Uio['source']>, uio: Uio, obj: VmObject, slots: Slot[], views: Uint8Array[]): Promise<number> {
  const P = obj.vm.param.pageSize;
  const runs = new ArenaRuns();
  for (const s of slots) runs.add(s.m.phys * P + s.off, s.len);
  const want = runs.bytes;
  try {
    const got = await source(runs.views(obj.vm, views));
    if (!Number.isSafeInteger(got) || got < 0 || got > want) throw new RangeError(`a frame source filled ${got} bytes of ${want}`);
    return got;
  } catch (e) {
    uio.sourceError = e;
    return 0;
  }
}
