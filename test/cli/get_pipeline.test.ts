/*
 * `get` of a tree while a worker thread makes the host's files (host_ops.ts):
 * a tree larger than the queue's batches (21 MiB of data, 400 files in 40
 * directories, each directory with its own times, one of them read-only,
 * hard links across directories) comes out equal to `debugfs rdump` of it,
 * hard links as links; a host failure in the middle (a name already taken)
 * and a read failure in the middle (a damaged block pointer) each stop the
 * copy with one line naming the file, every file met before it complete;
 * after a read failure nothing more is made (after a host failure the other
 * lane may have made later files before it knew). A directory linked twice
 * (a loop) is copied once.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, linkSync, openSync, readSync, writeSync, lstatSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';
import { rdump, sameTree, walk } from '../helpers/host_trees.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

const src = join(tmp.dir, 'src');
const DIRS = 40;
const FILES = 10;

function filePath(d: number, f: number): string {
  return `d${d}/f${f}`;
}

before(() => {
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < FILES; f++) {
      const p = join(src, filePath(d, f));
      writeFileSync(p, randomBytes(f === 3 ? 500_000 : 1000 + 997 * f, d * 100 + f + 1));
      utimesSync(p, 1_000_000 + d, 2_000_000 + d * 100 + f);
    }
  }
  // Hard links: a first name early and its links in later directories.
  linkSync(join(src, 'd1/f1'), join(src, 'd20/link-of-d1f1'));
  linkSync(join(src, 'd1/f1'), join(src, 'd39/link-of-d1f1'));
  linkSync(join(src, 'd30/f2'), join(src, 'd35/link-of-d30f2'));
  for (let d = 0; d < DIRS; d++) utimesSync(join(src, `d${d}`), 3_000_000 + d, 4_000_000 + d);
  chmodSync(join(src, 'd7'), 0o555); // its files are made before its mode is set
});

function image(name: string, type: string): string {
  const img = join(tmp.dir, name);
  execFileSync('mke2fs', ['-q', '-F', '-t', type, '-d', src, img, '64M'], { stdio: 'ignore' });
  return img;
}

test('get of a tree larger than the host queue equals debugfs rdump: bytes, modes, file and directory times; hard links as links', () => {
  const img = image('big.img', 'ext4');
  const mine = join(tmp.dir, 'big-get');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(g.stderr, '');
  const theirs = rdump(img, tmp.dir, 'big-rdump');
  const names = sameTree(mine, theirs);
  assert.equal(names.length, DIRS * (FILES + 1) + 3);
  assert.equal(lstatSync(join(mine, 'd7')).mode & 0o777, 0o555, 'the read-only directory got its mode after its files');
  assert.equal(lstatSync(join(mine, 'd20/link-of-d1f1')).ino, lstatSync(join(mine, 'd1/f1')).ino);
  assert.equal(lstatSync(join(mine, 'd39/link-of-d1f1')).ino, lstatSync(join(mine, 'd1/f1')).ino);
  assert.equal(lstatSync(join(mine, 'd35/link-of-d30f2')).ino, lstatSync(join(mine, 'd30/f2')).ino);
  assert.equal(lstatSync(join(mine, 'd1/f1')).nlink, 3);
});

/** The files of the image's tree in the order get meets them (directory order). */
function imageOrder(img: string, theirs: string): string[] {
  const out: string[] = [];
  const visit = (dir: string): void => {
    for (const line of debugfs(img, `ls -p ${dir === '' ? '/' : dir}`).split('\n')) {
      const f = line.split('/');
      if (f.length < 6 || f[5] === '.' || f[5] === '..' || f[5] === 'lost+found') continue;
      const rel = dir === '' ? f[5] : `${dir.slice(1)}/${f[5]}`;
      if (lstatSync(join(theirs, rel)).isDirectory()) visit(`/${rel}`);
      else out.push(rel);
    }
  };
  visit('');
  return out;
}

/** Asserts the copy stopped at `failed`: every file met before it complete; with `noneAfter`, none met after it made. */
function stoppedAt(mine: string, theirs: string, order: string[], failed: string, noneAfter: boolean): void {
  const at = order.indexOf(failed);
  assert.ok(at > 50 && at < order.length - 50, 'the failure is in the middle');
  for (let i = 0; i < order.length; i++) {
    const rel = order[i];
    if (rel === failed) continue;
    const got = lstatSync(join(mine, rel), { throwIfNoEntry: false });
    if (i < at) {
      assert.ok(got !== undefined, `${rel}: made before the failure`);
      assert.ok(readFileSync(join(mine, rel)).equals(readFileSync(join(theirs, rel))), `${rel}: complete`);
      assert.equal(Math.floor(got.mtimeMs / 1000), Math.floor(lstatSync(join(theirs, rel)).mtimeMs / 1000), `${rel}: its times set`);
    } else if (noneAfter) {
      assert.equal(got, undefined, `${rel}: nothing made after the failure`);
    }
  }
}

test('a host failure in the middle of get (a name already taken) stops it in one line; files before it complete', () => {
  const img = image('host-fail.img', 'ext4');
  const theirs = rdump(img, tmp.dir, 'host-fail-rdump');
  const order = imageOrder(img, theirs);
  const failed = order[Math.floor(order.length / 2)];
  const mine = join(tmp.dir, 'host-fail-get');
  mkdirSync(join(mine, failed), { recursive: true }); // open(O_EXCL) of the file there fails
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 2);
  assert.equal(g.stderr.trimEnd().split('\n').length, 1, g.stderr);
  assert.match(g.stderr, new RegExp(`^vmpager: ${join(mine, failed)}: .*exists`));
  stoppedAt(mine, theirs, order, failed, false);
});

test('a read failure in the middle of get (a damaged block pointer) stops it in one line naming the file; files before it complete, none after it', () => {
  const img = image('read-fail.img', 'ext2');
  const theirs = rdump(img, tmp.dir, 'read-fail-rdump');
  const order = imageOrder(img, theirs);
  const failed = order.filter((p) => p.endsWith('/f3'))[20]; // 200 000 bytes: its first blocks are read before the damage
  debugfs(img, `sif /${failed} block[IND] 4000000000`, true);
  const mine = join(tmp.dir, 'read-fail-get');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 2);
  assert.equal(g.stderr.trimEnd().split('\n').length, 1, g.stderr);
  assert.ok(g.stderr.startsWith(`vmpager: ${img}: /${failed}: `), g.stderr);
  stoppedAt(mine, theirs, order, failed, true);
});

test('an inode whose checksum is wrong, met by get where its inode table block is in core already: refused in one line naming the inode and its block, as cat names it', () => {
  const img = image('inode-csum.img', 'ext4');
  // A file whose inode is past the first of its table block: a neighbour's read brought the block in.
  const bsize = Number(/Block size:\s+(\d+)/.exec(debugfs(img, 'stats'))![1]);
  const imap = (f: number) => /Inode (\d+) is part of block group \d+\s+located at block (\d+), offset 0x([0-9a-f]+)/.exec(debugfs(img, `imap /d12/f${f}`))!;
  let f = 1;
  while (parseInt(imap(f)[3], 16) === 0) f++;
  const at = imap(f);
  const fd = openSync(img, 'r+');
  const off = Number(at[2]) * bsize + parseInt(at[3], 16) + 0x20; // i_flags' low byte: read by nothing that would fail first
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, off);
  b[0] ^= 0x40;
  writeSync(fd, b, 0, 1, off);
  closeSync(fd);
  const want = `inode ${at[1]} (block ${at[2]}): checksum mismatch`;
  const g = vmpager(['get', img, '/', join(tmp.dir, 'inode-csum-get')]);
  assert.equal(g.status, 2);
  assert.equal(g.stderr, `vmpager: ${img}: /d12/f${f}: ${want}\n`);
  const cat = spawnSync(process.execPath, [CLI, 'cat', img, `/d12/f${f}`], { encoding: 'utf8' });
  assert.equal(cat.stderr, `vmpager: ${img}: /d12/f${f}: ${want}\n`);
});

test('a directory the image links twice (a loop, damage) is copied once: the second name is skipped with a warning, the rest comes out', () => {
  const tree = join(tmp.dir, 'loop-src');
  mkdirSync(join(tree, 'a/b'), { recursive: true });
  writeFileSync(join(tree, 'a/b/f'), 'in b\n');
  writeFileSync(join(tree, 'z'), 'after\n');
  const image = join(tmp.dir, 'loop.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, image, '8M'], { stdio: 'ignore' });
  debugfs(image, 'ln /a /a/b/loop', true); // a/b/loop names a again: a loop below a
  const out = join(tmp.dir, 'loop-out');
  const r = vmpager(['get', image, '/', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^vmpager: .*loop\.img: warning: \/a\/b\/loop: directory inode \d+ was copied already \(the image links it twice\): skipped\n$/);
  assert.deepEqual(walk(out).sort(), ['a', 'a/b', 'a/b/f', 'lost+found', 'z']);
  assert.equal(readFileSync(join(out, 'z'), 'utf8'), 'after\n');
});
