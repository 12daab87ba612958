/*
 * File.writeFrom: bytes a source puts straight into the page frames. New
 * files and overwrites equal what debugfs reads back, with e2fsck clean,
 * for 1 and 4 KiB blocks and 4 and 16 KiB pages, with frames few enough
 * that batches are cut short and pages go out under the write. A source that
 * ends early leaves exactly the bytes it gave (a grown file is cut back, its
 * blocks freed; old bytes past the end stay, even in a page it filled in
 * part); one that throws keeps what it filled and the error comes back;
 * one that claims more than it was given is refused. With advise('noreuse')
 * each batch is written behind and its frames reused; on a failing device
 * the pages stay dirty and sync reports EIO until the device heals.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaultyDisk, MemDisk, Vm, VmError, type FrameSource } from '../../src/api/index.js';
import { debugfs, debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** A source giving data from `at` on, at most `limit` bytes in all; records its batches. */
function sourceOf(data: Uint8Array, limit = data.length): { source: FrameSource; batches: number[] } {
  let at = 0;
  const batches: number[] = [];
  return {
    source: (frames) => {
      let n = 0;
      for (const v of frames) {
        const k = Math.min(v.length, Math.min(limit, data.length) - at);
        if (k <= 0) break;
        v.set(data.subarray(at, at + k));
        at += k;
        n += k;
        if (k < v.length) break;
      }
      batches.push(n);
      return n;
    },
    batches,
  };
}

function blocksOf(image: string, path: string): number {
  const m = /Blockcount:\s*(\d+)/.exec(debugfs(image, `stat ${path}`));
  assert.ok(m, 'debugfs stat shows a block count');
  return Number(m[1]);
}

for (const [bs, page] of [[1024, 4096], [4096, 4096], [4096, 16384]] as const) {
  test(`writeFrom writes new files and ranges as debugfs reads them (${bs}-byte blocks, ${page}-byte pages, 256 KiB of frames)`, async () => {
    const image = join(tmp.dir, `w${bs}-${page}.img`);
    const old = randomBytes(300_000, 7);
    mkext2(image, [{ path: 'old', data: old }], { type: 'ext2', blockSize: bs, size: 16 << 20 });
    const vm = new Vm({ memory: 256 << 10, pageSize: page });
    const fs = await vm.mount(image, { readOnly: false });
    const want = new Map<string, Uint8Array>();
    for (const n of [1, 4095, 4096, 4097, 70_000, (2 << 20) + 3]) {
      const data = randomBytes(n, n);
      const f = await fs.open(`/new-${n}`, { create: true });
      const s = sourceOf(data);
      assert.equal(await f.writeFrom(s.source, 0, n), n);
      assert.equal(f.size, n);
      assert.ok(s.batches.every((b) => b > 0 && b <= 1 << 20), 'batches of at most a cluster');
      if (n > 256 << 10) assert.ok(s.batches.length > 4, 'memory cut the batches short');
      await f.close();
      want.set(`/new-${n}`, data);
    }
    // Into an existing file: inside it, across its end, and at an offset off any page boundary.
    const f = await fs.open('/old');
    const expect = Buffer.alloc(350_000);
    expect.set(old);
    for (const [off, len] of [[5000, 20_000], [page, 3 * page], [290_000, 60_000]]) {
      const data = randomBytes(len, off);
      assert.equal(await f.writeFrom(sourceOf(data).source, off, len), len);
      expect.set(data, off);
    }
    assert.equal(f.size, 350_000);
    await f.close();
    want.set('/old', expect);
    await fs.unmount();
    for (const [path, data] of want) assert.ok(debugfsCat(image, path).equals(Buffer.from(data)), `${path} as debugfs reads it`);
    const ck = e2fsck(image);
    assert.ok(ck.clean, ck.output);
  });
}

test('writeFrom: a source that ends early leaves exactly its bytes; a grown file is cut back and its blocks freed', async () => {
  const image = join(tmp.dir, 'short.img');
  const old = randomBytes(64 << 10, 3);
  mkext2(image, [{ path: 'old', data: old }], { type: 'ext2', blockSize: 1024, size: 8 << 20 });
  // A cold cache: the pages of /old are not resident when the short fill ends inside one.
  let vm = new Vm({ memory: 256 << 10 });
  let fs = await vm.mount(image, { readOnly: false });
  const fresh = randomBytes(1 << 20, 4);
  const g = await fs.open('/grown', { create: true });
  assert.equal(await g.writeFrom(sourceOf(fresh, 10_000).source, 0, 1 << 20), 10_000);
  assert.equal(g.size, 10_000);
  assert.equal(await g.writeFrom(() => 0, 50_000, 4096), 0, 'a source with nothing at all');
  assert.equal(g.size, 10_000, 'leaves the file as it was, past its end too');
  await g.close();
  const f = await fs.open('/old');
  const mid = randomBytes(32 << 10, 5);
  assert.equal(await f.writeFrom(sourceOf(mid, 6000).source, 4096, 32 << 10), 6000);
  assert.equal(f.size, 64 << 10, 'a write inside the file does not change its size');
  const expect = Buffer.from(old);
  expect.set(mid.subarray(0, 6000), 4096);
  assert.ok(Buffer.from(await f.read(0, 64 << 10)).equals(expect), 'old bytes after the short end, in the same page too');
  await f.close();
  await fs.unmount();
  assert.ok(debugfsCat(image, '/grown').equals(Buffer.from(fresh.subarray(0, 10_000))));
  assert.ok(debugfsCat(image, '/old').equals(expect));
  assert.equal(blocksOf(image, '/grown'), 10 * 2, 'ten 1 KiB blocks (in 512-byte sectors), none left from the 1 MiB asked for');
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);

  // A source that throws after its first batch: what it filled stays, the error comes back.
  vm = new Vm({ memory: 256 << 10 });
  fs = await vm.mount(image, { readOnly: false });
  const t = await fs.open('/thrown', { create: true });
  const first = sourceOf(fresh);
  let calls = 0;
  const boom = new Error('source failed');
  await assert.rejects(
    t.writeFrom((frames) => {
      if (calls++ > 0) throw boom;
      return first.source(frames);
    }, 0, 1 << 20),
    (e) => e === boom,
  );
  const kept = first.batches[0];
  assert.ok(kept > 0 && kept < 1 << 20);
  assert.equal(t.size, kept);
  // And one that claims more than it was given is refused, the file left as it was.
  await assert.rejects(t.writeFrom((frames) => frames.reduce((n, v) => n + v.length, 0) + 1, 0, 8192), RangeError);
  assert.equal(t.size, kept);
  await t.close();
  await fs.unmount();
  assert.ok(debugfsCat(image, '/thrown').equals(Buffer.from(fresh.subarray(0, kept))));
  const ck2 = e2fsck(image);
  assert.ok(ck2.clean, ck2.output);
});

for (const type of ['ext2', 'ext4'] as const) {
  test(`writeFrom asked for more than the free space succeeds when its source ends within it (${type})`, async () => {
    const image = join(tmp.dir, `roomy-${type}.img`);
    mkext2(image, [{ path: 'old', data: randomBytes(3000, 11) }], { type, blockSize: 1024, size: 4 << 20 });
    const free = freeBlocks(image);
    const data = randomBytes(Math.floor(free / 2) * 1024 + 5, 12);
    const vm = new Vm({ memory: 256 << 10 });
    const fs = await vm.mount(image, { readOnly: false });
    const f = await fs.open('/fits', { create: true });
    assert.equal(await f.writeFrom(sourceOf(data).source, 0, 4 * free * 1024), data.length);
    assert.equal(f.size, data.length);
    await f.close();
    await fs.unmount();
    assert.ok(debugfsCat(image, '/fits').equals(Buffer.from(data)));
    assert.ok(freeBlocks(image) > 0 && freeBlocks(image) < free / 2, 'the blocks asked for past the end are free again');
    const ck = e2fsck(image);
    assert.ok(ck.clean, ck.output);
  });
}

/** The superblock's free block count, as dumpe2fs -h reads it. */
function freeBlocks(image: string): number {
  const m = /^Free blocks:\s*(\d+)/m.exec(execFileSync('dumpe2fs', ['-h', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  assert.ok(m, 'dumpe2fs shows the free block count');
  return Number(m[1]);
}

test("writeFrom with advise('noreuse') writes each batch behind and reuses its frames", async () => {
  const image = join(tmp.dir, 'behind.img');
  mkext2(image, [], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(image, { readOnly: false });
  const data = randomBytes((6 << 20) + 123, 11);
  const f = await fs.open('/stream', { create: true });
  f.advise('noreuse');
  const s = sourceOf(data);
  const before = vm.stats();
  assert.equal(await f.writeFrom(s.source, 0, data.length), data.length);
  const after = vm.stats();
  // Every batch went out as it was filled: nothing waited for the page daemon, and the file's pages are gone.
  assert.equal(after.pagesFreedByDaemon - before.pagesFreedByDaemon, 0, 'no page needed reclaiming');
  assert.ok(after.vnodeout - before.vnodeout >= s.batches.length, 'a transfer per batch at least');
  assert.ok(after.pages.free >= after.pages.total - 1, 'the frames are free again');
  await f.close();
  await fs.unmount();
  assert.ok(debugfsCat(image, '/stream').equals(Buffer.from(data)));
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test("writeFrom's write-behind on a failing device keeps the pages dirty; sync reports EIO, then succeeds once healed", async () => {
  const image = join(tmp.dir, 'behind-fail.img');
  mkext2(image, [], { type: 'ext2', blockSize: 4096, size: 8 << 20 });
  const dev = new FaultyDisk(new MemDisk(new Uint8Array(readFileSync(image))));
  const vm = new Vm({ memory: 4 << 20 });
  const fs = await vm.mount(dev, { readOnly: false });
  const data = randomBytes((2 << 20) + 5, 12);
  const f = await fs.open('/f', { create: true });
  f.advise('noreuse');
  dev.failWrites = true;
  assert.equal(await f.writeFrom(sourceOf(data).source, 0, data.length), data.length);
  await assert.rejects(f.sync(), (e) => e instanceof VmError && e.code === 'EIO');
  assert.ok(Buffer.from(await f.read(0, data.length)).equals(Buffer.from(data)), 'the bytes are still in the pages');
  dev.failWrites = false;
  await f.sync();
  await f.close();
  await fs.unmount();
  writeFileSync(image, (dev.inner as MemDisk).data);
  assert.ok(debugfsCat(image, '/f').equals(Buffer.from(data)));
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});
