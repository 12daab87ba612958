/*
 * The largest file size an ext2/3/4 image takes (ext2MaxSize), against
 * Linux's own: each limit below was measured on this kind of image mounted
 * by Linux (the ext4 driver), as the largest size `truncate -s` gave a file.
 * A file may be set to the limit (e2fsck -fn clean, debugfs reads the size)
 * and not one byte past it (EFBIG, the file as it was). Found by a user:
 * ext4 took 2^32 blocks (16 TiB at 4 KiB), a size e2fsck refuses.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { EFBIG } from '../../../src/kern/errno.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { tempDir } from '../../helpers/images.js';
import { buildImage, lookupPath } from './ext2_util.js';
import { assertClean, create, mountRw, setsize, write } from './ext2_write_util.js';

const tmp = tempDir('vmpager-ext2max-');
after(() => tmp.cleanup());

const CASES: Array<{ name: string; type: 'ext2' | 'ext3' | 'ext4'; bs: number; extra: string[]; max: number }> = [
  { name: 'ext4 (extents, huge_file), 4 KiB blocks', type: 'ext4', bs: 4096, extra: [], max: 17592186040320 },
  { name: 'ext4 (extents, huge_file), 1 KiB blocks', type: 'ext4', bs: 1024, extra: [], max: 4398046510080 },
  { name: 'ext4 without huge_file, 4 KiB blocks (i_blocks in 32 bits)', type: 'ext4', bs: 4096, extra: ['-O', '^huge_file'], max: 2199023251456 },
  { name: 'ext3 (block map, no huge_file), 4 KiB blocks', type: 'ext3', bs: 4096, extra: [], max: 2196873666560 },
  { name: 'ext3 (block map), 1 KiB blocks', type: 'ext3', bs: 1024, extra: [], max: 17247252480 },
  { name: 'ext2 (block map), 2 KiB blocks', type: 'ext2', bs: 2048, extra: [], max: 275415851008 },
];

for (const c of CASES) {
  describe(c.name, () => {
    test(`a file may be ${c.max} bytes long and not a byte more`, async () => {
      const image = join(tmp.dir, `${c.type}-${c.bs}-${c.extra.length}.img`);
      buildImage(image, { type: c.type, blockSize: c.bs, size: 16 << 20, extra: ['-E', 'nodiscard', ...c.extra], files: [] });
      const { fs, mp } = await mountRw(image);
      const made = await create(mp, '/', 'f');
      assert.equal(made.error, 0);
      await vrele(made.vp!);
      const vp = await lookupPath(mp, '/f');
      assert.equal(await setsize(vp, c.max + 1), EFBIG);
      assert.equal(await setsize(vp, c.max), 0);
      // A write may end at the limit, not past it.
      assert.equal((await write(vp, c.max - 1, new Uint8Array([7]))).error, 0);
      assert.equal((await write(vp, c.max, new Uint8Array([7]))).error, EFBIG);
      await vrele(vp);
      await fs.unmount();
      assertClean(image);
      const stat = execFileSync('debugfs', ['-R', 'stat /f', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      assert.match(stat, new RegExp(`Size: ${c.max}\\b`));
    });
  });
}
