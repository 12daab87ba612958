/*
 * uio: a transfer described as a list of buffers (iovecs) and a file offset,
 * consumed as data moves (uio_resid falls, uio_offset rises).
 *   uiomove(frame, off, n, uio) copies n bytes between a page frame and the
 *   next bytes of the uio, in the direction uio.rw says.
 * UIO_NOCOPY (putpages): the data already sits in the object's pages; the
 * file system writes from the frames and uiomove only advances the uio.
 * UIO_SOURCE (a write with no buffer): the bytes come from `source`, which
 * fills the object's page frames itself (File.writeFrom); a source that
 * ends early leaves the rest of resid unmoved.
 */

export const UIO_READ = 0;
export const UIO_WRITE = 1;

export const UIO_SYSSPACE = 0;
export const UIO_NOCOPY = 1;
export const UIO_SOURCE = 2;

/**
 * Fills the views in order with the next bytes and returns how many it put
 * there (fewer than asked: its input ended after them), touching nothing
 * past them: the views are the pages' own frames. Throwing ends the
 * transfer; the error is kept in uio.sourceError.
 */
export type FrameSource = (frames: readonly Uint8Array[]) => number | Promise<number>;

export class Uio {
  /** Index of the current iovec and the offset inside it. */
  private iovIndex = 0;
  private iovOff = 0;
  resid: number;
  /** UIO_SOURCE: where the bytes come from. */
  source: FrameSource | null = null;
  /** UIO_SOURCE: what the source threw, if it did. */
  sourceError: unknown = null;

  constructor(
    readonly iov: readonly Uint8Array[],
    public offset: number,
    readonly rw: number,
    readonly segflg: number = UIO_SYSSPACE,
    resid?: number,
  ) {
    let n = 0;
    for (const v of iov) n += v.length;
    this.resid = resid ?? n;
  }

  /** A uio over one buffer: the common case. */
  static of(buf: Uint8Array, offset: number, rw: number): Uio {
    return new Uio([buf], offset, rw);
  }

  /** Bytes moved so far, given the starting resid. */
  done(startResid: number): number {
    return startResid - this.resid;
  }

  /**
   * Bytes a read can take into its current buffer in one copy: 0 for a
   * write, a UIO_NOCOPY transfer, or at the end of a buffer.
   */
  contiguousRoom(): number {
    const v = this.iov[this.iovIndex];
    if (this.rw !== UIO_READ || this.segflg !== UIO_SYSSPACE || v === undefined) return 0;
    return Math.min(v.length - this.iovOff, this.resid);
  }

  /** Copies src[start, start + n) into the current buffer of a read. => n <= contiguousRoom() */
  moveFrom(src: Uint8Array, start: number, n: number): void {
    this.iov[this.iovIndex].set(start === 0 && n === src.length ? src : src.subarray(start, start + n), this.iovOff);
    this.iovOff += n;
    this.resid -= n;
    this.offset += n;
  }

  /**
   * Moves up to n bytes between frame[off..] and the uio; returns the number moved.
   * => n >= 0; frame.length >= off + n
   */
  move(frame: Uint8Array, off: number, n: number): number {
    let left = Math.min(n, this.resid);
    const moved = left;
    if (this.segflg === UIO_NOCOPY) {
      this.advance(left);
      return moved;
    }
    while (left > 0) {
      const v = this.iov[this.iovIndex];
      const cnt = Math.min(left, v.length - this.iovOff);
      if (cnt === 0) {
        this.iovIndex++;
        this.iovOff = 0;
        continue;
      }
      if (this.rw === UIO_READ) {
        copy(frame, off, v, this.iovOff, cnt);
      } else {
        copy(v, this.iovOff, frame, off, cnt);
      }
      off += cnt;
      left -= cnt;
      this.iovOff += cnt;
      this.resid -= cnt;
      this.offset += cnt;
    }
    return moved;
  }

  /**
   * Skips n bytes, filling them with zeros on a read (a hole). The loop repeats
   * move()'s on purpose: a shared walker would take a closure, and move() is
   * the page-cache hit path, which must not allocate.
   */
  zero(n: number): number {
    let left = Math.min(n, this.resid);
    const moved = left;
    while (left > 0) {
      const v = this.iov[this.iovIndex];
      const cnt = Math.min(left, v.length - this.iovOff);
      if (cnt === 0) {
        this.iovIndex++;
        this.iovOff = 0;
        continue;
      }
      if (this.rw === UIO_READ && this.segflg !== UIO_NOCOPY) v.fill(0, this.iovOff, this.iovOff + cnt);
      left -= cnt;
      this.iovOff += cnt;
      this.resid -= cnt;
      this.offset += cnt;
    }
    return moved;
  }

  /** Counts n bytes as moved without copying (UIO_SOURCE: the source put them in place). */
  advance(n: number): void {
    this.resid -= n;
    this.offset += n;
  }
}

/**
 * Copies cnt bytes from src[so..] to dst[dof..]. A whole-array source needs
 * no view; otherwise one view is made (TypedArray.set takes no range).
 */
export function copy(src: Uint8Array, so: number, dst: Uint8Array, dof: number, cnt: number): void {
  if (so === 0 && cnt === src.length) dst.set(src, dof);
  else if (cnt <= 32) for (let i = 0; i < cnt; i++) dst[dof + i] = src[so + i];
  else dst.set(src.subarray(so, so + cnt), dof);
}
