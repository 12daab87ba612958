/*
 * The host queue of vmpager get (host_ops.ts) while its workers come up:
 * batches sent to a worker that is not up yet are carried out by the
 * reader itself, in order, instead of waiting for room; the worker takes
 * the lane over once up, counting on from what the reader did, and with
 * the file the reader had open (closed by the worker without a warning from
 * Node). Workers are held at start and released by the test. A worker
 * reads the image's bytes itself where told (get's lane reads): zeros
 * become holes, a file ending in one gets its size; a read that fails
 * names the image.
 */

import { after, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostOps, LANE_BYTES, SET_SIZE_IF_SHORT } from '../../src/cli/host_ops.js';
import { randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** Warnings the process emits meanwhile. */
function warnings(): { list: string[]; done: () => void } {
  const list: string[] = [];
  const on = (w: Error) => void list.push(w.message);
  process.on('warning', on);
  return { list, done: () => process.off('warning', on) };
}

async function file(ops: HostOps, lane: number, path: string, bytes: Uint8Array): Promise<void> {
  await ops.open(lane, path, 0o644);
  await ops.write(lane, 0, bytes);
  await ops.close(lane, bytes.length, 0, 0, 0, 0o644, 1_600_000_000, 1_600_000_000);
}

test('batches sent before the worker is up are carried out by the reader, in order; the worker goes on from there', async () => {
  const dir = join(tmp.dir, 'order');
  const w = warnings();
  const ops = HostOps.start(true, { held: true });
  try {
    const lane = ops.pick();
    await ops.mkdir(lane, dir);
    // Files of 100 KiB, half as many again as the lane's batches hold.
    const first = Math.ceil((1.5 * LANE_BYTES) / (100 << 10));
    for (let i = 0; i < first; i++) await file(ops, lane, join(dir, `a${i}`), randomBytes(100 << 10, i + 1));
    const here = ops.carriedHere;
    assert.ok(here >= 1, `the reader carried out ${here} batches`);
    ops.release();
    await new Promise((r) => setTimeout(r, 100)); // the worker is up
    for (let i = 0; i < 40; i++) await file(ops, lane, join(dir, `b${i}`), randomBytes(100 << 10, i + 100));
    await ops.finish();
    assert.ok(ops.carriedHere <= here + 1, `the worker took over: ${ops.carriedHere} batches carried out here in all`);
  } finally {
    await ops.stop();
    w.done();
  }
  const first = Math.ceil((1.5 * LANE_BYTES) / (100 << 10));
  assert.equal(readdirSync(dir).length, first + 40);
  for (let i = 0; i < first; i++) {
    assert.ok(readFileSync(join(dir, `a${i}`)).equals(randomBytes(100 << 10, i + 1)), `a${i}`);
    if (i < 40) assert.ok(readFileSync(join(dir, `b${i}`)).equals(randomBytes(100 << 10, i + 100)), `b${i}`);
  }
  assert.deepEqual(w.list, []);
});

test('a worker up while the reader has a file of its lane open takes it over: written on and closed there, no warning, the file whole', () => {
  // In a process of its own: a worker's warnings go to the process's stderr, not to this one's 'warning' event.
  const dir = join(tmp.dir, 'open');
  const script = `
    import { HostOps } from ${JSON.stringify(new URL('../../src/cli/host_ops.js', import.meta.url).href)};
    import { join } from 'node:path';
    const dir = ${JSON.stringify(dir)};
    const big = new Uint8Array(${2 * LANE_BYTES}).map((_, i) => (i * 7) >>> 3);
    const past = ${1.5 * LANE_BYTES};
    const ops = HostOps.start(true, { held: true });
    const lane = ops.pick();
    await ops.mkdir(lane, dir);
    await ops.open(lane, join(dir, 'big'), 0o644);
    await ops.write(lane, 0, big.subarray(0, past)); // past the lane's room: the reader writes the first batches itself
    const here = ops.carriedHere;
    ops.release();
    await new Promise((r) => setTimeout(r, 100)); // the worker is up; the file is still open in the reader
    await ops.write(lane, past, big.subarray(past));
    await ops.close(lane, big.length, 0, 0, 0, 0o644, 1600000000, 1600000000);
    for (let i = 0; i < 20; i++) {
      await ops.open(lane, join(dir, 'after' + i), 0o644);
      await ops.write(lane, 0, big.subarray(i << 18, (i + 1) << 18));
      await ops.close(lane, 1 << 18, 0, 0, 0, 0o644, 1600000000, 1600000000);
    }
    await ops.finish();
    await ops.stop();
    process.stdout.write(JSON.stringify({ here, all: ops.carriedHere }));
  `;
  const file = join(tmp.dir, 'open.mjs');
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  assert.equal(r.stderr, '', 'no warning');
  assert.equal(r.status, 0);
  const { here, all } = JSON.parse(r.stdout) as { here: number; all: number };
  assert.ok(here >= 1, `the reader carried out ${here} batches`);
  assert.ok(all <= here + 1, `the worker took over: ${all} batches carried out here in all`);
  const big = new Uint8Array(2 * LANE_BYTES).map((_, i) => (i * 7) >>> 3);
  assert.ok(readFileSync(join(dir, 'big')).equals(big));
  for (let i = 0; i < 20; i++) assert.ok(readFileSync(join(dir, `after${i}`)).equals(big.subarray(i << 18, (i + 1) << 18)), `after${i}`);
});

test('a link waiting for its first name on the other lane, both workers held: carried out in the order sent, no wait forever', async () => {
  const dir = join(tmp.dir, 'link');
  const ops = HostOps.start(true, { held: true });
  try {
    const a = ops.pick();
    await ops.mkdir(a, dir);
    for (let i = 0; i < 12; i++) await file(ops, a, join(dir, `pad${i}`), randomBytes(100 << 10, i + 1));
    const b = ops.pick() === a ? ops.pick() : ops.pick(); // the second lane, started once the first has sent a batch
    assert.notEqual(a, b);
    await file(ops, a, join(dir, 'first'), randomBytes(1000, 5));
    const made = ops.mark(a);
    await ops.link(b, join(dir, 'first'), join(dir, 'second'), made);
    for (let i = 0; i < 12; i++) await file(ops, b, join(dir, `more${i}`), randomBytes(100 << 10, i + 50));
    await ops.finish();
    assert.ok(ops.carriedHere >= 1);
  } finally {
    ops.release();
    await ops.stop();
  }
  assert.ok(readFileSync(join(dir, 'second')).equals(randomBytes(1000, 5)));
});

test('bytes a worker reads from a host file itself are written with their 4 KiB runs of zeros left as holes, the size set where the file ends in one', async () => {
  const dir = join(tmp.dir, 'read');
  mkdirSync(dir);
  // The "image": data, 8 KiB of zeros, data, then 12 KiB of zeros at the end.
  const image = new Uint8Array(40 << 10);
  image.set(randomBytes(10 << 10, 1), 0);
  image.set(randomBytes(6 << 10, 2), 20 << 10);
  writeFileSync(join(dir, 'image'), image);
  const fd = openSync(join(dir, 'image'), 'r');
  const ops = HostOps.start(true);
  try {
    const lane = ops.pick();
    await ops.open(lane, join(dir, 'out'), 0o644);
    const into = (await ops.reserve(lane, image.length, 100))!;
    assert.equal(ops.read(lane, fd, 0, into, 'image'), true);
    await ops.sparse(lane, 0, into.subarray(0, 24 << 10)); // two pieces, as readDirect hands them
    await ops.sparse(lane, 24 << 10, into.subarray(24 << 10));
    await ops.close(lane, image.length, SET_SIZE_IF_SHORT, 0, 0, 0o644, 1_600_000_000, 1_600_000_000);
    assert.equal(ops.read(lane, fd, 0, new Uint8Array(10), 'image'), false, 'bytes outside the batch: the caller reads them');
    await ops.finish();
  } finally {
    await ops.stop();
    closeSync(fd);
  }
  const out = join(dir, 'out');
  assert.ok(readFileSync(out).equals(image));
  // (4 KiB pieces: 10 KiB of data take three blocks, the 6 KiB two; the zeros none)
  assert.equal(statSync(out).blocks * 512, 5 * 4096);
});

test('a read of the host file that fails stops the lane with one failure naming the image', async () => {
  const dir = join(tmp.dir, 'read-fail');
  mkdirSync(dir);
  writeFileSync(join(dir, 'image'), randomBytes(8192, 3));
  const fd = openSync(join(dir, 'image'), 'r');
  const ops = HostOps.start(true);
  try {
    const lane = ops.pick();
    await ops.open(lane, join(dir, 'out'), 0o644);
    const into = (await ops.reserve(lane, 16384, 100))!;
    assert.equal(ops.read(lane, fd, 0, into, 'disk.img'), true); // 16 KiB of a file of 8: it ends before
    await ops.sparse(lane, 0, into);
    await ops.close(lane, 16384, SET_SIZE_IF_SHORT, 0, 0, 0o644, 1_600_000_000, 1_600_000_000);
    await assert.rejects(ops.finish(), (e: NodeJS.ErrnoException) => e.code === 'EIO' && e.syscall === 'read' && (e as { path?: string }).path === 'disk.img');
  } finally {
    await ops.stop();
    closeSync(fd);
  }
});
