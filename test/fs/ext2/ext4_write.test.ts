/*
 * The ext4 writer's own cases on mke2fs -t ext4 images, judged by e2fsck -fn
 * and debugfs after every step: a file fragmented into a thousand extents
 * gets a tree of depth 2 (debugfs `ex`), shrinks back to depth 0 and gives
 * every block back; a sequential file is one extent placed in its flex
 * group; an unwritten extent reads zeros, and a write inside it splits it;
 * bitmaps and an attribute block with a flipped byte refuse the change
 * naming the block; new files get extents, fast symlinks do not.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EINTEGRITY, ENOSPC } from '../../../src/kern/errno.js';
import { MemDisk } from '../../../src/dev/memdisk.js';
import type { Ext2Fs } from '../../../src/fs/ext2/ext2_mount.js';
import type { Inode } from '../../../src/fs/ext2/ext2_inode.js';
import { EXT4_EXTENTS_FL } from '../../../src/fs/ext2/ext2_fs.js';
import type { Mount } from '../../../src/vfs/mount.js';
import { Vm } from '../../../src/api/index.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { debugfs, debugfsCat, debugfsScript, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, lookupPath } from './ext2_util.js';
import {
  assertClean, assertContents, create, dumpe2fsField, garbageFile, mkdir, mountRw, putFile, read, remove, setsize, write,
} from './ext2_write_util.js';

const tmp = tempDir('vmpager-ext4w-');
after(() => tmp.cleanup());

/** debugfs `ex`: the extent tree's depth and its leaf extents [logical, physical, length, uninit]. */
function extents(image: string, path: string): { depth: number; leaves: Array<[number, number, number, boolean]> } {
  const out = debugfs(image, `ex ${path}`);
  let depth = 0;
  const leaves: Array<[number, number, number, boolean]> = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\/\s*(\d+)\s+\d+\/\s*\d+\s+(\d+)\s+-\s+(\d+)\s+(\d+)(?:\s+-\s+(\d+))?\s+(\d+)\s*(Uninit)?/.exec(line);
    if (m === null) continue;
    depth = Number(m[2]);
    if (Number(m[1]) === depth) leaves.push([Number(m[3]), Number(m[5]), Number(m[7]), m[8] !== undefined]);
  }
  return { depth, leaves };
}

function freeBlocks(image: string): number {
  return Number(dumpe2fsField(image, 'Free blocks'));
}

describe('extent trees', () => {
  test('a thousand fragments make a tree of depth 2; truncation shrinks it to depth 0; removal gives every block back', async () => {
    const image = join(tmp.dir, 'frag.img');
    garbageFile(image, 32 << 20);
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 32 << 20, extra: ['-E', 'nodiscard'], files: [{ path: 'keep', data: randomBytes(5000, 1) }] });
    const free0 = freeBlocks(image);
    let { fs, mp } = await mountRw(image);
    const { vp } = await create(mp, '/', 'frag');
    // One block in every eight: every other 4 KiB page is written (whole), a run apart from the last.
    const model = new Uint8Array((8 * 999 + 1) * 1024);
    for (let i = 0; i < 1000; i++) {
      const b = randomBytes(1024, i + 10);
      model.set(b, 8 * i * 1024);
      assert.equal((await write(vp!, 8 * i * 1024, b)).error, 0);
      if (i % 100 === 99) await fs.sync();
    }
    await vrele(vp!);
    await fs.unmount();
    assertClean(image);
    assertContents(image, '/frag', model);
    let t = extents(image, '/frag');
    assert.equal(t.depth, 2, 'depth 2');
    assert.ok(t.leaves.length >= 1000, `${t.leaves.length} extents`);
    assert.match(debugfs(image, 'stat /frag'), /\(ETB1\):\d+/, 'debugfs stat shows two levels of tree blocks');

    ({ fs, mp } = await mountRw(image));
    let v = await lookupPath(mp, '/frag');
    assert.equal(await setsize(v, 400 * 1024), 0);
    await vrele(v);
    await fs.unmount();
    assertClean(image);
    assertContents(image, '/frag', model.subarray(0, 400 * 1024));
    t = extents(image, '/frag');
    assert.ok(t.leaves.length >= 50 && t.leaves.every(([l, , n]) => l + n <= 400), JSON.stringify(t.leaves));
    assert.equal(t.depth, 1);

    ({ fs, mp } = await mountRw(image));
    v = await lookupPath(mp, '/frag');
    assert.equal(await setsize(v, 24 * 1024), 0);
    await vrele(v);
    await fs.unmount();
    assertClean(image);
    t = extents(image, '/frag');
    assert.equal(t.depth, 0);
    assert.ok(t.leaves.length <= 4 && t.leaves.every(([l, , n]) => l + n <= 24), JSON.stringify(t.leaves));

    ({ fs, mp } = await mountRw(image));
    assert.equal(await remove(mp, '/', 'frag'), 0);
    await fs.unmount();
    assertClean(image);
    assert.equal(freeBlocks(image), free0, 'every data and tree block is free again');
    assertContents(image, '/keep', randomBytes(5000, 1));
  });

  test('a file written in one go is one extent, in the flex group of its inode, and new files get extents', async () => {
    const image = join(tmp.dir, 'seq.img');
    buildImage(image, { type: 'ext4', blockSize: 4096, size: 256 << 20, files: [] });
    const { fs, mp } = await mountRw(image, 1 << 20);
    const data = randomBytes(20 << 20, 3);
    await putFile(mp, '/', 'seq', data);
    const { vp } = await create(mp, '/', 'empty');
    assert.ok(((vp!.data as Inode).din.flags & EXT4_EXTENTS_FL) !== 0);
    await vrele(vp!);
    const sym = await (async () => {
      const root = (await mp.op.root(mp)).vp!;
      await root.lock.lock();
      const r = await root.op.symlink(root, 'fast', 'a/short/target');
      root.lock.unlock();
      await vrele(root);
      return r;
    })();
    assert.equal(sym.error, 0);
    assert.equal((sym.vp!.data as Inode).din.flags & EXT4_EXTENTS_FL, 0, 'a fast symlink holds its target, not an extent root');
    await vrele(sym.vp!);
    await fs.unmount();
    assertClean(image);
    assertContents(image, '/seq', data);
    const t = extents(image, '/seq');
    assert.equal(t.depth, 0);
    assert.equal(t.leaves.length, 1, JSON.stringify(t.leaves));
    const flexSize = Number(dumpe2fsField(image, 'Flex block group size'));
    const bpg = Number(dumpe2fsField(image, 'Blocks per group'));
    const ino = Number(/Inode: (\d+)/.exec(debugfs(image, 'stat /seq'))![1]);
    const ipg = Number(dumpe2fsField(image, 'Inodes per group'));
    const flex = Math.floor(Math.floor((ino - 1) / ipg) / flexSize);
    assert.equal(Math.floor(Math.floor(t.leaves[0][1] / bpg) / flexSize), flex, 'data in the inode\'s flex group');
    assert.match(debugfs(image, 'stat /empty'), /EXTENTS:/);
  });

  test('an unwritten extent reads as zeros; a write inside it splits it, the rest stays unwritten', async () => {
    const image = join(tmp.dir, 'prealloc.img');
    garbageFile(image, 16 << 20);
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, extra: ['-E', 'nodiscard'], files: [{ path: 'u', data: new Uint8Array(0) }] });
    debugfsScript(image, ['fallocate /u 0 99', 'sif /u size 102400'], true);
    assertClean(image);
    assert.deepEqual(extents(image, '/u').leaves.map((e) => e[3]), [true]);
    const { fs, mp } = await mountRw(image);
    const vp = await lookupPath(mp, '/u');
    assert.deepEqual(await read(vp, 0, 102400), new Uint8Array(102400));
    const data = randomBytes(5000, 7);
    assert.equal((await write(vp, 40_000, data)).error, 0);
    await vrele(vp);
    await fs.unmount();
    assertClean(image);
    const model = new Uint8Array(102400);
    model.set(data, 40_000);
    assertContents(image, '/u', model);
    const leaves = extents(image, '/u').leaves;
    assert.deepEqual(leaves.map((e) => e[3]), [true, false, true], JSON.stringify(leaves));
    assert.deepEqual(leaves.map((e) => e[0]), [0, 39, 44]);
  });
});

describe('ENOSPC on ext4', () => {
  test('fragmented writes until the disk is full: what found blocks is written, the tree is whole, e2fsck clean', async () => {
    const image = join(tmp.dir, 'nospc.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 4 << 20, extra: ['-O', '^has_journal'], files: [] });
    const { fs, mp } = await mountRw(image);
    const { vp } = await create(mp, '/', 'frag');
    const model: Array<[number, Uint8Array]> = [];
    let error = 0;
    for (let i = 0; error === 0; i++) {
      // A whole 4 KiB page in every two: an extent each (a page-out never needs a block a write did not get).
      const b = randomBytes(4096, 1000 + i);
      const r = await write(vp!, i * 8192, b);
      error = r.error;
      if (error === 0) model.push([i * 8192, b]);
      if (i % 64 === 63) await fs.sync();
    }
    assert.equal(error, ENOSPC);
    await vrele(vp!);
    await fs.unmount();
    assertClean(image);
    const last = model[model.length - 1];
    const want = new Uint8Array(last[0] + 4096);
    for (const [off, b] of model) want.set(b, off);
    const got = debugfsCat(image, '/frag');
    assert.ok(got.length >= want.length);
    assert.ok(Buffer.from(want).equals(got.subarray(0, want.length)), 'the blocks written read back');
    assert.ok(extents(image, '/frag').depth >= 1);
  });
});

describe('removing a damaged file', () => {
  /** Blocks (1 KiB) that differ between a and b, the superblock aside. */
  const moved = (a: Uint8Array, b: Uint8Array): number[] => {
    const out: number[] = [];
    for (let k = 0; k < a.length / 1024; k++) if (k !== 1 && !Buffer.from(a.subarray(k * 1024, (k + 1) * 1024)).equals(b.subarray(k * 1024, (k + 1) * 1024))) out.push(k);
    return out;
  };
  const cases: Array<[string, (image: string) => void]> = [
    ['its attribute block fails its checksum', (image) => {
      writeFileSync(join(tmp.dir, 'val2'), randomBytes(600, 2));
      debugfs(image, `ea_set -f ${join(tmp.dir, 'val2')} /a user.big`, true);
      const acl = Number(/File ACL: (\d+)/.exec(debugfs(image, 'stat /a'))![1]);
      const b = readFileSync(image);
      b[acl * 1024 + 1020] ^= 1;
      writeFileSync(image, b);
    }],
    ["its extent tree's root is zeroed", (image) => {
      for (let i = 0; i < 3; i++) debugfs(image, `sif /a block[${i}] 0`, true);
    }],
  ];
  for (const [what, damage] of cases) {
    test(`the last name of a file whose ${what.replace(/^its /, '')}: rm refuses, nothing written (the name and the file stay)`, async () => {
      const image = join(tmp.dir, 'damaged-rm.img');
      buildImage(image, { type: 'ext4', blockSize: 1024, size: 8 << 20, files: [{ path: 'a', data: randomBytes(3000, 1) }] });
      damage(image);
      const before = new Uint8Array(readFileSync(image));
      const { fs, mp } = await mountRw(image);
      assert.equal(await remove(mp, '/', 'a'), EINTEGRITY);
      await fs.unmount().catch(() => undefined);
      assert.deepEqual(moved(before, new Uint8Array(readFileSync(image))), [], 'no block but the superblock written');
      assert.match(debugfs(image, 'ls -l /'), /\sa\s*$/m, 'the name stays');
    });
    test(`VOP_RENAME over a file whose ${what.replace(/^its /, '')}: refused, nothing written (both names and files stay)`, async () => {
      const image = join(tmp.dir, 'damaged-mv.img');
      buildImage(image, { type: 'ext4', blockSize: 1024, size: 8 << 20, files: [{ path: 'a', data: randomBytes(3000, 1) }, { path: 'b', data: randomBytes(100, 2) }] });
      damage(image);
      const before = new Uint8Array(readFileSync(image));
      const { fs, mp } = await mountRw(image);
      const dvp = await lookupPath(mp, '/');
      await dvp.lock.lock();
      const error = await dvp.op.rename(dvp, 'b', dvp, 'a'); // VOP_RENAME (the library first links the target to a hidden name)
      dvp.lock.unlock();
      await vrele(dvp);
      assert.equal(error, EINTEGRITY);
      await fs.unmount().catch(() => undefined);
      assert.deepEqual(moved(before, new Uint8Array(readFileSync(image))), [], 'no block but the superblock written');
      assertContents(image, '/b', randomBytes(100, 2));
    });
  }
});

describe('mkdir on a full disk', () => {
  test('ENOSPC before an inode is taken: the image is as it was, the superblock aside', async () => {
    const image = join(tmp.dir, 'full-mkdir.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 4 << 20, extra: ['-O', '^has_journal'], files: [] });
    const { fs, mp } = await mountRw(image);
    const { vp } = await create(mp, '/', 'fill');
    for (let i = 0, error = 0; error === 0; i++) error = (await write(vp!, i * 65536, randomBytes(65536, 200 + i))).error;
    await vrele(vp!);
    await fs.unmount();
    assert.equal(freeBlocks(image), 0);
    const before = new Uint8Array(readFileSync(image));
    const again = await mountRw(image);
    assert.equal(await mkdir(again.mp, '/', 'd'), ENOSPC);
    await again.fs.unmount();
    const after = new Uint8Array(readFileSync(image));
    const moved: number[] = [];
    for (let b = 0; b < before.length / 1024; b++) {
      if (b !== 1 && !Buffer.from(before.subarray(b * 1024, (b + 1) * 1024)).equals(after.subarray(b * 1024, (b + 1) * 1024))) moved.push(b);
    }
    assert.deepEqual(moved, [], 'no block but the superblock written');
    assertClean(image);
  });
});

describe('files unlinked while open', () => {
  for (const type of ['ext4', 'ext2'] as const) {
    test(`${type}: they wait on the superblock's orphan list, chained through i_dtime, until closed; then all is freed`, async () => {
      const image = join(tmp.dir, `orphan-${type}.img`);
      buildImage(image, { type, blockSize: 1024, size: 16 << 20, files: [{ path: 'keep', data: randomBytes(100, 1) }] });
      const free0 = freeBlocks(image);
      const vm = new Vm({ memory: 1 << 20 });
      const fs = await vm.mount(image, { readOnly: false });
      const a = await fs.open('/a', { create: true });
      const b = await fs.open('/b', { create: true });
      await a.write(0, randomBytes(50_000, 2));
      await b.write(0, randomBytes(30_000, 3));
      await fs.sync();
      const ia = (await fs.stat('/a')).ino;
      const ib = (await fs.stat('/b')).ino;
      await fs.unlink('/a');
      await fs.unlink('/b');
      await fs.sync();
      const lastOrphan = () => new DataView(readFileSync(image).buffer).getUint32(1024 + 0xe8, true);
      assert.equal(lastOrphan(), ib, 's_last_orphan names the last one unlinked');
      assert.match(debugfs(image, `stat <${ib}>`), new RegExp(`Links: 0[\\s\\S]*dtime: 0x0*${ia.toString(16)}`), 'its i_dtime names the one before');
      assert.deepEqual(await a.read(0, 10), randomBytes(50_000, 2).subarray(0, 10), 'still readable');
      // Closed (a, not the head, first: the chain is mended in b), they are freed when their vnodes go.
      await a.close();
      await b.close();
      await fs.unmount();
      assert.equal(lastOrphan(), 0);
      assertClean(image);
      assert.equal(freeBlocks(image), free0);
    });
  }
});

describe('flex_bg inode tables across group boundaries', () => {
  test('a default mke2fs -t ext4 image of 1 KiB blocks and 32 groups, whose packed inode tables run on into the next group: directories and files in every group, e2fsck clean', async () => {
    const image = join(tmp.dir, 'flexcross.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 256 << 20, files: [] });
    const groupOf = (b: number) => Math.floor((b - 1) / 8192);
    const tables = spawnSync('dumpe2fs', [image], { encoding: 'utf8' }).stdout.match(/Inode table at \d+-\d+/g)!
      .map((l) => l.match(/(\d+)-(\d+)/)!.slice(1).map(Number));
    assert.ok(tables.some(([a, b]) => groupOf(a) !== groupOf(b)), 'the layout has an inode table crossing a group boundary');
    const { fs, mp } = await mountRw(image, 1 << 20);
    const files: Array<[string, Uint8Array]> = [];
    for (let d = 0; d < 40; d++) {
      assert.equal(await mkdir(mp, '/', `d${d}`), 0);
      files.push([`/d${d}/f`, randomBytes(20_000 + d, 70 + d)]);
    }
    for (const [path, data] of files) await putFile(mp, path.slice(0, path.lastIndexOf('/')), 'f', data);
    await fs.unmount();
    assertClean(image);
    for (const [path, data] of files) assertContents(image, path, data);
    // The directories spread over the groups, those whose tables lie in group 16 and past it included.
    const inodeGroups = new Set(files.map(([path]) => Math.floor((Number(debugfs(image, `stat ${path}`).match(/Inode: (\d+)/)![1]) - 1) / 2048)));
    assert.ok([...inodeGroups].some((g) => g >= 17), `groups used: ${[...inodeGroups].join(' ')}`);
  });
});

describe('meta_bg', () => {
  test('files written across 20 groups of a meta_bg image (two meta groups) leave e2fsck clean', async () => {
    const image = join(tmp.dir, 'metabg.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 160 << 20, extra: ['-O', 'meta_bg,^resize_inode'], files: [] });
    assert.match(dumpe2fsField(image, 'Filesystem features'), /meta_bg/);
    const { fs, mp } = await mountRw(image, 1 << 20);
    const files: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < 12; i++) files.push([`f${i}`, randomBytes(10 << 20, 50 + i)]);
    for (const [name, data] of files) await putFile(mp, '/', name, data);
    assert.equal(await remove(mp, '/', 'f3'), 0);
    await fs.unmount();
    assertClean(image);
    for (const [name, data] of files) if (name !== 'f3') assertContents(image, `/${name}`, data);
  });
});

describe('metadata checksums on the write path', () => {
  const image = join(tmp.dir, 'csumw.img');
  buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, files: [{ path: 'a', data: randomBytes(3000, 1) }] });
  // An attribute block on /a (a value too large for the inode).
  writeFileSync(join(tmp.dir, 'val'), randomBytes(600, 2));
  debugfs(image, `ea_set -f ${join(tmp.dir, 'val')} /a user.big`, true);
  assertClean(image);
  const clean = new Uint8Array(readFileSync(image));
  const acl = Number(/File ACL: (\d+)/.exec(debugfs(image, 'stat /a'))![1]);
  const dump = spawnSync('dumpe2fs', [image], { encoding: 'utf8' }).stdout;
  const bbitmap = Number(/Block bitmap at (\d+)/.exec(dump)![1]);
  const ibitmap = Number(/Inode bitmap at (\d+)/.exec(dump)![1]);

  const cases: Array<[string, number, string, (mp: Mount) => Promise<number>]> = [
    ['block bitmap', bbitmap * 1024 + 100, `block bitmap of group 0 (block ${bbitmap})`, async (mp) => {
      const { error, vp } = await create(mp, '/', 'n');
      if (vp === null) return error;
      const w = await write(vp, 0, randomBytes(5000, 3));
      await vrele(vp);
      return w.error;
    }],
    ['inode bitmap', ibitmap * 1024 + 100, `inode bitmap of group 0 (block ${ibitmap})`, async (mp) => (await create(mp, '/', 'n')).error],
    ['attribute block', acl * 1024 + 1020, `extended attribute block ${acl}`, (mp) => remove(mp, '/', 'a')],
  ];
  for (const [kind, off, name, op] of cases) {
    test(`a byte flipped in the ${kind}: the change is refused naming the block`, async () => {
      const bad = clean.slice();
      bad[off] ^= 0x01;
      const { fs, mp } = await mountRw(new MemDisk(bad));
      assert.equal(await op(mp), EINTEGRITY);
      assert.equal((mp.data as Ext2Fs).damage, `${name}: checksum mismatch`);
      await fs.unmount().catch(() => undefined);
    });
  }
});

describe('inode tables never initialised', () => {
  /** A memory disk that logs the byte ranges it reads. */
  class ReadLog extends MemDisk {
    readonly reads: Array<[number, number]> = [];
    override readv(bufs: readonly Uint8Array[], offset: number): Promise<number> {
      this.reads.push([offset, bufs.reduce((n, b) => n + b.length, 0)]);
      return super.readv(bufs, offset);
    }
  }
  /** Group 0's inode table's first block, from dumpe2fs. */
  const itable0 = (image: string) => Number(/Inode table at (\d+)/.exec(spawnSync('dumpe2fs', [image], { encoding: 'utf8' }).stdout)![1]);

  test('a table block none of whose inodes was ever initialised is made zeroed, not read: over a table of garbage (lazy_itable_init), e2fsck clean', async () => {
    const image = join(tmp.dir, 'lazy.img');
    garbageFile(image, 16 << 20);
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, extra: ['-I', '256', '-E', 'nodiscard,lazy_itable_init=1'], files: [] });
    const table = itable0(image);
    const bytes = new Uint8Array(readFileSync(image));
    // Inodes 13-16 (the table's fourth block, four to a block) were never written: garbage.
    assert.ok(bytes.subarray((table + 3) * 1024, (table + 4) * 1024).every((b) => b === 0xee), 'the garbage is there');
    const disk = new ReadLog(bytes);
    const { fs, mp } = await mountRw(disk);
    const files: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < 27; i++) {
      files.push([`/f${i}`, randomBytes(100 + i * 50, 40 + i)]);
      await putFile(mp, '/', `f${i}`, files[i][1]); // inodes 12-38: 13 on in blocks 3-9 of the table
    }
    await fs.unmount();
    const read = disk.reads.filter(([off, len]) => off < (table + 10) * 1024 && off + len > (table + 3) * 1024);
    assert.deepEqual(read, [], 'no block of the new inodes was read');
    writeFileSync(image, disk.data);
    assert.match(debugfs(image, 'stat /f26'), /Inode: 38\s/, 'the files are inodes 12 to 38');
    assertClean(image);
    for (const [path, data] of files) assertContents(image, path, data);
    const after = readFileSync(image);
    assert.ok(after.subarray(table * 1024 + 38 * 256, (table + 10) * 1024).every((b) => b === 0), 'inodes 39 and 40, in the last block made, are zeros, not garbage');
  });

  test('a block the inode bitmap says holds inodes in use is read, whatever bg_itable_unused claims: they are not zeroed', async () => {
    const image = join(tmp.dir, 'unused-lies.img');
    const files: Array<{ path: string; data: Uint8Array }> = [];
    for (let i = 0; i < 8; i++) files.push({ path: `k${i}`, data: randomBytes(700 + i, 60 + i) }); // inodes 12-19
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, extra: ['-I', '256'], files });
    const ipg = Number(dumpe2fsField(image, 'Inodes per group'));
    // The descriptor says no inode past 11 was ever initialised (its checksum made to match).
    debugfs(image, `set_bg 0 itable_unused ${ipg - 11}`, true);
    debugfs(image, 'set_bg 0 checksum calc', true);
    assert.match(spawnSync('dumpe2fs', [image], { encoding: 'utf8' }).stdout, new RegExp(`${ipg - 11} unused inodes`));
    const { fs, mp } = await mountRw(image);
    await putFile(mp, '/', 'new', randomBytes(900, 99)); // inode 20: its block holds 17-19, in use
    await fs.unmount();
    for (const f of files) assertContents(image, `/${f.path}`, f.data);
    assertContents(image, '/new', randomBytes(900, 99));
  });
});
