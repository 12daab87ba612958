/*
 * Bounded metadata: the limits derived from the Vm's memory (vfs_limits),
 * held while more files are opened and listed than the limit allows: the
 * in-core vnodes stay at the limit, cached objects at theirs, and a vnode
 * recycled with dirty pages (left by a mapping) is written back first —
 * its bytes read back after a remount and e2fsck -fn finds the image clean.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm } from '../../src/api/index.js';
import { vfsLimits } from '../../src/vfs/vfs_limits.js';
import { vmPageIsDirty } from '../../src/vm/vm_page_bits.js';
import { e2fsck, mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const MEMORY = 2 << 20; // the floor: 64 vnodes, 8 cached objects
const FILES = 300;

function tree(): TreeFile[] {
  const files: TreeFile[] = [];
  for (let i = 0; i < FILES; i++) files.push({ path: `d${i % 3}/f${i}`, data: randomBytes(100 + i * 13, 500 + i) });
  return files;
}

test('the limits grow with memory between their floors and ceilings', () => {
  const small = vfsLimits(MEMORY);
  assert.deepEqual(small, { maxVnodes: 64, objectCacheMax: 8, bufcacheBytes: 1 << 20, dirhashMaxEntries: 4096 });
  const dflt = vfsLimits(64 << 20);
  assert.deepEqual(dflt, { maxVnodes: 512, objectCacheMax: 64, bufcacheBytes: 4 << 20, dirhashMaxEntries: 131072 });
  const big = vfsLimits(64 * 2 ** 30);
  assert.ok(big.maxVnodes === 1 << 18 && big.bufcacheBytes === 256 << 20, 'ceilings');
  assert.ok(big.objectCacheMax < big.maxVnodes && small.objectCacheMax < small.maxVnodes, 'cached objects hold their vnodes: fewer than the limit');
});

test('opening and listing more files than the limit keeps the in-core vnodes at the limit', async () => {
  const files = tree();
  const image = join(tmp.dir, 'many.img');
  mkext2(image, files, { type: 'ext4', size: 16 << 20 });
  const vm = new Vm({ memory: MEMORY });
  const fs = await vm.mount(image, { readOnly: true });
  const { maxVnodes, objectCacheMax } = vfsLimits(MEMORY);
  let most = 0;
  let listed = 0;
  await fs.walk('/', () => {
    listed++;
    most = Math.max(most, fs.mp.vnodelist.size);
  });
  assert.equal(listed, FILES + 3 + 1, 'every file, the three directories and lost+found');
  for (const { path, data } of files) {
    const f = await fs.open(`/${path}`);
    assert.ok(Buffer.from(await f.read(0, data!.length)).equals(Buffer.from(data!)), path);
    await f.close();
    most = Math.max(most, fs.mp.vnodelist.size);
    assert.ok(vm.sys.objectCache.size <= objectCacheMax, `cached objects ${vm.sys.objectCache.size}`);
  }
  assert.ok(most <= maxVnodes, `in-core vnodes peaked at ${most}, the limit is ${maxVnodes}`);
  assert.ok(fs.mp.vnodelist.size >= maxVnodes - 1, `still at the limit after the walk (${fs.mp.vnodelist.size}): recycled, not dropped early`);
  await fs.unmount();
});

test('a vnode recycled with dirty pages is written back first: nothing is lost', async () => {
  const files = tree();
  const image = join(tmp.dir, 'dirty.img');
  mkext2(image, files, { type: 'ext4', size: 16 << 20 });
  const vm = new Vm({ memory: MEMORY });
  const fs = await vm.mount(image, { readOnly: false });
  const target = `/${files[5].path}`;
  const bytes = randomBytes(files[5].data!.length, 77);
  const f = await fs.open(target);
  const ino = f.vp.ino;
  const obj = f.object;
  // A shared mapping outlives the file's close (as munmap after close(2)); its writes after the close
  // stay in the object's pages when it goes: dirty, the vnode held by the cached object alone.
  const m = await f.mmap({ offset: 0, length: bytes.length, shared: true, writable: true });
  await f.close();
  await m.write(0, bytes);
  await m.unmap();
  assert.ok([...obj.pages.values()].some((p) => vmPageIsDirty(p)), 'dirty pages left in the cached object');
  assert.ok(fs.mp.vnodeHash.has(ino));
  // More files than the limits: the object is trimmed from the cache and its vnode recycled.
  for (const { path } of files) {
    const g = await fs.open(`/${path}`);
    await g.read(0, 10);
    await g.close();
  }
  assert.ok(!fs.mp.vnodeHash.has(ino) || fs.mp.vnodeHash.get(ino) !== f.vp, 'the vnode was recycled');
  assert.ok(![...obj.pages.values()].length, 'the object\'s pages were freed');
  await fs.unmount();
  const fsck = e2fsck(image);
  assert.ok(fsck.clean, fsck.output);
  const again = await new Vm({ memory: MEMORY }).mount(image, { readOnly: true });
  const g = await again.open(target);
  assert.ok(Buffer.from(await g.read(0, bytes.length)).equals(Buffer.from(bytes)), 'the mapped write reached the disk');
  await g.close();
  await again.unmount();
});
