/*
 * Block numbers past 2^32: a 5 TiB sparse image of 1 KiB blocks made by
 * mke2fs -t ext4 (it chooses meta_bg there), a file written by vmpager into
 * blocks above 2^32, judged by debugfs (extent, bytes) and e2fsck -fn.
 * About three minutes and 1 GiB of disk: run with VMPAGER_BIG_EXT4=1.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import type { Inode } from '../../../src/fs/ext2/ext2_inode.js';
import { debugfs, randomBytes, tempDir } from '../../helpers/images.js';
import { assertClean, assertContents } from './ext2_write_util.js';

const tmp = tempDir('vmpager-ext4big-');
after(() => tmp.cleanup());

test('a file placed past block 2^32 of a 5 TiB image reads back through debugfs; e2fsck -fn is clean', { skip: process.env.VMPAGER_BIG_EXT4 !== '1' }, async () => {
  const image = join(tmp.dir, 'big.img');
  const fd = openSync(image, 'w');
  ftruncateSync(fd, 5 * 2 ** 40);
  closeSync(fd);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', image], { stdio: 'ignore' });
  const vm = new Vm({ memory: 8 << 20 });
  const fs = await vm.mount(image, { readOnly: false });
  const f = await fs.open('/high', { create: true });
  // The allocator starts after the file's last block: put that past 2^32.
  (f.vp.data as Inode).lastAlloc = 2 ** 32 + 123_456;
  const data = randomBytes(1 << 20, 9);
  await f.write(0, data);
  await f.close();
  await fs.unmount();
  const m = /\s(\d+) - (\d+)\s+1024\s*$/m.exec(debugfs(image, 'ex /high'));
  assert.ok(m !== null && Number(m[1]) > 2 ** 32, 'the extent lies past block 2^32');
  assertContents(image, '/high', data);
  assertClean(image);
});
