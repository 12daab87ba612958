/*
 * ioBuffer (kern/kmem): zeroed, of the size asked, each its own memory;
 * shared with a worker thread when asked; the same without WebAssembly (the
 * fallback); nonsense sizes refused. A Vm's
 * frames come from the same allocator: a Vm runs on the fallback too.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vm, ioBuffer } from '../../src/api/index.js';
import { KMEM_SKEW } from '../../src/kern/kmem.js';

test('ioBuffer gives zeroed, separate buffers of the size asked', () => {
  for (const n of [0, 1, 4096, 65536 - KMEM_SKEW, 65536, (1 << 20) + 3]) {
    const a = ioBuffer(n);
    const b = ioBuffer(n);
    assert.equal(a.length, n);
    assert.equal(a.byteOffset, KMEM_SKEW, 'starts KMEM_SKEW bytes into its memory');
    assert.ok(a.every((x) => x === 0), `${n} bytes zeroed`);
    a.fill(0xa5);
    assert.ok(b.every((x) => x === 0), 'another buffer is not touched');
  }
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) assert.throws(() => ioBuffer(bad), RangeError);
});

test('ioBuffer({ shared: true }) is memory a worker thread shares, placed alike', async () => {
  const a = ioBuffer(100_000, { shared: true });
  assert.ok(a.buffer instanceof SharedArrayBuffer);
  assert.equal(a.length, 100_000);
  assert.equal(a.byteOffset, KMEM_SKEW);
  assert.ok(a.every((x) => x === 0));
  const { Worker } = await import('node:worker_threads');
  const w = new Worker('require("node:worker_threads").parentPort.once("message", (v) => { v[5] = 7; v[99_999] = 9; require("node:worker_threads").parentPort.postMessage(0); });', { eval: true });
  w.postMessage(a.subarray(0));
  await new Promise((r) => w.once('message', r));
  await w.terminate();
  assert.deepEqual([a[5], a[99_999]], [7, 9], "the worker's stores are seen here");
});

test('without WebAssembly, ioBuffer and a Vm fall back to ordinary memory', async () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly')!;
  Object.defineProperty(globalThis, 'WebAssembly', { value: undefined, configurable: true, writable: true });
  try {
    const a = ioBuffer(10_000);
    assert.equal(a.length, 10_000);
    assert.equal(a.byteOffset, KMEM_SKEW, 'skewed within its own ArrayBuffer');
    assert.ok(a.every((x) => x === 0));
    const sh = ioBuffer(10_000, { shared: true });
    assert.ok(sh.buffer instanceof SharedArrayBuffer && sh.byteOffset === KMEM_SKEW && sh.length === 10_000);
    // (a web page that is not cross-origin isolated has no SharedArrayBuffer: a clear error, not a ReferenceError)
    const sab = Object.getOwnPropertyDescriptor(globalThis, 'SharedArrayBuffer')!;
    Object.defineProperty(globalThis, 'SharedArrayBuffer', { value: undefined, configurable: true, writable: true });
    try {
      assert.throws(() => ioBuffer(10, { shared: true }), /no shared memory here/);
      assert.equal(ioBuffer(10).length, 10, 'memory of its own still');
    } finally {
      Object.defineProperty(globalThis, 'SharedArrayBuffer', sab);
    }
    const vm = new Vm({ memory: 256 << 10 });
    assert.equal(vm.stats().pages.total, 64);
  } finally {
    Object.defineProperty(globalThis, 'WebAssembly', saved);
  }
});
