/*
 * Files read straight from the device by their block maps (direct_read.ts,
 * vmpager get's path): on a read-only mount a file's runs hold its bytes as
 * debugfs dumps them and everything outside them reads as zeros (holes,
 * 1 KiB and 4 KiB blocks, ext2 and ext4); a read-write mount gives no runs
 * (the VM's path); files side by side on the device come out of one read,
 * each file's bytes to the sink in order; a read that fails names the file
 * it belongs to, the files before it handed over whole and none after it
 * begun. A tree copy reclaims each file's vnode once it lets it go, and
 * reads a directory of a read-only mount straight from the device (no VM
 * object), one of a read-write mount through the VM.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MountedFs, Vm, VmError } from '../../src/api/index.js';
import { DIRECT_BYTES, type FileRuns, readDirect } from '../../src/api/direct_read.js';
import { treeNode } from '../../src/api/tree_read.js';
import { FaultyDisk } from '../../src/dev/faulty.js';
import { MemDisk } from '../../src/dev/memdisk.js';
import { debugfsCat, mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** A file with data at 0, at 300 000 and past 1 MiB, holes between. */
const holes = new Uint8Array((1 << 20) + 100);
holes.set(randomBytes(5000, 1), 0);
holes.set(randomBytes(7000, 2), 300_000);
holes.set(randomBytes(100, 3), 1 << 20);
const SMALL = 12;
const files = [
  { path: 'holes', data: holes },
  ...Array.from({ length: SMALL }, (_, i) => ({ path: `d/s${String(i).padStart(2, '0')}`, data: randomBytes(100 + i * 1500, 10 + i) })),
];

const images: { name: string; path: string }[] = [];
before(() => {
  for (const [type, blockSize] of [['ext2', 1024], ['ext2', 4096], ['ext4', 1024], ['ext4', 4096]] as const) {
    const path = join(tmp.dir, `${type}-${blockSize}.img`);
    mkext2(path, files, { type, blockSize, size: 8 << 20 });
    images.push({ name: `${type}, ${blockSize}-byte blocks`, path });
  }
});

/** Checks runs against the file's bytes as debugfs dumps them: the runs' device bytes are the file's, the rest zeros. */
function judge(image: Uint8Array, runs: FileRuns, want: Buffer, what: string): void {
  assert.equal(runs.size, want.length, `${what}: size`);
  const got = new Uint8Array(want.length);
  let last = 0;
  for (let r = 0; r < runs.runs.length; r += 3) {
    const [pos, len, dev] = runs.runs.slice(r, r + 3);
    assert.ok(pos >= last && len > 0 && pos + len <= want.length, `${what}: run ${r / 3} in order, inside the file`);
    got.set(image.subarray(dev, dev + len), pos);
    last = pos + len;
  }
  assert.ok(Buffer.from(got).equals(want), `${what}: bytes`);
}

test('on a read-only mount a file\'s runs hold its bytes and everything outside them is zeros (ext2/ext4, 1 KiB/4 KiB blocks)', async () => {
  for (const img of images) {
    const bytes = new Uint8Array(readFileSync(img.path));
    const vm = new Vm({ memory: 4 << 20 });
    const fs = await vm.mount(new MemDisk(bytes, { readOnly: true }), { readOnly: true });
    try {
      for (const f of ['/holes', '/d/s03', '/d/s11']) {
        const n = await treeNode(fs, f);
        try {
          const runs = await n.runs();
          assert.ok(runs !== null, `${img.name} ${f}: runs`);
          judge(bytes, runs, debugfsCat(img.path, f), `${img.name} ${f}`);
          if (f === '/holes') assert.ok(runs.runs.length / 3 >= 3 && runs.runs.reduce((s, v, i) => (i % 3 === 1 ? s + v : s), 0) < 20_000, 'holes are no runs');
        } finally {
          await n.release();
        }
      }
    } finally {
      await fs.unmount();
    }
  }
});

test('a read-write mount gives no runs: its files are read through the VM', async () => {
  const vm = new Vm({ memory: 4 << 20 });
  const fs = await vm.mount(new MemDisk(new Uint8Array(readFileSync(images[3].path))), { readOnly: false });
  try {
    const n = await treeNode(fs, '/d/s01');
    try {
      assert.equal(await n.runs(), null);
    } finally {
      await n.release();
    }
  } finally {
    await fs.unmount();
  }
});

/** The small files' nodes and runs, in name order. */
async function smallFiles(fs: Awaited<ReturnType<Vm['mount']>>) {
  const out = [];
  for (let i = 0; i < SMALL; i++) {
    const path = `/d/s${String(i).padStart(2, '0')}`;
    const node = await treeNode(fs, path);
    out.push({ node, path, runs: (await node.runs())! });
  }
  return out;
}

/** A sink that records what it is given, bytes copied. */
function recorder() {
  const events: string[] = [];
  const bytes = new Map<number, Buffer[]>();
  return {
    events,
    bytes,
    sink: {
      start: (i: number) => void events.push(`start ${i}`),
      data: (i: number, pos: number, b: Uint8Array) => {
        events.push(`data ${i}`);
        (bytes.get(i) ?? bytes.set(i, []).get(i)!).push(Buffer.from(b));
      },
      end: (i: number) => void events.push(`end ${i}`),
    },
  };
}

/** The fourth image, read-only, over a device that counts its reads and can be made to fail. */
async function mountCounted(): Promise<{ dev: FaultyDisk; fs: MountedFs }> {
  const dev = new FaultyDisk(new MemDisk(new Uint8Array(readFileSync(images[3].path)), { readOnly: true }));
  const fs = await new Vm({ memory: 4 << 20 }).mount(dev, { readOnly: true });
  return { dev, fs };
}

test('files side by side on the device come out of one read, each file\'s bytes to the sink in order', async () => {
  const { dev, fs } = await mountCounted();
  try {
    const small = await smallFiles(fs);
    const rec = recorder();
    const before = dev.reads;
    await readDirect(fs, small, new Uint8Array(DIRECT_BYTES), rec.sink);
    assert.ok(dev.reads - before < SMALL / 2, `${dev.reads - before} device reads for ${SMALL} files`);
    for (let i = 0; i < SMALL; i++) {
      assert.ok(Buffer.concat(rec.bytes.get(i) ?? []).equals(Buffer.from(files[1 + i].data)), `s${i}: bytes`);
      const at = rec.events.indexOf(`start ${i}`);
      assert.ok(at >= 0 && rec.events[at + 1] === `data ${i}` && rec.events.indexOf(`end ${i}`) > at, `s${i}: start, data, end`);
      if (i > 0) assert.ok(at > rec.events.indexOf(`end ${i - 1}`), `s${i} after s${i - 1}`);
    }
    for (const s of small) await s.node.release();
  } finally {
    await fs.unmount();
  }
});

test('a read that fails names the file it belongs to: the files before it whole, none after it begun', async () => {
  const { dev, fs } = await mountCounted();
  try {
    const small = await smallFiles(fs);
    const bad = 7;
    const at = small[bad].runs.runs[2];
    dev.badRanges = [{ start: at, end: at + 1 }];
    const rec = recorder();
    await assert.rejects(readDirect(fs, small, new Uint8Array(DIRECT_BYTES), rec.sink), (e: unknown) => e instanceof VmError && e.message.includes(small[bad].path));
    for (let i = 0; i < bad; i++) assert.ok(Buffer.concat(rec.bytes.get(i) ?? []).equals(Buffer.from(files[1 + i].data)), `s${i}: whole`);
    assert.ok(rec.events.includes(`end ${bad - 1}`));
    assert.ok(!rec.events.some((e) => e === `data ${bad}` || Number(e.split(' ')[1]) > bad), rec.events.slice(-3).join());
    for (const s of small) await s.node.release();
  } finally {
    await fs.unmount();
  }
});

test('a tree copy reclaims each file\'s vnode once it lets it go; directories stay cached', async () => {
  const vm = new Vm({ memory: 4 << 20 });
  const fs = await vm.mount(new MemDisk(new Uint8Array(readFileSync(images[3].path)), { readOnly: true }), { readOnly: true });
  try {
    const dir = await treeNode(fs, '/d');
    const kid = await dir.child((await dir.entries())[0]);
    const ino = kid.stat.ino;
    assert.ok(fs.mp.vnodeHash.has(ino));
    await kid.release();
    assert.ok(!fs.mp.vnodeHash.has(ino), 'the file\'s vnode went');
    await dir.release();
    assert.ok(fs.mp.vnodeHash.has(dir.stat.ino), 'the directory\'s stays');
  } finally {
    await fs.unmount();
  }
});

test('a tree copy reads a directory of a read-only mount straight from the device: the entries readdir gives through the VM, no VM object made; on a read-write mount through the VM (a name not yet on the device is seen)', async () => {
  const names = (ents: { name: string }[]) => ents.map((e) => e.name).sort();
  const bytes = new Uint8Array(readFileSync(images[3].path));
  const ro = await new Vm({ memory: 4 << 20 }).mount(new MemDisk(bytes.slice(), { readOnly: true }), { readOnly: true });
  try {
    const dir = await treeNode(ro, '/d');
    try {
      const viaTree = await dir.entries();
      const vp = ro.mp.vnodeHash.get(dir.stat.ino)!;
      assert.equal(vp.object, null, 'no VM object for the directory');
      assert.deepEqual(names(viaTree), names(await ro.readdir('/d')), 'the same names as readdir through the VM');
      assert.equal(viaTree.length, SMALL);
    } finally {
      await dir.release();
    }
  } finally {
    await ro.unmount();
  }
  const rw = await new Vm({ memory: 4 << 20 }).mount(new MemDisk(bytes.slice()), { readOnly: false });
  try {
    rw.setAsync(true); // (the directory's new block stays in its pages until the sync)
    await rw.promises.writeFile('/d/new-name', 'x');
    const dir = await treeNode(rw, '/d');
    try {
      assert.ok(names(await dir.entries()).includes('new-name'));
    } finally {
      await dir.release();
    }
  } finally {
    await rw.unmount();
  }
});
