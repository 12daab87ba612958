/*
 * Lists of buffers for vectored transfers (struct iovec), as views: no
 * operation here copies a byte.
 *   byteLength(iov)     bytes in the list
 *   iovAfter(iov, n)    the list past its first n bytes (a short readv/writev's rest)
 *   iovSplit(iov, max)  the list cut into pieces of at most max bytes, each with its position
 */

/** Bytes in a transfer's buffers. */
export function byteLength(iov: readonly Uint8Array[]): number {
  let n = 0;
  for (const v of iov) n += v.length;
  return n;
}

/** The views of iov past its first n bytes. */
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

/** A piece of an iovec list: its byte position in the whole, its length, its views. */
export interface IovPiece {
  at: number;
  length: number;
  iov: Uint8Array[];
}

/** iov cut into pieces of at most `max` bytes, in order. => max > 0 */
export function iovSplit(iov: readonly Uint8Array[], max: number): IovPiece[] {
  const out: IovPiece[] = [];
  let cur: IovPiece = { at: 0, length: 0, iov: [] };
  let at = 0;
  for (const v of iov) {
    let off = 0;
    while (off < v.length) {
      const k = Math.min(v.length - off, max - cur.length);
      cur.iov.push(off === 0 && k === v.length ? v : v.subarray(off, off + k));
      cur.length += k;
      off += k;
      at += k;
      if (cur.length === max) {
        out.push(cur);
        cur = { at, length: 0, iov: [] };
      }
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
