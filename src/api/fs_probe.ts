/*
 * Which file system a device holds, found from its superblock (cf. the
 * kernel trying each file system's mount in turn): each mount says whether
 * it found its own superblock at all, and the next is tried when not —
 * ext2/3/4 first, then UFS1/UFS2, then FAT12/16/32 (whose boot sector also
 * names exFAT and NTFS, refused by name). When none is found, the message
 * says what the device holds instead where its first bytes tell (a QCOW2
 * image, a gzip file, swap).
 *   const { error, mp, reason } = await mountFileSystem(dev, { readOnly })
 */

import type { BlockDevice } from '../dev/device.js';
import { EINVAL } from '../kern/errno.js';
import type { Mount } from '../vfs/mount.js';
import { ext2Mount } from '../fs/ext2/ext2_vfsops.js';
import { ffsMount } from '../fs/ufs/ffs_vfsops.js';
import { msdosfsMount } from '../fs/msdosfs/msdosfs_vfsops.js';
import { describeBytes, describeContainer, firstBytes } from './signature.js';

export interface ProbeMountResult {
  error: number;
  mp: Mount | null;
  reason: string;
}

/** Mounts whatever file system dev holds. => may sleep */
export async function mountFileSystem(dev: BlockDevice, opts: { readOnly: boolean; verify?: boolean; codepage?: 437 | 850; bufcacheBytes?: number }): Promise<ProbeMountResult> {
  for (const mount of [ext2Mount, ffsMount, msdosfsMount]) {
    const r = await mount(dev, opts);
    if (r.found) return r;
  }
  return { error: EINVAL, mp: null, reason: `no ext2/3/4, UFS or FAT file system found${await instead(dev)}` };
}

/** ': the file is a QCOW2 disk image, ...' or ': it holds Linux swap', from dev's first bytes; '' when they say nothing known. */
async function instead(dev: BlockDevice): Promise<string> {
  const b = await firstBytes(dev);
  if (b === null) return '';
  const c = describeContainer(b);
  if (c !== null) return `: the file is ${c}`;
  const what = describeBytes(b);
  return what !== null ? `: it holds ${what}` : '';
}
