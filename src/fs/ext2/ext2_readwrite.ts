/*
 * The direct read of an ext2 file: the bytes of [uio.offset, EOF) straight
 * from the device through bmap (vnBmapRead), holes zero-filled, or from the
 * inode itself for inline data (zeros past its inline bytes up to i_size)
 * and fast symlinks. vnRead() calls it for IO_DIRECT (the pager's
 * input_old path) and for mounts without a VM.
 *   error = await ext2DirectRead(vp, uio)
 */

import { EACCES, EBADF, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { Uio } from '../../vfs/uio.js';
import { vnBmapRead } from '../../vfs/vfs_vnops.js';
import { inlineData } from './ext2_extattr.js';
import { ext2Inode } from './ext2_inode.js';

/** Reads from uio.offset up to EOF into uio. => uio.rw is UIO_READ; may sleep */
export async function ext2DirectRead(vp: Vnode, uio: Uio): Promise<number> {
  const ip = ext2Inode(vp);
  const mp = vp.mount;
  if (mp === null) return EBADF;
  if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) return EOPNOTSUPP;
  if (ip.encrypted) return EACCES;
  if (!Number.isSafeInteger(uio.offset) || uio.offset < 0) return EINVAL;
  if (ip.inlineData || ip.fastSymlink) {
    let data: Uint8Array;
    if (ip.inlineData) {
      const r = inlineData(ip);
      if (r.data === null) return r.error;
      data = r.data;
    } else {
      data = ip.din.iblock.subarray(0, ip.size);
    }
    if (uio.offset < data.length) uio.move(data, uio.offset, data.length - uio.offset);
    // An inline file longer than its inline bytes goes on in zeros (see inlineData).
    if (uio.offset < ip.size) uio.zero(ip.size - uio.offset);
    return 0;
  }
  return vnBmapRead(vp, uio, ip.size, ip.fs.bsize);
}
