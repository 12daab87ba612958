/*
 * Whether a file system can hold a name, asked before a command changes
 * anything (put writes a hidden file first and renames it last: a name the
 * rename would refuse must be refused before). ext2 and UFS take any name
 * without '/' and NUL of up to 255 bytes; FAT has its own rules.
 *   const errno = nameError(fs.type, 'config.txt')   // 0: it can
 */

import { checkLongName } from '../fs/msdosfs/msdosfs_direntry.js';

/* Names as bytes in strings, without loss (src/kern/namebytes.ts). */
export { escapedBytes, NAME_ESCAPE, nameDecode, nameEncode, nameEscaped } from '../kern/namebytes.js';

/** 0 when a file system of type fstype can hold `name`, else the errno its create would answer. */
export function nameError(fstype: string, name: string): number {
  return fstype.startsWith('fat') ? checkLongName(name) : 0;
}
