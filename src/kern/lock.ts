/*
 * lockmgr: a sleep lock with shared and exclusive holders, granted in
 * arrival order so that a waiting writer is not starved by new readers.
 *   await lk.lock(LK_EXCLUSIVE) ... lk.unlock()
 *   const g = lk.exclusiveGrants; <read without it>; lk.exclusiveGrants === g   // no writer meanwhile
 * A holder must not lock it again (no recursion): that would sleep forever.
 */

import { panic } from './panic.js';

export const LK_SHARED = 1;
export const LK_EXCLUSIVE = 2;

interface Waiter {
  mode: number;
  grant: () => void;
}

export class Lock {
  /** >0: that many shared holders; -1: one exclusive holder; 0: free. */
  private holders = 0;
  private readonly waiters: Waiter[] = [];
  /** Tasks waiting for the lock to be free, without taking it (whenUnlocked). */
  private idleWaiters: Array<() => void> | null = null;
  /**
   * Exclusive grants so far: a reader that went without the lock, found it
   * not held exclusively as it began and this count the same as it ended,
   * read while no writer ran.
   */
  exclusiveGrants = 0;

  constructor(readonly name: string) {}

  get locked(): boolean {
    return this.holders !== 0;
  }

  get exclusive(): boolean {
    return this.holders === -1;
  }

  /** Takes the lock in `mode`; sleeps while it conflicts. */
  lock(mode: number = LK_EXCLUSIVE): Promise<void> {
    if (this.waiters.length === 0 && this.grantable(mode)) {
      this.take(mode);
      return Promise.resolve();
    }
    return new Promise<void>((grant) => this.waiters.push({ mode, grant }));
  }

  /** Takes the lock only if that needs no sleep. */
  tryLock(mode: number = LK_EXCLUSIVE): boolean {
    if (this.waiters.length !== 0 || !this.grantable(mode)) return false;
    this.take(mode);
    return true;
  }

  unlock(): void {
    if (this.holders === 0) panic(`lockmgr: ${this.name}: unlock of an unlocked lock`);
    if (this.holders === -1) this.holders = 0;
    else this.holders--;
    while (this.waiters.length > 0 && this.grantable(this.waiters[0].mode)) {
      const w = this.waiters.shift()!;
      this.take(w.mode);
      w.grant();
    }
    if (this.holders === 0 && this.idleWaiters !== null) {
      const q = this.idleWaiters;
      this.idleWaiters = null;
      for (const resolve of q) resolve();
    }
  }

  /**
   * Resolves once nobody holds the lock, without taking it: for a task that
   * wants something the holder is in the way of and will try again then.
   */
  whenUnlocked(): Promise<void> {
    if (this.holders === 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  private grantable(mode: number): boolean {
    return mode === LK_SHARED ? this.holders >= 0 : this.holders === 0;
  }

  private take(mode: number): void {
    if (mode === LK_SHARED) this.holders++;
    else {
      this.holders = -1;
      this.exclusiveGrants++;
    }
  }
}
