/*
 * vmpager mkfs: a new ext2 image that e2fsck finds clean, and with --from a
 * directory tree copied in through the pager that debugfs reads back as it
 * was on the host (files, holes, directories, symlinks).
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, debugfsCat, e2fsck, randomBytes, tempDir, writeTree, type TreeFile } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

for (const [type, bs] of [['ext2', 1024], ['ext2', 4096], ['ext4', 1024], ['ext4', 4096]] as const) {
  test(`mkfs --type ${type} --from copies a tree into a new ${bs}-byte-block image that e2fsck finds clean`, () => {
    const tree = join(tmp.dir, `tree-${type}-${bs}`);
    const sparse = new Uint8Array(3 << 20);
    sparse.set(randomBytes(5000, 2), 1 << 20);
    const files: TreeFile[] = [
      { path: 'a.txt', data: new TextEncoder().encode('hello\n') },
      { path: 'empty', data: new Uint8Array(0) },
      { path: 'big.bin', data: randomBytes((2 << 20) + 17, 1) },
      { path: 'holes.bin', data: sparse },
      { path: 'd/e/f.bin', data: randomBytes(70_000, 3) },
      { path: 'd/empty-dir', dir: true },
      { path: 'd/link', symlink: '../a.txt' },
      { path: 'd/long-link', symlink: 'x/'.repeat(60) + 'target' },
    ];
    writeTree(tree, files);
    const image = join(tmp.dir, `new-${type}-${bs}.img`);
    const r = vmpager(['mkfs', '--type', type, '--block-size', String(bs), '--from', tree, image, '16MiB']);
    assert.equal(r.status, 0, r.stderr);
    const ck = e2fsck(image);
    assert.ok(ck.clean, ck.output);
    for (const f of files) {
      if (f.data !== undefined) assert.ok(debugfsCat(image, `/${f.path}`).equals(Buffer.from(f.data)), f.path);
    }
    assert.match(debugfs(image, 'stat /d/link'), /Fast link dest: "\.\.\/a\.txt"/);
    assert.match(debugfs(image, 'ls -l /d'), /empty-dir/);
    // The zeros of holes.bin were not written: the file holds fewer blocks than its size.
    const blocks = Number(/Blockcount: (\d+)/.exec(debugfs(image, 'stat /holes.bin'))![1]);
    assert.ok(blocks * 512 < 1 << 20, `holes.bin uses ${blocks * 512} bytes`);
    if (type === 'ext4') {
      const features = /Filesystem features:\s*(.*)/.exec(spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' }).stdout)![1].split(/\s+/);
      for (const f of ['extent', '64bit', 'flex_bg', 'metadata_csum', 'huge_file', 'dir_nlink', 'extra_isize', 'dir_index']) {
        assert.ok(features.includes(f), `${f} in ${features.join(' ')}`);
      }
      assert.match(debugfs(image, 'stat /big.bin'), /EXTENTS:/);
      assert.match(debugfs(image, 'stat /'), /EXTENTS:/);
    }
  });
}

test('mkfs refuses a bad block size and a size too small, in one line', () => {
  const image = join(tmp.dir, 'bad.img');
  const a = vmpager(['mkfs', '--block-size', '3000', image, '8MiB']);
  assert.equal(a.status, 1);
  const b = vmpager(['mkfs', image, '4KiB']);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /^vmpager: .*bad\.img: device too small for an ext2 file system\n$/);
  assert.equal(existsSync(image), false, 'the image file it made is gone again');
  // A size the host cannot give a file (ext4's limit is 16 TiB): made, refused, gone again.
  const c = vmpager(['mkfs', image, '100TiB']);
  assert.equal(c.status, 2);
  assert.match(c.stderr, /^vmpager: .*bad\.img: file too large\n$/);
  assert.equal(existsSync(image), false, 'the file it made for a size the host refused is gone too');
  // One that was there before stays, its bytes kept.
  writeFileSync(image, 'mine');
  assert.equal(vmpager(['mkfs', image, '4KiB']).status, 2);
  assert.equal(readFileSync(image).subarray(0, 4).toString(), 'mine');
});

test('mkfs --from and put -r --from a symlink to a directory copy the directory it names, as mke2fs -d does', () => {
  const src = join(tmp.dir, 'linked-src');
  const data = randomBytes(5000, 61);
  writeTree(src, [{ path: 'f', data }, { path: 'd/g', data: randomBytes(10, 62) }]);
  const link = join(tmp.dir, 'linked');
  symlinkSync(src, link);
  const image = join(tmp.dir, 'linked.img');
  for (const args of [['mkfs', '--type', 'ext4', '--from', link, image, '8MiB'], ['put', '-r', image, '/again', '--from', link]]) {
    const r = vmpager(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  for (const p of ['/f', '/again/f']) assert.ok(debugfsCat(image, p).equals(Buffer.from(data)), p);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});
