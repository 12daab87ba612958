/*
 * FsError: the error the node:fs/promises facade throws, shaped as Node's own
 * (code, negative errno as this host numbers it, syscall, path, dest), so
 * code written for node:fs/promises that tests `e.code` runs unchanged.
 *   try { await p.readFile('/x') } catch (e) { e.code === 'ENOENT' }
 */

import { Buffer } from 'node:buffer';
import { constants } from 'node:os';
import { getSystemErrorMap, inspect } from 'node:util';
import { ENOENT, VmError } from './errors.js';

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
  // An empty path names nothing: ENOENT before anything else, as Linux answers every call given one.
  if (path === '' || dest === '') throw fsError(new VmError(ENOENT, syscall, '', ''), syscall, path, dest);
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

/**
 * Throws Node's ERR_INVALID_ARG_VALUE for an encoding Buffer does not know
 * (none and '' are fine; 'buffer' asks for Buffers where names come back:
 * readdir, readlink, realpath).
 */
export function checkEncoding(enc: unknown): void {
  if (enc === undefined || enc === null || enc === '' || enc === 'buffer' || (typeof enc === 'string' && Buffer.isEncoding(enc))) return;
  throw Object.assign(new TypeError(`The argument 'encoding' is invalid encoding. Received ${inspect(enc)}`), { code: 'ERR_INVALID_ARG_VALUE' });
}

/**
 * A file mode as Node's fs takes one: a 32-bit unsigned integer, or a string
 * of octal digits; anything else is Node's own error, thrown before
 * anything is touched (never a mode of -1 written as 07777).
 */
export function fileMode(value: unknown, name = 'mode'): number {
  if (typeof value === 'string') {
    if (!/^[0-7]+$/.test(value)) {
      throw Object.assign(new TypeError(`The argument '${name}' must be a 32-bit unsigned integer or an octal string. Received '${value}'`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    return parseInt(value, 8);
  }
  if (typeof value !== 'number') throw argTypeError(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
  return value;
}

/** A user or group id as Node's chown takes one: an integer from -1 to 2^32 - 1 (-1 and 2^32 - 1, (uid_t)-1: unchanged). */
export function ownerId(value: unknown, name: string): number {
  if (typeof value !== 'number') throw argTypeError(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < -1 || value > 0xffffffff) throw outOfRange(name, '>= -1 && <= 4294967295', value);
  return value === 0xffffffff ? -1 : value;
}

/** Node's AbortError where opts' signal is aborted (readFile, writeFile and appendFile check it before they start). */
export function checkAborted(opts: unknown): void {
  const signal = typeof opts === 'object' && opts !== null ? (opts as { signal?: AbortSignal }).signal : undefined;
  if (signal?.aborted === true) {
    throw Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
  }
}
