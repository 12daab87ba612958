/*
 * RangeSet against a Set of integers: any mix of adding and deleting single
 * members and ranges agrees on membership, size, nextFrom and prevFrom; the
 * runs come ascending, disjoint and never touching (so each extent is one
 * run); deleteRange to Infinity cuts everything from a point on.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RangeSet } from '../../src/kern/rangeset.js';

const MAX = 120;

test('RangeSet behaves as a Set of integers kept in runs', () => {
  const op = fc.record({
    kind: fc.integer({ min: 0, max: 4 }),
    lo: fc.integer({ min: 0, max: MAX }),
    len: fc.integer({ min: 0, max: 30 }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const r = new RangeSet();
      const m = new Set<number>();
      for (const { kind, lo, len } of ops) {
        const hi = lo + len;
        if (kind === 0) {
          r.add(lo);
          m.add(lo);
        } else if (kind === 1) {
          r.addRange(lo, hi);
          for (let x = lo; x < hi; x++) m.add(x);
        } else if (kind === 2) {
          r.delete(lo);
          m.delete(lo);
        } else if (kind === 3) {
          r.deleteRange(lo, hi);
          for (let x = lo; x < hi; x++) m.delete(x);
        } else {
          r.deleteRange(lo, Infinity);
          for (const x of [...m]) if (x >= lo) m.delete(x);
        }
        assert.equal(r.size, m.size);
      }
      const sorted = [...m].sort((a, b) => a - b);
      assert.deepEqual([...r], sorted);
      let prevEnd = -2;
      for (const [s, e] of r.runs()) {
        assert.ok(s < e, 'a run is not empty');
        assert.ok(s > prevEnd, 'runs are disjoint and do not touch');
        prevEnd = e;
      }
      for (let x = 0; x <= MAX + 32; x++) {
        assert.equal(r.has(x), m.has(x), `has ${x}`);
        assert.equal(r.nextFrom(x), sorted.find((y) => y >= x) ?? -1, `nextFrom ${x}`);
        assert.equal(r.prevFrom(x), [...sorted].reverse().find((y) => y <= x) ?? -1, `prevFrom ${x}`);
      }
    }),
    { numRuns: 400 },
  );
});

test('RangeSet: blocks added in order make one run; clear empties it', () => {
  const r = new RangeSet();
  for (let l = 1000; l < 1000 + 131072; l++) r.add(l);
  assert.deepEqual([...r.runs()], [[1000, 1000 + 131072]]);
  assert.equal(r.size, 131072);
  r.deleteRange(1000, 2000); // page-out from the front
  r.delete(5000); // and one in the middle splits it
  assert.deepEqual([...r.runs()], [[2000, 5000], [5001, 1000 + 131072]]);
  assert.equal(r.size, 131072 - 1001);
  r.clear();
  assert.equal(r.size, 0);
  assert.deepEqual([...r], []);
});
