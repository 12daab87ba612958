/*
 * VmRadix against a Map: any mix of set, delete, get and has agrees, size
 * counts, values and keys come in ascending index order; indexes past 2^32
 * (a huge sparse file with small pages) work too.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VmRadix } from '../../src/vm/vm_radix.js';

test('VmRadix behaves as a Map of indexes, in index order', () => {
  const index = fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2 ** 40 }));
  const op = fc.record({ kind: fc.integer({ min: 0, max: 3 }), i: index });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const r = new VmRadix<number>();
      const m = new Map<number, number>();
      for (const [n, { kind, i }] of ops.entries()) {
        if (kind <= 1) {
          r.set(i, n);
          m.set(i, n);
        } else if (kind === 2) {
          assert.equal(r.delete(i), m.delete(i));
        } else {
          assert.equal(r.get(i), m.get(i));
          assert.equal(r.has(i), m.has(i));
        }
        assert.equal(r.size, m.size);
      }
      const keys = [...m.keys()].sort((a, b) => a - b);
      assert.deepEqual(r.keys(), keys);
      assert.deepEqual(r.values(), keys.map((k) => m.get(k)));
    }),
    { numRuns: 300 },
  );
});
