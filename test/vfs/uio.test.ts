/*
 * uio: moving bytes between page frames and a list of buffers, in either
 * direction, across buffer edges; zero-filling; UIO_NOCOPY only advancing;
 * the single-copy fast path (contiguousRoom/moveFrom).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Uio, UIO_NOCOPY, UIO_READ, UIO_WRITE, copy } from '../../src/vfs/uio.js';

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

test('a read moves frame bytes into the buffers in order, across their edges', () => {
  const a = new Uint8Array(3);
  const b = new Uint8Array(5);
  const uio = new Uio([a, b], 100, UIO_READ);
  const frame = bytes(16);
  assert.equal(uio.move(frame, 2, 6), 6);
  assert.deepEqual([...a, ...b.subarray(0, 3)], [...frame.subarray(2, 8)]);
  assert.equal(uio.resid, 2);
  assert.equal(uio.offset, 106);
  assert.equal(uio.move(frame, 0, 10), 2, 'no more than resid');
  assert.deepEqual([...b.subarray(3)], [...frame.subarray(0, 2)]);
  assert.equal(uio.resid, 0);
  assert.equal(uio.done(8), 8);
});

test('a write moves the buffers into the frame', () => {
  const src = [bytes(4, 3), bytes(4, 9)];
  const uio = new Uio(src, 0, UIO_WRITE);
  const frame = new Uint8Array(10);
  assert.equal(uio.move(frame, 1, 8), 8);
  assert.deepEqual([...frame.subarray(1, 9)], [...src[0], ...src[1]]);
  assert.equal(frame[0], 0);
  assert.equal(frame[9], 0);
});

test('zero() fills a read\'s buffers with zeros (a hole) and advances', () => {
  const a = new Uint8Array(4).fill(0xee);
  const b = new Uint8Array(4).fill(0xee);
  const uio = new Uio([a, b], 0, UIO_READ);
  assert.equal(uio.zero(6), 6);
  assert.deepEqual([...a, ...b], [0, 0, 0, 0, 0, 0, 0xee, 0xee]);
  assert.equal(uio.offset, 6);
});

test('UIO_NOCOPY only advances: the data already sits in the frames', () => {
  const v = bytes(8);
  const uio = new Uio([v], 40, UIO_WRITE, UIO_NOCOPY);
  const frame = new Uint8Array(8);
  assert.equal(uio.move(frame, 0, 8), 8);
  assert.ok(frame.every((x) => x === 0), 'nothing copied');
  assert.equal(uio.resid, 0);
  assert.equal(uio.offset, 48);
  assert.equal(uio.contiguousRoom(), 0);
});

test('contiguousRoom and moveFrom copy into the current buffer in one piece', () => {
  const a = new Uint8Array(6);
  const uio = new Uio([a, new Uint8Array(6)], 0, UIO_READ);
  assert.equal(uio.contiguousRoom(), 6);
  const src = bytes(20);
  uio.moveFrom(src, 4, 6);
  assert.deepEqual([...a], [...src.subarray(4, 10)]);
  assert.equal(uio.resid, 6);
  assert.equal(new Uio([a], 0, UIO_WRITE).contiguousRoom(), 0, 'not for a write');
});

test('copy() copies short and long ranges alike', () => {
  for (const n of [0, 1, 32, 33, 100]) {
    const src = bytes(120);
    const dst = new Uint8Array(130);
    copy(src, 5, dst, 7, n);
    assert.deepEqual([...dst.subarray(7, 7 + n)], [...src.subarray(5, 5 + n)], `n=${n}`);
    assert.ok(dst.subarray(7 + n).every((x) => x === 0));
  }
});
