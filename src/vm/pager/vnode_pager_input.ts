/*
 * The vnode pager's single-page input routines, for when one clustered
 * device read does not fit (cf. vnode_pager_input_smlfs, _input_old):
 *   inputSmlfs    blocks smaller than a page: each invalid block on its own
 *   inputOld      no block map: the page through VOP_READ
 *   inputPartial  a partly valid page: only its invalid DEV_BSIZE runs
 * Each answers a pager result (with the errno behind an ERROR); a block is marked valid only once read whole.
 * => m busy; vnode locked (shared)
 */

import { EINVAL } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import { B_READ, biowait, strategy } from '../../vfs/buf.js';
import { Uio, UIO_READ } from '../../vfs/uio.js';
import { IO_DIRECT } from '../../vfs/vnode_if.js';
import type { Vnode } from '../../vfs/vnode.js';
import type { VmObject } from '../vm_object.js';
import type { VmPage } from '../vm_page.js';
import { vmPageBlockValid, vmPageIsValid, vmPageSetAllValidClean, vmPageSetValidClean } from '../vm_page_bits.js';
import type { VmSystem } from '../vm.js';
import { vnodePagerAddr } from './vnode_pager_bmap.js';
import { PAGER_OK, type PagerResult, VM_PAGER_BAD, pagerResult, pagerRv } from './vm_pager.js';

/**
 * Reads `len` bytes at device address addr (DEV_BSIZE units) into
 * frame[off..], but no further than the sector holding EOF, which lies `eof`
 * bytes into the frame: a file's last block may be shorter than bsize on the
 * disk (a UFS fragment run), and what follows it is not the file's.
 */
async function readInto(sys: VmSystem, vp: Vnode, addr: number, frame: Uint8Array, off: number, len: number, eof: number): Promise<number> {
  len = Math.min(len, Math.ceil((eof - off) / DEV_BSIZE) * DEV_BSIZE);
  const bp = await sys.pbufs.getpbuf();
  bp.flags = B_READ;
  bp.blkno = addr;
  bp.bcount = len;
  bp.iov = [off === 0 && len === frame.length ? frame : frame.subarray(off, off + len)];
  strategy(vp.mount!.dev, bp);
  const error = await biowait(bp);
  sys.pbufs.relpbuf(bp);
  return error;
}

/**
 * Small-block input (cf. vnode_pager_input_smlfs): each file-system block
 * of the page not yet valid is read on its own; a hole is zero-filled.
 */
export async function inputSmlfs(obj: VmObject, m: VmPage): Promise<PagerResult> {
  const sys = obj.vm;
  const vp = obj.handle!;
  const mp = vp.mount;
  if (mp === null) return pagerRv(VM_PAGER_BAD);
  const P = sys.param.pageSize;
  const bsize = mp.stat.iosize;
  const foff = m.pindex * P;
  for (let i = 0; i < P / bsize; i++) {
    if (vmPageIsValid(m, i * bsize, bsize)) continue;
    const off = foff + i * bsize;
    // Blocks wholly past EOF hold nothing: zeros, without asking the block map.
    const a = off >= obj.vnpSize ? { error: 0, addr: -1, run: 0 } : await vnodePagerAddr(vp, off, P);
    if (a.error !== 0) {
      return pagerResult(a.error);
    }
    if (a.addr !== -1) {
      const eof = obj.vnpSize - foff;
      const error = await readInto(sys, vp, a.addr, m.frame, i * bsize, bsize, eof);
      if (error !== 0) {
        return pagerResult(error);
      }
      // Bytes of the last block past EOF read as zeros, whatever the disk holds.
      if (eof < (i + 1) * bsize) m.frame.fill(0, Math.max(eof, i * bsize), (i + 1) * bsize);
    } else {
      m.frame.fill(0, i * bsize, (i + 1) * bsize);
      sys.meter.v_zfod++;
    }
    vmPageSetValidClean(m, i * bsize, bsize);
  }
  return PAGER_OK;
}

/**
 * Input without a block map (cf. vnode_pager_input_old): VOP_READ of the
 * page, zeros past EOF. Reading nothing at all is an error.
 */
export async function inputOld(obj: VmObject, m: VmPage): Promise<PagerResult> {
  const vp = obj.handle!;
  const P = obj.vm.param.pageSize;
  const foff = m.pindex * P;
  if (foff >= obj.vnpSize) return pagerRv(VM_PAGER_BAD);
  const size = Math.min(P, obj.vnpSize - foff);
  const uio = new Uio([m.frame.subarray(0, size)], foff, UIO_READ);
  let error = await vp.op.read(vp, uio, IO_DIRECT);
  if (error === 0) {
    const count = size - uio.resid;
    if (count === 0) error = EINVAL;
    else m.frame.fill(0, count);
  }
  if (error !== 0) {
    return pagerResult(error);
  }
  vmPageSetAllValidClean(m);
  return PAGER_OK;
}

/**
 * Completes a partly valid page of a file system whose blocks are at least a
 * page: each run of invalid DEV_BSIZE blocks is read on its own; valid (and
 * possibly dirty) blocks are left as they are.
 */
export async function inputPartial(obj: VmObject, m: VmPage): Promise<PagerResult> {
  const sys = obj.vm;
  const vp = obj.handle!;
  const P = sys.param.pageSize;
  const nblk = P / DEV_BSIZE;
  const foff = m.pindex * P;
  for (let b = 0; b < nblk; ) {
    if (vmPageBlockValid(m, b)) {
      b++;
      continue;
    }
    let e = b + 1;
    while (e < nblk && !vmPageBlockValid(m, e)) e++;
    const off = b * DEV_BSIZE;
    const len = (e - b) * DEV_BSIZE;
    const a = foff + off >= obj.vnpSize ? { error: 0, addr: -1, run: 0 } : await vnodePagerAddr(vp, foff + off, P);
    if (a.error !== 0) {
      return pagerResult(a.error);
    }
    if (a.addr === -1) {
      m.frame.fill(0, off, off + len);
    } else {
      const eof = obj.vnpSize - foff;
      const error = await readInto(sys, vp, a.addr, m.frame, off, len, eof);
      if (error !== 0) {
        return pagerResult(error);
      }
      if (eof < off + len) m.frame.fill(0, Math.max(eof, off), off + len);
    }
    vmPageSetValidClean(m, off, len);
    b = e;
  }
  return PAGER_OK;
}
