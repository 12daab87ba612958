/*
 * The VM's write side over a scripted file system: writes dirty only the
 * blocks they touch; page clean hands each dirty run to VOP_WRITE once;
 * a write error keeps the pages dirty and a later clean writes them; the
 * page daemon launders dirty pages when memory runs out.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EIO } from '../../src/kern/errno.js';
import { Uio, UIO_READ, UIO_WRITE } from '../../src/vfs/uio.js';
import { VmSystem } from '../../src/vm/vm.js';
import type { VmObject } from '../../src/vm/vm_object.js';
import { objectRdwr } from '../../src/vm/vm_rdwr.js';
import { vmObjectPageClean } from '../../src/vm/vm_object_clean.js';
import { vnodePagerAlloc } from '../../src/vm/pager/vnode_pager.js';
import { vmPageBlockDirty, vmPageIsDirty } from '../../src/vm/vm_page_bits.js';
import { contiguous, makeScriptFs } from '../helpers/scriptfs.js';
import { randomBytes } from '../helpers/images.js';

const P = 4096;

async function setup(pages: number, memory = 1 << 20, bsize = P) {
  const fs = makeScriptFs({ bsize, size: pages * P, map: contiguous((pages * P) / bsize, 8), deviceBlocks: (pages * P) / bsize + 8 });
  const sys = new VmSystem({ memory, pageSize: P });
  const obj = (await vnodePagerAlloc(sys, fs.vp)).obj!;
  return { fs, sys, obj };
}

async function write(obj: VmObject, off: number, data: Uint8Array): Promise<number> {
  return objectRdwr(obj, new Uio([data], off, UIO_WRITE), 0);
}

async function read(obj: VmObject, off: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  assert.equal(await objectRdwr(obj, new Uio([buf], off, UIO_READ), 0), 0);
  return buf;
}

test('a write reads back at once, marks only its blocks dirty, and reaches the disk on clean', async () => {
  const { fs, obj } = await setup(8);
  const data = randomBytes(700, 1);
  assert.equal(await write(obj, P + 100, data), 0);
  assert.deepEqual(await read(obj, P + 100, 700), data);
  const m = obj.pages.get(1)!;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((b) => vmPageBlockDirty(m, b)), [true, true, false, false, false, false, false, false], 'bytes 100..799 touch DEV_BSIZE blocks 0 and 1');
  assert.equal(await vmObjectPageClean(obj, true), 0);
  assert.ok(!vmPageIsDirty(m));
  assert.deepEqual(fs.writes, [{ off: P, len: 1024 }], 'one VOP_WRITE of the dirty run, whole sectors');
  const want = fs.expected();
  assert.deepEqual(want.subarray(P + 100, P + 800), data);
});

test('a partial write into a page not in memory reads it first (read-modify-write)', async () => {
  const { fs, obj } = await setup(4);
  const before = fs.expected();
  const reads = fs.disk.stats.reads;
  await write(obj, 2 * P + 10, new Uint8Array([1, 2, 3]));
  assert.ok(fs.disk.stats.reads > reads);
  const page = await read(obj, 2 * P, P);
  assert.deepEqual(page.subarray(0, 10), before.subarray(2 * P, 2 * P + 10));
  assert.deepEqual([...page.subarray(10, 13)], [1, 2, 3]);
  assert.deepEqual(page.subarray(13), before.subarray(2 * P + 13, 3 * P));
});

test('a write covering whole pages does not read them', async () => {
  const { fs, obj } = await setup(16);
  const reads = fs.disk.stats.reads;
  await write(obj, 4 * P, randomBytes(4 * P, 2));
  assert.equal(fs.disk.stats.reads, reads);
});

test('dirty runs across pages are written as one VOP_WRITE each, clean blocks never', async () => {
  const { fs, obj } = await setup(8);
  await write(obj, 0, randomBytes(3 * P, 3)); // pages 0-2 whole
  await write(obj, 5 * P + 512, randomBytes(512, 4)); // one block of page 5
  assert.equal(await vmObjectPageClean(obj, true), 0);
  assert.deepEqual(fs.writes, [{ off: 0, len: 3 * P }, { off: 5 * P + 512, len: 512 }]);
});

test('a write error keeps the pages dirty and returns EIO; a later clean on a healed disk writes them', async () => {
  const { fs, obj } = await setup(8);
  const data = randomBytes(2 * P, 5);
  await write(obj, 0, data);
  const writev = fs.disk.writev.bind(fs.disk);
  fs.disk.writev = async () => EIO;
  assert.equal(await vmObjectPageClean(obj, true), EIO);
  assert.ok(vmPageIsDirty(obj.pages.get(0)!) && vmPageIsDirty(obj.pages.get(1)!), 'still dirty');
  assert.deepEqual(await read(obj, 0, 2 * P), data, 'the data is still there');
  fs.disk.writev = writev;
  assert.equal(await vmObjectPageClean(obj, true), 0);
  assert.ok(!vmPageIsDirty(obj.pages.get(0)!));
  assert.deepEqual(fs.expected().subarray(0, 2 * P), data);
});

test('writing a file many times larger than memory launders dirty pages and loses nothing', async () => {
  const pages = 1024; // 4 MiB through 256 KiB of frames
  const { fs, sys, obj } = await setup(pages, 256 * 1024);
  const data = randomBytes(pages * P, 6);
  await obj.handle!.lock.lock();
  try {
    for (let off = 0; off < data.length; off += 50_000) {
      assert.equal(await write(obj, off, data.subarray(off, Math.min(data.length, off + 50_000))), 0);
    }
  } finally {
    obj.handle!.lock.unlock();
  }
  assert.ok(sys.meter.v_vnodeout > 0, 'pages were laundered while writing');
  assert.ok(sys.pageCount === 64);
  assert.equal(await vmObjectPageClean(obj, true), 0);
  assert.ok(Buffer.from(fs.expected()).equals(Buffer.from(data)));
  assert.deepEqual(await read(obj, 123_456, 10_000), data.subarray(123_456, 133_456));
});

test('a write past the object size is refused: the file system grows the file first', async () => {
  const { obj } = await setup(2);
  assert.notEqual(await write(obj, 2 * P - 1, new Uint8Array(2)), 0);
});
