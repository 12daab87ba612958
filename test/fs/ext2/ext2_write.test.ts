/*
 * The ext2/ext3 writer against the real tools (issue 3's acceptance): on
 * mke2fs-made images of 1, 2, 4 and 8 KiB blocks, files of 0 B to 5 MiB are
 * created, a directory made and filled, files replaced by smaller and larger
 * ones, truncated inside a page and extended past their end, removed; then
 * e2fsck -fn is clean, debugfs reads exactly the bytes written, and the
 * untouched file is unchanged. The images are filled with garbage before
 * mke2fs, so that any byte the writer failed to write shows.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ENOENT } from '../../../src/kern/errno.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, lookupPath } from './ext2_util.js';
import { EXT4_CONFIGS } from './ext4_configs.js';
import {
  assertClean, assertContents, create, dumpe2fsField, garbageFile, mkdir, mountRw, putFile, read, remove, rmdir,
  setsize, write, writeAll,
} from './ext2_write_util.js';

const tmp = tempDir('vmpager-ext2write-');
after(() => tmp.cleanup());

const KEEP = randomBytes(50_000, 1);
const NEW_SIZES = [0, 1, 4097, (1 << 20) + 3, 5 << 20];

const CONFIGS: Array<{ name: string; type: 'ext2' | 'ext3' | 'ext4'; extra: string[]; sizes: number[] }> = [
  { name: 'ext2', type: 'ext2', extra: [], sizes: [1024, 2048, 4096, 8192] },
  { name: 'ext3', type: 'ext3', extra: [], sizes: [1024, 2048, 4096, 8192] },
  ...EXT4_CONFIGS.map((c) => ({ name: c.name, type: 'ext4' as const, extra: c.extra, sizes: [1024, 4096] })),
];

for (const { name, type, extra, sizes } of CONFIGS) {
  for (const bs of sizes) {
    describe(`${name}, ${bs}-byte blocks`, () => {
      test('new files, a new directory, replacements, truncation and removal leave e2fsck clean and debugfs reading the bytes', async () => {
        const image = join(tmp.dir, `${name.replace(/\W+/g, '_')}-${bs}.img`);
        garbageFile(image, 24 << 20);
        buildImage(image, {
          type, blockSize: bs, size: 24 << 20, extra: ['-E', 'nodiscard', ...extra],
          files: [
            { path: 'keep', data: KEEP },
            { path: 'shrinks', data: randomBytes(20_000, 2) },
            { path: 'grows', data: randomBytes(3000, 3) },
            { path: 'dir/gone', data: randomBytes(5000, 4) },
            { path: 'empty', dir: true },
          ],
        });
        const { fs, mp } = await mountRw(image);
        assert.equal(dumpe2fsField(image, 'Filesystem state'), 'not clean');

        const news = NEW_SIZES.map((n, i) => randomBytes(n, 100 + i));
        for (let i = 0; i < news.length; i++) await putFile(mp, '/', `new${i}`, news[i]);

        assert.equal(await mkdir(mp, '/', 'sub'), 0);
        const inner = randomBytes(10_000, 7);
        await putFile(mp, '/sub', 'inner', inner);

        // Replaced by a smaller and by a larger file: truncate to 0, then write.
        const smaller = randomBytes(777, 8);
        const larger = randomBytes(300_000, 9);
        for (const [path, data] of [['/shrinks', smaller], ['/grows', larger]] as const) {
          const vp = await lookupPath(mp, path);
          assert.equal(await setsize(vp, 0), 0);
          await writeAll(vp, data);
          await vrele(vp);
        }

        // Truncated to inside a page, then extended past the end: the gap reads zero.
        const t = randomBytes(10_000, 10);
        await putFile(mp, '/', 't', t);
        const tvp = await lookupPath(mp, '/t');
        assert.equal(await setsize(tvp, 5000), 0);
        assert.equal(await setsize(tvp, 20_000), 0);
        const tModel = new Uint8Array(20_000);
        tModel.set(t.subarray(0, 5000));
        assert.deepEqual(await read(tvp, 0, 20_000), tModel);
        await vrele(tvp);

        assert.equal(await remove(mp, '/dir', 'gone'), 0);
        assert.equal(await rmdir(mp, '/', 'empty'), 0);
        assert.equal((await create(mp, '/', 'new0')).error, 17, 'EEXIST');
        await fs.unmount();

        assertClean(image);
        assert.equal(dumpe2fsField(image, 'Filesystem state'), 'clean');
        for (let i = 0; i < news.length; i++) assertContents(image, `/new${i}`, news[i]);
        assertContents(image, '/sub/inner', inner);
        assertContents(image, '/shrinks', smaller);
        assertContents(image, '/grows', larger);
        assertContents(image, '/t', tModel);
        assertContents(image, '/keep', KEEP);

        // Mounted again: the gap still reads zero, the removed names are gone.
        const again = await mountRw(image);
        const vp = await lookupPath(again.mp, '/t');
        assert.deepEqual(await read(vp, 0, 20_000), tModel);
        await vrele(vp);
        const root = await again.mp.op.root(again.mp);
        assert.equal((await root.vp!.op.lookup(root.vp!, 'empty')).error, ENOENT);
        await vrele(root.vp!);
        await again.fs.unmount();
        assertClean(image);
      });
    });
  }
}

/** xorshift32: the same sequence of operations on every run. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('random writes and truncations against a flat model', () => {
  const configs: Array<[string, number, number, string[]]> = [
    ['ext2', 1024, 65536, []], ['ext2', 2048, 16384, []], ['ext2', 8192, 4096, []], ['ext2', 4096, 4096, []],
    ...EXT4_CONFIGS.flatMap((c): Array<[string, number, number, string[]]> => [['ext4', 1024, 65536, c.extra], ['ext4', 4096, 4096, c.extra]]),
  ];
  for (const [type, bs, pageSize, extra] of configs) {
    test(`${type} ${extra.join(' ')} ${bs}-byte blocks, ${pageSize}-byte pages, 32 pages of frames: the file equals the model after each remount`, async () => {
      const image = join(tmp.dir, `model-${type}-${bs}-${pageSize}-${extra.join('').replace(/\W+/g, '')}.img`);
      garbageFile(image, 16 << 20);
      buildImage(image, {
        type: type as 'ext2' | 'ext4', blockSize: bs, size: 16 << 20, extra: ['-E', 'nodiscard', ...extra], files: [{ path: 'keep', data: KEEP }],
      });
      const rnd = prng(bs + pageSize);
      let model = new Uint8Array(0);
      const MAX = 3 << 20;
      for (let round = 0; round < 3; round++) {
        const { fs, mp } = await mountRw(image, 32 * pageSize, pageSize);
        if (round === 0) {
          const r = await create(mp, '/', 'f');
          await vrele(r.vp!);
        }
        const vp = await lookupPath(mp, '/f');
        for (let op = 0; op < 40; op++) {
          const x = rnd();
          if (x < 0.65) {
            const off = Math.floor(rnd() * MAX);
            const len = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 3000 : 200_000));
            const data = randomBytes(len, 1 + Math.floor(rnd() * 1e9));
            const w = await write(vp, off, data);
            assert.equal(w.error, 0);
            if (off + len > model.length) {
              const m = new Uint8Array(off + len);
              m.set(model);
              model = m;
            }
            model.set(data, off);
          } else if (x < 0.9) {
            const size = Math.floor(rnd() * MAX);
            assert.equal(await setsize(vp, size), 0);
            const m = new Uint8Array(size);
            m.set(model.subarray(0, Math.min(size, model.length)));
            model = m;
          } else {
            await fs.sync();
          }
        }
        assert.deepEqual(await read(vp, 0, model.length + 100), model);
        await vrele(vp);
        await fs.unmount();
        assertClean(image);
        assertContents(image, '/f', model);
      }
      assertContents(image, '/keep', KEEP);
    });
  }
});
