/*
 * Link counts of directories past the 16-bit limit (cf. Linux ext4
 * ext4_inc_count / ext4_dec_count / EXT4_DIR_LINK_MAX, FreeBSD
 * ext2_inc_nlink): with dir_nlink, an indexed directory whose count would
 * pass EXT4_LINK_MAX gets 1 ("many"), and keeps 1 while subdirectories come
 * and go; e2fsck reads 1 the same way. Without dir_nlink (or for a
 * directory without an index) a new subdirectory is EMLINK at the limit.
 * The feature is never turned on here: the image's owner chose it.
 *   if (ext2LinkFull(ip)) return EMLINK; ext2IncLinks(ip); ... ext2DecLinks(ip)
 */

import { EXT2_INDEX_FL, EXT2_LINK_MAX, RO_COMPAT_DIR_NLINK } from './ext2_fs.js';
import type { Inode } from './ext2_inode.js';
import { VType } from '../../vfs/vnode.js';

/**
 * Most links an inode may have: EXT4_LINK_MAX (e2fsck's EXT2_LINK_MAX too)
 * with dir_nlink, ext2's EXT2_LINK_MAX without. Tests lower them to reach
 * the limits in a few hundred directories (e2fsck keeps its own 65000).
 */
export const ext2LinkLimits = { dirNlink: 65000, plain: EXT2_LINK_MAX };

function dirNlink(ip: Inode): boolean {
  return (ip.fs.sb.featureRoCompat & RO_COMPAT_DIR_NLINK) !== 0;
}

/** The most links ip's file system gives an inode: 65000 with dir_nlink (an ext4), else ext2's 32000. */
export function ext2LinkMax(ip: Inode): number {
  return dirNlink(ip) ? ext2LinkLimits.dirNlink : ext2LinkLimits.plain;
}

/** May ip not take one more link? (A dir_nlink directory with an index always may.) */
export function ext2LinkFull(ip: Inode): boolean {
  if (ip.type === VType.VDIR && dirNlink(ip) && (ip.din.flags & EXT2_INDEX_FL) !== 0) return false;
  return ip.din.linksCount >= ext2LinkMax(ip);
}

/** One link more; a directory past the limit (or at 1 already) counts 1. => !ext2LinkFull(ip) */
export function ext2IncLinks(ip: Inode): void {
  const n = ip.din.linksCount + 1;
  const many = ip.type === VType.VDIR && dirNlink(ip) && (n > ext2LinkLimits.dirNlink || n === 2);
  ip.din.linksCount = many ? 1 : n;
  ip.modified = true;
}

/** One link less; a directory counting 1 ("many") or 2 (only "." and its entry) stays. */
export function ext2DecLinks(ip: Inode): void {
  if (ip.type !== VType.VDIR || ip.din.linksCount > 2) ip.din.linksCount--;
  ip.modified = true;
}
