/*
 * Truncate racing page-in (PITFALLS 1). A held device read keeps truncate
 * from finishing until it completes; and while a truncator churns the size
 * between 0 and 4 MiB (rewriting the pattern as it grows), readers fault
 * every page and never see a byte that was not written at its offset: each
 * byte they read is the pattern's, or zero. Deterministic: the memory disk
 * completes each transfer as a microtask, or holds it until released.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemDisk, Vm, type File, type MountedFs } from '../../src/api/index.js';
import { mkext2, tempDir } from '../helpers/images.js';

const MAX = 4 << 20;
const pat = (o: number) => ((o * 31 + (o >>> 12)) % 255) + 1;

function pattern(start: number, end: number): Uint8Array {
  const b = new Uint8Array(end - start);
  for (let i = 0; i < b.length; i++) b[i] = pat(start + i);
  return b;
}

async function setup(memory: number): Promise<{ vm: Vm; disk: MemDisk; fs: MountedFs; f: File; close: () => Promise<void> }> {
  const tmp = tempDir();
  const image = join(tmp.dir, 'r.img');
  mkext2(image, [{ path: 'f', data: pattern(0, MAX) }], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
  const disk = new MemDisk(new Uint8Array(readFileSync(image)));
  tmp.cleanup();
  const vm = new Vm({ memory });
  const fs = await vm.mount(disk, { readOnly: false });
  const f = await fs.open('/f');
  return { vm, disk, fs, f, close: async () => (await f.close(), await fs.unmount()) };
}

function checkBytes(got: Uint8Array, off: number, what: string): void {
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== 0 && got[i] !== pat(off + i)) assert.fail(`${what}: byte ${off + i} is ${got[i]}, neither ${pat(off + i)} nor 0`);
  }
}

test('a truncate waits for the page-in in flight; the reader gets the data or EOF, never stale bytes', async () => {
  const { disk, f, close } = await setup(1 << 20);
  disk.hold = true;
  const reading = f.read(2 << 20, 8192);
  await disk.waitPending(1);
  let truncated = false;
  const truncating = f.truncate(0).then(() => (truncated = true));
  for (let i = 0; i < 50; i++) await Promise.resolve();
  assert.equal(truncated, false, 'truncate waits for paging in progress');
  disk.hold = false;
  disk.release();
  const got = await reading;
  assert.ok(got.length === 0 || got.length === 8192);
  checkBytes(got, 2 << 20, 'held read');
  await truncating;
  assert.equal(f.size, 0);
  await f.truncate(1 << 20);
  const grown = await f.read(0, 1 << 20);
  assert.ok(grown.every((b) => b === 0), 'the grown file reads zeros, not the old pages');
  await close();
});

test('readers faulting every page while the size churns between 0 and 4 MiB see only written bytes', async () => {
  const { vm, f, close } = await setup(256 << 10); // 64 pages: every read faults
  let x = 12345;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n;
  let size = MAX;
  let step = 0; // the truncator's change in progress
  let churning = true;
  const truncator = async () => {
    for (; step < 60; step++) {
      const next = rnd(MAX + 1);
      if (next < size || rnd(2) === 0) {
        await f.truncate(next);
      } else {
        await f.write(size, pattern(size, next));
      }
      size = next;
    }
    churning = false;
  };
  // Readers go on while the size churns (and for 150 reads at least), so
  // that they read across every change however the tasks interleave.
  const stepsRead = new Set<number>();
  const reader = async (id: number) => {
    let y = id * 7919;
    for (let i = 0; i < 150 || churning; i++) {
      y = (y * 1103515245 + 12345) >>> 0;
      const off = ((y >>> 4) % (MAX / 4096)) * 4096;
      const during = step;
      const got = await f.read(off, 4096 + (y % 3000));
      checkBytes(got, off, `reader ${id}`);
      if (got.length > 0 && churning) stepsRead.add(during);
    }
  };
  await Promise.all([truncator(), reader(1), reader(2), reader(3)]);
  assert.ok(stepsRead.size >= 30, `bytes were read during ${stepsRead.size} of the 60 changes: the readers ran throughout`);
  assert.ok(vm.stats().faults > 100, `${vm.stats().faults} faults: the readers faulted throughout`);
  await close();
});

test('unmount during I/O waits for it; MS_ASYNC msync writes back without waiting', async () => {
  const { disk, fs, f } = await setup(1 << 20);
  const m = await f.mmap({ writable: true });
  await m.write(4096, new Uint8Array(100).fill(9));
  await m.sync({ async: true }); // returns at once
  disk.hold = true;
  const reading = f.read(3 << 20, 4096);
  await disk.waitPending(1);
  let done = false;
  const unmounting = (async () => {
    await m.unmap();
    await f.close();
    await fs.unmount();
    done = true;
  })();
  for (let i = 0; i < 50; i++) await Promise.resolve();
  assert.equal(done, false, 'unmount waits for the read in flight');
  disk.hold = false;
  disk.release();
  checkBytes(await reading, 3 << 20, 'read during unmount');
  await unmounting;
  assert.ok(done);
});

test('a store short of memory while a read holds the vnode lock goes on when the read completes', async () => {
  // Every frame is dirty or busy under a held read-in that holds the vnode
  // lock shared: the store cannot launder (the lock is taken) nor reclaim
  // (the clean pages are busy). It must wait for the lock or the pages, and
  // go on once the read completes: the read frees no page by itself.
  const { vm, disk, f, close } = await setup(256 << 10); // 64 frames
  const data = new Uint8Array(52 * 4096).fill(0xab);
  await f.write(0, data);
  const free = vm.sys.freeCount;
  assert.ok(free > 0 && free <= 16, `${free} free frames: one random fault's cluster takes them all`);
  disk.hold = true;
  const reading = f.read(3 << 20, 100); // a random fault: an aligned cluster of up to 16 pages
  await disk.waitPending(1);
  assert.equal(vm.sys.freeCount, 0, 'the read-in took every free frame');
  const m = await f.mmap({ writable: true });
  let stored = false;
  const storing = m.write(2 << 20, new Uint8Array([7])).then(() => (stored = true));
  for (let i = 0; i < 50; i++) await Promise.resolve();
  assert.equal(stored, false, 'the store waits while the read holds the lock');
  disk.hold = false;
  disk.release();
  checkBytes(await reading, 3 << 20, 'held read');
  await storing;
  assert.deepEqual([...(await m.read(2 << 20, 1))], [7]);
  await m.unmap();
  assert.ok(Buffer.from(await f.read(0, data.length)).equals(Buffer.from(data)), 'the dirty pages were laundered intact');
  await close();
});
