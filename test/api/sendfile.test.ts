/*
 * File.sendfile: the file's bytes straight from the page frames. Whole files
 * and ranges equal what mke2fs stored, with frames few enough that pages are
 * evicted under the transfer; holes read as zeros; a sink's batch stays put
 * while the sink has it (a write waits); a failing sink ends the transfer and
 * leaves no page busy; a truncation under the transfer ends it at the new EOF.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Vm, VmError } from '../../src/api/index.js';
import { HOLE_BATCH } from '../../src/vm/vm_sendfile.js';
import { mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const sizes = [0, 1, 4095, 4096, 4097, (3 << 20) + 5];
const files = sizes.map((n, i) => ({ path: `f${n}`, data: randomBytes(n, 100 + i) }));

function collect(): { sink: (frames: readonly Uint8Array[]) => void; bytes: () => Buffer; batches: number[] } {
  const parts: Buffer[] = [];
  const batches: number[] = [];
  return {
    // Copy now: the views are the page frames, valid only during the call.
    sink: (frames) => {
      let n = 0;
      for (const f of frames) {
        parts.push(Buffer.from(f));
        n += f.length;
      }
      batches.push(n);
    },
    bytes: () => Buffer.concat(parts),
    batches,
  };
}

for (const bs of [1024, 4096]) {
  test(`sendfile gives every file and range byte for byte (${bs}-byte blocks, 256 KiB of frames)`, async () => {
    const image = join(tmp.dir, `s${bs}.img`);
    mkext2(image, files, { type: 'ext2', blockSize: bs, size: 16 << 20 });
    const vm = new Vm({ memory: 256 << 10 });
    const fs = await vm.mount(image, { readOnly: true });
    for (const { path, data } of files) {
      const f = await fs.open(`/${path}`);
      const c = collect();
      assert.equal(await f.sendfile(c.sink), data.length);
      assert.ok(c.bytes().equals(Buffer.from(data)), `${path} whole`);
      assert.ok(c.batches.every((n) => n > 0 && n <= 64 << 10), `${path}: batches of at most a quarter of memory`);
      for (const [off, len] of [[0, 1], [1, 4096], [4095, 2], [data.length >> 1, 70_000], [data.length, 10], [data.length + 5, 10]]) {
        const r = collect();
        const want = data.subarray(Math.min(off, data.length), Math.min(off + len, data.length));
        assert.equal(await f.sendfile(r.sink, off, len), want.length, `${path} (${off}, ${len})`);
        assert.ok(r.bytes().equals(Buffer.from(want)), `${path} (${off}, ${len}) bytes`);
      }
      await f.close();
    }
    assert.ok(vm.stats().faults > 3 << 8 >> 6, 'pages were faulted in throughout');
    await fs.unmount();
  });
}

async function writableFile(name: string, data: Uint8Array) {
  const image = join(tmp.dir, `${name}.img`);
  mkext2(image, [{ path: 'f', data }], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(image, { readOnly: false });
  const f = await fs.open('/f');
  return { vm, fs, f };
}

test('a hole reads as zeros through sendfile', async () => {
  const { fs, f } = await writableFile('hole', randomBytes(10_000, 7));
  await f.truncate(5 << 20);
  const tail = randomBytes(5000, 8);
  await f.write(5 << 20, tail);
  const c = collect();
  assert.equal(await f.sendfile(c.sink), (5 << 20) + 5000);
  const got = c.bytes();
  assert.ok(got.subarray(0, 10_000).equals(Buffer.from(randomBytes(10_000, 7))));
  assert.ok(got.subarray(10_000, 5 << 20).every((b) => b === 0), 'the hole is zeros');
  assert.ok(got.subarray(5 << 20).equals(Buffer.from(tail)));
  await f.close();
  await fs.unmount();
});

for (const bs of [1024, 4096]) {
  test(`a hole longer than a cluster goes out in few batches of up to HOLE_BATCH bytes, all views of one zero region (${bs}-byte blocks)`, async () => {
    const image = join(tmp.dir, `long-hole-${bs}.img`);
    const head = randomBytes(5000, 21);
    mkext2(image, [{ path: 'f', data: head }], { type: 'ext2', blockSize: bs, size: 16 << 20 });
    const size = 300 << 20;
    {
      const vm = new Vm({ memory: 1 << 20 });
      const fs = await vm.mount(image, { readOnly: false });
      const f = await fs.open('/f');
      await f.truncate(size);
      await f.write(size - 2, new Uint8Array([0x11, 0x22]));
      await f.close();
      await fs.unmount();
    }
    const vm = new Vm({ memory: 1 << 20 }); // a quarter of memory, 256 KiB, is a data batch's most
    const fs = await vm.mount(image, { readOnly: true });
    const f = await fs.open('/f');
    const batches: number[] = [];
    const regions = new Set<ArrayBufferLike>();
    const copied: { at: number; bytes: Buffer }[] = [];
    let at = 0;
    const sink = (frames: readonly Uint8Array[]) => {
      let n = 0;
      for (const v of frames) {
        // Views longer than a cluster of data can only be the zero region's; the rest (page frames) are copied.
        if (v.length > 256 << 10) regions.add(v.buffer);
        else copied.push({ at: at + n, bytes: Buffer.from(v) });
        n += v.length;
      }
      batches.push(n);
      at += n;
    };
    assert.equal(await f.sendfile(sink), size);
    assert.equal(regions.size, 1, 'every long view of the hole is of one region');
    const region = new Uint8Array([...regions][0] as ArrayBuffer);
    assert.ok(region.every((b) => b === 0), 'the region is zeros');
    const want = (pos: number): number => (pos < head.length ? head[pos] : pos === size - 2 ? 0x11 : pos === size - 1 ? 0x22 : 0);
    for (const c of copied) assert.ok(c.bytes.every((b, i) => b === want(c.at + i)), `the bytes at ${c.at}`);
    assert.ok(copied.some((c) => c.at === 0) && copied.some((c) => c.at + c.bytes.length === size), 'the head and the tail came from the file\'s pages');
    assert.ok(copied.reduce((n, c) => n + c.bytes.length, 0) <= 1 << 20, 'next to all of the hole came from the zero region');
    assert.ok(batches.every((n) => n > 0 && n <= HOLE_BATCH), `batches of at most ${HOLE_BATCH} bytes`);
    // 300 MiB of hole at 64 MiB a batch, and the pages around the data: a cluster a batch would be 1200.
    assert.ok(batches.length <= Math.ceil(size / HOLE_BATCH) + 8, `${batches.length} batches`);
    assert.ok(vm.stats().zeroSent >= (size >> 12) - 64, 'the hole came from the zero region');
    await f.close();
    await fs.unmount();
  });
}

test('a hole with no page resident goes out as the shared zero region, no page allocated; a write there gets a page of its own', async () => {
  const head = randomBytes(10_000, 15);
  const image = join(tmp.dir, 'zero.img');
  {
    const { fs, f } = await writableFile('zero', head);
    await f.truncate(6 << 20);
    await f.write((6 << 20) - 3, new Uint8Array([7, 8, 9]));
    await f.close();
    await fs.unmount();
  }
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(image, { readOnly: false });
  const f = await fs.open('/f');
  const holePages = Array.from({ length: (6 << 20) / 4096 - 4 }, (_, i) => i + 3); // pages 3 .. 1531
  const zeroViews: Uint8Array[] = [];
  const parts: Buffer[] = [];
  const sink = (frames: readonly Uint8Array[]) => {
    for (const v of frames) {
      parts.push(Buffer.from(v));
      // Keep one view of the zero region itself (not a copy) to look at after the write.
      if (zeroViews.length === 0 && v.length >= 64 << 10 && v.every((b) => b === 0)) zeroViews.push(v);
    }
  };
  const z0 = vm.stats().zeroSent;
  assert.equal(await f.sendfile(sink), 6 << 20);
  let got = Buffer.concat(parts);
  assert.ok(got.subarray(0, 10_000).equals(Buffer.from(head)));
  assert.ok(got.subarray(10_000, (6 << 20) - 3).every((b) => b === 0), 'the hole is zeros');
  assert.deepEqual([...got.subarray((6 << 20) - 3)], [7, 8, 9]);
  assert.ok(vm.stats().zeroSent - z0 >= holePages.length - 32, `pages sent from the zero region: ${vm.stats().zeroSent - z0}`);
  assert.ok(holePages.filter((i) => f.object.pages.has(i)).length <= 32, 'next to no page of the hole was allocated');
  assert.equal(zeroViews.length, 1, 'a batch of the hole (a quarter of memory) went out in one view');
  const zeroView = zeroViews[0];

  // Into the hole: the bytes land in a page of the file's own, never in the zero region.
  const at = (3 << 20) + 100;
  await f.write(at, new Uint8Array(50).fill(0xab));
  const m = f.object.pages.get(Math.floor(at / 4096));
  assert.ok(m !== undefined && m.frame.buffer !== zeroView.buffer, 'the write has a page of its own');
  assert.ok(zeroView.every((b) => b === 0), 'the zero region is still zeros');
  await f.read(5 << 20, 10); // a page of the hole made resident (zero-filled) in the middle
  parts.length = 0;
  assert.equal(await f.sendfile(sink), 6 << 20);
  got = Buffer.concat(parts);
  const want = Buffer.alloc(6 << 20);
  want.set(head, 0);
  want.fill(0xab, at, at + 50);
  want.set([7, 8, 9], (6 << 20) - 3);
  assert.ok(got.equals(want), 'the second transfer has the written bytes and zeros around them');
  await f.close();
  await fs.unmount();
  const fsck = spawnSync('e2fsck', ['-fn', image], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  assert.equal(fsck.status, 0, String(fsck.stdout));
  const again = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: true });
  const g = await again.open('/f');
  assert.ok(Buffer.from(await g.read(at - 10, 70)).equals(want.subarray(at - 10, at + 60)), 'written back and read after remount');
  await g.close();
  await again.unmount();
});

test('a write into a batch the sink still has waits for it; the sink sees the old bytes', async () => {
  const data = randomBytes(256 << 10, 9);
  const { fs, f } = await writableFile('hold', data);
  let entered!: () => void;
  const inSink = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = Buffer.alloc(0);
  let first = true;
  const sending = f.sendfile(async (frames) => {
    if (!first) return;
    first = false;
    entered();
    await gate;
    held = Buffer.concat(frames.map((v) => Buffer.from(v)));
  });
  await inSink;
  let wrote = false;
  const writing = f.write(0, new Uint8Array(100).fill(0xee)).then(() => (wrote = true));
  for (let i = 0; i < 50; i++) await Promise.resolve();
  assert.equal(wrote, false, 'the write waits while the sink has the page');
  release();
  await sending;
  await writing;
  assert.ok(held.length > 100 && held.equals(Buffer.from(data.subarray(0, held.length))), 'the batch held the old bytes');
  assert.deepEqual([...(await f.read(0, 100))], new Array(100).fill(0xee));
  await f.close();
  await fs.unmount();
});

test('a failing sink ends the transfer with its error and leaves no page busy', async () => {
  const { fs, f } = await writableFile('fail', randomBytes(2 << 20, 10));
  let calls = 0;
  await assert.rejects(
    f.sendfile(() => {
      if (++calls === 2) throw Object.assign(new Error('EPIPE: broken pipe'), { code: 'EPIPE' });
    }),
    /EPIPE/,
  );
  assert.equal(calls, 2);
  // (Read-ahead still in flight may hold pages busy for itself; sendfile's own share-busy must be gone.)
  assert.ok([...f.object.pages.values()].every((m) => m.busy === 0), 'no page left share-busied');
  await f.write(0, new Uint8Array([1, 2, 3])); // would wait for ever on a page left busy
  await f.close();
  await fs.unmount();
});

test('a truncation under the transfer ends it at the new EOF, with only the file\'s bytes', async () => {
  const data = randomBytes(3 << 20, 11);
  const { fs, f } = await writableFile('trunc', data);
  let truncating: Promise<void> | null = null;
  const c = collect();
  const sent = await f.sendfile((frames) => {
    c.sink(frames);
    truncating ??= f.truncate(100_000);
  });
  await truncating;
  assert.ok(sent < data.length, `${sent} bytes sent: the transfer stopped early`);
  assert.ok(c.bytes().equals(Buffer.from(data.subarray(0, sent))), 'every byte is the file\'s');
  assert.equal(f.size, 100_000);
  await f.close();
  await fs.unmount();
});

test('sendfile of a directory is EISDIR; of a closed file EBADF', async () => {
  const { fs, f } = await writableFile('dir', randomBytes(10, 12));
  const d = await fs.open('/');
  await assert.rejects(d.sendfile(() => undefined), (e: unknown) => e instanceof VmError && e.code === 'EISDIR');
  await d.close();
  await f.close();
  await assert.rejects(f.sendfile(() => undefined), (e: unknown) => e instanceof VmError && e.code === 'EBADF');
  await fs.unmount();
});

for (const io of ['sync', 'async'] as const) {
  test(`a sequential reader is not handed a page the read-ahead reclaimed under it (${io} device, 64 pages of frames)`, async () => {
    // Reaching the read-ahead mark allocates the next window; with memory
    // this short that reclaims pages, and the page just found is one
    // candidate. It must be copied or busied before the read-ahead starts.
    const image = join(tmp.dir, `reclaim-${io}.img`);
    const data = randomBytes(3 << 20, 13);
    mkext2(image, [{ path: 'f', data }], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
    for (let run = 0; run < 8; run++) {
      const vm = new Vm({ memory: 256 << 10 });
      const fs = await vm.mount(image, { readOnly: true, io });
      const f = await fs.open('/f');
      const buf = new Uint8Array(data.length);
      for (let off = 0; off < data.length; off += 40_000) await f.readInto(buf.subarray(off, Math.min(off + 40_000, data.length)), off);
      assert.ok(Buffer.from(buf).equals(Buffer.from(data)), `readInto, run ${run}`);
      const c = collect();
      await f.sendfile(c.sink);
      assert.ok(c.bytes().equals(Buffer.from(data)), `sendfile, run ${run}`);
      await f.close();
      await fs.unmount();
    }
  });
}

test("advise('noreuse'): sendfile frees each batch once the consumer is done; 'sequential' keeps the last MiB", async () => {
  const data = randomBytes(16 << 20, 14);
  const image = join(tmp.dir, 'noreuse.img');
  mkext2(image, [{ path: 'f', data }], { type: 'ext2', blockSize: 4096, size: 24 << 20 });
  const resident: Record<string, { most: number; after: number }> = {};
  for (const advice of ['sequential', 'noreuse'] as const) {
    const vm = new Vm({ memory: 32 << 20 });
    const fs = await vm.mount(image, { readOnly: true });
    const f = await fs.open('/f');
    f.advise(advice);
    const c = collect();
    let most = 0;
    await f.sendfile((frames) => {
      c.sink(frames);
      most = Math.max(most, f.object.pages.size);
    });
    assert.ok(c.bytes().equals(Buffer.from(data)), `${advice}: the bytes`);
    resident[advice] = { most, after: f.object.pages.size };
    await f.close();
    await fs.unmount();
  }
  // 'sequential' keeps 1 MiB (256 pages) behind the reader; 'noreuse' keeps none.
  assert.ok(resident.noreuse.most + 128 <= resident.sequential.most, JSON.stringify(resident));
  assert.ok(resident.sequential.after >= 256 && resident.noreuse.after <= 8, JSON.stringify(resident));
});
