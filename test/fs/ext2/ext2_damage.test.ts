/*
 * Damaged on-disk values give an errno (EINTEGRITY, or EIO from the device),
 * never a throw, a hang or a huge allocation: directory entries, extent
 * headers and leaves, indirect pointers, sizes, modes, device errors.
 */

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EINTEGRITY, EIO } from '../../../src/kern/errno.js';
import { MemDisk } from '../../../src/dev/memdisk.js';
import { ext2Mount } from '../../../src/fs/ext2/ext2_vfsops.js';
import type { Mount } from '../../../src/vfs/mount.js';
import { UIO_READ, Uio } from '../../../src/vfs/uio.js';
import { namei } from '../../../src/vfs/vfs_lookup.js';
import { IO_DIRECT } from '../../../src/vfs/vnode_if.js';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsBmap, inodeOffset, patched } from './ext2_util.js';

const I_SIZE = 0x04;
const I_MODE = 0x00;
const I_BLOCK = 0x28;
const BS = 1024;

/**
 * Mounts a damaged image. Checksums are not verified: the damage is patched
 * in without them, and what is tested is the structure's own check.
 */
async function mount(bytes: Uint8Array): Promise<Mount> {
  const r = await ext2Mount(new MemDisk(bytes), { readOnly: true, verify: false });
  assert.equal(r.error, 0, r.reason);
  return r.mp!;
}

/** namei from the root of mp: the errno and the vnode. */
async function open(mp: Mount, path: string) {
  const root = (await mp.op.root(mp)).vp!;
  return namei(root, path, false);
}

async function readErr(mp: Mount, path: string, len = 64 * 1024): Promise<number> {
  const { error, vp } = await open(mp, path);
  if (error !== 0) return error;
  return vp!.op.read(vp!, Uio.of(new Uint8Array(len), 0, UIO_READ), IO_DIRECT);
}

describe('damaged ext2 (block map, directories)', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2dmg-');
  const image = join(dir, 'ext2.img');
  let bytes: Uint8Array;
  let dirBlock: number;
  let dirInode: number;
  let fileInode: number;
  let indBlock: number;
  let linkInode: number;

  before(() => {
    buildImage(image, {
      type: 'ext2', blockSize: BS, size: 2 * 2 ** 20,
      files: [
        { path: 'd/one', data: randomBytes(10, 1) }, { path: 'd/two', data: randomBytes(10, 2) },
        { path: 'f', data: randomBytes(20 * 1024, 3) }, { path: 'l', symlink: 'one' },
      ],
    });
    bytes = new Uint8Array(readFileSync(image));
    [dirBlock] = debugfsBmap(image, [['/d', 0]]);
    dirInode = inodeOffset(image, '/d', BS);
    fileInode = inodeOffset(image, '/f', BS);
    linkInode = inodeOffset(image, '/l', BS);
    indBlock = new DataView(bytes.buffer).getUint32(fileInode + I_BLOCK + 12 * 4, true);
  });
  after(cleanup);

  /** Entry offsets in the directory block: '.', '..', 'one', 'two'. */
  const entry = (i: number) => dirBlock * BS + [0, 12, 24, 36][i];

  test('the undamaged image reads', async () => {
    const mp = await mount(bytes.slice());
    assert.equal(await readErr(mp, 'f'), 0);
    assert.equal((await open(mp, 'd/two')).error, 0);
  });

  const dirCases: Array<[string, (dv: DataView, b: Uint8Array) => void]> = [
    ['rec_len 0', (dv) => dv.setUint16(entry(2) + 4, 0, true)],
    ['rec_len past the block', (dv) => dv.setUint16(entry(2) + 4, 2000, true)],
    ['rec_len not a multiple of 4', (dv) => dv.setUint16(entry(2) + 4, 13, true)],
    ['name_len longer than the record', (_dv, b) => void (b[entry(2) + 6] = 200)],
    ['inode number past s_inodes_count', (dv) => dv.setUint32(entry(2), 0x7fffffff, true)],
    ['directory size of 4 GiB', (dv) => dv.setUint32(dirInode + I_SIZE, 0xfffffc00, true)],
  ];
  for (const [what, patch] of dirCases) {
    test(`a directory with ${what}: readdir and lookup answer EINTEGRITY`, async () => {
      const mp = await mount(patched(bytes, patch));
      const { vp } = await open(mp, 'd');
      assert.equal(await vp!.op.readdir(vp!, () => true), EINTEGRITY);
      assert.equal((await vp!.op.lookup(vp!, 'two')).error, EINTEGRITY);
    });
  }

  test('a directory block of zeros (a hole) holds no entries', async () => {
    const mp = await mount(patched(bytes, (_dv, b) => b.fill(0, dirBlock * BS, dirBlock * BS + BS)));
    const { vp } = await open(mp, 'd');
    let n = 0;
    assert.equal(await vp!.op.readdir(vp!, () => (n++, true)), 0);
    assert.equal(n, 0);
  });

  test('an indirect block past the end of the file system: EINTEGRITY from bmap and read', async () => {
    const mp = await mount(patched(bytes, (dv) => dv.setUint32(fileInode + I_BLOCK + 12 * 4, 0x7fffffff, true)));
    const { vp } = await open(mp, 'f');
    assert.equal((await vp!.op.bmap(vp!, 0)).error, 0);
    assert.equal((await vp!.op.bmap(vp!, 12)).error, EINTEGRITY);
    assert.equal(await readErr(mp, 'f'), EINTEGRITY);
  });

  test('a pointer inside an indirect block past the end: EINTEGRITY for that block only', async () => {
    const mp = await mount(patched(bytes, (dv) => dv.setUint32(indBlock * BS + 4, 999_999, true)));
    const { vp } = await open(mp, 'f');
    assert.equal((await vp!.op.bmap(vp!, 12)).error, 0);
    assert.equal((await vp!.op.bmap(vp!, 13)).error, EINTEGRITY);
    assert.equal(await readErr(mp, 'f'), EINTEGRITY);
  });

  test('a data pointer to the superblock is refused', async () => {
    const mp = await mount(patched(bytes, (dv) => dv.setUint32(fileInode + I_BLOCK, 1, true)));
    const { vp } = await open(mp, 'f');
    assert.equal((await vp!.op.bmap(vp!, 0)).error, EINTEGRITY);
  });

  test('an indirect block naming itself ends', async () => {
    const mp = await mount(patched(bytes, (dv) => {
      dv.setUint32(fileInode + I_BLOCK + 13 * 4, indBlock, true);
      for (let i = 0; i < 256; i++) dv.setUint32(indBlock * BS + i * 4, indBlock, true);
    }));
    const { vp } = await open(mp, 'f');
    const r = await vp!.op.bmap(vp!, 12 + 256 + 5);
    assert.equal(r.error, 0);
    assert.equal(r.bn, indBlock * 2);
  });

  test('an impossible file type: EINTEGRITY from lookup', async () => {
    const mp = await mount(patched(bytes, (dv) => dv.setUint16(fileInode + I_MODE, 0x3000 | 0o644, true)));
    assert.equal((await open(mp, 'f')).error, EINTEGRITY);
  });

  test('an empty symlink: EINTEGRITY from readlink', async () => {
    const mp = await mount(patched(bytes, (dv) => dv.setUint32(linkInode + I_SIZE, 0, true)));
    const { vp } = await open(mp, 'l');
    assert.equal((await vp!.op.readlink(vp!)).error, EINTEGRITY);
  });

  test('a device read error surfaces as EIO', async () => {
    const disk = new MemDisk(bytes.slice());
    const mp = (await ext2Mount(disk, { readOnly: true })).mp!;
    const { vp } = await open(mp, 'f');
    const readv = disk.readv.bind(disk);
    disk.readv = (bufs, off) => (off >= 4096 * 4 ? Promise.resolve(EIO) : readv(bufs, off));
    assert.equal(await vp!.op.read(vp!, Uio.of(new Uint8Array(20 * 1024), 0, UIO_READ), IO_DIRECT), EIO);
  });
});

describe('damaged ext4 (extent trees)', () => {
  const { dir, cleanup } = tempDir('vmpager-ext4dmg-');
  const image = join(dir, 'ext4.img');
  let bytes: Uint8Array;
  let small: number;
  let deep: number;
  let leaf: number;

  before(() => {
    /* Six separate data runs need more than the inode's four extents: a tree of depth 1. */
    const writes: Array<[number, Uint8Array]> = [];
    for (let i = 0; i < 6; i++) writes.push([i * 10 * BS, randomBytes(BS, 10 + i)]);
    buildImage(image, {
      type: 'ext4', blockSize: BS, size: 2 * 2 ** 20, extra: ['-O', '^has_journal'],
      files: [{ path: 'small', data: randomBytes(3000, 1) }],
      sparse: [{ path: 'deep', size: 60 * BS, writes }],
    });
    bytes = new Uint8Array(readFileSync(image));
    small = inodeOffset(image, '/small', BS);
    deep = inodeOffset(image, '/deep', BS);
    const dv = new DataView(bytes.buffer);
    assert.equal(dv.getUint16(deep + I_BLOCK + 6, true), 1, 'deep has a tree of depth 1');
    leaf = dv.getUint32(deep + I_BLOCK + 12 + 4, true);
  });
  after(cleanup);

  const cases: Array<[string, string, (dv: DataView) => void]> = [
    ['a bad magic in the inode', 'small', (dv) => dv.setUint16(small + I_BLOCK, 0x1234, true)],
    ['a depth of 6', 'small', (dv) => dv.setUint16(small + I_BLOCK + 6, 6, true)],
    ['more entries than eh_max', 'small', (dv) => dv.setUint16(small + I_BLOCK + 2, 5, true)],
    ['an extent past the end of the file system', 'small', (dv) => dv.setUint32(small + I_BLOCK + 12 + 8, 0xffffff, true)],
    ['a zero-length extent', 'small', (dv) => dv.setUint16(small + I_BLOCK + 12 + 4, 0, true)],
    ['a bad magic in a leaf block', 'deep', (dv) => dv.setUint16(leaf * BS, 0xbeef, true)],
    ['a leaf claiming to be an index', 'deep', (dv) => dv.setUint16(leaf * BS + 6, 1, true)],
    ['unsorted extents in a leaf', 'deep', (dv) => dv.setUint32(leaf * BS + 12 + 12, 0, true)],
    ['an index pointing past the end', 'deep', (dv) => dv.setUint32(deep + I_BLOCK + 12 + 4, 0xfffffff, true)],
  ];
  for (const [what, path, patch] of cases) {
    test(`an extent tree with ${what}: EINTEGRITY from bmap and read`, async () => {
      const mp = await mount(patched(bytes, patch));
      const { vp } = await open(mp, path);
      assert.equal((await vp!.op.bmap(vp!, 0)).error, EINTEGRITY);
      assert.equal(await readErr(mp, path), EINTEGRITY);
    });
  }

  test('the undamaged tree maps every data run', async () => {
    const mp = await mount(bytes.slice());
    const { vp } = await open(mp, 'deep');
    for (let i = 0; i < 6; i++) assert.ok((await vp!.op.bmap(vp!, i * 10)).bn > 0);
    assert.equal((await vp!.op.bmap(vp!, 5)).bn, -1);
  });
});
