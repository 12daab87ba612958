/*
 * VOP_SETATTR on ext2 (cf. FreeBSD ext2_setattr): permission bits, owner
 * and group, access and modification times (with nanoseconds and past
 * 2038 where the inode has room for them, else clamped to what it holds);
 * the change time becomes now.
 * The file's type bits never change; an access ACL follows a new mode.
 *   error = await ext2Setattr(vp, { mode: 0o755, uid: 0, gid: 0 })   => vp locked exclusively
 */

import { EINVAL, ENOATTR } from '../../kern/errno.js';
import type { Vnode } from '../../vfs/vnode.js';
import type { SetattrArgs } from '../../vfs/vnode_if.js';
import { S_IFMT } from './ext2_fs.js';
import { EXT2_ATIME, EXT2_CTIME, EXT2_MTIME, ext2Stamp, ext2TimeFit } from './ext2_itimes.js';
import { ext2Inode } from './ext2_inode.js';
import { ext2UpdateDelayed } from './ext2_inode_write.js';
import { ext2Writable } from './ext2_write.js';
import { aclChmod, aclEncode, aclEntries } from './ext2_acl.js';
import { ext2Getextattr, ext2Setextattr, ext2XattrsNone } from './ext2_xattr_vnops.js';

const ID_MAX = 0xffffffff;

export async function ext2Setattr(vp: Vnode, va: SetattrArgs): Promise<number> {
  const w = ext2Writable(vp);
  if (w.error !== 0) return w.error;
  const ip = ext2Inode(vp);
  const bad = (n: number | undefined, max: number): boolean => n !== undefined && (!Number.isInteger(n) || n < 0 || n > max);
  if (bad(va.mode, 0o7777) || bad(va.uid, ID_MAX) || bad(va.gid, ID_MAX)) return EINVAL;
  const din = ip.din;
  if (va.mode !== undefined) din.mode = (din.mode & S_IFMT) | va.mode;
  if (va.uid !== undefined) din.uid = va.uid;
  if (va.gid !== undefined) din.gid = va.gid;
  const nsec = (n: number | undefined): number => (n !== undefined && Number.isInteger(n) && n >= 0 && n < 1e9 ? n : 0);
  if (va.atime !== undefined) ext2Stamp(din, EXT2_ATIME, ext2TimeFit(ip.raw, { sec: Math.floor(va.atime), nsec: nsec(va.atimeNsec) }));
  if (va.mtime !== undefined) ext2Stamp(din, EXT2_MTIME, ext2TimeFit(ip.raw, { sec: Math.floor(va.mtime), nsec: nsec(va.mtimeNsec) }));
  ext2Stamp(din, EXT2_CTIME);
  ip.modified = true;
  // A chmod rewrites an access ACL's owner, mask (or group) and other entries (as Linux's posix_acl_chmod).
  if (va.mode !== undefined && !ext2XattrsNone(ip.raw, din)) {
    const acl = await ext2Getextattr(vp, ACL_ACCESS);
    if (acl.error === 0) {
      const entries = aclEntries(acl.value!);
      if (entries !== null) return ext2Setextattr(vp, ACL_ACCESS, aclEncode(aclChmod(entries, din.mode)), 0);
    } else if (acl.error !== ENOATTR) return acl.error;
  }
  return ext2UpdateDelayed(w.mp!, ip);
}

const ACL_ACCESS = 'system.posix_acl_access';
