/*
 * Trees made at once (VOP_POPULATE, ext2_populate.ts) behind `put -r` and
 * `mkfs --from`, judged by the real tools on every kind of image mke2fs
 * makes: ext2 (block maps), ext3, ext4 with and without metadata_csum and
 * 64bit, with the checksum seed, 1 KiB and 4 KiB blocks. The tree: a
 * directory of 6000 names (an index of two levels on 1 KiB blocks, one on
 * 4 KiB), empty files, a file of exactly one block, one just past 1 MiB,
 * a sparse file (a hole inside, zeros at the end), a symlink too long for
 * i_block, hard links across directories, nesting. After each: `e2fsck
 * -fn` clean, `debugfs rdump` equals the source (bytes, modes, link counts,
 * symlinks), the holes unallocated, the big directory indexed and a name
 * in it found through the index.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir('vmpager-populate-');
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

const src = join(tmp.dir, 'src');
const BIG = 6000;
const bigName = (i: number) => `entry-${i.toString().padStart(5, '0')}-of-the-big-directory`;

before(() => {
  mkdirSync(join(src, 'big'), { recursive: true });
  for (let i = 0; i < BIG; i++) writeFileSync(join(src, 'big', bigName(i)), i % 7 === 0 ? randomBytes(i % 3000, i) : '');
  mkdirSync(join(src, 'a/b/c/d'), { recursive: true });
  writeFileSync(join(src, 'a/one-block'), randomBytes(1024, 1));
  writeFileSync(join(src, 'a/b/past-1MiB'), randomBytes((1 << 20) + 1, 2));
  const sparse = new Uint8Array(300_000);
  sparse.set(randomBytes(5000, 3), 0);
  sparse.set(randomBytes(7000, 4), 150_000); // a hole before it, zeros after it to the end
  writeFileSync(join(src, 'a/b/c/sparse'), sparse);
  writeFileSync(join(src, 'a/b/c/d/empty'), '');
  symlinkSync('x/'.repeat(60) + 'target', join(src, 'a/long-link'));
  symlinkSync('short', join(src, 'a/short-link'));
  writeFileSync(join(src, 'a/linked'), 'two names\n');
  linkSync(join(src, 'a/linked'), join(src, 'a/b/c/d/linked-too'));
  linkSync(join(src, 'a/linked'), join(src, 'big-link'));
});

/** Every entry below dir: path -> [mode, type, bytes or target] (rdump makes each name a file of its own: links are checked by inode). */
function walk(dir: string, rel = '', out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const r = rel === '' ? name : `${rel}/${name}`;
    if (r === 'lost+found') continue;
    const st = lstatSync(p);
    const what = st.isSymbolicLink() ? `link ${readlinkSync(p)}` : st.isDirectory() ? 'dir' : `file ${readFileSync(p).toString('base64')}`;
    out.set(r, `${(st.mode & 0o7777).toString(8)} ${what}`);
    if (st.isDirectory()) walk(p, r, out);
  }
  return out;
}

const CONFIGS = [
  { name: 'ext2, 1 KiB blocks (block maps)', type: 'ext2' as const, blockSize: 1024, extra: [] as string[] },
  { name: 'ext3, 4 KiB blocks', type: 'ext3' as const, blockSize: 4096, extra: [] },
  { name: 'ext4, 1 KiB blocks', type: 'ext4' as const, blockSize: 1024, extra: [] },
  { name: 'ext4 -O ^metadata_csum, 4 KiB blocks', type: 'ext4' as const, blockSize: 4096, extra: ['-O', '^metadata_csum'] },
  { name: 'ext4 -O ^64bit,metadata_csum_seed, 1 KiB blocks', type: 'ext4' as const, blockSize: 1024, extra: ['-O', '^64bit,metadata_csum_seed'] },
];

describe('put -r of a new tree makes it at once, as the tools read it', () => {
  for (const c of CONFIGS) {
    test(c.name, () => {
      const img = join(tmp.dir, `${c.type}-${c.blockSize}-${c.extra.join('')}.img`);
      mkext2(img, [{ path: 'keep', data: randomBytes(100, 9) }], { type: c.type, blockSize: c.blockSize, size: 48 << 20, extra: ['-N', '8192', ...c.extra] });
      const r = vmpager(['put', '-r', img, '/', '--from', src]);
      assert.equal(r.status, 0, r.stderr);
      const ck = e2fsck(img);
      assert.ok(ck.clean, ck.output);
      const out = join(tmp.dir, `rdump-${c.type}-${c.blockSize}-${c.extra.join('')}`);
      mkdirSync(out);
      debugfs(img, `rdump / ${out}`);
      const want = walk(src);
      const got = walk(out);
      got.delete('keep');
      assert.deepEqual([...got.keys()], [...want.keys()]);
      for (const [k, v] of want) assert.equal(got.get(k), v, k);
      // Three names, one inode of three links.
      const inos = ['/a/linked', '/a/b/c/d/linked-too', '/big-link'].map((p) => /Inode: (\d+)/.exec(debugfs(img, `stat ${p}`))![1]);
      assert.equal(new Set(inos).size, 1, inos.join(' '));
      assert.match(debugfs(img, 'stat /a/linked'), /Links: 3/);
      // The holes stay holes: the sparse file holds its two runs of data only (and at most one tree block).
      const blocks = Number(/Blockcount: (\d+)/.exec(debugfs(img, 'stat /a/b/c/sparse'))![1]) * 512;
      assert.ok(blocks <= 20_480 + c.blockSize, `sparse file holds ${blocks} bytes of blocks`); // 2 + 3 pieces of 4 KiB with data, an indirect block
      // The big directory is indexed (two levels on 1 KiB blocks), and a name in it is found.
      const ht = debugfs(img, 'htree /big');
      assert.match(ht, new RegExp(`Indirect levels: ${c.blockSize === 1024 ? 1 : 0}`));
      const name = bigName(BIG - 8); // one with bytes (every seventh)
      const cat = vmpager(['cat', img, `/big/${name}`]);
      assert.equal(cat.status, 0, cat.stderr);
      assert.ok(cat.stdout.length > 0 && cat.stdout.equals(readFileSync(join(src, 'big', name))));
    });
  }
});

test('mkfs --type ext4 --from makes the same tree, and a later put -r into it adds beside it', () => {
  const img = join(tmp.dir, 'mkfs.img');
  const r = vmpager(['mkfs', '--type', 'ext4', '--from', src, img, '64MiB']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(e2fsck(img).clean, e2fsck(img).output);
  const more = join(tmp.dir, 'more');
  mkdirSync(join(more, 'new/dir'), { recursive: true });
  writeFileSync(join(more, 'new/dir/f'), randomBytes(5000, 11));
  linkSync(join(more, 'new/dir/f'), join(more, 'new/g'));
  const p = vmpager(['put', '-r', img, '/big', '--from', more]);
  assert.equal(p.status, 0, p.stderr);
  const ck = e2fsck(img);
  assert.ok(ck.clean, ck.output);
  assert.match(debugfs(img, 'stat /big/new/g'), /Links: 2/);
  assert.ok(vmpager(['cat', img, '/big/new/dir/f']).stdout.equals(readFileSync(join(more, 'new/dir/f'))));
  const out = join(tmp.dir, 'rdump-mkfs');
  mkdirSync(out);
  debugfs(img, `rdump / ${out}`);
  const got = walk(out);
  for (const [k, v] of walk(src)) if (!k.startsWith('big/new')) assert.equal(got.get(k), v, k);
});

test('put -r of a few small files reads them in place (no reading thread) and makes them the same', () => {
  const img = join(tmp.dir, 'few.img');
  mkext2(img, [], { type: 'ext4', size: 16 << 20 });
  const few = join(tmp.dir, 'few');
  mkdirSync(few);
  writeFileSync(join(few, 'one'), randomBytes(3000, 21));
  writeFileSync(join(few, 'two'), '');
  symlinkSync('one', join(few, 'three'));
  const r = vmpager(['put', '-r', img, '/', '--from', few]);
  assert.equal(r.status, 0, r.stderr);
  const ck = e2fsck(img);
  assert.ok(ck.clean, ck.output);
  const out = join(tmp.dir, 'rdump-few');
  mkdirSync(out);
  debugfs(img, `rdump / ${out}`);
  assert.deepEqual(walk(out), walk(few));
});

test('mkfs --from of a tree too big for the image stops in one line naming the entry it stopped at (exit 2)', () => {
  const img = join(tmp.dir, 'small.img');
  const r = vmpager(['mkfs', '--type', 'ext4', '--from', src, img, '2MiB']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^vmpager: [^\n]*small\.img: \/[^\n]+[^/]: no space left on device\n$/);
});
