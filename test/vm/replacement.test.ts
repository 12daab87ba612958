/*
 * Page replacement: under random reads with little memory, the hit rate is
 * close to exact LRU's on the same trace. (The neighbours a random fault
 * reads in must not crowd out the hot pages.)
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Uio, UIO_READ } from '../../src/vfs/uio.js';
import { VmSystem } from '../../src/vm/vm.js';
import { objectRdwr } from '../../src/vm/vm_rdwr.js';
import { vnodePagerAlloc } from '../../src/vm/pager/vnode_pager.js';
import { lruHits, zipfTrace } from '../../src/cli/zipf.js';
import { contiguous, makeScriptFs } from '../helpers/scriptfs.js';
import { OBJT_DEFAULT, vmObjectAllocate } from '../../src/vm/vm_object.js';
import { defaultPagerOps } from '../../src/vm/pager/default_pager.js';
import { vmPageActivate, vmPageWakeup, type VmPage } from '../../src/vm/vm_page.js';
import { vmPageSetAllValidClean } from '../../src/vm/vm_page_bits.js';
import { vmPageAlloc } from '../../src/vm/vm_page_alloc.js';
import { vmPageoutReclaim } from '../../src/vm/vm_pageout.js';

const P = 4096;

test('Zipf-distributed page reads hit at least 95% as often as exact LRU', async () => {
  const pages = 8192;
  const frames = 1024;
  const fs = makeScriptFs({ bsize: P, size: pages * P, map: contiguous(pages, 8), deviceBlocks: pages + 8 });
  const sys = new VmSystem({ memory: frames * P, pageSize: P });
  const obj = (await vnodePagerAlloc(sys, fs.vp)).obj!;
  const ops = 60_000;
  const trace = zipfTrace(pages, ops, 0.99, 7);
  const buf = new Uint8Array(P);
  for (let i = 0; i < ops; i++) assert.equal(await objectRdwr(obj, new Uio([buf], trace[i] * P, UIO_READ), 0), 0);
  const hit = sys.meter.hits / (sys.meter.hits + sys.meter.misses);
  const lru = lruHits(trace, pages, frames) / ops;
  assert.ok(hit >= 0.95 * lru, `hit rate ${hit.toFixed(3)} against LRU's ${lru.toFixed(3)}`);
});

test('the reclaim scan frees a clean page that sits behind busy ones on the active queue', () => {
  // 64 frames, all active: the oldest 60 busy (under I/O), then 4 clean and idle.
  // Ageing must not stop after moving `want` busy pages it cannot free.
  const sys = new VmSystem({ memory: 64 * P, pageSize: P });
  const obj = vmObjectAllocate(sys, OBJT_DEFAULT, defaultPagerOps, 64);
  const all: VmPage[] = [];
  for (let i = 0; i < 64; i++) {
    const m = vmPageAlloc(sys, obj, i)!;
    vmPageSetAllValidClean(m);
    vmPageActivate(sys, m);
    all.push(m);
  }
  for (const m of all.slice(60)) vmPageWakeup(m); // the last four: clean, unbusy, unreferenced
  assert.equal(sys.freeCount, 0);
  const freed = vmPageoutReclaim(sys, 4);
  assert.equal(freed, 4, 'the four idle pages');
  assert.ok(all.slice(0, 60).every((m) => m.object === obj), 'no busy page freed');
  for (const m of all.slice(0, 60)) vmPageWakeup(m);
});
