/*
 * lockmgr: shared holders together, an exclusive one alone, granted in
 * arrival order (a waiting writer is not starved by new readers); tryLock
 * never sleeps; whenUnlocked waits without taking; unlocking a free lock
 * is a panic.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LK_EXCLUSIVE, LK_SHARED, Lock } from '../../src/kern/lock.js';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

test('shared holders hold together; an exclusive request waits for all of them', async () => {
  const lk = new Lock('t');
  await lk.lock(LK_SHARED);
  await lk.lock(LK_SHARED);
  let got = false;
  const w = lk.lock(LK_EXCLUSIVE).then(() => (got = true));
  await settle();
  assert.equal(got, false);
  lk.unlock();
  await settle();
  assert.equal(got, false, 'one reader still holds it');
  lk.unlock();
  await w;
  assert.ok(lk.exclusive);
  lk.unlock();
  assert.equal(lk.locked, false);
});

test('a waiting writer goes before readers that come after it', async () => {
  const lk = new Lock('t');
  await lk.lock(LK_SHARED);
  const order: string[] = [];
  const w = lk.lock(LK_EXCLUSIVE).then(() => order.push('writer'));
  const r = lk.lock(LK_SHARED).then(() => order.push('reader'));
  assert.equal(lk.tryLock(LK_SHARED), false, 'tryLock does not jump the queue');
  lk.unlock();
  await w;
  assert.deepEqual(order, ['writer']);
  lk.unlock();
  await r;
  assert.deepEqual(order, ['writer', 'reader']);
  lk.unlock();
});

test('tryLock takes a free lock at once and refuses a held one', () => {
  const lk = new Lock('t');
  assert.equal(lk.tryLock(LK_EXCLUSIVE), true);
  assert.equal(lk.tryLock(LK_SHARED), false);
  lk.unlock();
  assert.equal(lk.tryLock(LK_SHARED), true);
  assert.equal(lk.tryLock(LK_SHARED), true);
  assert.equal(lk.tryLock(LK_EXCLUSIVE), false);
  lk.unlock();
  lk.unlock();
});

test('whenUnlocked resolves once nobody holds the lock, without taking it', async () => {
  const lk = new Lock('t');
  await lk.lock(LK_EXCLUSIVE);
  let idle = false;
  const p = lk.whenUnlocked().then(() => (idle = true));
  await settle();
  assert.equal(idle, false);
  lk.unlock();
  await p;
  assert.equal(lk.locked, false);
});

test('unlocking a lock nobody holds is a panic', () => {
  assert.throws(() => new Lock('t').unlock(), /unlock of an unlocked lock/);
});
