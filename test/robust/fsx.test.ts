/*
 * fsx (after the classic file-system exerciser): random read, write,
 * mapread, mapwrite, truncate, private-mapping write and unmount/remount of
 * one file against a flat model, with a few hundred KiB of frames so that
 * pages are evicted and laundered all the time; after each run the file
 * equals the model and e2fsck finds the image clean.
 * VMPAGER_FSX_OPS sets the operations per run (default 6000; the soak:
 * VMPAGER_FSX_OPS=30000), VMPAGER_FSX_SEEDS the seeds (default 1).
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm, type File, type MountedFs } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { EXT4_CONFIGS } from '../fs/ext2/ext4_configs.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const OPS = Number(process.env.VMPAGER_FSX_OPS ?? 6000);
const SEEDS = Number(process.env.VMPAGER_FSX_SEEDS ?? 1);
const MAXLEN = 1 << 20;

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const configs: Array<{ bs: number; page: number; memory: number; arenaBytes?: number; type: 'ext2' | 'ext4'; extra: string[]; name: string }> = [
  ...[
    { bs: 1024, page: 4096, memory: 256 << 10 },
    { bs: 4096, page: 4096, memory: 256 << 10 },
    { bs: 8192, page: 4096, memory: 384 << 10 },
    { bs: 1024, page: 16384, memory: 512 << 10 },
    { bs: 4096, page: 16384, memory: 512 << 10 },
    { bs: 8192, page: 16384, memory: 512 << 10 },
    // Frames in 9-page arenas: clusters, copies and sendfile runs cross from one arena into the next.
    { bs: 4096, page: 4096, memory: 256 << 10, arenaBytes: 9 * 4096 },
  ].map((c) => ({ ...c, type: 'ext2' as const, extra: [], name: 'ext2' })),
  // Each ext4 configuration once, block and page sizes alternating.
  ...EXT4_CONFIGS.map((e, i) => ({
    ...(i % 2 === 0 ? { bs: 1024, page: 4096, memory: 256 << 10 } : { bs: 4096, page: 16384, memory: 512 << 10 }),
    type: 'ext4' as const, extra: e.extra, name: e.name,
  })),
];

for (const c of configs) {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const arenas = c.arenaBytes === undefined ? '' : ` in ${c.arenaBytes >> 10} KiB arenas`;
    test(`fsx: ${OPS} ops, ${c.name}, ${c.bs}-byte blocks, ${c.page}-byte pages, ${c.memory >> 10} KiB of frames${arenas}, seed ${seed}`, async () => {
      const image = join(tmp.dir, `fsx-${c.name.replace(/\W+/g, '_')}-${c.bs}-${c.page}-${c.arenaBytes ?? 0}-${seed}.img`);
      mkext2(image, [{ path: 'other', data: randomBytes(30_000, 5) }], { type: c.type, blockSize: c.bs, size: 8 << 20, extra: c.extra });
      const r = rng(seed * 7919 + c.bs + c.page);
      let model = new Uint8Array(0);
      let vm = new Vm({ memory: c.memory, pageSize: c.page, arenaBytes: c.arenaBytes });
      let fs: MountedFs = await vm.mount(image, { readOnly: false });
      let f: File = await fs.open('/file', { create: true });
      const grow = (size: number) => {
        const m = new Uint8Array(size);
        m.set(model.subarray(0, Math.min(size, model.length)));
        model = m;
      };
      const check = async (off: number, len: number, what: string) => {
        const got = await f.read(off, len);
        const want = model.subarray(Math.min(off, model.length), Math.min(off + len, model.length));
        assert.ok(Buffer.from(got).equals(Buffer.from(want)), `${what}: read(${off}, ${len}) differs (size ${model.length})`);
      };
      for (let i = 0; i < OPS; i++) {
        const op = r(100);
        const off = r(MAXLEN);
        const len = 1 + r(op < 40 ? 65536 : 20000);
        const what = `op ${i}`;
        if (op < 25) {
          await check(off % (model.length + 1), len, `${what} read`);
        } else if (op < 50) {
          const d = randomBytes(len, seed * 100000 + i);
          await f.write(off, d);
          if (off + len > model.length) grow(off + len);
          model.set(d, off);
        } else if (op < 62) {
          if (model.length === 0) continue;
          const o = off % model.length;
          const l = Math.min(len, model.length - o);
          const m = await f.mmap();
          const got = await m.read(o, l);
          await m.unmap();
          assert.ok(Buffer.from(got).equals(Buffer.from(model.subarray(o, o + l))), `${what} mapread(${o}, ${l})`);
        } else if (op < 76) {
          // fsx's mapwrite: extend with truncate first, then store through a shared mapping.
          if (off + len > model.length) {
            await f.truncate(off + len);
            grow(off + len);
          }
          const d = randomBytes(len, seed * 200000 + i);
          const m = await f.mmap({ writable: true });
          await m.write(off, d);
          if (r(4) === 0) await m.sync();
          await m.unmap();
          model.set(d, off);
        } else if (op < 86) {
          const size = r(4) === 0 ? 0 : r(MAXLEN + 1);
          await f.truncate(size);
          grow(size);
        } else if (op < 94) {
          if (model.length === 0) continue;
          const o = off % model.length;
          const l = Math.min(len, model.length - o);
          const m = await f.mmap({ shared: false, writable: true });
          const d = randomBytes(l, seed * 300000 + i);
          await m.write(o, d);
          assert.ok(Buffer.from(await m.read(o, l)).equals(Buffer.from(d)), `${what} private view`);
          await m.unmap();
          await check(o, l, `${what} after private write`);
        } else if (op < 97) {
          await f.sync();
        } else {
          await f.close();
          await fs.unmount();
          vm = new Vm({ memory: c.memory, pageSize: c.page, arenaBytes: c.arenaBytes });
          fs = await vm.mount(image, { readOnly: false });
          f = await fs.open('/file');
          assert.equal(f.size, model.length, `${what} size after remount`);
        }
        assert.equal(f.size, model.length, `${what} size`);
      }
      await check(0, model.length, 'final');
      await f.close();
      await fs.unmount();
      assert.ok(debugfsCat(image, '/file').equals(Buffer.from(model)), 'debugfs agrees');
      assert.ok(debugfsCat(image, '/other').equals(Buffer.from(randomBytes(30_000, 5))), 'the other file is untouched');
      const ck = e2fsck(image);
      assert.ok(ck.clean, ck.output);
    });
  }
}
