/*
 * `get` of a tree with the host's work on two lanes (host_ops.ts: a worker
 * thread each, a directory's contents on one of them): what must follow
 * what across lanes holds. A hard link whose first name sits behind a
 * large file in a directory before it (that lane busy writing while the
 * link's lane runs ahead) is made once its first name exists; nested
 * directories, read-only ones among them, get their modes and times after
 * everything in them, equal to `debugfs rdump`; a DEST subdirectory that
 * is a file on the host stops the copy with one line naming it, nothing
 * hanging.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, debugfsScript, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';
import { rdump, sameTree } from '../helpers/host_trees.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stderr: r.stderr };
}

function image(src: string, name: string, size: string): string {
  const img = join(tmp.dir, name);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, img, size], { stdio: 'ignore' });
  return img;
}

test('get: hard links whose first names wait behind a large file on the other lane are made after them, as links', () => {
  // Built by debugfs, so that each directory lists its entries in the order made: per pair a
  // directory with 6 MiB of file before its small `first`, then one with a link to it and 2 MiB
  // after the link (its batch goes out while the first directory's lane still writes).
  const files = join(tmp.dir, 'links-files');
  mkdirSync(files);
  const img = join(tmp.dir, 'links.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', img, '96M'], { stdio: 'ignore' });
  const PAIRS = 4;
  const cmds: string[] = [];
  for (let p = 0; p < PAIRS; p++) {
    writeFileSync(join(files, `big${p}`), randomBytes(6 << 20, 10 + p));
    writeFileSync(join(files, `first${p}`), `first name of pair ${p}\n`);
    writeFileSync(join(files, `after${p}`), randomBytes(2 << 20, 20 + p));
    cmds.push(`mkdir p${p}a`, `write ${join(files, `big${p}`)} p${p}a/big`, `write ${join(files, `first${p}`)} p${p}a/first`);
    cmds.push(`mkdir p${p}b`, `ln p${p}a/first p${p}b/link`, `sif p${p}a/first links_count 2`, `write ${join(files, `after${p}`)} p${p}b/zafter`);
  }
  debugfsScript(img, cmds, true);
  const mine = join(tmp.dir, 'links-get');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(g.stderr, '');
  sameTree(mine, rdump(img, tmp.dir, 'links-rdump'));
  for (let p = 0; p < PAIRS; p++) {
    const first = lstatSync(join(mine, `p${p}a/first`));
    assert.equal(lstatSync(join(mine, `p${p}b/link`)).ino, first.ino, `pair ${p}: a link`);
    assert.equal(first.nlink, 2);
  }
});

test('get: nested directories, read-only ones among them, get their modes and times after all they hold, equal to debugfs rdump', () => {
  const src = join(tmp.dir, 'nest-src');
  const dirs: string[] = [];
  // 3 levels of 4 directories: 84 directories, each with files and a hard link to a file elsewhere.
  const make = (rel: string, depth: number): void => {
    mkdirSync(join(src, rel), { recursive: true });
    dirs.push(rel);
    for (let f = 0; f < 5; f++) {
      const p = join(src, rel, `f${f}`);
      writeFileSync(p, randomBytes(f === 2 ? 300_000 : 500 + 1000 * f, dirs.length * 10 + f));
      utimesSync(p, 1_500_000 + dirs.length, 2_500_000 + f);
    }
    if (depth < 3) for (let d = 0; d < 4; d++) make(`${rel}/s${d}`, depth + 1);
  };
  for (let t = 0; t < 4; t++) make(`t${t}`, 1);
  const other = (i: number): number => (i * 37 + 11) % dirs.length === i ? (i + 1) % dirs.length : (i * 37 + 11) % dirs.length;
  for (let i = 1; i < dirs.length; i++) linkSync(join(src, dirs[other(i)], 'f1'), join(src, dirs[i], `ln${i}`));
  // Times and modes deepest first (setting a child's times leaves its parent's alone; making it does not).
  for (let i = dirs.length - 1; i >= 0; i--) {
    utimesSync(join(src, dirs[i]), 3_000_000 + i, 4_000_000 + i);
    if (i % 5 === 0) chmodSync(join(src, dirs[i]), 0o555);
  }
  const img = image(src, 'nest.img', '64M');
  const mine = join(tmp.dir, 'nest-get');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  assert.equal(g.stderr, '');
  const names = sameTree(mine, rdump(img, tmp.dir, 'nest-rdump'));
  assert.equal(names.length, dirs.length * 6 + dirs.length - 1);
  for (let i = 0; i < dirs.length; i += 5) assert.equal(lstatSync(join(mine, dirs[i])).mode & 0o777, 0o555, dirs[i]);
  for (let i = 1; i < dirs.length; i++) assert.equal(lstatSync(join(mine, dirs[i], `ln${i}`)).ino, lstatSync(join(mine, dirs[other(i)], 'f1')).ino);
});

test('get: a DEST subdirectory that is a file on the host stops the copy with one line naming it, exit 2, nothing hanging', () => {
  const src = join(tmp.dir, 'clash-src');
  for (let d = 0; d < 30; d++) {
    for (let s = 0; s < 3; s++) {
      mkdirSync(join(src, `d${d}`, `s${s}`), { recursive: true });
      for (let f = 0; f < 4; f++) writeFileSync(join(src, `d${d}`, `s${s}`, `f${f}`), randomBytes(3000 * (f + 1), d * 100 + s * 10 + f));
    }
  }
  const img = image(src, 'clash.img', '32M');
  const mine = join(tmp.dir, 'clash-get');
  mkdirSync(join(mine, 'd17'), { recursive: true });
  writeFileSync(join(mine, 'd17', 's1'), 'a file where the copy makes a directory\n');
  const started = Date.now();
  const g = vmpager(['get', img, '/', mine]);
  assert.ok(Date.now() - started < 60_000, 'finished');
  assert.equal(g.status, 2, g.stderr);
  assert.equal(g.stderr.trimEnd().split('\n').length, 1, g.stderr);
  assert.match(g.stderr, new RegExp(`^vmpager: ${join(mine, 'd17', 's1')}: .*(exists|not a directory)`));
  assert.equal(readFileSync(join(mine, 'd17', 's1'), 'utf8'), 'a file where the copy makes a directory\n', 'the file is left as it was');
  // What was queued before it is done: the directories met before d17 (in the image's order) are whole.
  const order = debugfs(img, 'ls -p /').split('\n').map((l) => l.split('/')[5]).filter((n) => n !== undefined && n.startsWith('d'));
  assert.equal(order.length, 30);
  for (const d of order.slice(0, order.indexOf('d17'))) {
    for (let s = 0; s < 3; s++) assert.deepEqual(readdirSync(join(mine, d, `s${s}`)).sort(), ['f0', 'f1', 'f2', 'f3'], `${d}/s${s}`);
  }
});
