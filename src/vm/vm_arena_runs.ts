/*
 * The bytes of one transfer as runs of the frame arenas: pieces added in
 * order that meet in memory (neighbouring pages in neighbouring frames)
 * become one view, so a cluster read into, written from or handed out of
 * ascending frames is one buffer instead of one per page. Used by the
 * pager's reads, sendfile and the fill of a write.
 *   const r = new ArenaRuns(); r.add(m.phys * P + off, n); ...; r.views(sys, iov)
 */

import type { VmSystem } from './vm.js';

export class ArenaRuns {
  /** Pairs of (byte offset in the frames as if they were one arena: phys * pageSize + offset, byte count). */
  private readonly runs: number[] = [];
  /** Bytes added since the last views(). */
  bytes = 0;

  /** Adds arena bytes [at, at + n), joining the previous run when they meet. */
  add(at: number, n: number): void {
    const r = this.runs;
    const k = r.length;
    if (k > 0 && r[k - 2] + r[k - 1] === at) r[k - 1] += n;
    else r.push(at, n);
    this.bytes += n;
  }

  /**
   * Appends the runs to `out` as views of sys's arenas (a run that is
   * exactly one frame is that page's own view: nothing new is made; one
   * that crosses from one arena into the next is two views), then starts
   * over empty. Returns `out`.
   */
  views(sys: VmSystem, out: Uint8Array[]): Uint8Array[] {
    const P = sys.param.pageSize;
    const A = sys.arenaFrames * P;
    const r = this.runs;
    for (let i = 0; i < r.length; i += 2) {
      let at = r[i];
      let n = r[i + 1];
      while (n > 0) {
        const a = Math.floor(at / A);
        const off = at - a * A;
        const take = Math.min(n, A - off);
        out.push(take === P && off % P === 0 ? sys.pages[at / P].frame : sys.arenas[a].subarray(off, off + take));
        at += take;
        n -= take;
      }
    }
    r.length = 0;
    this.bytes = 0;
    return out;
  }
}
