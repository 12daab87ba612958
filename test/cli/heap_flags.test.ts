/*
 * The command line's small-heap flags (src/cli/heap_flags.ts) hold after a
 * worker thread starts: the start of a worker sets V8's flags back to the
 * command line's, and host_ops' worker (vmpager get) sets them again once
 * it is up. Judged by V8's own heap statistics: under a churn of
 * short-lived objects with survivors, the young generation stays at its
 * first size instead of growing to 16 MiB semi-spaces.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { keepHeapSmall } from '../../src/cli/heap_flags.js';
import { HostOps } from '../../src/cli/host_ops.js';

/** Allocates as a walk does (many short-lived objects, some kept a while); the new space's size after it. */
function churn(): number {
  const keep: object[] = [];
  for (let i = 0; i < 2e6; i++) {
    const o = { a: i, b: [i, i + 1] };
    if (i % 10 === 0) keep.push(o);
    if (keep.length > 20000) keep.splice(0, 10000);
  }
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
}

const MiB = 2 ** 20;

// host_ops' test first: a young generation once grown stays grown for the rest of the process.
test('with host_ops\' worker up, the young generation stays at its first size', async () => {
  keepHeapSmall();
  const ops = HostOps.start(true);
  await new Promise((r) => setTimeout(r, 200)); // the worker is online and has set the flags again
  const size = churn();
  await ops.finish();
  await ops.stop();
  assert.ok(size <= 4 * MiB, `new space ${size} bytes`);
});

test('a bare worker thread undoes the flags (the reason for the rule): the young generation grows', async () => {
  keepHeapSmall();
  const w = new Worker('setTimeout(() => {}, 60_000)', { eval: true });
  await new Promise((r) => w.once('online', r));
  await new Promise((r) => setTimeout(r, 50));
  const size = churn();
  await w.terminate();
  assert.ok(size > 8 * MiB, `new space ${size} bytes`);
});
