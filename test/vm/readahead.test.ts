/*
 * Read-ahead: sequential faults grow the window (7, 15, 23, ...) and keep
 * two windows in flight asynchronously; random faults read the aligned
 * 16-page cluster; a reader that reaches an in-flight page waits for it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Uio, UIO_READ } from '../../src/vfs/uio.js';
import { VmSystem } from '../../src/vm/vm.js';
import type { VmObject } from '../../src/vm/vm_object.js';
import { objectRdwr } from '../../src/vm/vm_rdwr.js';
import { vnodePagerAlloc } from '../../src/vm/pager/vnode_pager.js';
import { MADV_RANDOM } from '../../src/vm/vm_readahead.js';
import { PG_REFERENCED, vmPageBusyDone, type VmPage, vmPageFree } from '../../src/vm/vm_page.js';
import { vmPageAlloc } from '../../src/vm/vm_page_alloc.js';
import { vmSendfile } from '../../src/vm/vm_sendfile.js';
import { contiguous, makeScriptFs } from '../helpers/scriptfs.js';

const P = 4096;

async function setup(pages: number, memory: number) {
  const fs = makeScriptFs({ bsize: P, size: pages * P, map: contiguous(pages, 16), deviceBlocks: pages + 16 });
  const sys = new VmSystem({ memory, pageSize: P });
  const obj = (await vnodePagerAlloc(sys, fs.vp)).obj!;
  return { fs, sys, obj };
}

async function readPage(obj: VmObject, i: number): Promise<Uint8Array> {
  const buf = new Uint8Array(P);
  const uio = new Uio([buf], i * P, UIO_READ);
  assert.equal(await objectRdwr(obj, uio, 0), 0);
  return buf;
}

test('a sequential scan grows the window and reads in few, large transfers', async () => {
  const { fs, sys, obj } = await setup(8192, 4 << 20);
  const want = fs.expected();
  const windows: number[] = [];
  for (let i = 0; i < 8192; i++) {
    const w = obj.ra.window;
    assert.deepEqual(await readPage(obj, i), want.subarray(i * P, (i + 1) * P));
    if (obj.ra.window !== w) windows.push(obj.ra.window);
  }
  // The first sequential fault reads 7 pages ahead and puts two windows in
  // flight (8 and 16 pages); each mark reached starts one more, 8 pages larger.
  assert.deepEqual(windows.slice(0, 4), [15, 23, 31, 39], 'grows by 8 pages a step');
  assert.equal(Math.max(...windows), 255, 'up to MAXPHYS / PAGE_SIZE - 1');
  assert.ok(sys.meter.v_vnodein < 60, `${sys.meter.v_vnodein} transfers for 8192 pages`);
  assert.equal(sys.meter.v_vnodepgsin, 8192, 'every page read exactly once');
});

test('the window is capped at a quarter of memory', async () => {
  const { obj } = await setup(1024, 256 * 1024);
  for (let i = 0; i < 1024; i++) await readPage(obj, i);
  assert.equal(obj.ra.window, 64 / 4 - 1);
});

test('a random fault reads the aligned 16-page cluster around it', async () => {
  const { sys, obj } = await setup(256, 4 << 20);
  await readPage(obj, 100);
  assert.equal(sys.meter.v_vnodein, 1);
  assert.deepEqual([...obj.pages.keys()].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => 96 + i));
});

test('MADV_RANDOM reads only the faulted page', async () => {
  const { sys, obj } = await setup(256, 4 << 20);
  obj.ra.advice = MADV_RANDOM;
  for (let i = 0; i < 32; i++) await readPage(obj, i);
  assert.equal(sys.meter.v_vnodein, 32);
  assert.equal(sys.meter.v_vnodepgsin, 32);
});

test('a reader reaching a page still being read ahead waits for it instead of reading it again', async () => {
  const { fs, sys, obj } = await setup(512, 4 << 20);
  await readPage(obj, 0); // random: pages 0-15
  await readPage(obj, 16); // sequential: 16-23 now, 24-31 asynchronously
  assert.equal(obj.ra.mark, 24);
  fs.disk.hold = true;
  const reader = readPage(obj, 24); // reaches the mark: starts the next window, then waits for 24
  await fs.disk.waitPending(1);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  const pending = fs.disk.pending;
  fs.disk.hold = false;
  fs.disk.release();
  assert.deepEqual(await reader, fs.expected().subarray(24 * P, 25 * P));
  assert.ok(pending >= 1);
  assert.ok(sys.meter.v_busywait >= 1, 'the reader slept on the busy page');
  // Page 24 was read once, by the read-ahead.
  assert.equal(sys.meter.v_vnodepgsin, new Set(obj.pages.keys()).size);
});

test('MADV_SEQUENTIAL drops pages more than 1 MiB behind the reader', async () => {
  const { sys, obj } = await setup(4096, 16 << 20); // 16 MiB file, 16 MiB of frames: it would all fit
  obj.ra.advice = 2; // MADV_SEQUENTIAL
  let most = 0;
  for (let i = 0; i < 4096; i++) {
    await readPage(obj, i);
    most = Math.max(most, obj.pages.size);
  }
  // 1 MiB behind (256 pages), the window being read and two in flight, of 256 pages each.
  assert.ok(most <= 256 + 3 * 256 + 2, `at most ${most} pages resident`);
  // Drop-behind runs at each fault or mark: what stays is the last MiB and the window being read.
  assert.ok([...obj.pages.keys()].every((p) => p >= 4096 - 256 - 256 - 2), 'only the last pages stay');
  assert.equal(sys.meter.v_vnodepgsin, 4096);
});

test('MADV_SEQUENTIAL drop-behind after a jump far ahead frees every page left behind, and only those', async () => {
  const { sys, obj } = await setup(65536, 16 << 20); // 256 MiB file, 16 MiB of frames
  obj.ra.advice = 2; // MADV_SEQUENTIAL
  for (let i = 0; i < 600; i++) await readPage(obj, i);
  const before = [...obj.pages.keys()];
  assert.ok(before.some((p) => p >= 400), 'the pages read last are resident');
  await obj.pipWait('test'); // the windows read ahead are in: none is busy
  // A jump 60000 pages on (as a reader skipping a hole would): all that was read lies more than 1 MiB behind.
  await readPage(obj, 60600);
  const after = [...obj.pages.keys()];
  assert.ok(after.every((p) => p >= 60600 - 256), `nothing behind the reader stays: ${after.filter((p) => p < 60000).length} pages`);
  assert.ok(after.includes(60600));
  assert.equal(sys.freeCount + obj.pages.size, sys.pageCount, 'every frame freed is counted free');
});

for (const how of ['read', 'sendfile'] as const) {
test(`a hit at the mark is taken (${how}) before the read-ahead it starts can reclaim the page and read into its frame`, async () => {
  // 64 frames, 4096-page file. Read sequentially until a window is in flight
  // and done; then make every frame but the mark page's unreclaimable, so the
  // next window's allocation must reclaim exactly that page. The memory disk
  // copies on the call (as a synchronous image read does), so a copy made
  // after starting the read-ahead would see the next window's bytes.
  const { fs, sys, obj } = await setup(4096, 256 << 10);
  const want = fs.expected();
  let i = 0;
  while (obj.ra.mark < 0) assert.deepEqual(await readPage(obj, i++), want.subarray((i - 1) * P, i * P));
  await obj.pipWait('test');
  const mark = obj.ra.mark;
  const pinned: VmPage[] = [];
  for (const m of obj.pages.values()) {
    if (m.pindex === mark) continue;
    m.busy++; // as if being written out
    m.flags &= ~PG_REFERENCED; // not worth a second chance: the scan reaches the mark page soon
    pinned.push(m);
  }
  const taken: VmPage[] = [];
  for (let k = 0; sys.freeCount > 0; k++) taken.push(vmPageAlloc(sys, obj, 1000 + k)!);
  assert.equal(sys.freeCount, 0);
  const reclaimedBefore = sys.meter.v_dfree;
  let got: Uint8Array;
  if (how === 'read') got = await readPage(obj, mark);
  else {
    const parts: Uint8Array[] = [];
    const r = await vmSendfile(obj, mark * P, P, (frames) => void parts.push(...frames.map((f) => f.slice())));
    assert.equal(r.sent, P);
    got = Buffer.concat(parts);
  }
  assert.deepEqual(new Uint8Array(got), want.subarray(mark * P, (mark + 1) * P), 'the mark page as it was');
  // A read copies the page and lets it go, so the read-ahead reclaims it; sendfile
  // keeps it busy while the sink has it, so the read-ahead finds nothing to take.
  if (how === 'read') assert.ok(sys.meter.v_dfree > reclaimedBefore, 'the read-ahead reclaimed a page (the mark page: the only one it could)');
  else assert.equal(obj.pages.get(mark)?.pindex, mark, 'the mark page stayed');
  for (const m of pinned) vmPageBusyDone(m);
  for (const m of taken) vmPageFree(sys, m);
});
}
