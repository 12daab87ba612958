/*
 * Directories with more subdirectories than a 16-bit link count holds: with
 * dir_nlink, an indexed directory past the limit counts 1 and keeps 1 while
 * subdirectories come and go; without it, mkdir and a rename into it are
 * EMLINK at the limit, nothing changed.
 *
 * The full limits (65000 subdirectories with dir_nlink, 32000 without) run
 * with VMPAGER_DIR_NLINK_FULL=1: minutes of mkdirs. The default run lowers
 * vmpager's limits (ext2LinkLimits) to a few hundred. e2fsck -fn judges
 * both: it takes 1 for an indexed directory's count below its own 65000 as
 * well (a count that was past the limit once), so it is clean either way,
 * and checks every other count and entry.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { ext2LinkLimits } from '../../../src/fs/ext2/ext2_nlink.js';
import { debugfs, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsLs } from './ext2_util.js';
import { assertClean } from './ext2_write_util.js';

const tmp = tempDir('vmpager-nlink-');
after(() => tmp.cleanup());

const FULL = process.env.VMPAGER_DIR_NLINK_FULL === '1';
/** Subdirectories that bring a directory to `limit` links. */
const n = (limit: number) => limit - 2;

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => e.code === code);
}

/** The limit the test runs at: vmpager's real one, or a lowered one for the default run. */
async function withLimits<T>(limits: { dirNlink: number; plain: number }, fn: () => Promise<T>): Promise<T> {
  const saved = { ...ext2LinkLimits };
  Object.assign(ext2LinkLimits, limits);
  try {
    return await fn();
  } finally {
    Object.assign(ext2LinkLimits, saved);
  }
}

describe('dir_nlink (ext4, 1 KiB blocks, 128-byte inodes)', () => {
  const limit = FULL ? 65000 : 400;
  test(`past ${limit} subdirectories a directory counts 1, and keeps 1 as they come and go`, async () => {
    const image = join(tmp.dir, 'nlink.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: (FULL ? 160 : 16) << 20, files: [], extra: ['-N', String(limit + 1000), '-I', '128'] });
    assert.match(debugfs(image, 'features'), /dir_nlink/);
    await withLimits({ dirNlink: limit, plain: 32000 }, async () => {
      const fs = await new Vm({ memory: 2 << 20 }).mount(image, { readOnly: false });
      await fs.mkdir('/p');
      const k = n(limit);
      for (let i = 0; i < k; i++) await fs.mkdir(`/p/s${i}`);
      assert.equal((await fs.stat('/p')).nlink, limit);
      await fs.mkdir(`/p/s${k}`);
      assert.equal((await fs.stat('/p')).nlink, 1, 'past the limit: 1');
      await fs.mkdir(`/p/s${k + 1}`);
      await fs.mkdir(`/p/s${k + 2}`);
      assert.equal((await fs.stat('/p')).nlink, 1);
      await fs.rmdir(`/p/s${k + 2}`);
      await fs.rename('/p/s0', '/moved'); // a rename out of it, and one into it
      await fs.mkdir('/q');
      await fs.rename('/q', '/p/q');
      assert.equal((await fs.stat('/p')).nlink, 1, 'removals and renames keep 1');
      assert.equal((await fs.stat('/')).nlink, 5, '/, lost+found, p, moved');
      await fs.unmount();
    });
    assertClean(image);
    assert.equal(debugfsLs(image, '/p').length, n(limit) + 4, '".", "..", s1 .. s(k+1), q');
    assert.match(debugfs(image, 'stat /p'), /Links: 1\b/);
  });

  test(`without dir_nlink, mkdir and rename into a directory at the limit are EMLINK, nothing changed`, async () => {
    const plain = FULL ? 32000 : 300;
    const image = join(tmp.dir, 'emlink.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: (FULL ? 80 : 16) << 20, files: [], extra: ['-O', '^dir_nlink', '-N', String(plain + 1000), '-I', '128'] });
    assert.doesNotMatch(debugfs(image, 'features'), /dir_nlink/);
    await withLimits({ dirNlink: 65000, plain }, async () => {
      const fs = await new Vm({ memory: 2 << 20 }).mount(image, { readOnly: false });
      await fs.mkdir('/p');
      for (let i = 0; i < n(plain); i++) await fs.mkdir(`/p/s${i}`);
      assert.equal((await fs.stat('/p')).nlink, plain);
      await rejects(fs.mkdir('/p/one-more'), 'EMLINK');
      await fs.mkdir('/q');
      await rejects(fs.rename('/q', '/p/q'), 'EMLINK');
      assert.equal((await fs.stat('/p')).nlink, plain);
      await assert.rejects(fs.stat('/p/one-more'), (e: { code?: string }) => e.code === 'ENOENT');
      await fs.unmount();
    });
    assertClean(image);
    assert.match(debugfs(image, 'stat /p'), new RegExp(`Links: ${plain}\\b`));
  });
});
