/*
 * VOP_MKNOD on ext2 (cf. FreeBSD ext2_mknod): a character or block device,
 * a FIFO or a socket. A device's number is kept as Linux keeps it: the old
 * 16-bit form in i_block[0] when major and minor both fit a byte, else the
 * new 32-bit form in i_block[1].
 *   { error, vp } = await ext2Mknod(dvp, name, S_IFCHR | 0o666, makedev(1, 3))   => dvp locked exclusively
 */

import { ext2AclInherit } from './ext2_acl_inherit.js';
import { EINVAL } from '../../kern/errno.js';
import type { Vnode } from '../../vfs/vnode.js';
import type { LookupResult } from '../../vfs/vnode_if.js';
import { S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT, S_IFSOCK } from './ext2_fs.js';
import { ext2DirEnter } from './ext2_dir_write.js';
import type { Inode } from './ext2_inode.js';
import { abandon, checkNew, finish, newVnode } from './ext2_vnops_write.js';

/** Entry file types of the special files. */
const FT: Record<number, number> = { [S_IFCHR]: 3, [S_IFBLK]: 4, [S_IFIFO]: 5, [S_IFSOCK]: 6 };

/** A device inode's numbers, as Linux keeps them: the old 16-bit form in i_block[0] where both fit a byte, else the new one in i_block[1]. */
export function ext2DevSet(ip: Inode, major: number, minor: number): void {
  if (major < 256 && minor < 256) ip.iblock32[0] = (major << 8) | minor;
  else ip.iblock32[1] = ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** mode: type bits (S_IFCHR, S_IFBLK, S_IFIFO or S_IFSOCK) and permission bits; major and minor for a device. */
export async function ext2Mknod(dvp: Vnode, name: string, mode: number, major: number, minor: number): Promise<LookupResult> {
  const type = mode & S_IFMT;
  if (FT[type] === undefined || (mode & ~(S_IFMT | 0o7777)) !== 0) return { error: EINVAL, vp: null };
  const isDev = type === S_IFCHR || type === S_IFBLK;
  if (isDev && (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0 || major > 0xfff || minor > 0xfffff)) return { error: EINVAL, vp: null };
  const c = await checkNew(dvp, name);
  if (c.error !== 0) return { error: c.error, vp: null };
  const mp = c.mp!;
  const { error, vp } = await newVnode(dvp, mp, mode, 1, (ip: Inode) => {
    if (isDev) ext2DevSet(ip, major, minor);
  });
  if (error !== 0 || vp === null) return { error, vp: null };
  const a = await ext2AclInherit(dvp, vp);
  if (a !== 0) return abandon(dvp, mp, vp, a);
  const e = await ext2DirEnter(dvp, c.bytes, vp.ino, FT[type]);
  if (e !== 0) return abandon(dvp, mp, vp, e);
  return finish(dvp, mp, vp);
}
