/*
 * A set of non-negative integers kept as sorted, disjoint, non-adjacent
 * runs [start, end): what a file system holds per block (say, blocks
 * allocated but not yet written) costs one run per extent instead of one
 * entry per block, adding at the end of the last run is O(1), and a lookup
 * is a binary search.
 *   const s = new RangeSet(); s.addRange(10, 20); s.has(15)   // true
 */

export class RangeSet {
  /** Run i is [starts[i], ends[i]); starts ascending, ends[i] < starts[i + 1]. */
  private starts: number[] = [];
  private ends: number[] = [];
  /** Integers in the set. */
  size = 0;

  /** The index of the last run starting at or before x, or -1. */
  private find(x: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    if (hi < 0 || s[hi] <= x) return hi; // the common case: at or after the last run
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= x) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  has(x: number): boolean {
    const i = this.find(x);
    return i >= 0 && x < this.ends[i];
  }

  add(x: number): void {
    this.addRange(x, x + 1);
  }

  /** Adds every integer of [lo, hi). */
  addRange(lo: number, hi: number): void {
    if (hi <= lo) return;
    // Runs that overlap or touch [lo, hi) merge into one.
    let i = this.find(lo);
    if (i >= 0 && this.ends[i] < lo) i++; // run i lies wholly before, not touching
    else if (i < 0) i = 0;
    let j = i;
    let start = lo;
    let end = hi;
    let covered = 0;
    while (j < this.starts.length && this.starts[j] <= hi) {
      start = Math.min(start, this.starts[j]);
      end = Math.max(end, this.ends[j]);
      covered += this.ends[j] - this.starts[j];
      j++;
    }
    this.size += end - start - covered;
    if (j === i) {
      this.starts.splice(i, 0, start);
      this.ends.splice(i, 0, end);
    } else {
      this.starts[i] = start;
      this.ends[i] = end;
      if (j > i + 1) {
        this.starts.splice(i + 1, j - i - 1);
        this.ends.splice(i + 1, j - i - 1);
      }
    }
  }

  delete(x: number): void {
    this.deleteRange(x, x + 1);
  }

  /** Removes every integer of [lo, hi). */
  deleteRange(lo: number, hi: number): void {
    if (hi <= lo || this.starts.length === 0) return;
    let i = this.find(lo);
    if (i < 0) i = 0;
    else if (this.ends[i] <= lo) i++;
    while (i < this.starts.length && this.starts[i] < hi) {
      const s = this.starts[i];
      const e = this.ends[i];
      const cutLo = Math.max(s, lo);
      const cutHi = Math.min(e, hi);
      this.size -= cutHi - cutLo;
      if (s < cutLo && cutHi < e) {
        // The cut is inside the run: it splits in two.
        this.ends[i] = cutLo;
        this.starts.splice(i + 1, 0, cutHi);
        this.ends.splice(i + 1, 0, e);
        return;
      }
      if (s < cutLo) {
        this.ends[i] = cutLo;
        i++;
      } else if (cutHi < e) {
        this.starts[i] = cutHi;
        return;
      } else {
        this.starts.splice(i, 1);
        this.ends.splice(i, 1);
      }
    }
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
    this.size = 0;
  }

  /** The least member >= x, or -1. */
  nextFrom(x: number): number {
    const i = this.find(x);
    if (i >= 0 && x < this.ends[i]) return x;
    return i + 1 < this.starts.length ? this.starts[i + 1] : -1;
  }

  /** The greatest member <= x, or -1. */
  prevFrom(x: number): number {
    const i = this.find(x);
    if (i < 0) return -1;
    return Math.min(x, this.ends[i] - 1);
  }

  /** The runs, ascending, as [start, end) pairs. */
  *runs(): Generator<[number, number]> {
    for (let i = 0; i < this.starts.length; i++) yield [this.starts[i], this.ends[i]];
  }

  /** The members, ascending. */
  *[Symbol.iterator](): Generator<number> {
    for (let i = 0; i < this.starts.length; i++) for (let x = this.starts[i]; x < this.ends[i]; x++) yield x;
  }
}
