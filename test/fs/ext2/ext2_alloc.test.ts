/*
 * The ext2 writer's allocation, truncation and page-out paths against the
 * real tools: double and triple indirect blocks on 1 KiB blocks and their
 * freeing, blocks a write allocated but did not cover (never garbage, even
 * after truncation and extension), the pager's write into a hole, ENOSPC,
 * write errors, unlinked open files, read-only mounts and the superblock's
 * state. Images are filled with garbage before mke2fs.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EINTEGRITY, EIO, ENOENT, ENOSPC, EROFS } from '../../../src/kern/errno.js';
import { MemDisk } from '../../../src/dev/memdisk.js';
import { FaultyDisk } from '../../../src/dev/faulty.js';
import type { Ext2Fs } from '../../../src/fs/ext2/ext2_mount.js';
import { UIO_NOCOPY, UIO_WRITE, Uio } from '../../../src/vfs/uio.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { IO_SYNC, IO_VMIO } from '../../../src/vfs/vnode_if.js';
import { debugfs, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, lookupPath } from './ext2_util.js';
import {
  assertClean, assertContents, create, dumpe2fsField, garbageFile, inDir, lookupIn, mkdir, mountRw, putFile, read, remove,
  rmdir, setsize, write, writeAll,
} from './ext2_write_util.js';

const tmp = tempDir('vmpager-ext2alloc-');
after(() => tmp.cleanup());

let n = 0;
/** A fresh garbage-filled image of `size` bytes with the given files. */
function image(bs: number, size: number, files: Array<{ path: string; data: Uint8Array }> = [], type: 'ext2' | 'ext3' = 'ext2'): string {
  const path = join(tmp.dir, `img-${n++}.img`);
  garbageFile(path, size);
  return buildImage(path, { type, blockSize: bs, size, files, extra: ['-E', 'nodiscard'] });
}

/** debugfs stat's Blockcount (i_blocks, 512-byte units). */
function blockcount(img: string, path: string): number {
  const m = /Blockcount: (\d+)/.exec(debugfs(img, `stat ${path}`));
  return m === null ? -1 : Number(m[1]);
}

function freeBlocks(mp: { data: unknown }): number {
  return (mp.data as Ext2Fs).sb.freeBlocksCount;
}

describe('block maps', () => {
  test('a 400 KiB file on 1 KiB blocks gets double indirect blocks, counted in i_blocks', async () => {
    const img = image(1024, 8 << 20);
    const data = randomBytes(400 << 10, 1);
    const { fs, mp } = await mountRw(img);
    await putFile(mp, '/', 'f', data);
    await fs.unmount();
    assertClean(img);
    assertContents(img, '/f', data);
    // 400 data blocks, the single indirect, the double and one block under it.
    assert.equal(blockcount(img, '/f'), (400 + 3) * 2);
  });

  test('a byte written at 65 MiB on 1 KiB blocks goes through a triple indirect block; truncation frees the chain', async () => {
    const img = image(1024, 8 << 20);
    const { fs, mp } = await mountRw(img);
    const before = freeBlocks(mp);
    const { vp } = await create(mp, '/', 'sparse');
    const head = randomBytes(3000, 2);
    assert.equal((await write(vp!, 0, head)).error, 0);
    assert.equal((await write(vp!, 65 << 20, new Uint8Array([0x5a]))).error, 0);
    await fs.sync();
    assert.equal(debugfs(img, 'stat /sparse').includes('TIND'), true);
    const model = new Uint8Array((65 << 20) + 1);
    model.set(head);
    model[65 << 20] = 0x5a;
    assertContents(img, '/sparse', model);
    assertClean(img);
    assert.equal(await setsize(vp!, 2000), 0);
    await fs.sync();
    assert.equal(before - freeBlocks(mp), 2, 'only the two blocks under 2000 bytes stay');
    assert.equal(blockcount(img, '/sparse'), 4);
    await vrele(vp!);
    await fs.unmount();
    assertClean(img);
    assertContents(img, '/sparse', head.subarray(0, 2000));
  });

  test('a file written in one go lies in one run, and its pages go out in one device write', async () => {
    const img = image(4096, 8 << 20);
    const disk = new MemDisk(new Uint8Array(readFileSync(img)));
    const { fs, mp } = await mountRw(disk, 1 << 20);
    const { vp } = await create(mp, '/', 'f');
    const data = randomBytes(40 << 10, 12);
    await writeAll(vp!, data);
    const writes = disk.stats.writes;
    await vp!.lock.lock();
    assert.equal(await vp!.mount!.vm!.clean(vp!, true), 0);
    vp!.lock.unlock();
    assert.equal(disk.stats.writes - writes, 1);
    const first = await vp!.op.bmap(vp!, 0);
    assert.equal(first.runp, 9, 'ten contiguous blocks');
    await vrele(vp!);
    await fs.unmount();
    writeFileSync(img, disk.data);
    assertClean(img);
    assertContents(img, '/f', data);
  });

  test('a removed file gives every block back', async () => {
    const img = image(1024, 8 << 20);
    const { fs, mp } = await mountRw(img);
    const before = freeBlocks(mp);
    await putFile(mp, '/', 'big', randomBytes(1 << 20, 3));
    assert.ok(before - freeBlocks(mp) > 1024);
    assert.equal(await remove(mp, '/', 'big'), 0);
    assert.equal(freeBlocks(mp), before);
    await fs.unmount();
    assertClean(img);
  });
});

describe('blocks a write did not cover', () => {
  for (const bs of [1024, 4096, 8192]) {
    test(`read as zeros, before and after truncation and extension (${bs}-byte blocks)`, async () => {
      const img = image(bs, 8 << 20);
      const { fs, mp } = await mountRw(img);
      const { vp } = await create(mp, '/', 'f');
      const bytes = randomBytes(100, 4);
      assert.equal((await write(vp!, 3000, bytes)).error, 0);
      const model = new Uint8Array(3100);
      model.set(bytes, 3000);
      assert.deepEqual(await read(vp!, 0, 3100), model);
      await fs.sync();
      assertContents(img, '/f', model);
      // Cut inside the written bytes, extend past the old end: zeros after the cut.
      assert.equal(await setsize(vp!, 3050), 0);
      assert.equal(await setsize(vp!, 9000), 0);
      const model2 = new Uint8Array(9000);
      model2.set(bytes.subarray(0, 50), 3000);
      assert.deepEqual(await read(vp!, 0, 9000), model2);
      // A write far past the end, inside a new block, then cut before it.
      assert.equal((await write(vp!, 20_000, bytes)).error, 0);
      assert.equal(await setsize(vp!, 19_990), 0);
      assert.equal(await setsize(vp!, 30_000), 0);
      const model3 = new Uint8Array(30_000);
      model3.set(model2);
      assert.deepEqual(await read(vp!, 0, 30_000), model3);
      await vrele(vp!);
      await fs.unmount();
      assertClean(img);
      assertContents(img, '/f', model3);
    });
  }

  test('the pager writing into a hole allocates the block and zeroes the rest of it', async () => {
    const img = image(4096, 8 << 20);
    const { fs, mp } = await mountRw(img);
    const { vp } = await create(mp, '/', 'h');
    assert.equal(await setsize(vp!, 3 * 4096), 0);
    const frame = new Uint8Array(4096).fill(0xab);
    await vp!.lock.lock();
    const uio = new Uio([frame.subarray(512, 1024)], 4096 + 512, UIO_WRITE, UIO_NOCOPY);
    const error = await vp!.op.write(vp!, uio, IO_VMIO | IO_SYNC);
    vp!.lock.unlock();
    assert.equal(error, 0);
    assert.equal(uio.resid, 0);
    assert.ok(frame.every((b) => b === 0xab), 'the frames are never written to');
    assert.equal((await vp!.op.bmap(vp!, 1)).bn > 0, true);
    assert.equal((await vp!.op.bmap(vp!, 0)).bn, -1);
    await vrele(vp!);
    await fs.unmount();
    assertClean(img);
    const model = new Uint8Array(3 * 4096);
    model.fill(0xab, 4096 + 512, 4096 + 1024);
    assertContents(img, '/h', model);
  });
});

describe('errors', () => {
  test('ENOSPC: the part that found blocks is written, and the file system stays clean', async () => {
    const img = image(1024, 1 << 20);
    const { fs, mp } = await mountRw(img);
    const { vp } = await create(mp, '/', 'fill');
    const data = randomBytes(2 << 20, 5);
    let off = 0;
    let error = 0;
    while (error === 0 && off < data.length) {
      const r = await write(vp!, off, data.subarray(off, off + 65536));
      error = r.error;
      off += 65536 - r.resid;
    }
    assert.equal(error, ENOSPC);
    assert.equal(freeBlocks(mp), 0);
    // An empty file needs no block while the directory has room.
    const more = await create(mp, '/', 'more');
    assert.equal(more.error, 0);
    assert.equal((await write(more.vp!, 0, new Uint8Array(1))).error, ENOSPC);
    await vrele(more.vp!);
    await vrele(vp!);
    await fs.unmount();
    assertClean(img);
    assertContents(img, '/fill', data.subarray(0, off));
    // Removing it gives the space back.
    const again = await mountRw(img);
    assert.equal(await remove(again.mp, '/', 'fill'), 0);
    await putFile(again.mp, '/', 'after', randomBytes(100_000, 6));
    await again.fs.unmount();
    assertClean(img);
  });

  test('a failing device makes the write-back return EIO; healed, the pages go out', async () => {
    const img = image(4096, 8 << 20);
    const disk = new FaultyDisk(new MemDisk(new Uint8Array(readFileSync(img))));
    const { fs, mp } = await mountRw(disk);
    const { vp } = await create(mp, '/', 'f');
    const data = randomBytes(50_000, 7);
    await writeAll(vp!, data);
    disk.failWrites = true;
    await vp!.lock.lock();
    const e1 = await vp!.mount!.vm!.clean(vp!, true);
    vp!.lock.unlock();
    assert.equal(e1, EIO);
    disk.failWrites = false;
    await vp!.lock.lock();
    const e2 = await vp!.mount!.vm!.clean(vp!, true);
    vp!.lock.unlock();
    assert.equal(e2, 0);
    await vrele(vp!);
    await fs.unmount();
    writeFileSync(img, (disk.inner as MemDisk).data);
    assertClean(img);
    assertContents(img, '/f', data);
  });

  test('a removal whose orphan-list write fails keeps the file and the orphan list as they were; healed, removals work', async () => {
    const data = randomBytes(5000, 9);
    const img = image(4096, 8 << 20, [{ path: 'f', data }, { path: 'g', data: randomBytes(10, 10) }]);
    const disk = new FaultyDisk(new MemDisk(new Uint8Array(readFileSync(img))));
    const { fs, mp } = await mountRw(disk);
    assert.equal(await mkdir(mp, '/', 'd'), 0);
    disk.failWrites = true;
    assert.equal(await remove(mp, '/', 'f'), EIO);
    assert.equal(await rmdir(mp, '/', 'd'), EIO);
    disk.failWrites = false;
    // Neither is left on the in-core orphan list, which the next removal would write out.
    assert.equal((mp.data as Ext2Fs).sb.lastOrphan, 0);
    assert.equal(await remove(mp, '/', 'g'), 0);
    assert.equal((mp.data as Ext2Fs).sb.lastOrphan, 0);
    await fs.unmount();
    writeFileSync(img, (disk.inner as MemDisk).data);
    assertClean(img);
    assertContents(img, '/f', data);
    assert.match(debugfs(img, 'stat /d'), /Type: directory/);
    assert.doesNotMatch(debugfs(img, 'ls /'), /\(\d+\) g(\s|$)/);
    assert.match(debugfs(img, 'ls /'), /\(\d+\) f(\s|$)/);
  });

  test('a read-only mount answers EROFS to every change', async () => {
    const img = image(1024, 4 << 20, [{ path: 'a', data: randomBytes(10, 8) }]);
    const { Vm } = await import('../../../src/api/index.js');
    const fs = await new Vm({ memory: 1 << 20 }).mount(img);
    const mp = fs.mp;
    const vp = await lookupPath(mp, '/a');
    assert.equal((await write(vp, 0, new Uint8Array(1))).error, EROFS);
    assert.equal(await setsize(vp, 0), EROFS);
    await vrele(vp);
    assert.equal((await create(mp, '/', 'b')).error, EROFS);
    assert.equal(await mkdir(mp, '/', 'c'), EROFS);
    assert.equal(await remove(mp, '/', 'a'), EROFS);
    assert.equal(await rmdir(mp, '/', 'lost+found'), EROFS);
    assert.equal((await inDir(mp, '/', (d) => d.op.symlink(d, 'l', 'a'))).error, EROFS);
    await fs.unmount();
    assertClean(img);
  });
});

describe('inodes', () => {
  test('a file removed while open is freed when its last user goes', async () => {
    const img = image(1024, 8 << 20, [{ path: 'open', data: randomBytes(100_000, 9) }]);
    const free0 = Number(dumpe2fsField(img, 'Free inodes'));
    const { fs, mp } = await mountRw(img);
    const f = await fs.open('/open');
    assert.equal(await remove(mp, '/', 'open'), 0);
    assert.deepEqual(await f.read(0, 100_000), randomBytes(100_000, 9));
    await f.close();
    await fs.unmount();
    assertClean(img);
    assert.equal(Number(dumpe2fsField(img, 'Free inodes')), free0 + 1);
    assert.match(debugfs(img, 'ls /'), /lost\+found/);
    assert.doesNotMatch(debugfs(img, 'ls /'), /open/);
  });

  test('mounting read-write marks the file system not clean and counts the mount; unmounting marks it clean', async () => {
    const img = image(4096, 4 << 20, [], 'ext3');
    const count = Number(dumpe2fsField(img, 'Mount count'));
    const journal = debugfs(img, 'cat <8>');
    const { fs } = await mountRw(img);
    assert.equal(dumpe2fsField(img, 'Filesystem state'), 'not clean');
    await fs.unmount();
    assert.equal(dumpe2fsField(img, 'Filesystem state'), 'clean');
    assert.equal(Number(dumpe2fsField(img, 'Mount count')), count + 1);
    assert.equal(debugfs(img, 'cat <8>'), journal, 'the journal is never touched');
    assertClean(img);
  });

  test('an inode in use that the inode bitmap calls free is not given out again: EINTEGRITY, nothing written over (a wrong bitmap let a mkdir make a live directory its own, emptied)', async () => {
    const img = image(1024, 4 << 20, [{ path: 'precious/data.txt', data: randomBytes(3000, 11) }]);
    debugfs(img, 'freei /precious', true);
    const before = readFileSync(img);
    const { fs, mp } = await mountRw(img);
    assert.equal(await mkdir(mp, '/', 'new'), EINTEGRITY);
    assert.match((mp.data as Ext2Fs).damage, /^inode 12 is in use \(2 links\) but the inode bitmap calls it free/);
    await fs.unmount();
    assertContents(img, '/precious/data.txt', randomBytes(3000, 11));
    assert.doesNotMatch(debugfs(img, 'ls /'), /new/);
    // Only the superblock's mount fields changed: the inode table and the bitmaps are as they were.
    const after = readFileSync(img);
    assert.ok(after.subarray(4096).equals(before.subarray(4096)), 'nothing past the superblock written');
  });

  test('a bg_itable_unused left by group checksums turned off is lowered as inodes are taken, as e2fsck reads it still: clean after', async () => {
    const img = image(1024, 4 << 20);
    assert.doesNotMatch(dumpe2fsField(img, 'Filesystem features'), /uninit_bg|metadata_csum/);
    const ipg = Number(dumpe2fsField(img, 'Inodes per group'));
    debugfs(img, `set_bg 0 itable_unused ${ipg - 11}`, true); // what tune2fs -O ^uninit_bg leaves: inodes 12 on "never used"
    assertClean(img);
    const { fs, mp } = await mountRw(img);
    assert.equal(await mkdir(mp, '/', 'd'), 0);
    await putFile(mp, '/d', 'f', randomBytes(3000, 12));
    await fs.unmount();
    assertClean(img);
    assertContents(img, '/d/f', randomBytes(3000, 12));
  });

  test('an inode number freed is used again, with a new generation', async () => {
    const img = image(1024, 4 << 20);
    const { fs, mp } = await mountRw(img);
    const a = await create(mp, '/', 'a');
    const ino = a.vp!.ino;
    await vrele(a.vp!);
    assert.equal(await remove(mp, '/', 'a'), 0);
    const b = await create(mp, '/', 'b');
    assert.equal(b.vp!.ino, ino);
    await writeAll(b.vp!, randomBytes(5000, 10));
    await vrele(b.vp!);
    const gone = await lookupIn(mp, '/', 'a');
    assert.equal(gone.error, ENOENT);
    await fs.unmount();
    assertClean(img);
    assertContents(img, '/b', randomBytes(5000, 10));
    assert.match(debugfs(img, 'stat /b'), /Generation: [1-9]/);
  });
});
