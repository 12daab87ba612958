/*
 * Buffer lists for vectored system calls (readv, writev) that may move
 * fewer bytes than asked: what is left after the first n bytes.
 */

/** The views of iov past its first n bytes (no copy). */
export function iovAfter(iov: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of iov) {
    if (n >= v.length) n -= v.length;
    else {
      out.push(n === 0 ? v : v.subarray(n));
      n = 0;
    }
  }
  return out;
}
