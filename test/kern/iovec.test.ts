/*
 * iovec lists: byteLength, iovAfter and iovSplit against the flat bytes
 * they describe (fast-check), and views, never copies.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { byteLength, iovAfter, iovSplit } from '../../src/kern/iovec.js';

/** The bytes of an iovec list, in order. */
function flat(iov: readonly Uint8Array[]): number[] {
  return iov.flatMap((v) => [...v]);
}

const iovArb = fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 6 });

test('byteLength and iovAfter describe the flat bytes', () => {
  fc.assert(
    fc.property(iovArb, fc.nat(130), (iov, n) => {
      assert.equal(byteLength(iov), flat(iov).length);
      assert.deepEqual(flat(iovAfter(iov, n)), flat(iov).slice(n));
      assert.ok(iovAfter(iov, n).every((v) => v.length > 0), 'no empty views');
    }),
  );
});

test('iovSplit cuts into pieces of at most max bytes at their positions', () => {
  fc.assert(
    fc.property(iovArb, fc.integer({ min: 1, max: 33 }), (iov, max) => {
      const all = flat(iov);
      const pieces = iovSplit(iov, max);
      let at = 0;
      for (const p of pieces) {
        assert.equal(p.at, at);
        assert.ok(p.length > 0 && p.length <= max);
        assert.equal(byteLength(p.iov), p.length);
        assert.deepEqual(flat(p.iov), all.slice(at, at + p.length));
        at += p.length;
      }
      assert.equal(at, all.length);
    }),
  );
});

test('the pieces are views of the caller\'s buffers', () => {
  const a = new Uint8Array(10);
  const [first] = iovSplit([a], 4);
  first.iov[0][0] = 7;
  assert.equal(a[0], 7);
  const rest = iovAfter([a], 3);
  rest[0][0] = 9;
  assert.equal(a[3], 9);
});
