/*
 * A scripted file system for unit tests of the VM and pager: one regular
 * file whose block map the test writes (logical block -> physical block, or
 * -1 for a hole) over a memory disk. bmap computes runs (of blocks, or of
 * a hole's blocks) from the script, as a real file system would, and counts its calls.
 */

import { EIO, EOPNOTSUPP } from '../../src/kern/errno.js';
import { DEV_BSIZE, MAXPHYS } from '../../src/kern/param.js';
import { MemDisk } from '../../src/dev/memdisk.js';
import { Mount } from '../../src/vfs/mount.js';
import { BufCache } from '../../src/vfs/vfs_bio.js';
import { insmntque } from '../../src/vfs/vfs_subr.js';
import { Uio } from '../../src/vfs/uio.js';
import { VType, Vnode } from '../../src/vfs/vnode.js';
import { type BmapResult, IO_VMIO, type Vattr, vopDefault, type VopVector } from '../../src/vfs/vnode_if.js';

export interface ScriptFsOptions {
  bsize: number;
  size: number;
  /** Physical block of each logical block; -1 is a hole. */
  map: number[];
  /** Device size in file-system blocks. */
  deviceBlocks: number;
  /** bmap answers EOPNOTSUPP: the pager must read through VOP_READ. */
  noBmap?: boolean;
  /** bmap of these logical blocks fails with EIO. */
  badBlocks?: number[];
  /** The file system's own VOP_GETPAGES (default: EOPNOTSUPP, the pager's generic path). */
  getpages?: VopVector['getpages'];
}

export interface ScriptFs {
  disk: MemDisk;
  mp: Mount;
  vp: Vnode;
  calls: { bmap: number; read: number; write: number };
  /** Every page-out VOP_WRITE: file offset and length. */
  writes: Array<{ off: number; len: number }>;
  /** The file's expected bytes (holes and past-EOF as zeros), for comparison. */
  expected(): Uint8Array;
  setSize(n: number): void;
}

/** Fills every physical block b with a pattern that names b and the byte offset. */
function pattern(disk: Uint8Array, bsize: number): void {
  for (let i = 0; i < disk.length; i++) disk[i] = (Math.floor(i / bsize) * 7 + i * 13 + (i >> 9)) & 0xff;
}

export function makeScriptFs(o: ScriptFsOptions): ScriptFs {
  const disk = new MemDisk(new Uint8Array(o.deviceBlocks * o.bsize));
  pattern(disk.data, o.bsize);
  const calls = { bmap: 0, read: 0, write: 0 };
  const writes: Array<{ off: number; len: number }> = [];
  let size = o.size;
  const lastBlock = () => Math.ceil(size / o.bsize) - 1;
  const pblk = (lbn: number) => (lbn >= 0 && lbn <= lastBlock() && lbn < o.map.length ? o.map[lbn] : -1);
  const maxrun = MAXPHYS / o.bsize - 1;

  const bmap = async (_vp: Vnode, lbn: number): Promise<BmapResult> => {
    calls.bmap++;
    if (o.noBmap) return { error: EOPNOTSUPP, bn: -1, runp: 0, runb: 0 };
    if (o.badBlocks?.includes(lbn)) return { error: EIO, bn: -1, runp: 0, runb: 0 };
    const p = pblk(lbn);
    if (p === -1) {
      // A hole's runs: the hole blocks around it inside the file.
      let runp = 0;
      while (runp < maxrun && lbn + runp + 1 <= lastBlock() && pblk(lbn + runp + 1) === -1) runp++;
      let runb = 0;
      while (runb < maxrun && lbn - runb - 1 >= 0 && pblk(lbn - runb - 1) === -1) runb++;
      return { error: 0, bn: -1, runp, runb };
    }
    let runp = 0;
    while (runp < maxrun && pblk(lbn + runp + 1) === p + runp + 1) runp++;
    let runb = 0;
    while (runb < maxrun && lbn - runb - 1 >= 0 && pblk(lbn - runb - 1) === p - runb - 1) runb++;
    return { error: 0, bn: (p * o.bsize) / DEV_BSIZE, runp, runb };
  };

  const expected = (): Uint8Array => {
    const out = new Uint8Array(size);
    for (let off = 0; off < size; off += o.bsize) {
      const p = pblk(off / o.bsize);
      if (p === -1) continue;
      const n = Math.min(o.bsize, size - off);
      out.set(disk.data.subarray(p * o.bsize, p * o.bsize + n), off);
    }
    return out;
  };

  const read = async (_vp: Vnode, uio: Uio): Promise<number> => {
    calls.read++;
    const want = expected();
    while (uio.resid > 0 && uio.offset < size) {
      const n = Math.min(uio.resid, size - uio.offset);
      uio.move(want, uio.offset, n);
    }
    return 0;
  };

  const getattr = async (vp: Vnode): Promise<{ error: number; va: Vattr }> => ({
    error: 0,
    va: {
      type: vp.type, mode: 0o100644, nlink: 1, uid: 0, gid: 0, size, bytes: 0,
      atime: 0, mtime: 0, ctime: 0, birthtime: 0, ino: vp.ino, gen: 0, flags: 0,
      blksize: o.bsize, rdev: 0, extra: {},
    },
  });

  /** Page-out only (IO_VMIO): the frames in uio.iov go to the mapped blocks; no allocation. */
  const write = async (_vp: Vnode, uio: Uio, ioflag: number): Promise<number> => {
    calls.write++;
    if ((ioflag & IO_VMIO) === 0) return EOPNOTSUPP;
    writes.push({ off: uio.offset, len: uio.resid });
    for (const v of uio.iov) {
      let done = 0;
      while (done < v.length) {
        const off = uio.offset;
        const p = pblk(Math.floor(off / o.bsize));
        if (p === -1) return EIO;
        const n = Math.min(v.length - done, o.bsize - (off % o.bsize));
        const error = await disk.writev([v.subarray(done, done + n)], p * o.bsize + (off % o.bsize));
        if (error !== 0) return error;
        uio.move(v, done, n);
        done += n;
      }
    }
    return 0;
  };

  const op: VopVector = Object.freeze({ ...vopDefault, name: 'scriptfs', bmap, read, write, getattr, ...(o.getpages ? { getpages: o.getpages } : {}) });
  const mp = new Mount(disk, new BufCache(disk, 1 << 20), {
    root: async () => ({ error: EOPNOTSUPP, vp: null }),
    vget: async () => ({ error: EOPNOTSUPP, vp: null }),
    sync: async () => 0,
    unmount: async () => 0,
  }, { fstype: 'script', iosize: o.bsize, fsize: o.bsize, blocks: o.deviceBlocks, bfree: 0, files: 1, ffree: 0, label: '', warnings: [] }, null);
  const vp = insmntque(new Vnode(VType.VREG, mp, op, null, 12));
  return { disk, mp, vp, calls, writes, expected, setSize: (n) => (size = n) };
}

/** A contiguous map: logical block i at physical block start + i. */
export function contiguous(n: number, start: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}
