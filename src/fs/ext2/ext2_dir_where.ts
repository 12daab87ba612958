/*
 * Naming a directory block in an error or warning: its logical number, the
 * directory's inode and, where mapped, its device block. Shared by the
 * directory readers (ext2_lookup, ext2_dir_block, ext2_htree_lookup).
 *   return ext2DirCsumFailed(vp, lbn);   where = await ext2DirBlockWhere(vp, ip, lbn)
 */

import type { Vnode } from '../../vfs/vnode.js';
import { dirCsumOk } from './ext2_csum.js';
import { bmapRun } from './ext2_bmap.js';
import { ext2Inode, type Inode } from './ext2_inode.js';

/** " (block P)" for directory block lbn of ip when it is mapped, else "". => may sleep */
export async function ext2DirBlockWhere(vp: Vnode, ip: Inode, lbn: number): Promise<string> {
  const r = vp.mount !== null ? await bmapRun(vp.mount.bufcache, ip, lbn) : null;
  return r !== null && r.pblk >= 0 ? ` (block ${r.pblk})` : '';
}

/** A directory block's checksum did not match: fs.csumFailed naming its device block. => may sleep */
export async function ext2DirCsumFailed(vp: Vnode, lbn: number): Promise<number> {
  const ip = ext2Inode(vp);
  return ip.fs.csumFailed(`directory block ${lbn} of inode ${vp.ino}${await ext2DirBlockWhere(vp, ip, lbn)}`);
}

/**
 * Directory block lbn of ip (its bytes in buf) has a good checksum: verified
 * once, then remembered until reclaim or a write other than writeBlock's;
 * a block writeBlock changed is ours until its page-out stores the checksum.
 */
export function dirBlockCsumOk(ip: Inode, lbn: number, buf: Uint8Array): boolean {
  if (ip.csumVerified.has(lbn) || ip.dirCsumPending.has(lbn)) return true; // pending: our own bytes, checksummed at page-out
  if (!dirCsumOk(ip.fs, ip.ino, ip.din.generation, buf)) return false;
  ip.csumVerified.add(lbn);
  return true;
}
