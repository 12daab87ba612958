/*
 * A new inode's ACLs from its directory's default ACL, as Linux gives them
 * (cf. ext4_init_acl, posix_acl_create): a directory with a default ACL
 * hands a new file an access ACL, the default cut to the mode it is made
 * with, which sets its permission bits (and is not kept where they say all
 * of it); a new directory takes the default ACL too. Called once the inode
 * is made, before an entry names it. A mount with MNT_NOACLINHERIT (a tree
 * copied in) and a directory without attributes skip it at once.
 *   error = await ext2AclInherit(dvp, vp)   => dvp locked exclusively, vp new and unnamed
 */

import { ENOATTR } from '../../kern/errno.js';
import { MNT_NOACLINHERIT } from '../../vfs/mount.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { aclCreateMasq, aclEncode, aclEntries } from './ext2_acl.js';
import { ext2Inode } from './ext2_inode.js';
import { ext2Getextattr, ext2Setextattr, ext2XattrsNone } from './ext2_xattr_vnops.js';

const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

export async function ext2AclInherit(dvp: Vnode, vp: Vnode): Promise<number> {
  if (((vp.mount?.flag ?? 0) & MNT_NOACLINHERIT) !== 0) return 0;
  const dip = ext2Inode(dvp);
  if (ext2XattrsNone(dip.raw, dip.din)) return 0;
  const d = await ext2Getextattr(dvp, ACL_DEFAULT);
  if (d.error === ENOATTR) return 0;
  if (d.error !== 0) return d.error;
  const entries = aclEntries(d.value!);
  if (entries === null) return 0; // (one Linux would not have set: none given)
  await vp.lock.lock();
  try {
    if (vp.type === VType.VDIR) {
      const e = await ext2Setextattr(vp, ACL_DEFAULT, d.value!, 0);
      if (e !== 0) return e;
    }
    return await ext2Setextattr(vp, ACL_ACCESS, aclEncode(aclCreateMasq(entries, ext2Inode(vp).din.mode)), 0);
  } finally {
    vp.lock.unlock();
  }
}
