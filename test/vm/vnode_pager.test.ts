/*
 * The vnode pager's rules, one seed function at a time, over a scripted
 * block map and a memory disk.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EINTEGRITY, EIO } from '../../src/kern/errno.js';
import { Uio, UIO_READ } from '../../src/vfs/uio.js';
import { VmSystem } from '../../src/vm/vm.js';
import { type VmObject, vmObjectDeallocate } from '../../src/vm/vm_object.js';
import { objectRdwr } from '../../src/vm/vm_rdwr.js';
import { vmVnodeOps } from '../../src/vm/vm_vnode.js';
import { vnodePagerAddr } from '../../src/vm/pager/vnode_pager_bmap.js';
import { vnodePagerGetpages } from '../../src/vm/pager/vnode_pager_getpages.js';
import {
  vnodePagerAlloc,
  vnodePagerHaspage,
  vnodePagerSetsize,
  vnodePagerUmount,
} from '../../src/vm/pager/vnode_pager.js';
import { OBJT_DEFAULT, vmObjectAllocate, vmObjectVnodeLock } from '../../src/vm/vm_object.js';
import { vmPageFree, vmPageWakeup, type VmPage } from '../../src/vm/vm_page.js';
import { vmPageSetAllValidClean, vmPageAllValid, vmPageIsDirty, vmPageSetDirty, vmPageBlockValid, vmPageBlockDirty } from '../../src/vm/vm_page_bits.js';
import { type HaspageResult, VM_PAGER_ERROR, VM_PAGER_FAIL, VM_PAGER_OK } from '../../src/vm/pager/vm_pager.js';
import { vmPageAlloc } from '../../src/vm/vm_page_alloc.js';
import { contiguous, makeScriptFs, type ScriptFs, type ScriptFsOptions } from '../helpers/scriptfs.js';

const KiB = 1024;

async function setup(o: ScriptFsOptions, pageSize = 4096, memory = 256 * KiB): Promise<{ fs: ScriptFs; sys: VmSystem; obj: VmObject }> {
  const fs = makeScriptFs(o);
  const sys = new VmSystem({ memory, pageSize });
  const { error, obj } = await vnodePagerAlloc(sys, fs.vp);
  assert.equal(error, 0);
  return { fs, sys, obj: obj! };
}

async function readAll(obj: VmObject, off: number, len: number): Promise<{ error: number; data: Uint8Array }> {
  const buf = new Uint8Array(len);
  const uio = new Uio([buf], off, UIO_READ);
  const error = await objectRdwr(obj, uio, 0);
  return { error, data: buf.subarray(0, len - uio.resid) };
}

/** haspage's answer without the address it carries for getpages. */
function run(r: HaspageResult): { has: boolean; before: number; after: number } {
  return { has: r.has, before: r.before, after: r.after };
}

/** Allocates busy pages [first, first + n) of obj. */
function allocRun(sys: VmSystem, obj: VmObject, first: number, n: number): VmPage[] {
  return Array.from({ length: n }, (_, i) => vmPageAlloc(sys, obj, first + i)!);
}

test('haspage() answers false past EOF and for a hole', async () => {
  const map = contiguous(8, 100);
  map[3] = -1;
  const { obj } = await setup({ bsize: 4096, size: 8 * 4096, map, deviceBlocks: 200 });
  assert.equal((await vnodePagerHaspage(obj, 8)).has, false);
  assert.equal((await vnodePagerHaspage(obj, 3)).has, false);
  assert.equal((await vnodePagerHaspage(obj, 2)).has, true);
});

test('haspage() answers true (conservatively) when bmap fails', async () => {
  const { obj } = await setup({ bsize: 4096, size: 8 * 4096, map: contiguous(8, 10), deviceBlocks: 20, badBlocks: [5] });
  assert.deepEqual(run(await vnodePagerHaspage(obj, 5)), { has: true, before: 0, after: 0 });
});

test('haspage() converts runs of blocks larger than a page into pages, never past EOF', async () => {
  // 16 KiB blocks, 4 KiB pages: 4 pages per block. 5 contiguous blocks, file ends 2.5 pages into block 4.
  const size = 4 * 16 * KiB + 10 * KiB;
  const { obj } = await setup({ bsize: 16 * KiB, size, map: contiguous(5, 50), deviceBlocks: 64 });
  // Page 6 is in block 1 at offset 2: 1 block before (4 pages) + 2 = 6 before;
  // after: 3 blocks (12 pages) + 1 in its block = 13, but EOF is at page 18 (last page index 18).
  const r = await vnodePagerHaspage(obj, 6);
  assert.deepEqual(run(r), { has: true, before: 6, after: 12 });
  // Where the page lies, for getpages: block 1 at physical 51, page 2 of it (DEV_BSIZE units).
  assert.equal(r.addr, (51 * 16 * KiB) / 512 + (2 * 4096) / 512);
  const last = await vnodePagerHaspage(obj, 18);
  assert.deepEqual(run(last), { has: true, before: 18, after: 0 });
});

test('haspage() at a page-aligned EOF reports no page past it', async () => {
  // The seed's clamp let one page past a page-aligned EOF through; 2 blocks of 16 KiB, size 6 pages.
  const { obj } = await setup({ bsize: 16 * KiB, size: 6 * 4096, map: contiguous(2, 8), deviceBlocks: 16 });
  assert.deepEqual(run(await vnodePagerHaspage(obj, 4)), { has: true, before: 4, after: 1 });
});

test('haspage() converts runs of blocks smaller than a page, counting whole pages only', async () => {
  // 1 KiB blocks, 4 KiB pages. Blocks 0..9 contiguous, 10.. elsewhere.
  const map = [...contiguous(10, 100), ...contiguous(6, 300)];
  const { obj } = await setup({ bsize: KiB, size: 16 * KiB, map, deviceBlocks: 400 });
  // Page 0: blocks 0-3, runp 9 -> pages after whose blocks all follow: page 1 (4-7) only (8-9 is half a page).
  assert.deepEqual(run(await vnodePagerHaspage(obj, 0)), { has: true, before: 0, after: 1 });
  // Page 1: runb 4 -> 1 page before.
  assert.deepEqual(run(await vnodePagerHaspage(obj, 1)), { has: true, before: 1, after: 0 });
  // A page whose blocks are one run has an address; page 2 (blocks 8, 9 here, 10 elsewhere) has none.
  assert.equal((await vnodePagerHaspage(obj, 1)).addr, (104 * KiB) / 512);
  assert.equal((await vnodePagerHaspage(obj, 2)).addr, -1);
});

test('addr() gives the device address in DEV_BSIZE units and the run in pages', async () => {
  const { fs } = await setup({ bsize: 8 * KiB, size: 64 * KiB, map: contiguous(8, 20), deviceBlocks: 40 });
  const a = await vnodePagerAddr(fs.vp, 12 * KiB, 4096);
  // Block 1 at physical 21: 21 * 16 sectors + 4 KiB / 512 = 336 + 8.
  assert.equal(a.addr, 21 * 16 + 8);
  // Blocks 1..7 contiguous = 7 blocks = 14 pages from block 1's start, minus the page skipped.
  assert.equal(a.run, 13);
});

test('getpages() cuts the cluster to the contiguous run holding the requested page', async () => {
  // Pages 0-2 at 100.., page 3 a hole, pages 4-6 at 200.., page 7 at 50.
  const map = [100, 101, 102, -1, 200, 201, 202, 50];
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 8 * 4096, map, deviceBlocks: 256 });
  const pages = allocRun(sys, obj, 0, 8);
  const readsBefore = fs.disk.stats.reads;
  const { rv } = await vnodePagerGetpages(obj, pages, 8, 5);
  assert.equal(rv, VM_PAGER_OK);
  assert.equal(fs.disk.stats.reads - readsBefore, 1, 'one device read for the run');
  assert.deepEqual([...obj.pages.keys()].sort((a, b) => a - b), [4, 5, 6], 'pages outside the run are freed');
  const want = fs.expected();
  for (const i of [4, 5, 6]) {
    const m = obj.pages.get(i)!;
    assert.ok(vmPageAllValid(m));
    assert.deepEqual(m.frame, want.subarray(i * 4096, (i + 1) * 4096));
  }
  assert.equal(sys.meter.v_vnodein, 1);
  assert.equal(sys.meter.v_vnodepgsin, 3);
  vmPageWakeup(obj.pages.get(5)!);
});

test('a fault asks the block map once for the run it reads (haspage\'s answer carries into getpages)', async () => {
  // 32 contiguous pages; a first fault at page 5 is not sequential: it reads
  // the aligned 16-page cluster, 5 pages behind and 10 ahead, all one run.
  const { fs, obj } = await setup({ bsize: 4096, size: 32 * 4096, map: contiguous(32, 100), deviceBlocks: 160 });
  const { error, data } = await readAll(obj, 5 * 4096, 100);
  assert.equal(error, 0);
  assert.deepEqual(data, fs.expected().subarray(5 * 4096, 5 * 4096 + 100));
  assert.equal(obj.vm.meter.v_vm_faults, 1);
  assert.equal(fs.disk.stats.reads, 1, 'one run, one device read');
  assert.equal(obj.pages.size, 16);
  assert.equal(fs.calls.bmap, 1, 'one VOP_BMAP for the fault');
});

test('a fault whose cluster meets a discontiguity reads only the run holding the page, with one VOP_BMAP', async () => {
  // Pages 0-7 at 100.., pages 8-15 at 300..: a fault at page 10 reads pages 8-15.
  const map = [...contiguous(8, 100), ...contiguous(8, 300)];
  const { fs, obj } = await setup({ bsize: 4096, size: 16 * 4096, map, deviceBlocks: 320 });
  assert.equal((await readAll(obj, 10 * 4096, 100)).error, 0);
  assert.deepEqual([...obj.pages.keys()].sort((a, b) => a - b), [8, 9, 10, 11, 12, 13, 14, 15]);
  assert.equal(fs.disk.stats.reads, 1);
  assert.equal(fs.calls.bmap, 1);
});

test('a sequential read asks the block map once per run it reads, read-ahead included', async () => {
  // Blocks of 16 KiB, 4 pages each: the runs read start inside blocks too.
  const n = 96;
  const { fs, obj } = await setup({ bsize: 16 * KiB, size: n * 4096, map: contiguous(n / 4, 10), deviceBlocks: n / 4 + 10 }, 4096, 1024 * KiB);
  const { error, data } = await readAll(obj, 0, n * 4096);
  assert.equal(error, 0);
  assert.deepEqual(data, fs.expected());
  assert.ok(fs.disk.stats.reads >= 3, `several windows (${fs.disk.stats.reads} reads)`);
  assert.equal(fs.calls.bmap, fs.disk.stats.reads, 'one VOP_BMAP per device read');
});

test('getpages() zero-fills a requested page that lies in a hole (the seed panicked)', async () => {
  const map = [10, -1, 12];
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 3 * 4096, map, deviceBlocks: 16 });
  const pages = allocRun(sys, obj, 0, 3);
  pages[1].frame.fill(0xaa);
  const reads = fs.disk.stats.reads;
  assert.equal((await vnodePagerGetpages(obj, pages, 3, 1)).rv, VM_PAGER_OK);
  assert.equal(fs.disk.stats.reads, reads, 'a hole needs no read');
  assert.ok(pages[1].frame.every((b) => b === 0));
  assert.ok(vmPageAllValid(pages[1]));
  assert.equal(sys.meter.v_zfod, 1);
});

test('haspage() in a hole counts the pages of the hole before and after it, never past EOF', async () => {
  // Pages 0-1 data, 2-9 a hole, 10 data; 16 KiB blocks (4 pages) for a second file: holes counted in whole pages.
  const map = [10, 11, -1, -1, -1, -1, -1, -1, -1, -1, 12];
  const { obj } = await setup({ bsize: 4096, size: 11 * 4096, map, deviceBlocks: 16 });
  assert.deepEqual(run(await vnodePagerHaspage(obj, 4)), { has: false, before: 2, after: 5 });
  const tail = await setup({ bsize: 16 * KiB, size: 2 * 16 * KiB + 4096, map: [3, -1, -1], deviceBlocks: 8 });
  // Page 5 is the second page of block 1; the hole runs to EOF (page 8).
  assert.deepEqual(run(await vnodePagerHaspage(tail.obj, 5)), { has: false, before: 1, after: 3 });
});

test('haspage() with blocks smaller than a page: a page only partly in a hole has data, read block by block', async () => {
  // 1 KiB blocks: page 0 = blocks 0-3 (block 0 a hole, 1-3 data), page 1 wholly a hole, page 2 data.
  const map = [-1, 41, 42, 43, -1, -1, -1, -1, 50, 51, 52, 53];
  const { obj } = await setup({ bsize: KiB, size: 12 * KiB, map, deviceBlocks: 64 });
  const r0 = await vnodePagerHaspage(obj, 0);
  assert.deepEqual({ has: r0.has, addr: r0.addr }, { has: true, addr: -1 });
  assert.deepEqual(run(await vnodePagerHaspage(obj, 1)), { has: false, before: 0, after: 0 });
});

test('a fault in a hole zero-fills the hole\'s pages of its cluster at once, with no device read', async () => {
  // Pages 0-1 data, 2-29 a hole, 30-31 data: a first fault at page 5 wants the aligned 16-page cluster 0-15.
  const map = [100, 101, ...Array<number>(28).fill(-1), 130, 131];
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 32 * 4096, map, deviceBlocks: 160 });
  const { error, data } = await readAll(obj, 5 * 4096, 100);
  assert.equal(error, 0);
  assert.ok(data.every((b) => b === 0));
  assert.equal(fs.disk.stats.reads, 0, 'a hole needs no read');
  // The cluster is cut to the hole: pages 2-15, each zero and valid; pages 0-1 (data) are not filled with zeros.
  assert.deepEqual([...obj.pages.keys()].sort((a, b) => a - b), Array.from({ length: 14 }, (_, i) => i + 2));
  for (const m of obj.pages.values()) {
    assert.ok(vmPageAllValid(m));
    assert.ok(m.frame.every((b) => b === 0));
  }
  assert.equal(sys.meter.v_zfod, 14);
  assert.equal(sys.meter.v_vm_faults, 1);
  const all = await readAll(obj, 0, 32 * 4096);
  assert.deepEqual(all.data, fs.expected());
});

test('a read-ahead into a hole fills nothing: getpages answers FAIL and gives the pages back', async () => {
  const map = [100, 101, -1, -1, -1, -1, -1, -1];
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 8 * 4096, map, deviceBlocks: 160 });
  const pages = allocRun(sys, obj, 2, 4);
  const r = await vnodePagerGetpages(obj, pages, 4, 0, null, true);
  assert.equal(r.rv, VM_PAGER_FAIL);
  assert.deepEqual([...obj.pages.keys()], [2], 'only the first page is left, busy and invalid, for the caller');
  assert.ok(!vmPageAllValid(pages[0]));
  assert.equal(fs.disk.stats.reads, 0);
  assert.equal(sys.meter.v_zfod, 0);
});

test('getpages() zeroes the part of the last page past EOF and rounds the read to DEV_BSIZE', async () => {
  const size = 4096 + 700;
  const { fs, sys, obj } = await setup({ bsize: 4096, size, map: [30, 31], deviceBlocks: 40 });
  const pages = allocRun(sys, obj, 0, 2);
  pages[1].frame.fill(0xee);
  assert.equal((await vnodePagerGetpages(obj, pages, 2, 0)).rv, VM_PAGER_OK);
  assert.equal(fs.disk.stats.bytesRead, 4096 + 1024, 'EOF rounded up to whole sectors');
  assert.deepEqual(pages[1].frame.subarray(0, 700), fs.expected().subarray(4096));
  assert.ok(pages[1].frame.subarray(700).every((b) => b === 0));
});

test('input_smlfs reads each block of a page on its own and zero-fills a hole inside it', async () => {
  // 1 KiB blocks, 4 KiB pages; page 0 = blocks 0..3 with block 1 a hole and 2,3 not contiguous with 0.
  const map = [40, -1, 70, 90, 91, 92, 93, 94];
  const { fs, sys, obj } = await setup({ bsize: KiB, size: 8 * KiB, map, deviceBlocks: 128 });
  const { error, data } = await readAll(obj, 0, 4096);
  assert.equal(error, 0);
  assert.deepEqual(data, fs.expected().subarray(0, 4096));
  assert.ok(data.subarray(KiB, 2 * KiB).every((b) => b === 0));
  assert.equal(fs.disk.stats.reads, 3, 'three blocks read one by one, the hole not at all');
  assert.equal(sys.meter.v_zfod, 1);
});

test('blocks smaller than a page are clustered when the page\'s blocks are contiguous', async () => {
  const { fs, obj } = await setup({ bsize: KiB, size: 64 * KiB, map: contiguous(64, 200), deviceBlocks: 300 });
  const { error, data } = await readAll(obj, 0, 64 * KiB);
  assert.equal(error, 0);
  assert.deepEqual(data, fs.expected());
  assert.ok(fs.disk.stats.reads <= 2, `contiguous 1 KiB blocks read in clusters (${fs.disk.stats.reads} reads)`);
});

test('input_old reads through VOP_READ without a block map and zero-fills past EOF', async () => {
  const size = 4096 + 904;
  const { fs, obj } = await setup({ bsize: 4096, size, map: [5, 6], deviceBlocks: 8, noBmap: true });
  const { error, data } = await readAll(obj, 4096, 4096);
  assert.equal(error, 0);
  assert.deepEqual(data, fs.expected().subarray(4096));
  const m = obj.pages.get(1)!;
  assert.ok(m.frame.subarray(904).every((b) => b === 0), 'past EOF is zero');
  assert.ok(fs.calls.read >= 1);
});

test('setsize() on shrink frees pages past EOF and zeroes the tail of the straddling page', async () => {
  const { fs, obj } = await setup({ bsize: 4096, size: 4 * 4096, map: contiguous(4, 8), deviceBlocks: 16 });
  await readAll(obj, 0, 4 * 4096);
  assert.equal(obj.pages.size, 4);
  const m1 = obj.pages.get(1)!;
  // Pretend the tail was dirtied through a mapping: the block EOF falls in keeps its dirty bit.
  vmPageSetDirty(m1, 0, 4096);
  await vnodePagerSetsize(fs.vp, 4096 + 1000);
  assert.deepEqual([...obj.pages.keys()].sort(), [0, 1]);
  assert.equal(obj.vnpSize, 4096 + 1000);
  assert.equal(obj.size, 2);
  assert.ok(m1.frame.subarray(1000).every((b) => b === 0), 'tail zeroed');
  assert.ok(vmPageAllValid(m1), 'valid bits kept');
  // Block 1 (bytes 512..1023) holds EOF: still dirty; blocks 2.. are wholly past: clean.
  assert.ok(vmPageIsDirty(m1));
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((b) => vmPageBlockDirty(m1, b)), [true, true, false, false, false, false, false, false]);
});

test('a second fault on a busy page waits for the first read and issues none of its own', async () => {
  const { fs, obj } = await setup({ bsize: 4096, size: 4 * 4096, map: contiguous(4, 8), deviceBlocks: 16 });
  fs.disk.hold = true;
  const a = readAll(obj, 0, 100);
  const b = readAll(obj, 50, 100);
  await fs.disk.waitPending(1);
  // Let every other task run: b must be asleep on the busy page, not reading.
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.equal(fs.disk.pending, 1);
  fs.disk.hold = false;
  fs.disk.release();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(fs.disk.stats.reads, 1);
  assert.deepEqual(ra.data, fs.expected().subarray(0, 100));
  assert.deepEqual(rb.data, fs.expected().subarray(50, 150));
  assert.ok(obj.vm.meter.v_busywait >= 1);
});

test('a read error frees the cluster, marks nothing valid and returns EIO', async () => {
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 8 * 4096, map: contiguous(8, 8), deviceBlocks: 16 });
  const free0 = sys.freeCount;
  fs.disk.readv = async () => EIO;
  const { error } = await readAll(obj, 0, 4096);
  assert.equal(error, EIO);
  assert.equal(obj.pages.size, 0, 'no page of the cluster stays');
  assert.equal(sys.freeCount, free0);
});

test('getpages() on error keeps the requested page busy for its caller and frees the others', async () => {
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 4 * 4096, map: contiguous(4, 8), deviceBlocks: 16 });
  fs.disk.readv = async () => EIO;
  const pages = allocRun(sys, obj, 0, 4);
  assert.deepEqual(await vnodePagerGetpages(obj, pages, 4, 2), { rv: VM_PAGER_ERROR, error: EIO });
  assert.deepEqual([...obj.pages.keys()], [2]);
  assert.ok(!vmPageBlockValid(pages[2], 0));
});

test('two failing faults on one object each report their own errno', async () => {
  // Each page its own block, far from the others: each fault reads one page alone.
  const map = [10, 30, 50, 70, 90, 110, 130, 150];
  const { fs, obj } = await setup({ bsize: 4096, size: 8 * 4096, map, deviceBlocks: 160 });
  const done: Array<() => void> = [];
  fs.disk.readv = (_bufs, offset) =>
    new Promise<number>((resolve) => done.push(() => resolve(offset === 10 * 4096 ? EINTEGRITY : EIO)));
  const a = readAll(obj, 0, 100);
  const b = readAll(obj, 7 * 4096, 100);
  while (done.length < 2) await new Promise((r) => setImmediate(r));
  // Both complete together: the errno must travel with each answer, not through the object.
  done[0]();
  done[1]();
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.error, EINTEGRITY, 'the damaged block');
  assert.equal(rb.error, EIO, 'the failing device');
});

test('vnode_pager_alloc() gives two concurrent callers one object', async () => {
  const fs = makeScriptFs({ bsize: 4096, size: 4096, map: [1], deviceBlocks: 4 });
  const sys = new VmSystem({ memory: 256 * KiB, pageSize: 4096 });
  const [a, b] = await Promise.all([vnodePagerAlloc(sys, fs.vp), vnodePagerAlloc(sys, fs.vp)]);
  assert.equal(a.obj, b.obj);
  assert.equal(a.obj!.refCount, 2);
  assert.equal(fs.vp.usecount, 2, 'the object holds one vnode reference');
});

test('a read through the VM holds the object for the call: a reader waiting for memory finds its object alive after the other reader let go and the object cache was trimmed (it found no vnode behind it: a panic)', async () => {
  // Each page its own block: each fault reads its page alone.
  const fs = makeScriptFs({ bsize: 4096, size: 4 * 4096, map: [10, 30, 50, 70], deviceBlocks: 80 });
  const sys = new VmSystem({ memory: 16 * 4096, pageSize: 4096, objectCacheMax: 0 });
  const rdwr = vmVnodeOps(sys).rdwr;
  const read = async (off: number, len: number) => {
    const buf = new Uint8Array(len);
    const uio = new Uio([buf], off, UIO_READ);
    return { error: await rdwr(fs.vp, uio, 0), data: buf.subarray(0, len - uio.resid) };
  };
  fs.disk.hold = true;
  const a = read(0, 100); // makes the object, holds it, faults page 0
  await fs.disk.waitPending(1);
  // Every other page taken (busy pages of another object): the next fault waits for memory, without the vnode's lock.
  const other = (await vnodePagerAlloc(sys, makeScriptFs({ bsize: 4096, size: 64 * 4096, map: contiguous(64, 1), deviceBlocks: 80 }).vp)).obj!;
  const taken = allocRun(sys, other, 0, sys.freeCount);
  assert.equal(sys.freeCount, 0);
  const b = read(2 * 4096 + 50, 100);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  fs.disk.hold = false;
  fs.disk.release();
  const ra = await a; // a lets go of the object: with no holder left it is cached, and the cache (of none) trims it
  assert.equal(ra.error, 0);
  for (const m of taken) {
    vmPageWakeup(m);
    vmPageFree(sys, m);
  }
  const rb = await b;
  assert.equal(rb.error, 0);
  assert.deepEqual(rb.data, fs.expected().subarray(2 * 4096 + 50, 2 * 4096 + 150));
  assert.equal(fs.vp.object, null, 'terminated once both let go');
});

test('dealloc waits for paging in progress before detaching the vnode', async () => {
  const { fs, obj } = await setup({ bsize: 4096, size: 4 * 4096, map: contiguous(4, 8), deviceBlocks: 16 });
  fs.disk.hold = true;
  const reading = readAll(obj, 0, 4096);
  await fs.disk.waitPending(1);
  obj.flags &= ~0x10; // not persistent: the last reference terminates it
  const dying = vmObjectDeallocate(obj);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.equal(fs.vp.object, obj, 'still attached while the read is in flight');
  fs.disk.release();
  fs.disk.hold = false;
  await reading;
  await dying;
  assert.equal(fs.vp.object, null);
  assert.equal(obj.pages.size, 0);
});

test('reading a file many times larger than memory recycles clean pages and stays correct', async () => {
  const n = 1024; // 4 MiB file, 128 KiB of frames
  const { fs, sys, obj } = await setup({ bsize: 4096, size: n * 4096, map: contiguous(n, 10), deviceBlocks: n + 10 }, 4096, 128 * KiB);
  const want = fs.expected();
  for (let off = 0; off < n * 4096; off += 20000) {
    const { error, data } = await readAll(obj, off, 20000);
    assert.equal(error, 0);
    assert.deepEqual(data, want.subarray(off, off + 20000));
  }
  assert.equal(sys.freeCount + sys.activeq.count + sys.inactiveq.count, sys.pageCount);
  assert.ok(sys.meter.v_dfree > 0);
  assert.ok(fs.disk.stats.reads < n / 4, `clustered: ${fs.disk.stats.reads} device reads for ${n} pages`);
});

test('16 KiB pages read files of 1 KiB and 64 KiB blocks correctly', async () => {
  for (const bsize of [KiB, 64 * KiB]) {
    const size = 3 * 64 * KiB + 333;
    const nb = Math.ceil(size / bsize);
    const map = contiguous(nb, 4);
    map[Math.floor(nb / 2)] = -1;
    const { fs, obj } = await setup({ bsize, size, map, deviceBlocks: nb + 8 }, 16 * KiB, 1024 * KiB);
    const { error, data } = await readAll(obj, 0, size + 100);
    assert.equal(error, 0);
    assert.deepEqual(data, fs.expected(), `bsize ${bsize}`);
  }
});

test("getpages() uses the file system's own VOP_GETPAGES when it has one", async () => {
  let called = 0;
  const { fs, sys, obj } = await setup({
    bsize: 4096, size: 2 * 4096, map: [3, 4], deviceBlocks: 8,
    getpages: async (_vp, pages, count, reqpage) => {
      called++;
      const m = pages[reqpage] as VmPage;
      m.frame.fill(0x77);
      vmPageSetAllValidClean(m);
      for (let i = 0; i < count; i++) if (i !== reqpage) vmPageWakeup(pages[i] as VmPage);
      return 0;
    },
  });
  const { error, data } = await readAll(obj, 0, 10);
  assert.equal(error, 0);
  assert.equal(called, 1);
  assert.deepEqual(data, new Uint8Array(10).fill(0x77));
  assert.equal(fs.disk.stats.reads, 0, 'the generic path did not run');
  void sys;
});

test('vmObjectVnodeLock() (cf. vnode_pager_lock) walks the backing chain to the vnode object and locks its vnode', async () => {
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 4096, map: [1], deviceBlocks: 4 });
  const shadow = vmObjectAllocate(sys, OBJT_DEFAULT, obj.pager, 1);
  const shadow2 = vmObjectAllocate(sys, OBJT_DEFAULT, obj.pager, 1);
  shadow.backingObject = obj;
  shadow2.backingObject = shadow;
  const vp = await vmObjectVnodeLock(shadow2);
  assert.equal(vp, fs.vp);
  assert.ok(fs.vp.lock.locked);
  fs.vp.lock.unlock();
  assert.equal(await vmObjectVnodeLock(vmObjectAllocate(sys, OBJT_DEFAULT, obj.pager, 1)), null);
});

test('vnode_pager_umount() uncaches every object of the mount: cached pages are freed', async () => {
  const { fs, sys, obj } = await setup({ bsize: 4096, size: 8 * 4096, map: contiguous(8, 8), deviceBlocks: 16 });
  await readAll(obj, 0, 8 * 4096);
  await vmObjectDeallocate(obj); // unreferenced: stays cached with its pages
  assert.equal(fs.vp.object, obj);
  assert.ok(sys.objectCache.has(obj));
  assert.ok(obj.pages.size > 0);
  await vnodePagerUmount(fs.mp);
  assert.equal(fs.vp.object, null);
  assert.equal(obj.pages.size, 0);
  assert.equal(sys.freeCount, sys.pageCount);
});
