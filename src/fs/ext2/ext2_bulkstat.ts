/*
 * VFS_BULKSTAT for ext2/3/4 (cf. XFS's bulkstat, by which xfsdump reads a
 * tree without a vnode per file): a regular file's attributes and block map
 * straight from its resident inode-table block, for a tree copied out of a
 * read-only mount (vmpager get).
 *   const b = ext2BulkstatNow(mp, ino);   // null: take VFS_VGET
 *   b.va.size; b.bmapNow(lbn)              // as VOP_GETATTR and VOP_BMAP of its vnode answer
 * Only where nothing in core can be newer than the disk (a read-only mount)
 * and only for what needs nothing beyond the inode: a regular file whose
 * inode passes every check VFS_VGET makes (its checksum, its type, size and
 * flags, by the same code), with no extended attribute, no inline data, not
 * encrypted. Everything else (an inode-table block not in core, damage, an
 * attribute, a directory) answers null, and the caller takes the vnode,
 * whose path reads, reports and counts as it always does: this one never
 * reports anything of its own, so a damaged inode is named once, and as
 * the vnode path names it.
 */

import { VType } from '../../vfs/vnode.js';
import type { Bulkstat, Mount } from '../../vfs/mount.js';
import { ext2BmapNow } from './ext2_bmap.js';
import { inodeCsumOk } from './ext2_csum.js';
import type { Ext2Fs } from './ext2_mount.js';
import { inodeFromDisk } from './ext2_inode.js';
import { ext2InodeBufNow, ext2InodeOff } from './ext2_inode_write.js';
import { Ext2Vattr } from './ext2_vattr.js';
import { ext2XattrsNone } from './ext2_xattr_vnops.js';

/** VFS_BULKSTAT without a task: regular file ino's attributes and block map, or null (see above). */
export function ext2BulkstatNow(mp: Mount, ino: number): Bulkstat | null {
  const fs = mp.data as Ext2Fs;
  if (!mp.readOnly || !Number.isSafeInteger(ino) || ino < 1 || ino > fs.sb.inodesCount) return null;
  const bp = ext2InodeBufNow(mp, ino);
  if (bp === null) return null;
  const o = ext2InodeOff(fs, ino);
  // (A copy, as VFS_VGET keeps: the buffer is released below, and the inode's views outlive it.)
  const raw = bp.data.slice(o, o + fs.sb.inodeSize);
  mp.bufcache.brelse(bp);
  if (fs.metadataCsum && !inodeCsumOk(fs, ino, raw)) return null;
  const { error, ip } = inodeFromDisk(fs, ino, raw);
  if (error !== 0 || ip === null || ip.type !== VType.VREG || ip.inlineData || ip.encrypted || !ext2XattrsNone(ip)) return null;
  return { va: new Ext2Vattr(VType.VREG, ino, ip), bmapNow: (lbn) => ext2BmapNow(ip, lbn) };
}
