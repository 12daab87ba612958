/*
 * md: a block device in memory, for unit tests of one layer.
 * Optionally holds each transfer until release() is called (deterministic
 * race tests: "a device that holds I/O until told").
 */

import { EIO, EROFS } from '../kern/errno.js';
import { type BlockDevice, newDeviceStats } from './device.js';

interface Held {
  run: () => void;
}

export class MemDisk implements BlockDevice {
  readonly stats = newDeviceStats();
  readonly name: string;
  readonly readOnly: boolean;
  /** While true, transfers wait in `held` until release(). */
  hold = false;
  private readonly held: Held[] = [];
  private waiter: (() => void) | null = null;

  constructor(readonly data: Uint8Array, opts: { name?: string; readOnly?: boolean } = {}) {
    this.name = opts.name ?? 'md0';
    this.readOnly = opts.readOnly ?? false;
  }

  get size(): number {
    return this.data.length;
  }

  /** Transfers currently held. */
  get pending(): number {
    return this.held.length;
  }

  /** Completes the `n` oldest held transfers (all when omitted). */
  release(n = this.held.length): void {
    for (const h of this.held.splice(0, n)) h.run();
  }

  /** Resolves once at least `n` transfers are held. */
  async waitPending(n = 1): Promise<void> {
    while (this.held.length < n) await new Promise<void>((r) => (this.waiter = r));
  }

  readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    return this.transfer(() => {
      let off = offset;
      for (const b of bufs) {
        if (off + b.length > this.data.length) return EIO;
        b.set(this.data.subarray(off, off + b.length));
        off += b.length;
      }
      this.stats.reads++;
      this.stats.bytesRead += off - offset;
      return 0;
    });
  }

  writev(bufs: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.readOnly) return Promise.resolve(EROFS);
    return this.transfer(() => {
      let off = offset;
      for (const b of bufs) {
        if (off + b.length > this.data.length) return EIO;
        this.data.set(b, off);
        off += b.length;
      }
      this.stats.writes++;
      this.stats.bytesWritten += off - offset;
      return 0;
    });
  }

  flush(): Promise<number> {
    return Promise.resolve(0);
  }

  close(): Promise<number> {
    return Promise.resolve(0);
  }

  private transfer(op: () => number): Promise<number> {
    if (!this.hold) return Promise.resolve(op());
    return new Promise<number>((resolve) => {
      this.held.push({ run: () => resolve(op()) });
      const w = this.waiter;
      this.waiter = null;
      w?.();
    });
  }
}
