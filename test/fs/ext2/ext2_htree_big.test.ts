/*
 * A big hash-indexed directory grown through the library: the names go in
 * through one mount, the directory keeps its htree (debugfs `htree` shows
 * the second index level, e2fsck -fn checks every leaf against it), and a
 * lookup in a cold mount is one walk of the index: the device reads it
 * costs are counted, a handful of blocks where a scan would read the whole
 * directory. VMPAGER_HTREE_ENTRIES sets the number of names (100000 for the
 * full size, on images with and without metadata_csum); the default, with
 * 1 KiB blocks, already needs two levels.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { ImageDevice } from '../../../src/dev/image.js';
import { debugfs, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsLs } from './ext2_util.js';
import { assertClean } from './ext2_write_util.js';

const tmp = tempDir('vmpager-htree-big-');
after(() => tmp.cleanup());

const ENTRIES = Number(process.env.VMPAGER_HTREE_ENTRIES ?? 8000);
const nameOf = (i: number) => `file-${i.toString(36)}-${'n'.repeat(i % 9)}`;

const CONFIGS = [
  { name: 'ext4', extra: [] as string[] },
  { name: 'ext4 -O ^metadata_csum', extra: ['-O', '^metadata_csum'] },
];

// The default run keeps to the metadata_csum image (the index nodes' tails, the leaves' checksums); the knob runs both.
for (const c of process.env.VMPAGER_HTREE_ENTRIES === undefined ? CONFIGS.slice(0, 1) : CONFIGS) {
  describe(`a directory of ${ENTRIES} names (${c.name}, 1 KiB blocks)`, () => {
    test('keeps its htree at two levels, e2fsck -fn clean; a cold lookup reads O(levels) blocks, not the directory', async () => {
      const image = join(tmp.dir, `${c.name.replace(/\W+/g, '_')}.img`);
      const inodes = ENTRIES + 1000;
      const size = Math.max(32 << 20, inodes * 1024 + (ENTRIES * 40) * 2);
      buildImage(image, { type: 'ext4', blockSize: 1024, size, files: [], extra: ['-N', String(inodes), '-I', '128', ...c.extra] });
      const vm = new Vm({ memory: 4 << 20 });
      let fs = await vm.mount(image, { readOnly: false });
      await fs.mkdir('/d');
      for (let i = 0; i < ENTRIES; i++) await (await fs.open(`/d/${nameOf(i)}`, { create: true })).close();
      // Some names leave again; each removal finds its leaf through the index.
      for (let i = 0; i < ENTRIES; i += 97) await fs.unlink(`/d/${nameOf(i)}`);
      await fs.unmount();

      assertClean(image);
      const htree = debugfs(image, 'htree /d');
      assert.match(htree, /Indirect levels: 1/);
      const dirSize = Number(/Size: (\d+)/.exec(debugfs(image, 'stat /d'))![1]);
      const ls = debugfsLs(image, '/d').map((e) => e.name).filter((n) => n !== '.' && n !== '..');
      assert.equal(ls.length, ENTRIES - Math.ceil(ENTRIES / 97));

      /*
       * Cold mounts, read-only, from the image file: the device's counters tell
       * what a lookup costs. A small VM keeps the pager's clusters small (a
       * quarter of memory at most), so that bytes read show blocks touched.
       */
      const probe = async (path: string): Promise<{ found: boolean; reads: number; bytes: number }> => {
        const dev = (await ImageDevice.open(image, true)).dev!;
        const cold = await new Vm({ memory: 64 << 10 }).mount(dev, { readOnly: true });
        try {
          await cold.stat('/d');
          const r0 = dev.stats.reads;
          const b0 = dev.stats.bytesRead;
          const found = await cold.stat(path).then(() => true, () => false);
          return { found, reads: dev.stats.reads - r0, bytes: dev.stats.bytesRead - b0 };
        } finally {
          await cold.unmount();
        }
      };
      for (const i of [1, Math.floor(ENTRIES / 2) + 1, ENTRIES - 1]) {
        const p = await probe(`/d/${nameOf(i)}`);
        assert.ok(p.found, nameOf(i));
        // The root, one interior node, the leaf (and perhaps its neighbour), the file's inode block.
        assert.ok(p.reads <= 6, `${p.reads} device reads for one lookup`);
        console.log(`# lookup of ${nameOf(i)}: ${p.reads} reads, ${p.bytes} bytes; directory ${dirSize} bytes`);
        // Besides the index path, the file's inode: when its block follows the last inode block read, that
        // miss reads on 64 KiB of the inode table (breadn), which depends on the image's random hash seed.
        const inodeReadahead = 64 * 1024;
        assert.ok((p.bytes - inodeReadahead) * 4 < dirSize, `${p.bytes} bytes read for one lookup in a directory of ${dirSize}`);
      }
      const gone = await probe(`/d/${nameOf(97)}`);
      assert.ok(!gone.found, 'a removed name is not found');
      assert.ok(gone.reads <= 5, `${gone.reads} device reads for a miss`);

      /* A second mount goes on adding to the index it finds. */
      fs = await vm.mount(image, { readOnly: false });
      await (await fs.open('/d/late-arrival', { create: true })).close();
      assert.ok((await fs.stat(`/d/${nameOf(ENTRIES - 2)}`)).size === 0);
      await fs.unmount();
      assertClean(image);
      assert.ok(debugfsLs(image, '/d').some((e) => e.name === 'late-arrival'));
    });
  });
}
