/*
 * Large directories and damaged trees: lookups through dirhash agree with a
 * scan, and walk() (ls -R) enters each directory once even when a damaged
 * image links a directory into its own subtree.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm, VmError } from '../../src/api/index.js';
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
