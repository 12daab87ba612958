/*
 * An inode's times to the nanosecond (cf. FreeBSD ext2_itimes, Linux
 * ext4_current_time): the seconds and nanoseconds of atime, mtime and
 * ctime set together, now or to a given time. ext2InodeEncode writes the
 * nanoseconds and epoch bits into the *_extra fields of inodes with room.
 *   ext2Stamp(ip.din, EXT2_MTIME | EXT2_CTIME); ip.modified = true
 */

import { DI_ATIME_EXTRA, DI_EXTRA_ISIZE, EXT2_GOOD_OLD_INODE_SIZE, type Ext2Dinode } from './ext2_fs.js';

/** A time of an inode: seconds since the epoch and nanoseconds. */
export interface Ext2Time {
  sec: number;
  nsec: number;
}

/** Now, to the nanosecond field's precision the clock has (milliseconds). */
export function ext2NowTime(): Ext2Time {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}

export const EXT2_ATIME = 1;
export const EXT2_MTIME = 2;
export const EXT2_CTIME = 4;

/** Sets the times `which` (EXT2_ATIME | EXT2_MTIME | EXT2_CTIME) of din to t, now by default (cf. ext2_itimes). */
export function ext2Stamp(din: Ext2Dinode, which: number, t: Ext2Time = ext2NowTime()): void {
  if ((which & EXT2_ATIME) !== 0) {
    din.atime = t.sec;
    din.atimeNsec = t.nsec;
  }
  if ((which & EXT2_MTIME) !== 0) {
    din.mtime = t.sec;
    din.mtimeNsec = t.nsec;
  }
  if ((which & EXT2_CTIME) !== 0) {
    din.ctime = t.sec;
    din.ctimeNsec = t.nsec;
  }
}

/**
 * t as inode raw can hold it (cf. the kernel's timestamp clamping): with
 * room for the *_extra fields, 1901 to 2446 and nanoseconds; without,
 * 1901 to 2038 and whole seconds.
 */
export function ext2TimeFit(raw: Uint8Array, t: Ext2Time): Ext2Time {
  const isize = raw.length > EXT2_GOOD_OLD_INODE_SIZE ? new DataView(raw.buffer, raw.byteOffset, raw.length).getUint16(DI_EXTRA_ISIZE, true) : 0;
  const extra = EXT2_GOOD_OLD_INODE_SIZE + isize >= DI_ATIME_EXTRA + 4;
  const min = -(2 ** 31);
  const max = extra ? 2 ** 34 - 2 ** 31 - 1 : 2 ** 31 - 1;
  // At either end of the range (clamped there, or on it) the nanoseconds are 0, as Linux's timestamp_truncate leaves them.
  if (t.sec <= min) return { sec: min, nsec: 0 };
  if (t.sec >= max) return { sec: max, nsec: 0 };
  return extra ? t : { sec: t.sec, nsec: 0 };
}
