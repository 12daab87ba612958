/*
 * Directory checksums stored at page-out (ext2_dir_csum.ts): with
 * metadata_csum, a directory block changed by an insert carries its checksum
 * only once its page is written. Between the two the block must read as
 * ours (listed, looked up, inserted into again), a page-out under memory
 * pressure in the middle of the inserts must write every block it carries
 * with the right checksum, and what reaches the disk must be what e2fsck
 * and debugfs accept. Blocks of 1, 2 and 4 KiB (several to a 4 KiB page, or
 * one), and 64 KiB pages (16 blocks of 4 KiB to a page).
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { debugfs, e2fsck, mkext2, tempDir } from '../../helpers/images.js';

const tmp = tempDir('vmpager-dircsum-');
after(() => tmp.cleanup());

const NAMES = Array.from({ length: 300 }, (_, i) => `entry-with-a-longish-name-${String(i).padStart(4, '0')}`);

for (const { blockSize, pageSize } of [
  { blockSize: 1024, pageSize: 4096 },
  { blockSize: 2048, pageSize: 4096 },
  { blockSize: 4096, pageSize: 4096 },
  { blockSize: 4096, pageSize: 65536 },
]) {
  describe(`ext4 metadata_csum, ${blockSize}-byte blocks, ${pageSize}-byte pages`, () => {
    test('a directory changed but not yet written lists, looks up and takes more entries; pages written under pressure midway carry right checksums; e2fsck and debugfs agree', async () => {
      const image = mkext2(join(tmp.dir, `d${blockSize}-${pageSize}.img`), [{ path: 'dir', dir: true }], {
        type: 'ext4', blockSize, size: 16 << 20, extra: ['-O', 'metadata_csum,^dir_index'],
      });
      // Few frames: the directory's pages go out (and come back) while entries keep going in.
      const vm = new Vm({ memory: 16 * pageSize, pageSize });
      const fs = await vm.mount(image, { readOnly: false });
      try {
        for (let i = 0; i < NAMES.length; i++) {
          const f = await fs.open(`/dir/${NAMES[i]}`, { create: true });
          await f.close();
          if (i % 60 === 59) {
            // Read back what is in the pages now, written or not.
            const listed = (await fs.readdir('/dir')).map((e) => e.name).sort();
            assert.deepEqual(listed, NAMES.slice(0, i + 1), `listed after ${i + 1} inserts`);
            assert.equal((await fs.stat(`/dir/${NAMES[i - 30]}`)).type, 'file');
          }
        }
        for (let i = 0; i < NAMES.length; i += 3) await fs.unlink(`/dir/${NAMES[i]}`);
      } finally {
        await fs.unmount();
      }
      const left = NAMES.filter((_, i) => i % 3 !== 0);
      const ck = e2fsck(image);
      assert.ok(ck.clean, ck.output);
      // debugfs ls -l shows a block's first record, removed, with inode 0: live entries only.
      const theirs = debugfs(image, 'ls -l /dir').split('\n').map((l) => l.trim().split(/\s+/))
        .filter((w) => w[0] !== '0' && w[w.length - 1].startsWith('entry-')).map((w) => w[w.length - 1]).sort();
      assert.deepEqual(theirs, left, 'debugfs ls');
      // Mounted again, every block's checksum is verified as it is read.
      const fs2 = await new Vm({ memory: 16 * pageSize, pageSize }).mount(image);
      try {
        assert.deepEqual((await fs2.readdir('/dir')).map((e) => e.name).sort(), left, 'listed after a remount');
      } finally {
        await fs2.unmount();
      }
    });
  });
}
