/*
 * namei judged by the host kernel's own path resolution: the same tree of
 * files, directories and symbolic links (relative, absolute, chained, looping,
 * dangling, pointing up) is a host folder and an image made from it by
 * mke2fs -d; each path resolves on both sides to the same file (told by its
 * unique bytes) or directory (by its listing), or fails with the same errno.
 * Paths are given raw (doubled and trailing slashes, "." and ".."), as namei
 * gets them. Where the two must differ, the image is checked alone: its
 * root is its own parent, and its absolute links start at its own root.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, VmError, type MountedFs } from '../../src/api/index.js';
import { mkext2, tempDir, writeTree, type TreeFile } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const enc = new TextEncoder();
const TREE: TreeFile[] = [
  { path: 'a/b/c/file', data: enc.encode('the file in a/b/c\n') },
  { path: 'a/top', data: enc.encode('a/top\n') },
  { path: 'rel', symlink: 'a/b' },
  { path: 'abs', symlink: '/a' },
  { path: 'a/b/up', symlink: '../..' },
  { path: 'a/b/c/self', symlink: '.' },
  { path: 'chain1', symlink: 'chain2' },
  { path: 'chain2', symlink: 'rel/c' },
  { path: 'loop1', symlink: 'loop2' },
  { path: 'loop2', symlink: 'loop1' },
  { path: 'dangling', symlink: 'nowhere/at/all' },
  { path: 'tofile', symlink: 'a/top' },
  { path: 'a/b/c/back', symlink: '../../../tofile' },
  { path: 'empty', dir: true },
];

/** Paths tried on both sides, every one from the root. */
const PATHS = [
  '/', '//', '/a', '/a/', '/a//b///c/file', '/./a/./b/c/file', '/a/b/../b/c/file',
  '/rel/c/file', '/rel/../top', '/abs/b/c/file', '/abs/../rel', '/a/b/up/a/top', '/a/b/up/rel/up/abs/top',
  '/a/b/c/self/self/self/file', '/chain1/file', '/chain1', '/chain1/', '/loop1', '/loop1/x', '/dangling', '/dangling/x',
  '/tofile', '/tofile/', '/tofile/x', '/a/b/c/back', '/a/top/x', '/a/top/..', '/missing', '/missing/x', '/a/b/c/file/',
  '/empty/..', '/empty/../a/top', `/${'x'.repeat(256)}`,
];

/** What a path names, followed or not at its end: a file's bytes, a directory's sorted names, a link's target, or an errno code. */
type Seen = { file: string } | { dir: string[] } | { link: string } | { error: string };

function hostSees(root: string, path: string, follow: boolean): Seen {
  const p = root + path; // not path.join: its lexical '..' is not the kernel's

  try {
    const st = follow ? statSync(p) : lstatSync(p);
    if (st.isDirectory()) return { dir: readdirSync(p).sort() };
    if (st.isSymbolicLink()) return { link: readlinkSync(p) };
    return { file: readFileSync(p, 'utf8') };
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

async function imageSees(fs: MountedFs, path: string, follow: boolean): Promise<Seen> {
  try {
    const st = await fs.stat(path, { follow, blockMap: false });
    if (st.type === 'dir') return { dir: (await fs.readdir(path)).map((e) => e.name).filter((n) => n !== 'lost+found').sort() };
    if (st.type === 'symlink') return { link: await fs.readlink(path) };
    const f = await fs.open(path);
    try {
      return { file: new TextDecoder().decode(await f.read(0, f.size)) };
    } finally {
      await f.close();
    }
  } catch (e) {
    if (e instanceof VmError) return { error: e.code };
    throw e;
  }
}

test('namei resolves every path as the host kernel does: symlinks relative, absolute, chained and up, dot and dot-dot, loops and dangling links', async () => {
  const host = join(tmp.dir, 'tree');
  writeTree(host, TREE);
  const image = mkext2(join(tmp.dir, 'tree.img'), TREE, { type: 'ext4', size: 8 << 20 });
  // The image's absolute links point at its own root; the host's at the host's: give the host the image's view.
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(image, { readOnly: true });
  try {
    let compared = 0;
    for (const path of PATHS) {
      for (const follow of [false, true]) {
        // Absolute links are resolved from the host's root: only compare paths that never meet one.
        const theirs = path.includes('abs') ? null : hostSees(host, path, follow);
        const ours = await imageSees(fs, path, follow);
        if (theirs === null) continue;
        const hostDir = 'dir' in theirs ? { dir: theirs.dir.filter((n) => n !== 'lost+found') } : theirs;
        assert.deepEqual(ours, hostDir, `${path} (${follow ? 'followed' : 'not followed'})`);
        compared++;
      }
    }
    assert.ok(compared >= 60, `${compared} comparisons`);
    // Absolute links inside the image lead to the image's root.
    assert.deepEqual(await imageSees(fs, '/abs/b/c/file', true), { file: 'the file in a/b/c\n' });
    assert.deepEqual(await imageSees(fs, '/abs/../rel', false), { link: 'a/b' });
    assert.deepEqual(await imageSees(fs, '/a/b/up/rel/up/abs/top', true), { file: 'a/top\n' });
    // The root is its own parent (the host's tree has a parent: not compared there).
    assert.deepEqual(await imageSees(fs, '/..', true), await imageSees(fs, '/', true));
    assert.deepEqual(await imageSees(fs, '/../a/top', true), { file: 'a/top\n' });
    assert.deepEqual(await imageSees(fs, '/a/../../a/top', false), { file: 'a/top\n' });
    assert.deepEqual(await imageSees(fs, '/a/b/up/../../rel/c/file', true), { file: 'the file in a/b/c\n' });
  } finally {
    await fs.unmount();
  }
});
