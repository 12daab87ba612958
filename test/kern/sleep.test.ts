/*
 * sleep/wakeup: a wakeup releases every sleeper on its channel and no other;
 * one with nobody asleep is harmless; sleeping() names each wait.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleeping, sleepersOn, tsleep, wakeup } from '../../src/kern/sleep.js';

/** Lets every task that can run, run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

test('wakeup(chan) releases every sleeper on chan, and only those', async () => {
  const a = {};
  const b = {};
  const woke: string[] = [];
  void tsleep(a, 'wa1').then(() => woke.push('a1'));
  void tsleep(a, 'wa2').then(() => woke.push('a2'));
  void tsleep(b, 'wb').then(() => woke.push('b'));
  assert.equal(sleepersOn(a), 2);
  wakeup(a);
  await settle();
  assert.deepEqual(woke, ['a1', 'a2'], 'in the order they slept');
  assert.equal(sleepersOn(a), 0);
  assert.equal(sleepersOn(b), 1);
  wakeup(b);
  await settle();
  assert.deepEqual(woke, ['a1', 'a2', 'b']);
});

test('a wakeup with nobody asleep is harmless and wakes no later sleeper', async () => {
  const c = {};
  wakeup(c);
  let woke = false;
  void tsleep(c, 'late').then(() => (woke = true));
  await settle();
  assert.equal(woke, false, 'a wakeup is not remembered');
  wakeup(c);
  await settle();
  assert.equal(woke, true);
});

test('sleeping() lists each wait in progress with its wait message', async () => {
  const d = {};
  const p = tsleep(d, 'testwait');
  assert.ok(sleeping().some(([wmesg, chan]) => wmesg === 'testwait' && chan === d));
  wakeup(d);
  await p;
  assert.ok(!sleeping().some(([wmesg]) => wmesg === 'testwait'));
});
