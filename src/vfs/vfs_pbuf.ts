/*
 * The pbuf pool: a fixed number of buffer headers for pager I/O. It bounds
 * how many pager transfers are in flight at once; a pager that finds the
 * pool empty sleeps until one is returned (cf. getpbuf/relpbuf).
 */

import { tsleep, wakeup } from '../kern/sleep.js';
import { Buf } from './buf.js';

export class PbufPool {
  private readonly free: Buf[] = [];
  /** Times a caller had to sleep for a pbuf. */
  waits = 0;

  constructor(readonly count: number) {
    for (let i = 0; i < count; i++) this.free.push(new Buf());
  }

  get available(): number {
    return this.free.length;
  }

  async getpbuf(): Promise<Buf> {
    while (this.free.length === 0) {
      this.waits++;
      await tsleep(this, 'pfault');
    }
    const bp = this.free.pop()!;
    bp.flags = 0;
    bp.error = 0;
    bp.resid = 0;
    bp.blkno = 0;
    bp.bcount = 0;
    return bp;
  }

  relpbuf(bp: Buf): void {
    bp.iov = [];
    this.free.push(bp);
    wakeup(this);
  }
}
