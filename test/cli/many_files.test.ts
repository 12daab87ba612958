/*
 * Many small files in and out, the write path's delayed metadata judged by
 * the real tools: a seeded tree of 1500 files in 150 nested directories
 * (the bench's generator) through `mkfs --from` (MNT_ASYNC) and through
 * `put -r` (ordered), each image e2fsck -fn clean and `get` of it equal to
 * the source byte for byte; a copy whose object cache holds two objects
 * (so that a directory being changed is the oldest cached one) finishes;
 * the name cache forgets names that were removed or moved.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { e2fsck, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';
import { writeBenchTree } from '../../src/cli/bench_tree.js';
import { copyIn } from '../../src/cli/copy_in.js';
import { Vm, mkfs } from '../../src/api/index.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const src = join(tmp.dir, 'src');
let stats: ReturnType<typeof writeBenchTree>;

before(() => {
  stats = writeBenchTree(src, 1500);
});

function vmpager(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stderr: r.stderr.toString() };
}

/** Each entry below dir: its type, and its bytes, link target or mode; lost+found left out. */
function snapshot(dir: string, rel = '', out = new Map<string, string>()): Map<string, string> {
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const r = rel === '' ? n : `${rel}/${n}`;
    if (r === 'lost+found') continue;
    const p = join(dir, r);
    const st = lstatSync(p);
    if (st.isDirectory()) {
      out.set(r, `dir ${(st.mode & 0o7777).toString(8)}`);
      snapshot(dir, r, out);
    } else if (st.isSymbolicLink()) {
      out.set(r, `symlink ${readlinkSync(p)}`);
    } else {
      out.set(r, `file ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs} ${readFileSync(p).toString('base64')}`);
    }
  }
  return out;
}

function assertSameTree(got: string, want: string): void {
  const a = snapshot(got);
  const b = snapshot(want);
  assert.equal(a.size, b.size, 'entry count');
  for (const [k, v] of b) assert.equal(a.get(k), v, k);
}

test('the generated tree has nested directories, symlinks and hard links', () => {
  assert.ok(stats.dirs >= 150 && stats.files >= 1400 && stats.symlinks > 0 && stats.hardLinks > 0, JSON.stringify(stats));
});

test('mkfs --type ext4 --from of 1500 small files: e2fsck -fn clean, get gives the tree back byte for byte', () => {
  const img = join(tmp.dir, 'mkfs.img');
  const r = vmpager(['mkfs', '--type', 'ext4', '--from', src, img, '64MiB']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(e2fsck(img).clean, e2fsck(img).output);
  const out = join(tmp.dir, 'out-mkfs');
  assert.equal(vmpager(['get', img, '/', out]).status, 0);
  assertSameTree(out, src);
});

test('put -r of 1500 small files into an empty ext4 image: e2fsck -fn clean, get gives the tree back byte for byte', () => {
  const img = join(tmp.dir, 'put.img');
  execFileSync('/sbin/mke2fs', ['-q', '-F', '-t', 'ext4', img, '64M'], { stdio: 'ignore' });
  const r = vmpager(['put', '-r', img, '/', '--from', src]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(e2fsck(img).clean, e2fsck(img).output);
  const out = join(tmp.dir, 'out-put');
  assert.equal(vmpager(['get', img, '/', out]).status, 0);
  assertSameTree(out, src);
});

test('a tree copy with an object cache of two finishes: trimming passes over the directory its caller has locked', async () => {
  const img = join(tmp.dir, 'small-cache.img');
  await mkfs(img, 64 * 2 ** 20, { type: 'ext4' });
  const vm = new Vm({ memory: 8 * 2 ** 20, objectCacheMax: 2 });
  const fs = await vm.mount(img, { readOnly: false });
  await copyIn(fs, '/', join(src, 'etc'), { owner: null });
  await fs.unmount();
  assert.ok(e2fsck(img).clean, e2fsck(img).output);
  const out = join(tmp.dir, 'out-small-cache');
  assert.equal(vmpager(['get', img, '/', out]).status, 0);
  assertSameTree(out, join(src, 'etc'));
});

test('the name cache forgets a directory renamed or removed: the old path is ENOENT, the new one found', async () => {
  const img = join(tmp.dir, 'names.img');
  await mkfs(img, 16 * 2 ** 20, { type: 'ext4' });
  const fs = await new Vm({ memory: 4 * 2 ** 20 }).mount(img, { readOnly: false });
  await fs.mkdir('/a/b/c', { recursive: true });
  assert.equal((await fs.stat('/a/b/c')).type, 'dir'); // walked: /a and /a/b are cached now
  await fs.rename('/a/b', '/a/x');
  await assert.rejects(fs.stat('/a/b/c'), { code: 'ENOENT' });
  assert.equal((await fs.stat('/a/x/c')).type, 'dir');
  await fs.rmdir('/a/x/c');
  await assert.rejects(fs.stat('/a/x/c'), { code: 'ENOENT' });
  const f = await fs.open('/a/x/c', { create: true }); // the name now a file
  await f.close();
  assert.equal((await fs.stat('/a/x/c')).type, 'file');
  await fs.unmount();
  assert.ok(e2fsck(img).clean, e2fsck(img).output);
});
