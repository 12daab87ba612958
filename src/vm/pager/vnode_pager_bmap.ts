/*
 * The vnode pager's questions to the file system's block map (VOP_BMAP):
 *   vnodePagerAddr  where one file offset lies on the device, and how far
 *                   the device run goes from there (cf. vnode_pager_addr)
 *   vnodePagerRun   where a page lies, and how many pages before and after
 *                   it share its device run, never past EOF: haspage's
 *                   answer, which the fault hands on to getpages so that a
 *                   page-in asks the block map once per run it reads
 * => the vnode locked (shared will do): the block map cannot change under it
 */

import { DEV_BSIZE } from '../../kern/param.js';
import type { Vnode } from '../../vfs/vnode.js';
import type { VmObject } from '../vm_object.js';
import type { HaspageResult } from './vm_pager.js';

export interface AddrResult {
  error: number;
  /** Device address in DEV_BSIZE units, -1 for a hole. */
  addr: number;
  /** Pages from `address` on that are contiguous on the device. */
  run: number;
}

/**
 * File offset to device address and contiguous run in pages
 * (cf. vnode_pager_addr). => address is page aligned or inside one block
 */
export async function vnodePagerAddr(vp: Vnode, address: number, pageSize: number): Promise<AddrResult> {
  const mp = vp.mount;
  if (address < 0 || mp === null) return { error: 0, addr: -1, run: 0 };
  const bsize = mp.stat.iosize;
  const vblock = Math.floor(address / bsize);
  const voffset = address - vblock * bsize;
  const r = await vp.op.bmap(vp, vblock);
  if (r.error !== 0) return { error: r.error, addr: -1, run: 0 };
  if (r.bn === -1) return { error: 0, addr: -1, run: 0 };
  return {
    error: 0,
    addr: r.bn + Math.floor(voffset / DEV_BSIZE),
    run: Math.floor(((r.runp + 1) * bsize - voffset) / pageSize),
  };
}

/** haspage's answer with the block map's errno (EOPNOTSUPP: the file system has none). */
export interface VnodeRun extends HaspageResult {
  error: number;
}

/**
 * Does the file have page pindex on disk, where, and how many pages before
 * and after it are physically contiguous with it (cf. vnode_pager_haspage)?
 * A hole answers false, with the pages before and after pindex that lie in
 * the same hole; a bmap error answers true (conservatively) with no address. With blocks smaller than a page, `addr` is -1 unless the page's
 * blocks are one run.
 */
export async function vnodePagerRun(obj: VmObject, vp: Vnode, pindex: number): Promise<VnodeRun> {
  const P = obj.vm.param.pageSize;
  const mp = vp.mount;
  if (mp === null || pindex * P >= obj.vnpSize) return { has: false, before: 0, after: 0, addr: -1, error: 0 };
  const bsize = mp.stat.iosize;
  const pagesPerBlock = Math.floor(bsize / P);
  const blocksPerPage = pagesPerBlock > 0 ? 0 : P / bsize;
  const reqblock = pagesPerBlock > 0 ? Math.floor(pindex / pagesPerBlock) : pindex * blocksPerPage;
  const r = await vp.op.bmap(vp, reqblock);
  if (r.error !== 0) return { has: true, before: 0, after: 0, addr: -1, error: r.error };
  const lastPage = obj.vm.param.pagesFor(obj.vnpSize) - 1;
  if (r.bn === -1) return holePages(r.runb, r.runp, pindex, reqblock, pagesPerBlock, blocksPerPage, lastPage);
  let before: number;
  let after: number;
  let addr: number;
  if (pagesPerBlock > 0) {
    const poff = pindex - reqblock * pagesPerBlock;
    before = r.runb * pagesPerBlock + poff;
    after = r.runp * pagesPerBlock + (pagesPerBlock - poff - 1);
    addr = r.bn + (poff * P) / DEV_BSIZE;
  } else {
    // departure: the seed divided runp by blocks-per-page, which counts a
    // page whose last blocks are not in the run; only whole pages count here.
    before = Math.floor(r.runb / blocksPerPage);
    after = Math.max(0, Math.floor((r.runp + 1) / blocksPerPage) - 1);
    addr = r.runp + 1 >= blocksPerPage ? r.bn : -1;
  }
  // Never past EOF. (The seed's clamp let one page past a page-aligned EOF through.)
  after = Math.max(0, Math.min(after, lastPage - pindex));
  return { has: true, before, after, addr, error: 0 };
}

/**
 * haspage's answer for a page whose block reqblock is a hole, runb and runp
 * hole blocks around it: the pages wholly in the hole before and after
 * pindex, never past EOF. With blocks smaller than a page, a page only
 * partly in the hole has data: true, with no address (read block by block).
 */
function holePages(runb: number, runp: number, pindex: number, reqblock: number, pagesPerBlock: number, blocksPerPage: number, lastPage: number): VnodeRun {
  let before: number;
  let after: number;
  if (pagesPerBlock > 0) {
    const poff = pindex - reqblock * pagesPerBlock;
    before = runb * pagesPerBlock + poff;
    after = runp * pagesPerBlock + (pagesPerBlock - poff - 1);
  } else {
    if (runp + 1 < blocksPerPage) return { has: true, before: 0, after: 0, addr: -1, error: 0 };
    before = Math.floor(runb / blocksPerPage);
    after = Math.floor((runp + 1) / blocksPerPage) - 1;
  }
  return { has: false, before, after: Math.max(0, Math.min(after, lastPage - pindex)), addr: -1, error: 0 };
}
