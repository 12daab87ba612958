/*
 * The per-DEV_BSIZE valid and dirty bits of a page, word-at-a-time, against
 * a model that keeps one boolean per block, for page sizes 512 B to 64 KiB
 * (1 to 128 blocks: less than one word, exactly one, several).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VmPage } from '../../src/vm/vm_page.js';
import { vmPageBlockDirty, vmPageBlockValid, vmPageAllValid, vmPageAnyValid, vmPageClearDirtyBlocks, vmPageInvalidate, vmPageIsDirty, vmPageIsValid, vmPageSetAllValidClean, vmPageSetDirty, vmPageSetValidClean } from '../../src/vm/vm_page_bits.js';

const DEV = 512;

test('valid and dirty bits agree with a per-block model', () => {
  const op = fc.record({ kind: fc.integer({ min: 0, max: 5 }), a: fc.nat(), b: fc.nat() });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 7 }), fc.array(op, { maxLength: 40 }), (shift, ops) => {
      const size = DEV << shift;
      const blocks = size / DEV;
      const words = Math.ceil(blocks / 32);
      // The page's words sit between a neighbour's on either side, which must not change.
      const bits = new Uint32Array(6 * words).fill(0x5a5a5a5a);
      const m = new VmPage(1, bits, 2 * words, words);
      bits.fill(0, 2 * words, 4 * words);
      m.frame = new Uint8Array(size);
      const valid = new Array<boolean>(blocks).fill(false);
      const dirty = new Array<boolean>(blocks).fill(false);
      for (const { kind, a, b } of ops) {
        const off = a % size;
        const len = 1 + (b % (size - off));
        const first = Math.floor(off / DEV);
        const last = Math.floor((off + len - 1) / DEV);
        if (kind === 0) {
          vmPageSetDirty(m, off, len);
          for (let i = first; i <= last; i++) valid[i] = dirty[i] = true;
        } else if (kind === 1) {
          vmPageSetValidClean(m, off, len);
          // Only blocks covered whole.
          for (let i = Math.ceil(off / DEV); i < Math.floor((off + len) / DEV); i++) (valid[i] = true), (dirty[i] = false);
        } else if (kind === 2) {
          vmPageClearDirtyBlocks(m, first, last - first + 1);
          for (let i = first; i <= last; i++) dirty[i] = false;
        } else if (kind === 3) {
          vmPageSetAllValidClean(m);
          valid.fill(true);
          dirty.fill(false);
        } else if (kind === 4) {
          vmPageInvalidate(m);
          valid.fill(false);
          dirty.fill(false);
        } else {
          assert.equal(vmPageIsValid(m, off, len), valid.slice(first, last + 1).every(Boolean), `vmPageIsValid(${off}, ${len}) of ${size}`);
        }
        for (let i = 0; i < blocks; i++) {
          assert.equal(vmPageBlockValid(m, i), valid[i], `valid block ${i} of ${blocks}`);
          assert.equal(vmPageBlockDirty(m, i), dirty[i], `dirty block ${i} of ${blocks}`);
        }
        assert.equal(vmPageAllValid(m), valid.every(Boolean));
        for (let i = 0; i < 2 * words; i++) {
          assert.equal(bits[i], 0x5a5a5a5a, `the page before: word ${i} untouched`);
          assert.equal(bits[4 * words + i], 0x5a5a5a5a, `the page after: word ${i} untouched`);
        }
        assert.equal(vmPageAnyValid(m), valid.some(Boolean));
        assert.equal(vmPageIsDirty(m), dirty.some(Boolean));
      }
    }),
    { numRuns: 300 },
  );
});
