/*
 * VFS_BULKSTAT for ext2/3/4 (cf. XFS's bulkstat, by which xfsdump reads a
 * tree without a vnode per file): a regular file's attributes and data runs
 * straight from its inode as it lies in its resident inode-table block, for
 * a tree copied out of a read-only mount (vmpager get).
 *   const b = ext2BulkstatNow(mp, ino);   // null: take VFS_VGET
 *   b.va.size; b.runs                      // as VOP_GETATTR, and VOP_BMAP block by block, of its vnode
 * Only where nothing in core can be newer than the disk (a read-only mount)
 * and only for what needs nothing beyond the inode: a regular file whose
 * inode passes every check VFS_VGET makes (its checksum, its type, size and
 * flags, by the same code), with no extended attribute, no inline data, not
 * encrypted, with links, its whole block map in the inode (extents of depth 0, or
 * direct blocks only), each extent or block checked as VOP_BMAP checks it.
 * Everything else (an inode-table block not in core, damage, an attribute,
 * a directory) answers null, and the caller takes the vnode, whose path
 * reads, reports and counts as it always does: this one never reports
 * anything of its own, so a damaged inode is named once, and as the vnode
 * path names it. No in-core inode is made (a tree's 20 000 files made as
 * many, and their block maps' decoded leaves, for the collector).
 */

import { VType } from '../../vfs/vnode.js';
import { type Bulkstat, type Mount, runAppend } from '../../vfs/mount.js';
import { inodeCsumOk } from './ext2_csum.js';
import { extentRootEach } from './ext2_extents.js';
import { type Ext2Dinode, decodeDinode, EXT2_NDADDR, EXT4_ENCRYPT_FL, EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL, S_IFMT, S_IFREG } from './ext2_fs.js';
import { dinodeBlocks512, dinodeSize } from './ext2_inode.js';
import { ext2InodeBufNow, ext2InodeOff } from './ext2_inode_write.js';
import type { Ext2Fs } from './ext2_mount.js';
import { Ext2Vattr } from './ext2_vattr.js';
import { ext2XattrsNone } from './ext2_xattr_vnops.js';

/** VFS_BULKSTAT without a task: regular file ino's attributes and data runs, or null (see above). */
export function ext2BulkstatNow(mp: Mount, ino: number): Bulkstat | null {
  const fs = mp.data as Ext2Fs;
  if (!mp.readOnly || !Number.isSafeInteger(ino) || ino < 1 || ino > fs.sb.inodesCount) return null;
  const bp = ext2InodeBufNow(mp, ino);
  if (bp === null) return null;
  try {
    const o = ext2InodeOff(fs, ino);
    const raw = bp.data.subarray(o, o + fs.sb.inodeSize);
    if (((raw[1] << 8) & S_IFMT) !== S_IFREG) return null; // (i_mode's type first: a directory's checksum is checked once, by VFS_VGET)
    if (fs.metadataCsum && !inodeCsumOk(fs, ino, raw)) return null;
    const din = decodeDinode(raw); // (its i_block, a view of the buffer, read here alone: the attributes keep nothing of it)
    const size = dinodeSize(fs, din, VType.VREG);
    if (size < 0 || din.linksCount === 0 || (din.flags & (EXT4_INLINE_DATA_FL | EXT4_ENCRYPT_FL)) !== 0 || !ext2XattrsNone(raw, din)) return null;
    const runs = (din.flags & EXT4_EXTENTS_FL) !== 0 ? extentRuns(fs, din, size) : directRuns(fs, din, size);
    if (runs === null) return null;
    return { va: new Ext2Vattr(VType.VREG, ino, din, size, dinodeBlocks512(fs, din), fs.bsize, false, null), runs };
  } finally {
    mp.bufcache.brelse(bp);
  }
}

/** The runs of a file mapped by extents, the tree whole in the inode; null otherwise, or damaged. */
function extentRuns(fs: Ext2Fs, din: Ext2Dinode, size: number): number[] | null {
  const bsize = fs.bsize;
  const runs: number[] = [];
  const ok = extentRootEach(fs, din.iblock, (lblk, len, pblk) => {
    const pos = lblk * bsize;
    if (pos < size) runAppend(runs, pos, Math.min(size, (lblk + len) * bsize) - pos, pblk * bsize);
  });
  return ok ? runs : null;
}

/** The runs of a file mapped by blocks, all of them direct (in the inode); null otherwise, or damaged. */
function directRuns(fs: Ext2Fs, din: Ext2Dinode, size: number): number[] | null {
  const bsize = fs.bsize;
  const blocks = Math.ceil(size / bsize);
  if (blocks > EXT2_NDADDR) return null;
  const b = din.iblock;
  const runs: number[] = [];
  for (let lbn = 0; lbn < blocks; lbn++) {
    const p = (b[4 * lbn] | (b[4 * lbn + 1] << 8) | (b[4 * lbn + 2] << 16) | (b[4 * lbn + 3] << 24)) >>> 0;
    if (p === 0) continue; // a hole
    if (!fs.blockOk(p)) return null;
    runAppend(runs, lbn * bsize, Math.min(size, (lbn + 1) * bsize) - lbn * bsize, p * bsize);
  }
  return runs;
}
