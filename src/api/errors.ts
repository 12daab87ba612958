/*
 * The library's one error type: an errno with the operation, the image and
 * the path it concerns. Inside the layers errors are values; they become
 * VmError here, at the outer boundary, with context added once.
 */

import { EINTEGRITY, EIO, errnoName, strerror } from '../kern/errno.js';
import { errnoOf } from '../dev/host_errno.js';

/** The errno values the command line names (it reaches the layers below only through the API). */
export { EBUSY, EEXIST, EFBIG, EINVAL, EISDIR, ELOOP, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY, EOPNOTSUPP, EPERM, EROFS } from '../kern/errno.js';

export class VmError extends Error {
  override name = 'VmError';
  /** Symbolic errno, e.g. 'ENOENT'. */
  readonly code: string;
  /** The message's last part: why it failed. */
  readonly reason: string;

  constructor(
    readonly errno: number,
    readonly syscall: string,
    readonly image: string,
    readonly path: string | null,
    /** A more specific reason than strerror (e.g. 'unsupported ext4 feature: casefold'). */
    reason?: string,
  ) {
    super(`${image}: ${path !== null ? `${path}: ` : ''}${reason ?? strerror(errno)}`);
    this.code = errnoName(errno);
    this.reason = reason ?? strerror(errno);
  }
}

/**
 * What each mounted image can say about a failure, by name: its statfs (an
 * EINTEGRITY names the damaged block the file system reported) and its
 * device (an EIO says why the transfer failed: a full host disk, a server's error).
 */
const damageReports = new Map<string, { stat: { damage?: string }; dev: { failure?: string | null } | null }>();

/** MountedFs registers its image's statfs and device while mounted (null: unregisters). */
export function reportDamage(image: string, stat: { damage?: string } | null, dev: { failure?: string | null } | null = null): void {
  if (stat === null) damageReports.delete(image);
  else damageReports.set(image, { stat, dev });
}

/** Throws VmError unless error is 0. */
export function check(error: number, syscall: string, image: string, path: string | null, reason?: string): void {
  if (error === 0) return;
  const report = damageReports.get(image);
  if (error === EINTEGRITY && reason === undefined && report?.stat.damage) {
    reason = report.stat.damage;
    report.stat.damage = '';
  }
  const failure = report?.dev?.failure;
  if (error === EIO && reason === undefined && failure) reason = `${strerror(EIO)} (${failure})`;
  throw new VmError(error, syscall, image, path, reason);
}

/** A VmError from a host error (a Node `code` such as 'ENOENT'). */
export function hostError(e: unknown, syscall: string, image: string, path: string | null): VmError {
  return new VmError(errnoOf(e), syscall, image, path);
}
