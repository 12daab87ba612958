/*
 * Generic vnode read: what a file system's VOP_READ does for regular files,
 * directories and slow symlinks. The bytes come through the vnode's VM object
 * (one cache for read, write and mmap); only IO_DIRECT (the pager's
 * input_old path) and a mount without a VM read the device directly, through
 * the file system's own `direct` routine — for a file system with a block
 * map, usually vnBmapRead().
 */

import { EBADF, EINVAL } from '../kern/errno.js';
import { DEV_BSIZE, MAXPHYS } from '../kern/param.js';
import { type Vnode } from './vnode.js';
import type { Uio } from './uio.js';
import { IO_DIRECT } from './vnode_if.js';
import { B_READ, physio } from './buf.js';

export type DirectRead = (vp: Vnode, uio: Uio) => Promise<number>;

/** => uio.rw is UIO_READ; reads stop at EOF (here or in the VM) */
export function vnRead(vp: Vnode, uio: Uio, ioflag: number, direct: DirectRead): Promise<number> {
  if ((ioflag & IO_DIRECT) !== 0) return direct(vp, uio);
  const vm = vp.mount?.vm ?? null;
  if (vm === null) return direct(vp, uio);
  return vm.rdwr(vp, uio, ioflag);
}

/**
 * Reads [uio.offset, size) of vp straight from the device through VOP_BMAP
 * in blocks of `bsize` bytes: one device read per contiguous run (at most
 * MAXPHYS), holes zero-filled. Device reads are whole DEV_BSIZE sectors and
 * stop at the sector holding the last byte wanted, so a file's last block
 * may be shorter than bsize (a UFS fragment). => uio.rw is UIO_READ; may sleep
 */
export async function vnBmapRead(vp: Vnode, uio: Uio, size: number, bsize: number): Promise<number> {
  const mp = vp.mount;
  if (mp === null) return EBADF;
  if (!Number.isSafeInteger(uio.offset) || uio.offset < 0) return EINVAL;
  while (uio.resid > 0 && uio.offset < size) {
    const off = uio.offset;
    const lbn = Math.floor(off / bsize);
    const boff = off - lbn * bsize;
    const { error, bn, runp } = await vp.op.bmap(vp, lbn);
    if (error !== 0) return error;
    /* Stay inside the run, the request, the file and MAXPHYS. */
    const span = bn < 0 ? bsize : Math.min((runp + 1) * bsize, MAXPHYS);
    const n = Math.min(uio.resid, size - off, span - boff);
    if (bn < 0) {
      uio.zero(n);
      continue;
    }
    const first = Math.floor(boff / DEV_BSIZE) * DEV_BSIZE;
    const buf = new Uint8Array(Math.ceil((boff + n) / DEV_BSIZE) * DEV_BSIZE - first);
    const e = await physio(mp.dev, B_READ, bn + first / DEV_BSIZE, [buf]);
    if (e !== 0) return e;
    uio.move(buf, boff - first, n);
  }
  return 0;
}
