/*
 * The ext2/ext3 vnode operations on one inode (cf. FreeBSD ext2_vnops.c and
 * ext2_inode.c): setsize (truncate or extend), fsync, and inactive/reclaim,
 * which free an unlinked inode once unused and write what the in-core inode
 * still owes the disk. EROFS on a read-only mount.
 *   error = await ext2Setsize(vp, size)       => vp locked exclusively
 */

import { EFBIG, EINVAL, EISDIR, EOPNOTSUPP } from '../../kern/errno.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { MNT_NOWAIT, MNT_WAIT } from '../../vfs/vnode_if.js';
import { ext2MaxSize } from './ext2_balloc.js';
import { bmapRun } from './ext2_bmap.js';
import { ext2Inode } from './ext2_inode.js';
import { ext2InlineConvert } from './ext2_inline.js';
import { ext2Update } from './ext2_inode_write.js';
import { ext2AllocFlush } from './ext2_group.js';
import { ext2Release, ext2Truncate } from './ext2_truncate.js';
import { ZEROS, devWrite, ext2Writable, ext2ZeroUnwritten } from './ext2_write.js';
import { EXT2_CTIME, EXT2_MTIME, ext2Stamp } from './ext2_itimes.js';

/**
 * VOP_SETSIZE: truncates or extends a regular file. A shrink drops the
 * pages past EOF first, frees the blocks, and zeroes the rest of the last
 * block on disk so that a later extension reads zeros there.
 * => vp locked exclusively; may sleep
 */
export async function ext2Setsize(vp: Vnode, size: number): Promise<number> {
  const w = ext2Writable(vp);
  if (w.error !== 0) return w.error;
  const mp = w.mp!;
  if (vp.type === VType.VDIR) return EISDIR;
  if (vp.type !== VType.VREG) return EINVAL;
  const ip = ext2Inode(vp);
  const fs = ip.fs;
  if (ip.freed) return EOPNOTSUPP;
  if (!Number.isSafeInteger(size) || size < 0) return EINVAL;
  if (ip.inlineData) {
    const e = await ext2InlineConvert(vp);
    if (e !== 0) return e;
  }
  if (size > ext2MaxSize(ip)) return EFBIG;
  let error = 0;
  if (size < ip.size) {
    await vp.mount?.vm?.setsize(vp, size);
    ip.size = size;
    error = await ext2Truncate(mp, ip, size);
    const tail = size % fs.bsize;
    if (tail !== 0) {
      const lbn = Math.floor(size / fs.bsize);
      const r = await bmapRun(mp.bufcache, ip, lbn);
      if (r.error === 0 && r.pblk > 0) {
        const whole = ip.unwritten.has(lbn); // garbage before EOF too: all of it goes
        const from = whole ? 0 : tail;
        const e = await devWrite(mp.dev, r.pblk * fs.bsize + from, [ZEROS.subarray(0, fs.bsize - from)]);
        if (e === 0) ip.unwritten.delete(lbn);
        error ||= e;
      }
      error ||= r.error;
    }
  } else if (size > ip.size) {
    ip.size = size;
    await vp.mount?.vm?.setsize(vp, size);
  }
  ext2Stamp(ip.din, EXT2_MTIME | EXT2_CTIME);
  ip.modified = true;
  return error;
}

/** VOP_FSYNC: the inode and every delayed metadata buffer, then the device (MNT_NOWAIT: not the device's flush). => may sleep */
export async function ext2Fsync(vp: Vnode, waitfor = MNT_WAIT): Promise<number> {
  const mp = vp.mount;
  if (mp === null || mp.readOnly) return 0;
  const ip = ext2Inode(vp);
  // The group descriptors brought up to date, so that bflush writes them with the bitmaps, before the inodes.
  const e0 = await ext2AllocFlush(mp);
  const e1 = ip.modified ? await ext2Update(mp, ip, false) : 0;
  const e2 = await mp.bufcache.bflush();
  const e3 = waitfor === MNT_NOWAIT ? 0 : await mp.dev.flush();
  return e0 || e1 || e2 || e3;
}

/** VOP_INACTIVE: the last reference went; an unlinked inode is freed now. */
export async function ext2Inactive(vp: Vnode): Promise<number> {
  const mp = vp.mount;
  const ip = ext2Inode(vp);
  if (mp === null || mp.readOnly || ip.freed || ip.din.linksCount !== 0) return 0;
  await vp.lock.lock();
  try {
    return await ext2Release(vp);
  } finally {
    vp.lock.unlock();
  }
}

/** The writer's part of VOP_RECLAIM: blocks still unwritten get their zeros, a changed inode is written. */
export async function ext2ReclaimWrite(vp: Vnode): Promise<number> {
  const mp = vp.mount;
  const ip = ext2Inode(vp);
  if (mp === null || mp.readOnly) return 0;
  await ext2ZeroUnwritten(vp, 0, Infinity);
  return ip.modified ? ext2Update(mp, ip, false) : 0;
}
