/*
 * The UFS vnode operations (cf. FreeBSD ufs_vnops.c and ffs_vnops.c), read
 * side: lookup, readdir, getattr, readlink, read (through the VM object, or
 * directly for IO_DIRECT and VM-less mounts) and bmap for the vnode pager.
 * The mount is read-only, so the writer's operations keep vopDefault's
 * EOPNOTSUPP (the API refuses writes on a read-only mount before them).
 *   vp.op === ufsVnops for every vnode of a UFS mount.
 */

import { nameDecode } from '../../kern/namebytes.js';
import { EINTEGRITY, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';
import { UIO_READ, Uio } from '../../vfs/uio.js';
import { vnBmapRead, vnRead } from '../../vfs/vfs_vnops.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { type Vattr, type VopVector, vopDefault } from '../../vfs/vnode_if.js';
import { PATH_MAX } from '../../vfs/vfs_lookup.js';
import { dirhashDrop } from '../../vfs/vfs_dirhash.js';
import { ufsBmap } from './ufs_bmap.js';
import { ufsInode } from './ufs_inode.js';
import { ufsLookup, ufsReaddir } from './ufs_lookup.js';

/** The direct read: the device through bmap, or the inode for a short symlink. => may sleep */
function ufsDirectRead(vp: Vnode, uio: Uio): Promise<number> {
  const ip = ufsInode(vp);
  if (ip.shortSymlink) {
    const data = ip.pointerBytes.subarray(0, ip.size);
    if (uio.offset < data.length) uio.move(data, uio.offset, data.length - uio.offset);
    return Promise.resolve(0);
  }
  return vnBmapRead(vp, uio, ip.size, ip.fs.bsize);
}

/** VOP_READ (cf. ffs_read). => may sleep */
function ufsRead(vp: Vnode, uio: Uio, ioflag: number): Promise<number> {
  if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) return Promise.resolve(EOPNOTSUPP);
  if (ufsInode(vp).shortSymlink) return ufsDirectRead(vp, uio);
  return vnRead(vp, uio, ioflag, ufsDirectRead);
}

/** VOP_GETATTR: the inode's attributes, UFS facts in `extra`. */
function ufsGetattr(vp: Vnode): Promise<{ error: number; va: Vattr | null }> {
  const ip = ufsInode(vp);
  const extra: Record<string, number | string | boolean> = {
    flags: `0x${ip.flags.toString(16)}`,
    links: ip.nlink,
    generation: ip.gen,
    blocks512: ip.blocks512,
  };
  let rdev = 0;
  if (vp.type === VType.VCHR || vp.type === VType.VBLK) {
    rdev = ip.rdev;
    extra.major = (rdev >>> 8) & 0xff;
    extra.minor = (rdev & 0xff) | ((rdev >>> 8) & 0xffff00);
  }
  if (vp.type === VType.VLNK) extra.short_symlink = ip.shortSymlink;
  const va: Vattr = {
    type: vp.type,
    mode: ip.mode,
    nlink: ip.nlink,
    uid: ip.uid,
    gid: ip.gid,
    size: ip.size,
    bytes: ip.blocks512 * 512,
    atime: ip.atime,
    mtime: ip.mtime,
    ctime: ip.ctime,
    birthtime: ip.birthtime,
    atimeNsec: ip.nsec[0],
    mtimeNsec: ip.nsec[1],
    ctimeNsec: ip.nsec[2],
    birthtimeNsec: ip.nsec[3],
    ino: vp.ino,
    gen: ip.gen,
    flags: ip.flags,
    blksize: ip.fs.bsize,
    rdev,
    extra,
  };
  return Promise.resolve({ error: 0, va });
}

/** VOP_READLINK: the target of a short or long symbolic link (cf. ufs_readlink). => may sleep */
async function ufsReadlink(vp: Vnode): Promise<{ error: number; target: string }> {
  if (vp.type !== VType.VLNK) return { error: EINVAL, target: '' };
  const ip = ufsInode(vp);
  if (ip.size === 0 || ip.size >= PATH_MAX) return { error: EINTEGRITY, target: '' };
  if (ip.shortSymlink && ip.size > ip.pointerBytes.length) return { error: EINTEGRITY, target: '' };
  const bytes = new Uint8Array(ip.size);
  const uio = Uio.of(bytes, 0, UIO_READ);
  const error = await ufsRead(vp, uio, 0);
  if (error !== 0) return { error, target: '' };
  if (uio.resid !== 0) return { error: EINTEGRITY, target: '' };
  const nul = bytes.indexOf(0); // what a C caller of readlink(2) would see
  return { error: 0, target: nameDecode(bytes, 0, nul < 0 ? bytes.length : nul) }; // (bytes that are not UTF-8 kept: namebytes.ts)
}

/** VOP_RECLAIM: the vnode is recycled; drop the inode's caches. */
function ufsReclaim(vp: Vnode): Promise<number> {
  const ip = ufsInode(vp);
  ip.indLeaf = null;
  dirhashDrop(ip);
  return Promise.resolve(0);
}

export const ufsVnops: VopVector = Object.freeze({
  ...vopDefault,
  name: 'ufs',
  lookup: ufsLookup,
  getattr: ufsGetattr,
  readdir: ufsReaddir,
  readlink: ufsReadlink,
  read: ufsRead,
  bmap: ufsBmap,
  reclaim: ufsReclaim,
});
