/*
 * FsError: the error the node:fs/promises facade throws, shaped as Node's own
 * (code, negative errno as this host numbers it, syscall, path, dest), so
 * code written for node:fs/promises that tests `e.code` runs unchanged.
 *   try { await p.readFile('/x') } catch (e) { e.code === 'ENOENT' }
 */

import { constants } from 'node:os';
import { VmError } from './errors.js';

export class FsError extends Error {
  override name = 'Error';
  /** Negative, as Node's: minus the host's number for `code` (or the BSD number when the host has none, e.g. EINTEGRITY). */
  readonly errno: number;
  /** The destination of rename, link, symlink, copyfile. */
  readonly dest?: string;
  /** The image the path is in. */
  readonly image: string;

  constructor(
    readonly code: string,
    bsdErrno: number,
    readonly syscall: string,
    image: string,
    readonly path: string | undefined,
    reason: string,
    dest?: string,
    cause?: unknown,
  ) {
    super(`${code}: ${reason}, ${syscall}${path !== undefined ? ` '${path}'` : ''}${dest !== undefined ? ` -> '${dest}'` : ''}`, { cause });
    const host = (constants.errno as Record<string, number | undefined>)[code];
    this.errno = -(host ?? bsdErrno);
    this.image = image;
    if (dest !== undefined) this.dest = dest;
  }
}

/**
 * Node's error for a VmError (other errors pass through): the facade's
 * syscall name and the caller's own path and dest, not the inner ones.
 */
export function fsError(e: unknown, syscall: string, path: string | undefined, dest?: string): unknown {
  if (!(e instanceof VmError)) return e;
  return new FsError(e.code, e.errno, syscall, e.image, path, e.reason, dest, e);
}

/** Runs fn, rethrowing a VmError as Node's error. */
export async function nodeCall<T>(syscall: string, path: string | undefined, fn: () => Promise<T>, dest?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fsError(e, syscall, path, dest);
  }
}
