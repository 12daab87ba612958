/*
 * Page allocation: a page next to a resident page of its object takes the
 * neighbouring frame when that frame is free (after the page before it, or
 * before the page after it), never a fresh frame for that and never across
 * arenas; otherwise the free queue's head. A sequential read that frees
 * what it has read (noreuse) then hands the device transfers of a few
 * pieces of memory rather than many scattered runs of frames.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VmSystem } from '../../src/vm/vm.js';
import { vnodePagerAlloc } from '../../src/vm/pager/vnode_pager.js';
import { type VmPage, vmPageFree } from '../../src/vm/vm_page.js';
import { vmPageAlloc } from '../../src/vm/vm_page_alloc.js';
import { vmSendfile } from '../../src/vm/vm_sendfile.js';
import { MADV_SEQUENTIAL } from '../../src/vm/vm_readahead.js';
import { contiguous, makeScriptFs } from '../helpers/scriptfs.js';
import { Uio, UIO_READ } from '../../src/vfs/uio.js';
import type { VmObject } from '../../src/vm/vm_object.js';
import { objectRdwr } from '../../src/vm/vm_rdwr.js';

const P = 4096;

async function setup(pages: number, memory: number, arenaBytes?: number) {
  const fs = makeScriptFs({ bsize: P, size: pages * P, map: contiguous(pages, 16), deviceBlocks: pages + 16 });
  const sys = new VmSystem({ memory, pageSize: P, arenaBytes });
  const obj = (await vnodePagerAlloc(sys, fs.vp)).obj!;
  return { fs, sys, obj };
}

/** Makes frames 0..n-1 (fresh frames come in order), then frees them in `order`: the last freed is the free queue's head. */
function freeInOrder(sys: VmSystem, obj: Parameters<typeof vmPageAlloc>[1], n: number, order: number[]): void {
  const byFrame = new Map<number, VmPage>();
  for (let i = 0; i < n; i++) {
    const m = vmPageAlloc(sys, obj, 1000 + i)!;
    byFrame.set(m.phys, m);
  }
  assert.deepEqual([...byFrame.keys()].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), 'fresh frames in order');
  for (const f of order) vmPageFree(sys, byFrame.get(f)!);
}

test('a page after a resident page of its object takes the next frame when it is free, else the free queue head', async () => {
  const { sys, obj } = await setup(64, 64 * P);
  freeInOrder(sys, obj, 8, [7, 6, 5, 3, 2, 1, 0, 4]); // head 4, then 0 1 2 3 5 6 7
  const frames = Array.from({ length: 8 }, (_, i) => vmPageAlloc(sys, obj, 20 + i)!.phys);
  // Page 20 takes the head (4); 21..23 the frames after it; 24 finds frame 8 fresh, not free, and takes the head (0); 25..27 follow it.
  assert.deepEqual(frames, [4, 5, 6, 7, 0, 1, 2, 3]);
  assert.equal(sys.fresh, 64 - 8, 'no fresh frame made for a neighbour');
});

test('a page before a resident page takes the frame before that page\'s; a fresh frame is never taken for a neighbour', async () => {
  const { sys, obj } = await setup(64, 64 * P);
  freeInOrder(sys, obj, 8, [0, 1, 2, 4, 5, 6, 7, 3]); // head 3, then 7 6 5 4 2 1 0
  assert.equal(vmPageAlloc(sys, obj, 40)!.phys, 3);
  // Page 39 has only page 40 resident beside it: frame 2, free, is taken, not the head (7).
  assert.equal(vmPageAlloc(sys, obj, 39)!.phys, 2);
  assert.equal(vmPageAlloc(sys, obj, 38)!.phys, 1);
  // Page 41 after frame 3: frame 4 is free.
  assert.equal(vmPageAlloc(sys, obj, 41)!.phys, 4);
  // Page 60 has no neighbour: the head (7). Page 61 comes after it, and frame 8 has never been used.
  assert.equal(vmPageAlloc(sys, obj, 60)!.phys, 7);
  const q = vmPageAlloc(sys, obj, 61)!;
  assert.notEqual(q.phys, 8, 'frame 8 is fresh: not made for a neighbour');
  assert.equal(q.phys, 6, 'the head');
  assert.equal(sys.fresh, 64 - 8);
});

test('frames in different arenas are not neighbours', async () => {
  const { sys, obj } = await setup(64, 16 * P, 4 * P); // arenas of 4 frames: 0-3, 4-7, ...
  assert.equal(sys.arenaFrames, 4);
  freeInOrder(sys, obj, 8, [4, 0, 1, 2, 5, 6, 7, 3]); // head 3, then 7 6 5 2 1 0 4
  assert.equal(vmPageAlloc(sys, obj, 20)!.phys, 3);
  assert.equal(vmPageAlloc(sys, obj, 21)!.phys, 7, 'frame 4 is free but in the next arena: the head instead');
  assert.equal(vmPageAlloc(sys, obj, 22)!.phys, 6, 'frame 8 begins the next arena too: the head');
});

test('a sequential sendfile that frees what it read (noreuse) hands the device transfers of few pieces of memory', async () => {
  const pages = 8192;
  const { fs, sys, obj } = await setup(pages, 16 << 20);
  const pieces: number[] = [];
  const readv = fs.disk.readv.bind(fs.disk);
  fs.disk.readv = (bufs, offset) => {
    pieces.push(bufs.length);
    return readv(bufs, offset);
  };
  obj.ra.advice = MADV_SEQUENTIAL;
  obj.ra.noreuse = true;
  const want = fs.expected();
  let at = 0;
  let same = true;
  const r = await vmSendfile(obj, 0, pages * P, (frames) => {
    for (const f of frames) {
      if (!Buffer.from(f.buffer, f.byteOffset, f.byteLength).equals(want.subarray(at, at + f.byteLength))) same = false;
      at += f.byteLength;
    }
  });
  assert.equal(r.error, 0);
  assert.equal(r.sent, pages * P);
  assert.ok(same, 'the bytes are the file\'s');
  const total = pieces.reduce((a, b) => a + b, 0);
  // Taking the free queue's head alone gave 255 pieces for these 49 reads (5.2 a read, more as the stream goes on);
  // with neighbouring frames 123 (the first reads one piece each, later ones two to five).
  assert.ok(total <= 3 * pieces.length, `${total} pieces of memory for ${pieces.length} device reads`);
  assert.ok(sys.pages.length <= 1024, `the stream used ${sys.pages.length} of 4096 frames: what it recycles stays small`);
});

async function readPage(obj: VmObject, i: number): Promise<Uint8Array> {
  const buf = new Uint8Array(P);
  assert.equal(await objectRdwr(obj, new Uio([buf], i * P, UIO_READ), 0), 0);
  return buf;
}

test('the frames\' memory is made an arena at a time, as frames are first used', async () => {
  const sys = new VmSystem({ memory: 64 << 20, pageSize: P }); // 16 MiB arenas, 4096 frames each
  assert.equal(sys.arenaFrames, 4096);
  assert.equal(sys.arenas.length, 0, 'nothing made before a frame is used');
  const fs = makeScriptFs({ bsize: P, size: 8192 * P, map: contiguous(8192, 16), deviceBlocks: 8192 + 16 });
  const obj = (await vnodePagerAlloc(sys, fs.vp)).obj!;
  const want = fs.expected();
  for (const i of [0, 1, 2, 500]) assert.deepEqual(await readPage(obj, i), want.subarray(i * P, (i + 1) * P));
  assert.equal(sys.arenas.length, 1, 'a few pages: one arena');
  assert.equal(sys.arenas[0].length, 16 << 20);
  for (let i = 0; i < 5000; i++) assert.deepEqual(await readPage(obj, i), want.subarray(i * P, (i + 1) * P));
  assert.equal(sys.arenas.length, 2, 'more than 4096 frames in use: the second arena');
  for (const m of sys.pages) assert.equal(m.frame.buffer, sys.arenas[Math.floor(m.phys / 4096)].buffer, `frame ${m.phys} is in its arena`);
});
