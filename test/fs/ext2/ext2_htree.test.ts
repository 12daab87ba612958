/*
 * Hash-indexed directories kept: a new directory filled with thousands of
 * names becomes indexed when its first block fills, its leaves split by
 * hash and its root is pushed down a level; removals leave the index valid.
 * e2fsck -fn (which checks every leaf's hash range against the index) is
 * clean, debugfs `htree` shows the levels, and debugfs lists every name.
 * A lookup through an index whose structure is damaged searches linearly,
 * with a warning naming the block.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { MemDisk } from '../../../src/dev/memdisk.js';
import { ext2Mount } from '../../../src/fs/ext2/ext2_vfsops.js';
import { EXT2_INDEX_FL } from '../../../src/fs/ext2/ext2_fs.js';
import type { Inode } from '../../../src/fs/ext2/ext2_inode.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { Vm } from '../../../src/api/index.js';
import { debugfs, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsBmap, debugfsLs, lookupPath } from './ext2_util.js';
import { assertClean, create, inDir, lookupIn, mkdir, mountRw, remove } from './ext2_write_util.js';

const tmp = tempDir('vmpager-htree-');
after(() => tmp.cleanup());

const CONFIGS: Array<{ name: string; type: 'ext2' | 'ext4'; extra: string[] }> = [
  { name: 'ext4', type: 'ext4', extra: [] },
  { name: 'ext4 -O ^metadata_csum', type: 'ext4', extra: ['-O', '^metadata_csum'] },
  { name: 'ext2', type: 'ext2', extra: [] },
];

for (const c of CONFIGS) {
  describe(`htree (${c.name}, 1 KiB blocks)`, () => {
    test('6000 names: indexed, split, pushed to two index levels; removals keep it valid; every name listed', async () => {
      const image = join(tmp.dir, `${c.name.replace(/\W+/g, '_')}.img`);
      buildImage(image, { type: c.type, blockSize: 1024, size: 48 << 20, files: [], extra: ['-N', '8000', ...c.extra] });
      const { fs, mp } = await mountRw(image, 1 << 20);
      assert.equal(await mkdir(mp, '/', 'd'), 0);
      const names = Array.from({ length: 6000 }, (_, i) => `entry-${i}-${'x'.repeat(i % 13)}`);
      for (const name of names) {
        const r = await create(mp, '/d', name);
        assert.equal(r.error, 0, name);
        await vrele(r.vp!);
      }
      for (let i = 0; i < names.length; i += 7) assert.equal(await remove(mp, '/d', names[i]), 0);
      const dvp = await lookupPath(mp, '/d');
      assert.ok(((dvp.data as Inode).din.flags & EXT2_INDEX_FL) !== 0, 'indexed');
      await vrele(dvp);
      for (const i of [1, 2, 5000, 5998]) {
        const r = await lookupIn(mp, '/d', names[i]);
        assert.equal(r.error, 0);
        await vrele(r.vp!);
      }
      await fs.unmount();
      assertClean(image);
      assert.match(debugfs(image, 'htree /d'), /Indirect levels: 1/);
      const want = names.filter((_, i) => i % 7 !== 0).sort();
      assert.deepEqual(debugfsLs(image, '/d').map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort(), want);
    });

    test('an indexed directory moved to another parent: ".." rewritten in its htree root, the index kept', async () => {
      const image = join(tmp.dir, `mv-${c.name.replace(/\W+/g, '_')}.img`);
      buildImage(image, { type: c.type, blockSize: 1024, size: 16 << 20, files: [{ path: 'e/keep', data: new Uint8Array(1) }], extra: c.extra });
      const vm = new Vm({ memory: 1 << 20 });
      let fs = await vm.mount(image, { readOnly: false });
      await fs.mkdir('/d');
      for (let i = 0; i < 300; i++) await (await fs.open(`/d/n-${i}`, { create: true })).close();
      await fs.unmount();
      assert.match(debugfs(image, 'htree /d'), /Root node dump/);
      fs = await vm.mount(image, { readOnly: false });
      await fs.rename('/d', '/e/d');
      await fs.unmount();
      assertClean(image);
      assert.match(debugfs(image, 'htree /e/d'), /Root node dump/);
      const eIno = Number(/Inode: (\d+)/.exec(debugfs(image, 'stat /e'))![1]);
      assert.equal(debugfsLs(image, '/e/d').find((x) => x.name === '..')?.ino, eIno);
      assert.equal(debugfsLs(image, '/e/d').length, 302);
    });
  });
}

describe('lookups through a damaged index (ext4 -O ^metadata_csum)', () => {
  test('an index whose root limit is wrong is not trusted: a warning naming the block, and the name found by a linear search', async () => {
    const image = join(tmp.dir, 'damaged-index.img');
    const files = Array.from({ length: 600 }, (_, i) => ({ path: `big/name_${i}`, data: new Uint8Array(0) }));
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, files, extra: ['-O', '^metadata_csum'] });
    execFileSync('e2fsck', ['-fyD', image], { stdio: 'ignore' }); // index it
    assert.match(debugfs(image, 'htree /big'), /Root node dump/);
    const [root] = debugfsBmap(image, [['/big', 0]]);
    const bytes = new Uint8Array(readFileSync(image));
    bytes[root * 1024 + 0x20] ^= 0x01; // dx_root's limit
    const r = await ext2Mount(new MemDisk(bytes), { readOnly: true });
    assert.ok(r.mp !== null, r.reason);
    for (const name of ['/big/name_0', '/big/name_599']) {
      const vp = await lookupPath(r.mp, name);
      await vrele(vp);
    }
    const bigIno = Number(/Inode: (\d+)/.exec(debugfs(image, 'stat /big'))![1]);
    assert.ok(r.mp.stat.warnings.some((w) => w.startsWith(`htree index block 0 of directory inode ${bigIno} (block ${root}): limit`) && w.endsWith('searched linearly')), r.mp.stat.warnings.join('\n'));
  });

  // The root's entries sit from byte 0x28 of its block, 8 bytes each (hash, block).
  for (const [what, damage, why] of [
    ['two leaves swapped under their hashes', (b: DataView, at: number) => {
      const x = b.getUint32(at + 0x28 + 4, true);
      b.setUint32(at + 0x28 + 4, b.getUint32(at + 0x30 + 4, true), true);
      b.setUint32(at + 0x30 + 4, x, true);
    }, "names outside the leaf's hash range"],
    ['two entries swapped, hashes out of order', (b: DataView, at: number) => {
      const [h, k] = [b.getBigUint64(at + 0x28, true), b.getBigUint64(at + 0x30, true)];
      b.setBigUint64(at + 0x28, k, true);
      b.setBigUint64(at + 0x30, h, true);
    }, 'hashes out of order'],
  ] as const) {
    test(`an index that sends names to the wrong leaf (${what}) is not trusted: every name readdir lists is found`, async () => {
      const image = join(tmp.dir, `misrouted-${why.length}.img`);
      const files = Array.from({ length: 600 }, (_, i) => ({ path: `big/name_${i}`, data: new Uint8Array(0) }));
      buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, files, extra: ['-O', '^metadata_csum'] });
      execFileSync('e2fsck', ['-fyD', image], { stdio: 'ignore' });
      assert.match(debugfs(image, 'htree /big'), /Number of entries \(count\): ([3-9]|\d\d)/);
      const [root] = debugfsBmap(image, [['/big', 0]]);
      const bytes = new Uint8Array(readFileSync(image));
      damage(new DataView(bytes.buffer), root * 1024);
      const r = await ext2Mount(new MemDisk(bytes), { readOnly: true });
      assert.ok(r.mp !== null, r.reason);
      for (let i = 0; i < 600; i++) {
        const vp = await lookupPath(r.mp, `/big/name_${i}`);
        await vrele(vp);
      }
      assert.ok(r.mp.stat.warnings.some((w) => w.includes(why) && w.endsWith('searched linearly')), r.mp.stat.warnings.join('\n'));
    });
  }
});
