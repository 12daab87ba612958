/*
 * Failing devices under the pager, through the library: a read error or a
 * short read surfaces as EIO naming the path, frees the cluster's pages and
 * leaves nothing half-read to be served; once the device heals the same
 * reads return the right bytes. A stalled device holds reads until released.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FaultyDisk, Vm, VmError } from '../../src/api/index.js';
import { ImageDevice } from '../../src/dev/image.js';
import { mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
const image = join(tmp.dir, 'fs.img');
const data = randomBytes(2 << 20, 5);
before(() => mkext2(image, [{ path: 'f', data }], { type: 'ext4', blockSize: 4096, size: 16 << 20 }));
after(() => tmp.cleanup());

async function mountFaulty(): Promise<{ vm: Vm; dev: FaultyDisk; fs: Awaited<ReturnType<Vm['mount']>> }> {
  const { dev: inner } = await ImageDevice.open(image, true);
  const dev = new FaultyDisk(inner!);
  const vm = new Vm({ memory: 512 * 1024 });
  return { vm, dev, fs: await vm.mount(dev) };
}

for (const mode of ['failReads', 'shortReads'] as const) {
  test(`${mode}: EIO with the path, no page kept, correct bytes once healed`, async () => {
    const { vm, dev, fs } = await mountFaulty();
    const f = await fs.open('/f');
    const resident = vm.stats().pages.total - vm.stats().pages.free;
    dev[mode] = true;
    await assert.rejects(f.read(1 << 20, 100_000), (e: VmError) => e.code === 'EIO' && /fs\.img: \/f: input\/output error$/.test(e.message));
    assert.equal(vm.stats().pages.total - vm.stats().pages.free, resident, 'the failed cluster left no page behind');
    dev[mode] = false;
    const got = await f.read(0, data.length);
    assert.ok(Buffer.from(got).equals(Buffer.from(data)), 'nothing half-read is served');
    await f.close();
    await fs.unmount();
  });
}

test('a read error inside a bad range fails only reads that touch it', async () => {
  const { dev, fs } = await mountFaulty();
  const f = await fs.open('/f');
  const st = await fs.stat('/f');
  const bad = st.blockMap[0].physical! * 4096 + (1 << 20); // the file's second MiB, if contiguous
  dev.badRanges = [{ start: bad, end: bad + 4096 }];
  await assert.rejects(f.read(1 << 20, 4096), (e: VmError) => e.code === 'EIO');
  assert.ok(Buffer.from(await f.read(0, 4096)).equals(Buffer.from(data.subarray(0, 4096))));
  dev.badRanges = [];
  assert.ok(Buffer.from(await f.read(1 << 20, 4096)).equals(Buffer.from(data.subarray(1 << 20, (1 << 20) + 4096))));
  await f.close();
  await fs.unmount();
});

test('a stalled device holds a read until released; two readers of one page share one transfer', async () => {
  const { dev, fs } = await mountFaulty();
  const f = await fs.open('/f');
  dev.stall = true;
  const reads0 = dev.reads;
  const a = f.read(300_000, 10);
  const b = f.read(300_005, 10);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(dev.pending >= 1);
  dev.stall = false;
  dev.release();
  assert.ok(Buffer.from(await a).equals(Buffer.from(data.subarray(300_000, 300_010))));
  assert.ok(Buffer.from(await b).equals(Buffer.from(data.subarray(300_005, 300_015))));
  assert.ok(dev.reads - reads0 <= 2, `${dev.reads - reads0} device reads for one page`);
  await f.close();
  await fs.unmount();
});
