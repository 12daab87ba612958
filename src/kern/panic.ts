/*
 * panic: an invariant of the kernel is broken. Nothing catches it on purpose;
 * a panic is a bug in vmpager, never a reaction to bad input.
 */

export class Panic extends Error {
  override name = 'Panic';
}

export function panic(message: string): never {
  throw new Panic(`panic: ${message}`);
}

/** KASSERT: panics with `message` unless `cond` holds. */
export function KASSERT(cond: unknown, message: string): asserts cond {
  if (!cond) panic(message);
}
