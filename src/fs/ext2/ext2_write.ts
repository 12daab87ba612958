/*
 * VOP_WRITE for ext2/ext3 (cf. FreeBSD ext2_write with VMIO buffers). A user
 * write allocates the range's blocks, grows i_size and the VM object, and
 * copies the bytes into the object's pages; the pager's write (IO_VMIO)
 * sends its frames to the blocks in as few transfers as contiguity allows.
 * New blocks stay `unwritten` (a hole to bmap) until their first page-out,
 * which writes zeros around the dirty bytes (cf. BA_CLRBUF).
 *   error = await ext2Write(vp, uio, ioflag)       => vp locked exclusively
 */

import { EBADF, EFBIG, EINVAL, EIO, EISDIR, ENOSPC, EOPNOTSUPP, EROFS } from '../../kern/errno.js';
import { RangeSet } from '../../kern/rangeset.js';
import type { Mount } from '../../vfs/mount.js';
import { UIO_WRITE, type Uio } from '../../vfs/uio.js';
import { WriteSegments, ZEROS, devWrite } from '../../vfs/vfs_physwrite.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { IO_SYNC, IO_VMIO } from '../../vfs/vnode_if.js';
import { ext2AllocRange, ext2MaxSize } from './ext2_balloc.js';
import { bmapRun } from './ext2_bmap.js';
import { ext2Inode } from './ext2_inode.js';
import { ext2Update } from './ext2_inode_write.js';
import { ext2DirCsumFrames } from './ext2_dir_csum.js';
import { ext2Truncate } from './ext2_truncate.js';
import { EXT2_CTIME, EXT2_MTIME, ext2Stamp } from './ext2_itimes.js';

/** Zeros for the parts of new blocks a write does not cover; only ever read. */
export { ZEROS, devWrite } from '../../vfs/vfs_physwrite.js';

/** The mount of vp if it may be changed; EBADF (no mount) or EROFS otherwise. */
export function ext2Writable(vp: Vnode): { error: number; mp: Mount | null } {
  const mp = vp.mount;
  if (mp === null) return { error: EBADF, mp: null };
  if (mp.readOnly) return { error: EROFS, mp: null };
  return { error: 0, mp };
}

/** VOP_WRITE. => vp locked exclusively; may sleep */
export function ext2Write(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  const w = ext2Writable(vp);
  if (w.error !== 0) return Promise.resolve(w.error);
  if (uio.rw !== UIO_WRITE) return Promise.resolve(EINVAL);
  if ((ioflag & IO_VMIO) !== 0) return ext2WriteFrames(vp, uio, ioflag);
  if (vp.type === VType.VDIR) return Promise.resolve(EISDIR);
  if (vp.type !== VType.VREG) return Promise.resolve(EOPNOTSUPP);
  return ext2WriteUser(vp, uio, ioflag);
}

/**
 * A user write (also of directory blocks, by ext2_dir_write.ts): blocks,
 * size, then the bytes into the VM object's pages. On ENOSPC the part that
 * found blocks is written (uio shows how much) and ENOSPC returned, unless a
 * frame source ended inside that part (it asked for room it did not use).
 * => vp locked exclusively; read-write mount; may sleep
 */
export async function ext2WriteUser(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  const mp = vp.mount!;
  const ip = ext2Inode(vp);
  const fs = ip.fs;
  const vm = mp.vm;
  if (vm === null) return EOPNOTSUPP;
  if (ip.inlineData || ip.freed) return EOPNOTSUPP;
  const off = uio.offset;
  if (!Number.isSafeInteger(off) || off < 0) return EINVAL;
  if (uio.resid === 0) return 0;
  let end = off + uio.resid;
  if (end > ext2MaxSize(ip) || end > 2 ** 53 - fs.bsize) return EFBIG;
  const first = Math.floor(off / fs.bsize);
  const last = Math.floor((end - 1) / fs.bsize);
  const r = await ext2AllocRange(mp, ip, first, last - first + 1, (l) => ip.unwritten.add(l));
  const oldSize = ip.size;
  let held = 0;
  if (r.error !== 0) {
    end = Math.min(end, (first + r.done) * fs.bsize);
    if (end <= off) {
      await ext2Truncate(mp, ip, oldSize); // indirect blocks allocated for nothing
      return r.error;
    }
    held = uio.resid - (end - off);
    uio.resid = end - off;
  }
  if (end > ip.size) {
    ip.size = end;
    ip.modified = true;
    await vm.setsize(vp, end);
  }
  let error = await vm.rdwr(vp, uio, ioflag);
  // A frame source that ended inside the blocks found gave all it had: a
  // shortage past them (ENOSPC, EFBIG) stopped nothing it wrote.
  const sourceEnded = error === 0 && uio.resid > 0;
  if (error === 0 && uio.resid > 0) {
    // A frame source that ended early: the file keeps what it got, and what
    // this write grew goes again (its blocks hold nothing); nothing got, no growth.
    const keep = uio.offset > off ? Math.max(oldSize, uio.offset) : oldSize;
    if (keep < ip.size) {
      await vm.setsize(vp, keep);
      ip.size = keep;
      error = await ext2Truncate(mp, ip, keep);
    }
  }
  // A failed write, or a short source, leaves blocks no page will cover.
  if (error !== 0 || uio.resid > 0) await ext2ZeroUnwritten(vp, uio.offset, Math.min(end, ip.size));
  uio.resid += held;
  if (r.error !== 0) await ext2Truncate(mp, ip, ip.size); // indirect blocks left mapping nothing
  ext2Stamp(ip.din, EXT2_MTIME | EXT2_CTIME);
  ip.modified = true;
  if ((ioflag & IO_SYNC) !== 0 && error === 0) {
    error = (await vm.clean(vp, true)) || (await ext2Update(mp, ip, true));
  }
  return (sourceEnded && (r.error === ENOSPC || r.error === EFBIG) ? 0 : r.error) || error;
}

/**
 * Writes zeros to the unwritten blocks starting in [from, end): after a
 * failed copy no dirty page will cover them (a block the copy began holds
 * dirty bytes), nor when the inode goes out of core. => vp locked exclusively or unreferenced; may sleep
 */
export async function ext2ZeroUnwritten(vp: Vnode, from: number, end: number): Promise<void> {
  const ip = ext2Inode(vp);
  const fs = ip.fs;
  if (ip.unwritten.size === 0) return;
  const lo = Math.ceil(from / fs.bsize);
  const hi = Math.ceil(end / fs.bsize);
  for (const [s, e] of [...ip.unwritten.runs()]) {
    for (let l = Math.max(s, lo); l < Math.min(e, hi); l++) {
      const r = await bmapRun(vp.mount!.bufcache, ip, l);
      if (r.error === 0 && r.pblk > 0 && (await devWrite(vp.mount!.dev, r.pblk * fs.bsize, [ZEROS.subarray(0, fs.bsize)])) === 0) {
        ip.unwritten.delete(l);
      }
    }
  }
}

/** One device transfer being built: bytes at devOff, in pieces. */
/**
 * The pager's write (IO_VMIO): uio.iov holds the page frames of exactly
 * [uio.offset, uio.offset + uio.resid). Missing blocks are allocated (a
 * mapped write into a hole); a block new in this call or still unwritten gets
 * zeros where the range does not cover it. Physically contiguous pieces go
 * out as one vectored transfer each; all are waited for; any error is EIO
 * (or the allocation's errno) and the uio is not advanced.
 * => vp locked exclusively; uio.segflg UIO_NOCOPY; may sleep
 */
export async function ext2WriteFrames(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  void ioflag; // every transfer is waited for, IO_SYNC or not
  const mp = vp.mount!;
  const ip = ext2Inode(vp);
  const fs = ip.fs;
  const bsize = fs.bsize;
  const off = uio.offset;
  const len = uio.resid;
  if (len === 0) return 0;
  if (ip.freed) {
    uio.move(ZEROS, 0, len); // the file is gone: nothing to keep
    return 0;
  }
  if (ip.inlineData) return EOPNOTSUPP;
  if (!Number.isSafeInteger(off) || off < 0 || !Number.isSafeInteger(off + len)) return EINVAL;
  const end = off + len;
  const first = Math.floor(off / bsize);
  const last = Math.floor((end - 1) / bsize);
  if (vp.type === VType.VDIR && fs.metadataCsum) {
    const c = ext2DirCsumFrames(ip, uio.iov, off, len); // the blocks changed since their last write
    if (c !== 0) return c;
  }
  const fresh = new RangeSet();
  const r = await ext2AllocRange(mp, ip, first, last - first + 1, (l) => fresh.add(l));
  if (r.error !== 0) return r.error;
  const w = new WriteSegments(uio.iov);
  for (let l = first; l <= last; ) {
    const m = await bmapRun(mp.bufcache, ip, l);
    if (m.error !== 0) return m.error;
    if (m.pblk < 0) return EIO; // allocated a moment ago: the map is damaged
    for (let k = 0; k <= m.after && l <= last; k++, l++) {
      const bstart = l * bsize;
      w.block((m.pblk + k) * bsize, bstart, bsize, Math.max(off, bstart), Math.min(end, bstart + bsize), fresh.has(l) || ip.unwritten.has(l));
    }
  }
  if ((await w.write(mp.dev)) !== 0) return EIO;
  ip.unwritten.deleteRange(first, last + 1); // each was written whole, zeros around the bytes
  uio.move(ZEROS, 0, len); // UIO_NOCOPY: only advances
  return 0;
}

