/*
 * The ext2/3/4 vnode operations (cf. FreeBSD ext2_vnops.c), read side:
 * lookup, readdir, getattr, readlink, read (through the VM object, or
 * directly for IO_DIRECT and VM-less mounts) and bmap for the vnode pager;
 * the table also holds the writer's operations (ext2_write.ts,
 * ext2_vnops_write.ts, ext2_vnops_inode.ts), EROFS on read-only mounts.
 *   vp.op === ext2Vnops for every vnode of an ext2 mount.
 */

import { nameDecode } from '../../kern/namebytes.js';
import { dirhashDrop } from '../../vfs/vfs_dirhash.js';
import { EACCES, EINTEGRITY, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';
import { UIO_READ, Uio } from '../../vfs/uio.js';
import { vnRead } from '../../vfs/vfs_vnops.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { type Vattr, type VopVector, vopDefault } from '../../vfs/vnode_if.js';
import { PATH_MAX } from '../../vfs/vfs_lookup.js';
import { ext2Bmap } from './ext2_bmap.js';
import { ext2DirectRead } from './ext2_readwrite.js';
import { ext2Lookup, ext2Readdir } from './ext2_lookup.js';
import { ext2Inode } from './ext2_inode.js';
import { ext2Writable, ext2Write } from './ext2_write.js';
import { ext2InlineConvert } from './ext2_inline.js';
import { ext2Create, ext2Mkdir, ext2Remove, ext2Rmdir, ext2Symlink } from './ext2_vnops_write.js';
import { ext2Link, ext2Rename } from './ext2_rename.js';
import { ext2Setattr } from './ext2_setattr.js';
import { ext2Mknod } from './ext2_mknod.js';
import { ext2Populate } from './ext2_populate.js';
import { ext2Deleteextattr, ext2Getextattr, ext2Listextattr, ext2Setextattr } from './ext2_xattr_vnops.js';
import { ext2Fsync, ext2Inactive, ext2ReclaimWrite, ext2Setsize } from './ext2_vnops_inode.js';
import { ext2VattrOf } from './ext2_vattr.js';

/** VOP_READ. => may sleep */
function ext2Read(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) return Promise.resolve(EOPNOTSUPP);
  if (ext2Inode(vp).encrypted) return Promise.resolve(EACCES);
  return vnRead(vp, uio, ioflag, ext2DirectRead);
}

/** VOP_GETATTR: the inode's attributes, ext2 facts in `extra`. */
function ext2Getattr(vp: Vnode): Promise<{ error: number; va: Vattr | null }> {
  return Promise.resolve({ error: 0, va: ext2VattrOf(vp.type, vp.ino, ext2Inode(vp)) });
}

/** VOP_READLINK: the target of a fast, inline or slow symbolic link. => may sleep */
async function ext2Readlink(vp: Vnode): Promise<{ error: number; target: string }> {
  if (vp.type !== VType.VLNK) return { error: EINVAL, target: '' };
  const ip = ext2Inode(vp);
  if (ip.encrypted) return { error: EACCES, target: '' };
  if (ip.size === 0 || ip.size >= PATH_MAX) return { error: EINTEGRITY, target: '' };
  let bytes: Uint8Array;
  if (ip.fastSymlink) {
    bytes = ip.din.iblock.subarray(0, ip.size);
  } else {
    bytes = new Uint8Array(ip.size);
    const uio = Uio.of(bytes, 0, UIO_READ);
    const error = await ext2Read(vp, uio, 0);
    if (error !== 0) return { error, target: '' };
    if (uio.resid !== 0) return { error: EINTEGRITY, target: '' };
  }
  const nul = bytes.indexOf(0); // what a C caller of readlink(2) would see
  return { error: 0, target: nameDecode(bytes, 0, nul < 0 ? bytes.length : nul) }; // (bytes that are not UTF-8 kept: namebytes.ts)
}

/** VOP_WRITE: an inline-data file becomes an ordinary one first (also for the pager's write-back of a mapping). */
async function ext2WriteInline(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  if (vp.type === VType.VREG && ext2Inode(vp).inlineData) {
    const w = ext2Writable(vp);
    if (w.error !== 0) return w.error;
    const e = await ext2InlineConvert(vp);
    if (e !== 0) return e;
  }
  return ext2Write(vp, uio, ioflag);
}

/** VOP_RECLAIM: the vnode is recycled; write what the inode still owes the disk, drop its caches. */
async function ext2Reclaim(vp: Vnode): Promise<number> {
  const error = await ext2ReclaimWrite(vp);
  ext2Inode(vp).flushCaches();
  dirhashDrop(ext2Inode(vp));
  return error;
}

export const ext2Vnops: VopVector = Object.freeze({
  ...vopDefault,
  name: 'ext2',
  lookup: ext2Lookup,
  getattr: ext2Getattr,
  readdir: ext2Readdir,
  readlink: ext2Readlink,
  read: ext2Read,
  write: ext2WriteInline,
  create: ext2Create,
  mkdir: ext2Mkdir,
  symlink: ext2Symlink,
  remove: ext2Remove,
  link: ext2Link,
  populate: ext2Populate,
  rename: ext2Rename,
  setattr: ext2Setattr,
  getextattr: ext2Getextattr,
  listextattr: ext2Listextattr,
  setextattr: ext2Setextattr,
  deleteextattr: ext2Deleteextattr,
  mknod: ext2Mknod,
  rmdir: ext2Rmdir,
  bmap: ext2Bmap,
  setsize: ext2Setsize,
  fsync: ext2Fsync,
  inactive: ext2Inactive,
  reclaim: ext2Reclaim,
});
