/*
 * FsError: the error the node:fs/promises facade throws, shaped as Node's own
 * (code, negative errno as this host numbers it, syscall, path, dest), so
 * code written for node:fs/promises that tests `e.code` runs unchanged.
 *   try { await p.readFile('/x') } catch (e) { e.code === 'ENOENT' }
 */

import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { VmError } from './errors.js';

/** Node's (libuv's) text for each errno of this host: the reason its messages give. */
const uvMessages = getSystemErrorMap();

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
    const host = (constants.errno as Record<string, number | undefined>)[code];
    // Node's message names the errno in libuv's words ('file already exists'); ours stays on the cause.
    const words = host !== undefined ? uvMessages.get(-host)?.[1] : undefined;
    super(`${code}: ${words ?? reason}, ${syscall}${path !== undefined ? ` '${path}'` : ''}${dest !== undefined ? ` -> '${dest}'` : ''}`, { cause });
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

/** How Node's argument errors describe a value: "Received type number (42)", "Received an instance of Object". */
function received(v: unknown): string {
  if (v === null || v === undefined) return `Received ${v}`;
  if (typeof v === 'function') return `Received function ${v.name}`;
  if (typeof v === 'object') return `Received an instance of ${v.constructor?.name ?? 'Object'}`;
  const shown = typeof v === 'string' ? `'${v.length > 28 ? v.slice(0, 25) + '...' : v}'` : String(v);
  return `Received type ${typeof v} (${shown})`;
}

/**
 * Node's error for a bad argument, thrown before anything is touched: a
 * TypeError (ERR_INVALID_ARG_TYPE) or RangeError (ERR_OUT_OF_RANGE) with
 * Node's code and words.
 */
export function argTypeError(name: string, expected: string, value: unknown): TypeError {
  return Object.assign(new TypeError(`The "${name}" argument must be ${expected}. ${received(value)}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return Object.assign(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`), { code: 'ERR_OUT_OF_RANGE' });
}
