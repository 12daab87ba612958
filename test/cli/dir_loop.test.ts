/*
 * A damaged image whose directory is linked twice, once below itself (made
 * with debugfs `ln`, as corruption leaves it): `rm -r` of it refuses in one
 * line naming the loop instead of recursing until the path is too long;
 * `ls -R` lists each directory once. (`get` of it: get_pipeline.test.ts.)
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const image = join(tmp.dir, 'loop.img');

before(() => {
  const tree = join(tmp.dir, 'src');
  mkdirSync(join(tree, 'a/b'), { recursive: true });
  writeFileSync(join(tree, 'a/b/f'), 'in b\n');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, image, '8M'], { stdio: 'ignore' });
  debugfs(image, 'ln /a /a/b/loop', true);
});

function vmpager(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('rm -r of a directory that is its own ancestor refuses in one line, exit 2, naming the loop', () => {
  const copy = join(tmp.dir, 'rm.img');
  copyFileSync(image, copy);
  const r = vmpager(['rm', '-r', copy, '/a']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^vmpager: .*rm\.img: \/a\/b\/loop: directory inode \d+ is its own ancestor \(the image links it twice: run e2fsck\)\n$/);
});

test('ls -R lists each directory once', () => {
  const r = vmpager(['ls', '-R', image, '/']);
  assert.equal(r.status, 0, r.stderr);
  const paths = r.stdout.trim().split('\n').map((l) => l.split(/\s+/).pop());
  assert.deepEqual(paths, ['/a', '/a/b', '/a/b/f', '/a/b/loop', '/lost+found']);
});
