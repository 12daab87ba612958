/*
 * Which file system a device holds, found from its superblock (cf. the
 * kernel trying each file system's mount in turn): ext2/3/4 when the ext2
 * magic is where it belongs, else UFS1/UFS2 when FFS finds a superblock.
 *   const { error, mp, reason } = await mountFileSystem(dev, { readOnly })
 */

import type { BlockDevice } from '../dev/device.js';
import { EINVAL } from '../kern/errno.js';
import type { Mount } from '../vfs/mount.js';
import { EXT2_MAGIC, SBOFF } from '../fs/ext2/ext2_fs.js';
import { ext2Mount } from '../fs/ext2/ext2_vfsops.js';
import { ffsMount, ffsProbe } from '../fs/ufs/ffs_vfsops.js';

/** s_magic's offset inside the ext2 superblock. */
const EXT2_MAGIC_OFF = 56;

export interface ProbeMountResult {
  error: number;
  mp: Mount | null;
  reason: string;
}

/** Mounts whatever file system dev holds. => may sleep */
export async function mountFileSystem(dev: BlockDevice, opts: { readOnly: boolean }): Promise<ProbeMountResult> {
  if (dev.size >= SBOFF + EXT2_MAGIC_OFF + 2) {
    const magic = new Uint8Array(2);
    const error = await dev.readv([magic], SBOFF + EXT2_MAGIC_OFF);
    if (error !== 0) return { error, mp: null, reason: 'cannot read the superblock' };
    if ((magic[0] | (magic[1] << 8)) === EXT2_MAGIC) return ext2Mount(dev, opts);
  }
  if (await ffsProbe(dev)) return ffsMount(dev, opts);
  return { error: EINVAL, mp: null, reason: 'no ext2/3/4 or UFS file system found' };
}
