/*
 * Sizes as the command line takes them (parseSize): bytes, powers of 1024
 * by letter, and fractions only where they come to whole bytes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize } from '../../src/api/size.js';

test('sizes in bytes and in K, M, G, T (KiB ... TiB, any case) are powers of 1024', () => {
  const cases: Array<[string, number]> = [['4096', 4096], ['64K', 65536], ['64KiB', 65536], ['1m', 2 ** 20], ['2GiB', 2 ** 31], ['1T', 2 ** 40], ['10b', 10], [' 7 ', 7]];
  for (const [text, n] of cases) assert.equal(parseSize(text), n, text);
});

test('a fraction is a size only when it comes to whole bytes: 1.5M is, 1.5 and 0.3K are not', () => {
  assert.equal(parseSize('1.5M'), 1.5 * 2 ** 20);
  assert.equal(parseSize('0.5K'), 512);
  for (const text of ['1.5', '0.3K', '1.0000001M', '', 'x', '1Ki', '-1', '1e3', '9007199254740993']) assert.equal(parseSize(text), null, text);
});
