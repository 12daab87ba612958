/*
 * ioBuffer(bytes): a zeroed buffer for a program's bulk reads and copies,
 * placed in memory as the Vm's frames are (see kern/kmem.ts): the host
 * copies into it from its page cache up to three times faster than into a
 * Buffer.allocUnsafe of the same size, and copies between it and the frames
 * run at full speed.
 *   ioBuffer(bytes, { shared: true })   // over a SharedArrayBuffer, for worker threads
 * Each call takes a region of address space of its own (kmem.ts): one
 * buffer sliced is cheaper than many.
 */

import { kmemAlloc } from '../kern/kmem.js';

export function ioBuffer(bytes: number, opts: { shared?: boolean } = {}): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`ioBuffer: ${bytes} is not a byte count`);
  return kmemAlloc(bytes, opts.shared === true);
}
