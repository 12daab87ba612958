/*
 * VOP_WRITE for FAT (cf. FreeBSD msdosfs_write with VMIO buffers). A user
 * write first zeroes the rest of the file's last cluster on disk when the
 * file grows (cf. deextend), extends the chain, grows the size and the VM
 * object, and copies the bytes into the object's pages; the pager's write
 * (IO_VMIO) sends its frames to the clusters in as few transfers as their
 * contiguity allows. New clusters stay `unwritten` (a hole to bmap, zeros to
 * a reader) until their first page-out, which writes zeros around the bytes.
 * A file may not reach 4 GiB (the entry's size is 32 bits): EFBIG.
 *   error = await msdosfsWrite(vp, uio, ioflag)       => vp locked exclusively
 */

import { EBADF, EFBIG, EINTEGRITY, EINVAL, EIO, EISDIR, EOPNOTSUPP, EROFS } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import { UIO_WRITE, type Uio } from '../../vfs/uio.js';
import { WriteSegments, ZEROS, devWrite } from '../../vfs/vfs_physwrite.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { IO_SYNC, IO_VMIO } from '../../vfs/vnode_if.js';
import { extendfile, truncateChain } from './msdosfs_alloc.js';
import { type Denode, deChain, deupdat } from './msdosfs_denode.js';
import { DE_MDATE, DE_MTIME, ATTR_ARCHIVE, DE_ATTR, put16, unixToDos } from './msdosfs_direntry.js';
import { pcbmap } from './msdosfs_fat.js';

/** The largest file FAT can describe. */
export const DOS_FILESIZE_MAX = 0xffffffff;
/** Zeros for the parts of new clusters a write does not cover; only ever read. */
export { ZEROS, devWrite } from '../../vfs/vfs_physwrite.js';

/** The mount of vp if it may be changed; EBADF (no mount) or EROFS otherwise. */
export function msdosfsWritable(vp: Vnode): { error: number; mp: Mount | null } {
  const mp = vp.mount;
  if (mp === null) return { error: EBADF, mp: null };
  if (mp.readOnly) return { error: EROFS, mp: null };
  return { error: 0, mp };
}

/** Seconds since the epoch, now. */
export function msdosfsNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** The file changed: its modification time and archive bit (cf. DETIMES with DE_UPDATE). */
export function deTouch(dep: Denode): void {
  const t = unixToDos(msdosfsNow());
  put16(dep.raw, DE_MTIME, t.time);
  put16(dep.raw, DE_MDATE, t.date);
  dep.raw[DE_ATTR] |= ATTR_ARCHIVE;
  dep.modified = true;
}

/** VOP_WRITE. => vp locked exclusively; may sleep */
export function msdosfsWrite(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  const w = msdosfsWritable(vp);
  if (w.error !== 0) return Promise.resolve(w.error);
  if (uio.rw !== UIO_WRITE) return Promise.resolve(EINVAL);
  if ((ioflag & IO_VMIO) !== 0) return writeFrames(vp, uio);
  if (vp.type === VType.VDIR) return Promise.resolve(EISDIR);
  if (vp.type !== VType.VREG) return Promise.resolve(EOPNOTSUPP);
  return writeUser(vp, uio, ioflag);
}

/**
 * Writes zeros on disk from the file's end to the end of its last cluster,
 * once: a file about to grow must read zeros there (cf. deextend). A cluster
 * still unwritten reads as zeros already. => may sleep
 */
export async function zeroTail(mp: Mount, dep: Denode): Promise<number> {
  const cs = dep.pmp.g.clusterBytes;
  const tail = dep.size % cs;
  if (dep.tailZeroed || tail === 0 || dep.size === 0) return 0;
  const lbn = Math.floor(dep.size / cs);
  if (dep.unwritten.has(lbn)) return 0;
  const r = await pcbmap(mp, dep, lbn);
  if (r.error !== 0) return r.error;
  const error = await devWrite(mp.dev, dep.pmp.cntobn(r.cn) * DEV_BSIZE + tail, [ZEROS.subarray(0, cs - tail)]);
  if (error === 0) dep.tailZeroed = true;
  return error;
}

/**
 * Makes dep's chain hold `size` bytes: new clusters at the end, unwritten.
 * On ENOSPC the clusters found stay, and the caller learns how many bytes they hold.
 * => dep's chain checked; may sleep
 */
export async function growChain(mp: Mount, dep: Denode, size: number): Promise<{ error: number; room: number }> {
  const cs = dep.pmp.g.clusterBytes;
  const need = Math.ceil(size / cs) - dep.chainLength;
  if (need <= 0) return { error: 0, room: size };
  const r = await extendfile(mp, dep, need, (fileCn) => dep.unwritten.add(fileCn));
  return { error: r.error, room: Math.min(size, dep.chainLength * cs) };
}

/**
 * A user write: clusters, size, then the bytes into the VM object's pages.
 * On ENOSPC the part that found clusters is written (uio shows how much).
 * => vp locked exclusively; read-write mount; may sleep
 */
async function writeUser(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  const mp = vp.mount!;
  const dep = vp.data as Denode;
  const vm = mp.vm;
  if (vm === null) return EOPNOTSUPP;
  if (dep.freed) return EINVAL;
  const off = uio.offset;
  if (!Number.isSafeInteger(off) || off < 0) return EINVAL;
  if (uio.resid === 0) return 0;
  let end = off + uio.resid;
  if (end > DOS_FILESIZE_MAX) return EFBIG;
  let error = await deChain(mp, dep);
  if (error !== 0) return error;
  const oldSize = dep.size;
  if (end > oldSize) {
    error = await zeroTail(mp, dep);
    if (error !== 0) return error;
  }
  const g = await growChain(mp, dep, end);
  let held = 0;
  if (g.error !== 0) {
    if (g.room <= off) {
      await truncateChain(mp, dep, Math.ceil(oldSize / dep.pmp.g.clusterBytes));
      return g.error;
    }
    held = end - g.room;
    end = g.room;
    uio.resid -= held;
  }
  if (end > dep.size) {
    dep.size = end;
    dep.modified = true;
    await vp.mount?.vm?.setsize(vp, end);
  }
  error = await vm.rdwr(vp, uio, ioflag);
  // A source that ended inside the room found never needed the clusters that were missing.
  const ended = error === 0 && uio.resid > 0;
  if (ended) {
    // A frame source that ended early: the file keeps what it got.
    const keep = uio.offset > off ? Math.max(oldSize, uio.offset) : oldSize;
    if (keep < dep.size) {
      await vp.mount?.vm?.setsize(vp, keep);
      dep.size = keep;
      dep.unwritten.deleteRange(Math.ceil(keep / dep.pmp.g.clusterBytes), Infinity);
      error = await truncateChain(mp, dep, Math.ceil(keep / dep.pmp.g.clusterBytes));
    }
  }
  uio.resid += held;
  deTouch(dep);
  if ((ioflag & IO_SYNC) !== 0 && error === 0) {
    error = ((await vp.mount?.vm?.clean(vp, true)) ?? 0) || (await deupdat(mp, dep, true));
  }
  return ended ? error : g.error || error;
}


/**
 * The pager's write (IO_VMIO): uio.iov holds the page frames of exactly
 * [uio.offset, uio.offset + uio.resid), inside clusters the file already
 * has. An unwritten cluster gets zeros where the range does not cover it.
 * Contiguous pieces go out as one vectored transfer each; any error is EIO
 * and the uio is not advanced. => vp locked exclusively; UIO_NOCOPY; may sleep
 */
async function writeFrames(vp: Vnode, uio: Uio): Promise<number> {
  const mp = vp.mount!;
  const dep = vp.data as Denode;
  const cs = dep.pmp.g.clusterBytes;
  const off = uio.offset;
  const len = uio.resid;
  if (len === 0) return 0;
  if (dep.freed) {
    uio.move(ZEROS, 0, len); // the file is gone: nothing to keep
    return 0;
  }
  if (!Number.isSafeInteger(off) || off < 0 || !Number.isSafeInteger(off + len)) return EINVAL;
  const error0 = await deChain(mp, dep);
  if (error0 !== 0) return error0;
  const end = off + len;
  const first = Math.floor(off / cs);
  const last = Math.floor((end - 1) / cs);
  if (last >= dep.chainLength) return EINTEGRITY;
  const w = new WriteSegments(uio.iov);
  for (let l = first; l <= last; ) {
    const m = await pcbmap(mp, dep, l);
    if (m.error !== 0) return m.error;
    for (let k = 0; k <= m.runp && l <= last; k++, l++) {
      const cstart = l * cs;
      w.block((dep.pmp.cntobn(m.cn) + (k * cs) / DEV_BSIZE) * DEV_BSIZE, cstart, cs, Math.max(off, cstart), Math.min(end, cstart + cs), dep.unwritten.has(l));
    }
  }
  if ((await w.write(mp.dev)) !== 0) return EIO;
  dep.unwritten.deleteRange(first, last + 1);
  uio.move(ZEROS, 0, len); // UIO_NOCOPY: only advances
  return 0;
}

/**
 * Writes zeros to dep's clusters still unwritten (a failed copy, or the
 * denode leaving core): the disk must hold what a reader was shown. => may sleep
 */
export async function zeroUnwritten(mp: Mount, dep: Denode): Promise<number> {
  if (dep.unwritten.size === 0 || dep.freed) return 0;
  const cs = dep.pmp.g.clusterBytes;
  let first = 0;
  for (const [s, e] of [...dep.unwritten.runs()]) {
    for (let l = s; l < e && l < dep.chainLength; l++) {
      const r = await pcbmap(mp, dep, l);
      const error = r.error || (await devWrite(mp.dev, dep.pmp.cntobn(r.cn) * DEV_BSIZE, [ZEROS.subarray(0, cs)]));
      if (error === 0) dep.unwritten.delete(l);
      first ||= error;
    }
  }
  return first;
}


