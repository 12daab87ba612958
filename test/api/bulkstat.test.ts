/*
 * Regular files read without a vnode (VFS_BULKSTAT, TreeNode.fileNow: the
 * path of vmpager get): every file it answers for has the attributes and
 * the runs its vnode gives (ext2, ext3, ext4; 1 KiB and 4 KiB blocks), and
 * it leaves to the vnode everything it cannot tell from the inode alone:
 * directories, symlinks, FIFOs, a file with extended attributes, inline
 * data, an extent tree deeper than the inode, indirect blocks; nothing on a
 * read-write mount; an inode whose table block is not in core; damage (a
 * wrong checksum, a block outside the file system, an impossible size),
 * which the vnode path reports.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type MountedFs, Vm } from '../../src/api/index.js';
import { type TreeEntry, type TreeNode, treeNode } from '../../src/api/tree_read.js';
import { MemDisk } from '../../src/dev/memdisk.js';
import { debugfs, randomBytes, tempDir } from '../helpers/images.js';
import { inodeOffset } from '../helpers/ext2_images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

interface Case {
  name: string;
  path: string;
  bsize: number;
  /** Files the inode alone cannot tell the runs of, on this image. */
  slow: string[];
}
const cases: Case[] = [];

/** The source tree: small files, an empty one, a hard link, a sparse file, one in six pieces, a large one, a symlink, a FIFO. */
function sourceTree(root: string): void {
  mkdirSync(join(root, 'd/e'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(root, `d/f${i}`), randomBytes(1 + i * 97, i + 1));
  writeFileSync(join(root, 'd/e/empty'), '');
  writeFileSync(join(root, 'd/e/tiny'), 'hi\n');
  // Inline, its bytes read as a block map would name block 200: a real block.
  writeFileSync(join(root, 'd/e/ptr'), new Uint8Array([200, 0, 0, 0]));
  linkSync(join(root, 'd/f3'), join(root, 'd/e/f3-link'));
  writeFileSync(join(root, 'x-attr'), randomBytes(3000, 77));
  const sparse = openSync(join(root, 'sparse'), 'w');
  writeSync(sparse, randomBytes(5000, 5), 0, 5000, 0);
  writeSync(sparse, randomBytes(100, 6), 0, 100, 300_000);
  closeSync(sparse);
  // Data every other 4 KiB (every fourth 1 KiB block): six extents, more than the inode holds.
  const pieces = openSync(join(root, 'x-pieces'), 'w');
  for (let k = 0; k < 6; k++) writeSync(pieces, randomBytes(4096, 100 + k), 0, 4096, k * 16384);
  closeSync(pieces);
  writeFileSync(join(root, 'large'), randomBytes(200_000, 9));
  symlinkSync('d/f1', join(root, 'link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
}

before(() => {
  const src = join(tmp.dir, 'src');
  sourceTree(src);
  const make = (name: string, args: string[], slow: string[], bsize: number) => {
    const path = join(tmp.dir, `${name.replace(/[^a-z0-9]+/g, '-')}.img`);
    execFileSync('mke2fs', ['-q', '-F', '-d', src, ...args, path, '16m'], { stdio: ['ignore', 'ignore', 'pipe'] });
    debugfs(path, 'ea_set /x-attr user.note kept', true);
    cases.push({ name, path, bsize, slow });
  };
  // ext2/ext3: the direct blocks are in the inode, the indirect ones not (a large file past 12 blocks).
  make('ext2, 1 KiB blocks', ['-t', 'ext2', '-b', '1024'], ['/x-attr', '/large', '/x-pieces', '/sparse'], 1024);
  make('ext3, 4 KiB blocks', ['-t', 'ext3', '-b', '4096'], ['/x-attr', '/large', '/x-pieces', '/sparse'], 4096);
  // ext4: extents in the inode, up to four.
  make('ext4, 1 KiB blocks', ['-t', 'ext4', '-b', '1024'], ['/x-attr', '/x-pieces'], 1024);
  make('ext4, 4 KiB blocks', ['-t', 'ext4', '-b', '4096'], ['/x-attr', '/x-pieces'], 4096);
  make('ext4 with inline data', ['-t', 'ext4', '-b', '4096', '-O', 'inline_data'], ['/x-attr', '/x-pieces', '/d/e/empty', '/d/e/ptr', '/d/e/tiny', '/d/f0', '/d/f1'], 4096);
});

async function mounted(c: Case, readOnly = true, bytes?: Uint8Array): Promise<MountedFs> {
  const b = bytes ?? new Uint8Array(readFileSync(c.path));
  return new Vm({ memory: 4 << 20 }).mount(new MemDisk(b, { readOnly }), { readOnly });
}

/** Each entry below dir, with the node its vnode gives (got first: its inode-table block is then in core) and what fileNow answers. */
async function walk(dir: TreeNode, visit: (dir: TreeNode, e: TreeEntry, n: TreeNode) => Promise<void>): Promise<void> {
  for (const e of await dir.entries()) {
    const n = await dir.child(e);
    try {
      await visit(dir, e, n);
      if (n.type === 'dir') await walk(n, visit);
    } finally {
      await n.release();
    }
  }
}

/** The attributes compared: every field of Vattr, the file system's own facts included. */
function attrs(va: TreeNode['stat']) {
  const { type, mode, nlink, uid, gid, size, bytes, atime, mtime, ctime, birthtime, atimeNsec, mtimeNsec, ctimeNsec, birthtimeNsec, ino, gen, flags, blksize, rdev } = va;
  return { type, mode, nlink, uid, gid, size, bytes, atime, mtime, ctime, birthtime, atimeNsec, mtimeNsec, ctimeNsec, birthtimeNsec, ino, gen, flags, blksize, rdev, extra: { ...va.extra } };
}

test('every regular file read without a vnode has the attributes and the runs its vnode gives; what the inode cannot tell is left to the vnode', async () => {
  for (const c of cases) {
    const fs = await mounted(c);
    try {
      const root = await treeNode(fs, '/');
      const fast: string[] = [];
      const slow: string[] = [];
      try {
        await walk(root, async (dir, e, n) => {
          const path = n.path;
          const f = dir.fileNow(e);
          if (n.type !== 'file') {
            assert.equal(f, null, `${c.name} ${path}: a ${n.type} is left to its vnode`);
            return;
          }
          if (f === null) {
            slow.push(path);
            return;
          }
          fast.push(path);
          assert.equal(f.path, path);
          assert.deepEqual(attrs(f.stat), attrs(n.stat), `${c.name} ${path}: attributes`);
          assert.deepEqual(f.runs, await n.runs(), `${c.name} ${path}: runs`);
        });
      } finally {
        await root.release();
      }
      assert.deepEqual(slow.sort(), [...c.slow].sort(), `${c.name}: the files left to the vnode`);
      assert.ok(fast.length >= 40, `${c.name}: ${fast.length} files read without a vnode`);
      assert.ok(fast.includes('/d/e/f3-link') && fast.includes('/d/f3'), `${c.name}: both names of a hard link`);
    } finally {
      await fs.unmount();
    }
  }
});

/** Runs fn on the node of /d of case c's image (mounted read-only unless said), then lets everything go. */
async function inD(c: Case, fn: (d: TreeNode) => Promise<void>, opts: { readOnly?: boolean; bytes?: Uint8Array } = {}): Promise<void> {
  const fs = await mounted(c, opts.readOnly ?? true, opts.bytes);
  try {
    const d = await treeNode(fs, '/d');
    try {
      await fn(d);
    } finally {
      await d.release();
    }
  } finally {
    await fs.unmount();
  }
}

/** The entry of /d named name. */
async function entry(d: TreeNode, name: string): Promise<TreeEntry> {
  return (await d.entries()).find((x) => x.name === name)!;
}

test('a read-write mount: no file is read without its vnode', async () => {
  await inD(cases[3], async (d) => {
    const e = await entry(d, 'f5');
    await (await d.child(e)).release();
    assert.equal(d.fileNow(e), null);
  }, { readOnly: false });
});

test('an inode whose table block is not in core: none, until its vnode has read the block', async () => {
  await inD(cases[3], async (d) => {
    // Inodes 1-16 share the first 4 KiB of the table (the root's, read at mount); the files' are further on.
    const e = await entry(d, 'f39');
    assert.ok(e.ino > 4096 / 256, `inode ${e.ino} is past the first table block`);
    assert.equal(d.fileNow(e), null);
    await (await d.child(e)).release();
    assert.notEqual(d.fileNow(e), null);
  });
});

test('an inode whose checksum is wrong: none; its vnode reports the damage', async () => {
  const c = cases[3];
  const bytes = new Uint8Array(readFileSync(c.path));
  bytes[inodeOffset(c.path, '/d/f7', c.bsize) + 0x10] ^= 1; // i_mtime, the checksum left as it was
  await inD(c, async (d) => {
    const good = await entry(d, 'f6');
    const bad = await entry(d, 'f7');
    await assert.rejects(d.child(bad), /checksum/);
    await (await d.child(good)).release();
    assert.notEqual(d.fileNow(good), null, 'its neighbour in the same table block is read');
    assert.equal(d.fileNow(bad), null);
  }, { bytes });
});

test('a block map pointing outside the file system, an impossible size: none; its vnode finds the damage (ext2 direct blocks, ext4 extents)', async () => {
  for (const [c, word] of [[cases[0], 0], [cases[3], 5]] as const) {
    // i_block word 0: the first direct block; word 5: the first extent's start (after the 12-byte header and ee_block, ee_len).
    const img = join(tmp.dir, `bad-map-${word}.img`);
    writeFileSync(img, readFileSync(c.path));
    debugfs(img, `sif /d/f8 block[${word}] 4000000`, true);
    debugfs(img, 'sif /d/f9 size 0x30000000000000', true); // 2^53 bytes and more
    await inD({ ...c, path: img }, async (d) => {
      const e = await entry(d, 'f8');
      const n = await d.child(e);
      try {
        assert.equal(await n.runs(), null, `${c.name}: the vnode's map is refused`);
      } finally {
        await n.release();
      }
      assert.equal(d.fileNow(e), null, c.name);
      const huge = await entry(d, 'f9');
      await assert.rejects(d.child(huge), /./, `${c.name}: the vnode of an impossible size is refused`);
      assert.equal(d.fileNow(huge), null, `${c.name}: impossible size`);
    });
  }
});
