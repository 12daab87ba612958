/*
 * Mappings through the library: shared mappings share the file's pages
 * with read/write at once; private ones copy on write and never change the
 * file; access past EOF is SIGBUS; mprotect, mincore, madvise; and the
 * classic partial-page bug: bytes a mapping wrote past EOF never show when
 * the file grows again.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, VmError } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const P = 4096;
const data = randomBytes(10 * P + 1000, 3);
const base = join(tmp.dir, 'base.img');
mkext2(base, [{ path: 'f', data }], { type: 'ext2', blockSize: 1024, size: 8 << 20 });
let n = 0;

async function fresh(readOnly = false) {
  const image = join(tmp.dir, `m${n++}.img`);
  copyFileSync(base, image);
  const vm = new Vm({ memory: 256 * 1024 });
  const fs = await vm.mount(image, { readOnly });
  const f = await fs.open('/f');
  return { image, vm, fs, f };
}

const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

test('a shared mapping reads the file, and its writes are seen by read() at once and reach the disk on msync', async () => {
  const { image, fs, f } = await fresh();
  const m = await f.mmap({ writable: true });
  assert.ok(eq(await m.read(0, data.length), data));
  const patch = randomBytes(5000, 9);
  await m.write(3 * P + 100, patch);
  assert.ok(eq(await f.read(3 * P + 100, 5000), patch), 'read() sees the store');
  const m2 = await f.mmap();
  assert.ok(eq(await m2.read(3 * P + 100, 5000), patch), 'another mapping sees it');
  await m.sync();
  await m.unmap();
  await m2.unmap();
  await f.close();
  await fs.unmount();
  const want = Buffer.from(data);
  want.set(patch, 3 * P + 100);
  assert.ok(debugfsCat(image, '/f').equals(want));
  assert.ok(e2fsck(image).clean);
});

test('a private mapping copies on write and never changes the file', async () => {
  const { image, fs, f } = await fresh();
  const m = await f.mmap({ shared: false, writable: true });
  const patch = randomBytes(3000, 11);
  await m.write(2 * P - 500, patch);
  assert.ok(eq(await m.read(2 * P - 500, 3000), patch), 'the mapping sees its copy');
  assert.ok(eq(await f.read(2 * P - 500, 3000), data.subarray(2 * P - 500, 2 * P + 2500)), 'the file does not');
  // A later store to the file shows in untouched pages of the private mapping, not in copied ones.
  await f.write(5 * P, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...(await m.read(5 * P, 3))], [1, 2, 3]);
  await m.unmap();
  await f.close();
  await fs.unmount();
  const want = Buffer.from(data);
  want.set([1, 2, 3], 5 * P);
  assert.ok(debugfsCat(image, '/f').equals(want));
});

test('access past the end of the file is SIGBUS; bytes past EOF in the last page read as zeros', async () => {
  const { fs, f } = await fresh();
  const m = await f.mmap({ length: 12 * P });
  const tail = await m.read(10 * P, P);
  assert.ok(eq(tail.subarray(0, 1000), data.subarray(10 * P)));
  assert.ok(tail.subarray(1000).every((b) => b === 0));
  await assert.rejects(m.read(11 * P, 1), (e: VmError) => e.code === 'SIGBUS');
  await f.truncate(P + 10);
  await assert.rejects(m.read(2 * P, 1), (e: VmError) => e.code === 'SIGBUS', 'after a truncation too');
  await assert.rejects(m.read(12 * P, 1), (e: VmError) => e.code === 'EFAULT', 'outside the mapping');
  await m.unmap();
  await f.close();
  await fs.unmount();
});

test('the partial-page bug: a store past EOF, truncate down, extend: the gap reads zeros, also after remount', async () => {
  const { image, fs, f } = await fresh();
  const m = await f.mmap({ writable: true, length: 11 * P });
  await m.write(10 * P + 1000, new Uint8Array(2000).fill(0xee)); // past EOF, inside the last page
  await m.sync();
  await f.truncate(10 * P + 500);
  await f.truncate(10 * P + 3500);
  const gap = await f.read(10 * P + 500, 3000);
  assert.ok(gap.every((b) => b === 0), 'gap is zeros');
  await m.unmap();
  await f.close();
  await fs.unmount();
  const back = debugfsCat(image, '/f');
  assert.ok(back.subarray(10 * P + 500).every((b) => b === 0), 'and on disk');
  assert.ok(e2fsck(image).clean);
});

test('mprotect, mincore and madvise', async () => {
  const { fs, f } = await fresh();
  const m = await f.mmap();
  await assert.rejects(m.write(0, new Uint8Array(1)), (e: VmError) => e.code === 'EACCES');
  m.mprotect('rw');
  await m.write(0, new Uint8Array([7]));
  m.mprotect('none');
  await assert.rejects(m.read(0, 1), (e: VmError) => e.code === 'EACCES');
  m.mprotect('r');
  m.madvise('dontneed');
  await m.read(0, 1);
  const core = m.mincore();
  assert.equal(core.length, 11);
  assert.ok(core[0]);
  m.madvise('random');
  m.madvise('willneed', 6 * P, 2 * P);
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(m.mincore()[6] && m.mincore()[7], 'willneed read the pages in');
  await m.unmap();
  await f.close();
  await fs.unmount();
});

test('a read-only mount gives no writable shared mapping, but a writable private one', async () => {
  const { fs, f } = await fresh(true);
  await assert.rejects(f.mmap({ writable: true }), (e: VmError) => e.code === 'EROFS');
  const m = await f.mmap({ shared: false, writable: true });
  await m.write(0, new Uint8Array([1]));
  assert.equal((await m.read(0, 1))[0], 1);
  await fs.unmount();
  await assert.rejects(m.read(0, 1), (e: VmError) => e.code === 'EINVAL', 'unmount unmapped it');
});
