/*
 * Large directories and damaged trees: lookups through dirhash agree with a
 * scan, and walk() (ls -R) enters each directory once even when a damaged
 * image links a directory into its own subtree.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { Vm, VmError } from '../../src/api/index.js';
import { compareUtf8 } from '../../src/api/mounted_fs.js';
import { debugfsScript, mkext2, tempDir, type TreeFile } from '../helpers/images.js';

const tmp = tempDir();
const big = join(tmp.dir, 'big.img');
const loop = join(tmp.dir, 'loop.img');
const N = 3000;

before(() => {
  const files: TreeFile[] = [];
  for (let i = 0; i < N; i++) files.push({ path: `many/file-${i}`, data: new TextEncoder().encode(`${i}\n`) });
  mkext2(big, files, { type: 'ext4', size: 16 << 20 });
  mkext2(loop, [{ path: 'a/b/c/f', data: new TextEncoder().encode('x') }], { type: 'ext2', size: 2 << 20 });
  // Link /a into its own grandchild: a loop e2fsck would report, and a naive walk would never leave.
  debugfsScript(loop, ['link /a /a/b/c/back'], true);
});
after(() => tmp.cleanup());

test('every name of a large directory is found by lookup (dirhash), and absent names are not', async () => {
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(big);
  try {
    for (let i = N - 1; i >= 0; i -= 7) {
      const f = await fs.open(`/many/file-${i}`);
      assert.equal(new TextDecoder().decode(await f.read(0, 100)), `${i}\n`);
      await f.close();
    }
    for (const name of ['file-3000', 'file-', 'FILE-1', 'file-1 ']) {
      await assert.rejects(fs.open(`/many/${name}`), (e: VmError) => e.code === 'ENOENT');
    }
  } finally {
    await fs.unmount();
  }
});

test('walk() lists a large directory once per entry', async () => {
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(big);
  const seen: string[] = [];
  await fs.walk('/many', (p) => seen.push(p));
  await fs.unmount();
  assert.equal(seen.length, N);
  assert.equal(new Set(seen).size, N);
});

test('walk() ends on a directory linked into its own subtree, entering it once', async () => {
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(loop);
  const seen: string[] = [];
  await fs.walk('/', (p) => seen.push(p));
  await fs.unmount();
  assert.ok(seen.includes('/a/b/c/back'), 'the looping entry is listed');
  assert.ok(!seen.some((p) => p.startsWith('/a/b/c/back/')), 'but not entered');
  assert.ok(seen.includes('/a/b/c/f'));
});

test('names sort in the order of their UTF-8 bytes, as ls sorts them, astral characters past U+E000..U+FFFF included', () => {
  const enc = new TextEncoder();
  const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(enc.encode(a)), Buffer.from(enc.encode(b)));
  assert.ok(compareUtf8('\u{1F600}', '\uFFFD') > 0, 'an emoji (4 bytes, F0..) after U+FFFD (EF BF BD)');
  assert.ok(compareUtf8('\uE000', '\u{10000}') < 0);
  assert.ok(compareUtf8('a', 'ab') < 0 && compareUtf8('B', 'a') < 0 && compareUtf8('x', 'x') === 0);
  const name = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'b', '\uE000', '\uFFFD', '\u00e9'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 6 });
  fc.assert(fc.property(name, name, (a, b) => Math.sign(compareUtf8(a, b)) === Math.sign(byBytes(a, b))), { numRuns: 5000 });
});
