/*
 * VOP_POPULATE's failures, over a scripted source (an in-memory tree whose
 * reads can be made to throw) on images mke2fs made: whatever stops the
 * walk, what was made up to it is named and whole, the file it stopped in
 * is gone, nothing is allocated that no entry names (`e2fsck -fn` pass 5
 * would see it), and the source's own error is what the caller gets.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FaultyDisk, MemDisk, Vm, VmError } from '../../../src/api/index.js';
import { readFileSync, writeFileSync } from 'node:fs';
import type { TreeNode, TreeSource } from '../../../src/api/index.js';
import { debugfs, tempDir } from '../../helpers/images.js';
import { buildImage } from './ext2_util.js';
import { assertClean, assertContents } from './ext2_write_util.js';

const tmp = tempDir('vmpager-populate-');
after(() => tmp.cleanup());

interface Spec {
  name: string;
  dir?: Spec[];
  data?: Uint8Array;
}

/** A tree in memory; reading the file named `failAt` throws `boom`. */
class Scripted implements TreeSource {
  readonly boom = new Error('the source failed');
  private readonly open_ = new Map<number, Uint8Array>();
  private readonly specs = new Map<string, Spec>();
  private nextHandle = 10;
  constructor(private readonly failAt: string | null) {}

  node(s: Spec, path: string): TreeNode {
    const t = { sec: 1_600_000_000, nsec: 0 };
    return {
      name: s.name, type: s.dir !== undefined ? 'dir' : 'file', perm: 0o644, uid: 0, gid: 0, atime: t, mtime: t,
      size: s.data?.length ?? 0, major: 0, minor: 0, link: null, src: path,
    };
  }

  nodes(specs: Spec[], path: string): TreeNode[] {
    return specs.map((s) => {
      this.specs.set(`${path}/${s.name}`, s);
      return this.node(s, `${path}/${s.name}`);
    });
  }

  private spec(n: TreeNode): { path: string; s: Spec } {
    return { path: n.src, s: this.specs.get(n.src)! };
  }

  list(dir: TreeNode): TreeNode[] {
    const { path, s } = this.spec(dir);
    return this.nodes(s.dir!, path);
  }

  readlink(): string {
    throw new Error('no links here');
  }

  open(file: TreeNode): number {
    const { path, s } = this.spec(file);
    if (path === this.failAt) throw this.boom;
    this.open_.set(this.nextHandle, s.data ?? new Uint8Array(0));
    return this.nextHandle++;
  }

  read(h: number, buf: Uint8Array, pos: number): number {
    const d = this.open_.get(h)!;
    const n = Math.max(0, Math.min(buf.length, d.length - pos));
    buf.set(d.subarray(pos, pos + n));
    return n;
  }

  close(h: number): void {
    this.open_.delete(h);
  }

  linked(): number {
    return 0;
  }

  made(): void {}
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff || 1;
  return b;
}

const TREE: Spec[] = [
  { name: 'first', data: bytes(5000, 1) },
  { name: 'd', dir: [{ name: 'inner', data: bytes(3000, 2) }, { name: 'e', dir: [{ name: 'deep', data: bytes(70_000, 3) }] }, { name: 'later', data: bytes(10, 4) }] },
  { name: 'last', data: bytes(100, 5) },
];

function image(name: string, extra: string[] = [], size = 8 << 20): string {
  return buildImage(join(tmp.dir, name), { type: 'ext4', blockSize: 1024, size, files: [{ path: 'old', data: bytes(50, 6) }], extra });
}

test('a source that throws in the middle: what came before is named and whole, nothing after is made, its error comes back', async () => {
  const img = image('throw.img');
  const src = new Scripted('/d/e/deep');
  const vm = new Vm({ memory: 8 << 20 });
  const fs = await vm.mount(img, { readOnly: false });
  try {
    await assert.rejects(fs.populate('/', src.nodes(TREE, ''), src), (e) => e === src.boom);
  } finally {
    await fs.unmount();
  }
  assertClean(img);
  assertContents(img, '/first', bytes(5000, 1));
  assertContents(img, '/d/inner', bytes(3000, 2));
  const ls = debugfs(img, 'ls -l /d/e') + debugfs(img, 'ls -l /d') + debugfs(img, 'ls -l /');
  assert.doesNotMatch(ls, /deep|later|last/);
});

test('running out of space mid-file: the partly written file is removed, the rest named, the image clean', async () => {
  const img = image('full.img', ['-N', '64'], 2 << 20);
  const big: Spec[] = [{ name: 'small', data: bytes(2000, 7) }, { name: 'huge', data: bytes(4 << 20, 8) }, { name: 'after', data: bytes(10, 9) }];
  const src = new Scripted(null);
  const vm = new Vm({ memory: 8 << 20 });
  const fs = await vm.mount(img, { readOnly: false });
  try {
    await assert.rejects(fs.populate('/', src.nodes(big, ''), src), (e) => e instanceof VmError && e.code === 'ENOSPC');
  } finally {
    await fs.unmount();
  }
  assertClean(img);
  assertContents(img, '/small', bytes(2000, 7));
  assert.doesNotMatch(debugfs(img, 'ls -l /'), /huge|after/);
});

test('a name the directory holds already: EEXIST, and nothing of the tree is made', async () => {
  const img = image('exists.img');
  const src = new Scripted(null);
  const vm = new Vm({ memory: 8 << 20 });
  const fs = await vm.mount(img, { readOnly: false });
  const before = debugfs(img, 'stats');
  try {
    await assert.rejects(fs.populate('/', src.nodes([{ name: 'old', data: bytes(10, 1) }], ''), src), (e) => e instanceof VmError && e.code === 'EEXIST' && e.path === '/old'); // the entry named, not the directory
  } finally {
    await fs.unmount();
  }
  assertClean(img);
  assert.equal(/Free blocks:\s+(\d+)/.exec(debugfs(img, 'stats'))![1], /Free blocks:\s+(\d+)/.exec(before)![1]);
});

test('many names at the top are named after one sync of the device, not one each, and each names its whole file', async () => {
  const img = image('many-tops.img', [], 16 << 20);
  const disk = new MemDisk(new Uint8Array(readFileSync(img)));
  const dev = new FaultyDisk(disk);
  const tops: Spec[] = [];
  for (let i = 0; i < 600; i++) tops.push({ name: `f${String(i).padStart(4, '0')}`, data: bytes(100 + i, i) });
  tops.push({ name: 'sub', dir: [{ name: 'inner', data: bytes(3000, 2) }] });
  const src = new Scripted(null);
  const vm = new Vm({ memory: 8 << 20 });
  const fs = await vm.mount(dev, { readOnly: false });
  let flushes = -1;
  try {
    const before = dev.flushes;
    await fs.populate('/', src.nodes(tops, ''), src);
    flushes = dev.flushes - before;
  } finally {
    await fs.unmount();
  }
  writeFileSync(img, disk.data);
  // One sync before the entries that name the trees (the entries' own writes and the commit need none of their own).
  assert.ok(flushes >= 1 && flushes <= 2, `${flushes} device flushes for 601 top entries`);
  assertClean(img);
  const ls = debugfs(img, 'ls /');
  for (const t of [tops[0], tops[299], tops[599]]) {
    assert.match(ls, new RegExp(`\\b${t.name}\\b`));
    assertContents(img, `/${t.name}`, t.data!);
  }
  assertContents(img, '/sub/inner', bytes(3000, 2));
});

test('on an async mount (mkfs --from), a device write of the staged file bytes that fails is populate\'s error, not a success', async () => {
  const img = image('async-fail.img', [], 16 << 20);
  const disk = new MemDisk(new Uint8Array(readFileSync(img)));
  const dev = new FaultyDisk(disk);
  const src = new Scripted(null);
  const vm = new Vm({ memory: 8 << 20 });
  const fs = await vm.mount(dev, { readOnly: false });
  fs.setAsync(true);
  const tops: Spec[] = [{ name: 'a', data: bytes(200_000, 7) }, { name: 'b', data: bytes(300_000, 8) }];
  dev.failWrites = true; // (the staged runs are the first writes an async walk makes)
  try {
    await assert.rejects(fs.populate('/', src.nodes(tops, ''), src), (e: unknown) => e instanceof VmError && e.code === 'EIO');
  } finally {
    dev.failWrites = false;
    await fs.unmount().catch(() => {});
  }
});
