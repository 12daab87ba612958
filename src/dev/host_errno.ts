/*
 * Host errors (Node's `code` strings) as kernel errno values.
 */

import { EACCES, EBUSY, EEXIST, EINVAL, EIO, EISDIR, ENOENT, ENOMEM, ENOSPC, ENOTDIR, EROFS } from '../kern/errno.js';

const byCode: Record<string, number> = {
  ENOENT,
  EACCES,
  EPERM: EACCES,
  EISDIR,
  ENOTDIR,
  EEXIST,
  ENOSPC,
  EROFS,
  EBUSY,
  ENOMEM,
  EINVAL,
  EIO,
};

export function errnoOf(e: unknown): number {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? (byCode[code] ?? EIO) : EIO;
}
