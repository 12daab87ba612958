/*
 * ext2 directories against debugfs: a 400-entry directory (linear and, after
 * e2fsck -D, hash-indexed), 255-byte names, inline-data directories, and
 * lookup's errors.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ENAMETOOLONG, ENOENT, ENOTDIR } from '../../../src/kern/errno.js';
import { EXT2_INDEX_FL } from '../../../src/fs/ext2/ext2_fs.js';
import type { Mount } from '../../../src/vfs/mount.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import type { Vnode } from '../../../src/vfs/vnode.js';
import type { Dirent } from '../../../src/vfs/vnode_if.js';
import { type TreeFile, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsLs, lookupPath, mountImage } from './ext2_util.js';

const NAMES = Array.from({ length: 400 }, (_, i) => (i % 40 === 0 ? `${i}-${'n'.repeat(250)}`.slice(0, 255) : `entry-${i}`));
const LONG = ['L'.repeat(255), `${'é'.repeat(127)}x`]; // 255 bytes each

function tree(): TreeFile[] {
  const files: TreeFile[] = NAMES.map((n, i) => ({ path: `big/${n}`, data: randomBytes(i % 50 === 0 ? 3 : 0, i) }));
  for (const n of LONG) files.push({ path: `long/${n}`, data: new TextEncoder().encode(n.slice(0, 3)) });
  files.push({ path: 'file', data: randomBytes(10, 1) });
  files.push({ path: 'small/a', data: randomBytes(3, 2) });
  files.push({ path: 'small/b', dir: true });
  for (let i = 0; i < 5; i++) files.push({ path: `medium/name-number-${i}`, data: randomBytes(5, 3 + i) });
  return files;
}

async function listing(vp: Vnode): Promise<Dirent[]> {
  const ents: Dirent[] = [];
  assert.equal(await vp.op.readdir(vp, (d) => (ents.push(d), true)), 0);
  return ents;
}

async function checkDir(mp: Mount, image: string, path: string): Promise<Dirent[]> {
  const vp = await lookupPath(mp, path);
  const ents = await listing(vp);
  const oracle = debugfsLs(image, `/${path}`);
  assert.deepEqual(ents.map((e) => [e.ino, Buffer.from(e.name).toString('latin1')]), oracle.map((o) => [o.ino, o.name]), path);
  for (const e of ents) {
    const r = await vp.op.lookup(vp, e.name);
    assert.equal(r.error, 0, e.name);
    assert.equal(r.vp!.ino, e.ino, e.name);
    await vrele(r.vp!);
  }
  await vrele(vp);
  return ents;
}

const variants: Array<[string, 'ext2' | 'ext4', number, string[], boolean]> = [
  ['ext2, 1 KiB blocks, linear directories', 'ext2', 1024, [], false],
  ['ext4, 1 KiB blocks, hash-indexed directories', 'ext4', 1024, [], true],
  ['ext4, 4 KiB blocks, inline data', 'ext4', 4096, ['-O', 'inline_data', '-I', '256'], false],
  ['ext2, 64 KiB blocks', 'ext2', 65536, ['-N', '1024'], false],
];

for (const [title, type, bs, extra, htree] of variants) {
  describe(title, () => {
    const { dir, cleanup } = tempDir('vmpager-ext2dir-');
    const image = join(dir, 'fs.img');
    let mp: Mount;

    before(async () => {
      buildImage(image, { type, blockSize: bs, size: 8 * 2 ** 20, files: tree(), extra });
      if (htree) spawnSync('e2fsck', ['-fyD', image], { stdio: 'ignore' });
      mp = await mountImage(image);
    });
    after(cleanup);

    test('a 400-entry directory lists like debugfs ls and every name is found', async () => {
      const ents = await checkDir(mp, image, 'big');
      assert.equal(ents.length, 402);
      const vp = await lookupPath(mp, 'big');
      const { va } = await vp.op.getattr(vp);
      assert.equal((va!.flags & EXT2_INDEX_FL) !== 0, htree);
      await vrele(vp);
    });

    test('255-byte names list and look up', async () => {
      const ents = await checkDir(mp, image, 'long');
      assert.deepEqual(ents.map((e) => e.name).filter((n) => n.length > 2).sort(), [...LONG].sort());
    });

    test('small directories (inline when the feature is on) list like debugfs ls', async () => {
      await checkDir(mp, image, 'small');
      await checkDir(mp, image, 'medium');
      const vp = await lookupPath(mp, 'small');
      const { va } = await vp.op.getattr(vp);
      assert.equal(va!.extra.inline, extra.includes('inline_data'));
      const up = await vp.op.lookup(vp, '..');
      assert.equal(up.vp!.ino, 2);
      await vrele(up.vp!);
      await vrele(vp);
    });

    test('readdir stops when the callback answers false', async () => {
      const vp = await lookupPath(mp, 'big');
      let n = 0;
      assert.equal(await vp.op.readdir(vp, () => ++n < 5), 0);
      assert.equal(n, 5);
      await vrele(vp);
    });

    test('lookup errors: missing, too long, not a directory', async () => {
      const vp = await lookupPath(mp, 'big');
      assert.equal((await vp.op.lookup(vp, 'no-such-name')).error, ENOENT);
      assert.equal((await vp.op.lookup(vp, 'x'.repeat(256))).error, ENAMETOOLONG);
      assert.equal((await vp.op.lookup(vp, '')).error, ENOENT);
      const f = await lookupPath(mp, 'file');
      assert.equal((await f.op.lookup(f, 'x')).error, ENOTDIR);
      assert.equal(await f.op.readdir(f, () => true), ENOTDIR);
      await vrele(f);
      await vrele(vp);
    });
  });
}

describe('ext4 with casefold', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2cf-');
  const image = join(dir, 'fs.img');
  let mp: Mount;

  before(async () => {
    buildImage(image, {
      type: 'ext4', blockSize: 1024, size: 4 * 2 ** 20, extra: ['-O', 'casefold,^has_journal'],
      files: [{ path: 'cf/Readme.TXT', data: randomBytes(5, 1) }, { path: 'plain/Readme.TXT', data: randomBytes(5, 2) }],
    });
    spawnSync('debugfs', ['-w', '-R', 'sif /cf flags 0x40080000', image], { stdio: 'ignore' });
    mp = await mountImage(image);
  });
  after(cleanup);

  test('a casefolded directory finds names in any case; a plain one does not', async () => {
    const cf = await lookupPath(mp, 'cf');
    const r = await cf.op.lookup(cf, 'README.txt');
    assert.equal(r.error, 0);
    assert.equal((await cf.op.lookup(cf, 'Readme.TXT')).vp, r.vp);
    const plain = await lookupPath(mp, 'plain');
    assert.equal((await plain.op.lookup(plain, 'README.txt')).error, ENOENT);
    assert.equal((await plain.op.lookup(plain, 'Readme.TXT')).error, 0);
  });
});
