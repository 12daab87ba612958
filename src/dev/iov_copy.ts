/*
 * Filling an iovec list from bytes that arrive in pieces (a fetch body's
 * chunks, a Blob slice): the browser devices' one copy into the frames.
 *   const w = new IovFiller(bufs); w.put(chunk) ...; w.filled === byteLength(bufs)
 */

export class IovFiller {
  /** Bytes put so far. */
  filled = 0;
  private i = 0;
  private off = 0;

  constructor(private readonly iov: readonly Uint8Array[]) {}

  /** Copies as much of `src` as still fits; returns how many bytes it took (less than src.length: the list is full). */
  put(src: Uint8Array): number {
    let taken = 0;
    while (taken < src.length && this.i < this.iov.length) {
      const dst = this.iov[this.i];
      const k = Math.min(dst.length - this.off, src.length - taken);
      dst.set(k === src.length && taken === 0 ? src : src.subarray(taken, taken + k), this.off);
      taken += k;
      this.off += k;
      if (this.off === dst.length) {
        this.i++;
        this.off = 0;
      }
    }
    this.filled += taken;
    return taken;
  }
}
