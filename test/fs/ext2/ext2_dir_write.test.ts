/*
 * The ext2 writer's directories against debugfs and e2fsck: a directory
 * filled until it needs new blocks, room reused after removals, 255-byte
 * names, link counts of nested directories, hash-indexed directories
 * changed (the index is dropped, the names stay), symbolic links, and the
 * errors of the name operations.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  EEXIST, EINVAL, EISDIR, ENAMETOOLONG, ENOENT, ENOTDIR, ENOTEMPTY,
} from '../../../src/kern/errno.js';
import { EXT2_INDEX_FL } from '../../../src/fs/ext2/ext2_fs.js';
import type { Inode } from '../../../src/fs/ext2/ext2_inode.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { debugfs, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsLs, lookupPath } from './ext2_util.js';
import { EXT4_CONFIGS } from './ext4_configs.js';
import {
  assertClean, assertContents, create, inDir, lookupIn, mkdir, mountRw, putFile, remove, rmdir,
} from './ext2_write_util.js';

const tmp = tempDir('vmpager-ext2dirw-');
after(() => tmp.cleanup());

let n = 0;
/** The file-system type and mke2fs options the images of the current suite are made with. */
let kind: { type: 'ext2' | 'ext4'; extra: string[] } = { type: 'ext2', extra: [] };
function image(bs: number, files: Parameters<typeof buildImage>[1]['files'] = [], extra: string[] = []): string {
  return buildImage(join(tmp.dir, `d-${n++}.img`), { type: kind.type, blockSize: bs, size: 8 << 20, files, extra: [...kind.extra, ...extra] });
}

const KINDS: Array<{ name: string; type: 'ext2' | 'ext4'; extra: string[] }> = [
  { name: 'ext2', type: 'ext2', extra: [] },
  ...EXT4_CONFIGS.slice(0, 2).map((c) => ({ name: c.name, type: 'ext4' as const, extra: c.extra })),
];

/** Names in directory path, as debugfs lists them (without . and ..). */
function names(img: string, path: string): string[] {
  return debugfsLs(img, path).map((e) => e.name).filter((x) => x !== '.' && x !== '..').sort();
}

function dirSize(img: string, path: string): number {
  return Number(/Size: (\d+)/.exec(debugfs(img, `stat ${path}`))![1]);
}

for (const k of KINDS) {
describe(`directories (${k.name})`, () => {
  before(() => {
    kind = k;
  });
  test('a directory filled past one block grows block by block; every name is found', async () => {
    const img = image(1024);
    const { fs, mp } = await mountRw(img);
    assert.equal(await mkdir(mp, '/', 'd'), 0);
    const want: string[] = [];
    for (let i = 0; i < 150; i++) {
      const name = `file-with-a-longish-name-${i}`;
      want.push(name);
      const r = await create(mp, '/d', name);
      assert.equal(r.error, 0, name);
      await vrele(r.vp!);
    }
    for (const name of want) {
      const r = await lookupIn(mp, '/d', name);
      assert.equal(r.error, 0, name);
      await vrele(r.vp!);
    }
    await fs.unmount();
    assertClean(img);
    assert.deepEqual(names(img, '/d'), want.sort());
    assert.ok(dirSize(img, '/d') >= 6 * 1024);
  });

  test('the first entry of a block, removed, leaves an unused record that the next name takes (a linear directory)', async () => {
    const img = image(1024, [], ['-O', '^dir_index']);
    const { fs, mp } = await mountRw(img);
    assert.equal(await mkdir(mp, '/', 'd'), 0);
    const all = Array.from({ length: 60 }, (_, i) => `file-with-a-longish-name-${String(i).padStart(2, '0')}`);
    for (const name of all) await putFile(mp, '/d', name, new Uint8Array(0));
    await fs.sync();
    // Which name opens block 1 (debugfs: "logical block 1, ..., offset 0")?
    const at = (name: string) => debugfs(img, `dirsearch /d ${name}`);
    const first = all.find((n) => /logical block 1,.*offset 0/.test(at(n)));
    assert.ok(first, 'some name opens block 1');
    // No record before it in its block to merge into: it stays, with inode 0.
    assert.equal(await remove(mp, '/d', first), 0);
    await fs.sync();
    assertClean(img);
    assert.deepEqual(names(img, '/d'), all.filter((n) => n !== first));
    assert.doesNotMatch(at(first), /Entry found/);
    // A name of the same length fits the unused record and takes it.
    await putFile(mp, '/d', 'file-with-a-longish-name-xx', new Uint8Array(0));
    await fs.unmount();
    assertClean(img);
    assert.match(at('file-with-a-longish-name-xx'), /logical block 1,.*offset 0/);
    assert.deepEqual(names(img, '/d'), [...all.filter((n) => n !== first), 'file-with-a-longish-name-xx'].sort());
  });

  test('room freed by removals is used again before the directory grows (a linear directory: with an index, a name goes where its hash says)', async () => {
    const img = image(1024, [], ['-O', '^dir_index']);
    const { fs, mp } = await mountRw(img);
    assert.equal(await mkdir(mp, '/', 'd'), 0);
    for (let i = 0; i < 100; i++) await putFile(mp, '/d', `name-${String(i).padStart(3, '0')}`, new Uint8Array(0));
    await fs.sync();
    const size = dirSize(img, '/d');
    for (let i = 0; i < 100; i += 2) assert.equal(await remove(mp, '/d', `name-${String(i).padStart(3, '0')}`), 0);
    for (let i = 0; i < 50; i++) await putFile(mp, '/d', `new-${String(i).padStart(3, '0')}`, randomBytes(i, i + 1));
    await fs.unmount();
    assertClean(img);
    assert.equal(dirSize(img, '/d'), size);
    assert.equal(names(img, '/d').length, 100);
    assertContents(img, '/d/new-049', randomBytes(49, 50));
  });

  test('255-byte names, nested directories and their link counts', async () => {
    const img = image(4096);
    const { fs, mp } = await mountRw(img);
    const long = 'L'.repeat(255);
    assert.equal(await mkdir(mp, '/', 'a'), 0);
    assert.equal(await mkdir(mp, '/a', 'b'), 0);
    assert.equal(await mkdir(mp, '/a', 'c'), 0);
    await putFile(mp, '/a/b', long, randomBytes(1234, 11));
    assert.equal(await mkdir(mp, '/a/c', long), 0);
    await fs.unmount();
    assertClean(img);
    assertContents(img, `/a/b/${long}`, randomBytes(1234, 11));
    assert.match(debugfs(img, 'stat /a'), /Links: 4/);
    assert.match(debugfs(img, 'stat /a/c'), /Links: 3/);
    const again = await mountRw(img);
    assert.equal(await rmdir(again.mp, '/a/c', long), 0);
    assert.equal(await rmdir(again.mp, '/a', 'c'), 0);
    await again.fs.unmount();
    assertClean(img);
    assert.match(debugfs(img, 'stat /a'), /Links: 3/);
  });

  test('a hash-indexed directory changed keeps every name and its index', async () => {
    const files = Array.from({ length: 300 }, (_, i) => ({ path: `big/entry-${i}`, data: randomBytes(i % 7, i) }));
    const img = image(1024, files);
    const r = spawnSync('e2fsck', ['-fyD', img], { encoding: 'utf8' });
    assert.ok(r.status === 0 || r.status === 1, r.stdout);
    const { fs, mp } = await mountRw(img);
    const dvp = await lookupPath(mp, '/big');
    assert.ok(((dvp.data as Inode).din.flags & EXT2_INDEX_FL) !== 0, 'e2fsck -D indexed it');
    await vrele(dvp);
    await putFile(mp, '/big', 'added', randomBytes(10, 999));
    assert.equal(await remove(mp, '/big', 'entry-7'), 0);
    await fs.unmount();
    assertClean(img);
    assert.match(debugfs(img, 'htree /big'), /Root node dump/, 'still indexed');
    const want = [...files.map((f) => f.path.slice(4)).filter((x) => x !== 'entry-7'), 'added'].sort();
    assert.deepEqual(names(img, '/big'), want);
    assertContents(img, '/big/added', randomBytes(10, 999));
    assertContents(img, '/big/entry-299', randomBytes(299 % 7, 299));
  });

  test('symbolic links, fast and slow, read back and removed', async () => {
    const img = image(1024);
    const { fs, mp } = await mountRw(img);
    const slow = 'a/'.repeat(100) + 'target';
    for (const [name, target] of [['fast', 'short/target'], ['slow', slow]]) {
      const r = await inDir(mp, '/', (d) => d.op.symlink(d, name, target));
      assert.equal(r.error, 0);
      assert.deepEqual(await r.vp!.op.readlink(r.vp!), { error: 0, target });
      await vrele(r.vp!);
    }
    await putFile(mp, '/', 'gone', new Uint8Array(0));
    const r = await inDir(mp, '/', (d) => d.op.symlink(d, 'gone-link', 'gone'));
    await vrele(r.vp!);
    assert.equal(await remove(mp, '/', 'gone-link'), 0);
    await fs.unmount();
    assertClean(img);
    assert.match(debugfs(img, 'stat /fast'), /Fast link dest: "short\/target"/);
    assert.equal(debugfs(img, 'cat /slow'), slow);
  });

  test('the name operations answer the errors POSIX gives', async () => {
    const img = image(1024, [{ path: 'file', data: randomBytes(5, 1) }, { path: 'full/x', data: randomBytes(5, 2) }]);
    const { fs, mp } = await mountRw(img);
    assert.equal((await create(mp, '/', 'file')).error, EEXIST);
    assert.equal(await mkdir(mp, '/', 'full'), EEXIST);
    assert.equal(await mkdir(mp, '/', '.'), EEXIST);
    assert.equal((await create(mp, '/', 'x'.repeat(256))).error, ENAMETOOLONG);
    assert.equal((await create(mp, '/', 'a/b')).error, EINVAL);
    assert.equal(await rmdir(mp, '/', 'full'), ENOTEMPTY);
    assert.equal(await rmdir(mp, '/', 'file'), ENOTDIR);
    assert.equal(await rmdir(mp, '/', '.'), EINVAL);
    assert.equal(await rmdir(mp, '/', 'missing'), ENOENT);
    assert.equal(await remove(mp, '/', 'full'), EISDIR);
    assert.equal(await remove(mp, '/', 'missing'), ENOENT);
    assert.equal((await create(mp, '/file', 'y')).error, ENOTDIR);
    // A directory removed while someone holds it takes no new entries.
    assert.equal(await mkdir(mp, '/', 'doomed'), 0);
    const doomed = await lookupPath(mp, '/doomed');
    assert.equal(await rmdir(mp, '/', 'doomed'), 0);
    await doomed.lock.lock();
    assert.equal((await doomed.op.create(doomed, 'z', 0o644)).error, ENOENT);
    doomed.lock.unlock();
    await vrele(doomed);
    await fs.unmount();
    assertClean(img);
  });
});
}

test('ext4 without filetype: names behind checksum tails are found, and new entries and removals leave e2fsck clean', async () => {
  kind = { type: 'ext4', extra: ['-O', '^filetype'] };
  const img = image(1024, [{ path: 'a/x', data: randomBytes(5, 3) }]);
  const { fs, mp } = await mountRw(img);
  const x = await lookupPath(mp, '/a/x');
  await vrele(x);
  assert.equal(await mkdir(mp, '/', 'd'), 0);
  const want: string[] = [];
  for (let i = 0; i < 40; i++) {
    const name = `file-with-a-longish-name-${i}`;
    want.push(name);
    const r = await create(mp, '/d', name);
    assert.equal(r.error, 0, name);
    await vrele(r.vp!);
  }
  assert.equal(await remove(mp, '/a', 'x'), 0);
  await fs.unmount();
  assertClean(img);
  assert.deepEqual(names(img, '/d'), want.sort());
  assert.deepEqual(names(img, '/a'), []);
  assert.ok(dirSize(img, '/d') >= 2 * 1024, 'the names took a second block');
});
