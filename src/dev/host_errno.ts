/*
 * Host errors (Node's `code` strings) as kernel errno values: file
 * system calls (dev/image.ts) and sockets (dev/nbd_conn.ts).
 */

import {
  EACCES,
  EBUSY,
  ECONNREFUSED,
  ECONNRESET,
  EDQUOT,
  EEXIST,
  EFBIG,
  EHOSTUNREACH,
  EINVAL,
  EIO,
  EISDIR,
  ELOOP,
  EMFILE,
  EMLINK,
  ENAMETOOLONG,
  ENETUNREACH,
  ENFILE,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOTDIR,
  ENOTEMPTY,
  ENXIO,
  EROFS,
  ETIMEDOUT,
  EXDEV,
} from '../kern/errno.js';

const byCode: Record<string, number> = {
  ENOENT,
  EACCES,
  EPERM: EACCES,
  EISDIR,
  ENOTDIR,
  EEXIST,
  ENOSPC,
  EDQUOT,
  EFBIG,
  EROFS,
  EBUSY,
  ENOMEM,
  EINVAL,
  EIO,
  ELOOP,
  ENAMETOOLONG,
  EMLINK,
  ENOTEMPTY,
  EXDEV,
  EMFILE,
  ENFILE,
  // sockets (the NBD client)
  ECONNREFUSED,
  ECONNRESET,
  EPIPE: ECONNRESET,
  ETIMEDOUT,
  EHOSTUNREACH,
  ENETUNREACH,
  ENOTFOUND: ENXIO,
  EAI_AGAIN: ENXIO,
};

export function errnoOf(e: unknown): number {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? (byCode[code] ?? EIO) : EIO;
}
