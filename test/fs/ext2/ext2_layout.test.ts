/*
 * Unusual block layouts against debugfs: fragmented files (an ext4 extent
 * tree of depth 2, an ext2 block map full of gaps), unwritten extents,
 * inline data (a file longer than its inline bytes reads zeros past them;
 * a directory or symlink so is damage), special files, encrypted and huge
 * files.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EACCES, EINTEGRITY, EOPNOTSUPP } from '../../../src/kern/errno.js';
import { MAXPHYS } from '../../../src/kern/param.js';
import type { Mount } from '../../../src/vfs/mount.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { VType } from '../../../src/vfs/vnode.js';
import { UIO_READ, Uio } from '../../../src/vfs/uio.js';
import { debugfsCat, debugfsScript, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsBmap, lookupPath, mountImage, readWhole } from './ext2_util.js';
import { checkHoleRuns } from '../../helpers/ext2_images.js';

/** Every lbn of path: bmap equals debugfs bmap, runs are exact; the direct read equals debugfs cat. */
async function checkAgainstDebugfs(mp: Mount, image: string, path: string): Promise<void> {
  const vp = await lookupPath(mp, path);
  const { va } = await vp.op.getattr(vp);
  const bs = mp.stat.iosize;
  const n = Math.ceil(va!.size / bs);
  const phys = debugfsBmap(image, Array.from({ length: n }, (_, l) => [`/${path}`, l] as const));
  const maxrun = MAXPHYS / bs - 1;
  for (let l = 0; l < n; l++) {
    const r = await vp.op.bmap(vp, l);
    assert.equal(r.error, 0);
    assert.equal(r.bn === -1 ? 0 : r.bn / (bs / 512), phys[l], `${path} lbn ${l}`);
    if (r.bn === -1) {
      checkHoleRuns((x) => phys[x], l, r.runp, r.runb, n - 1, maxrun, mp.stat.fstype === 'ext4', `${path} lbn ${l}`);
      continue;
    }
    let runp = 0;
    while (runp < maxrun && l + runp + 1 < n && phys[l + runp + 1] === phys[l] + runp + 1) runp++;
    let runb = 0;
    while (runb < maxrun && l - runb - 1 >= 0 && phys[l - runb - 1] === phys[l] - runb - 1) runb++;
    assert.deepEqual([r.runp, r.runb], [runp, runb], `${path} lbn ${l} runs`);
  }
  const { error, data } = await readWhole(vp, va!.size, 5000);
  assert.equal(error, 0);
  assert.ok(Buffer.from(data).equals(debugfsCat(image, `/${path}`)), `${path} differs from debugfs cat`);
  await vrele(vp);
}

for (const type of ['ext2', 'ext4'] as const) {
  describe(`${type}: a file written into the gaps between removed files`, () => {
    const { dir, cleanup } = tempDir('vmpager-ext2frag-');
    const image = join(dir, 'fs.img');
    let mp: Mount;

    before(async () => {
      buildImage(image, { type, blockSize: 1024, size: 4 * 2 ** 20, files: [], extra: ['-O', '^has_journal'] });
      const one = join(dir, 'one');
      const big = join(dir, 'big');
      writeFileSync(one, randomBytes(1024, 5));
      writeFileSync(big, randomBytes(400 * 1024 - 17, 6));
      const cmds: string[] = [];
      for (let i = 0; i < 800; i++) cmds.push(`write ${one} f${i}`);
      for (let i = 0; i < 800; i += 2) cmds.push(`rm f${i}`);
      cmds.push(`write ${big} big`);
      debugfsScript(image, cmds, true);
      mp = await mountImage(image);
    });
    after(cleanup);

    test('every block maps like debugfs bmap and the file reads like debugfs cat', async () => {
      await checkAgainstDebugfs(mp, image, 'big');
      if (type === 'ext4') {
        const out = debugfsScript(image, ['ex /big']);
        assert.match(out, / 0\/ 2 /, 'an extent tree of depth 2');
      }
    });

    test('the surviving small files read like debugfs cat', async () => {
      for (const i of [1, 399, 799]) await checkAgainstDebugfs(mp, image, `f${i}`);
    });
  });
}

describe('ext4: unwritten extents, inline data, special, encrypted and huge files', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2misc-');
  const image = join(dir, 'fs.img');
  let mp: Mount;
  const inlineSmall = randomBytes(40, 1);
  const inlineMed = randomBytes(100, 2);

  before(async () => {
    buildImage(image, {
      type: 'ext4', blockSize: 1024, size: 4 * 2 ** 20, extra: ['-O', 'inline_data,^has_journal', '-I', '256'],
      files: [
        { path: 'small', data: inlineSmall }, { path: 'med', data: inlineMed }, { path: 'ilink', symlink: 'x'.repeat(70) },
        { path: 'secret', data: randomBytes(3000, 3) }, { path: 'huge', data: randomBytes(3000, 4) },
        { path: 'sock', data: new Uint8Array(0) },
      ],
    });
    const eight = join(dir, 'eight');
    writeFileSync(eight, randomBytes(8192, 9));
    debugfsScript(image, [
      `write ${eight} u`, 'fallocate /u 10 20', 'sif /u size 40960',
      'mknod pipe p', 'mknod chr c 1 3', 'mknod blk b 8 1', 'sif /sock mode 0140644',
      'sif /secret flags 0x80800', 'sif /huge flags 0xc0000',
    ], true);
    mp = await mountImage(image);
  });
  after(cleanup);

  test('unwritten extents map as holes and read as zeros', async () => {
    await checkAgainstDebugfs(mp, image, 'u');
    const vp = await lookupPath(mp, 'u');
    // 1 KiB blocks: 0-7 written, 8-9 a hole, 10-20 unwritten, 21-39 a hole up to EOF: one hole of zeros from 8 to 39.
    assert.deepEqual(await vp.op.bmap(vp, 12), { error: 0, bn: -1, runp: 27, runb: 4 });
    await vrele(vp);
  });

  test('inline-data files read from the inode and have no block map', async () => {
    for (const [path, want] of [['small', inlineSmall], ['med', inlineMed]] as const) {
      const vp = await lookupPath(mp, path);
      const { va } = await vp.op.getattr(vp);
      assert.equal(va!.extra.inline, true, path);
      assert.equal((await vp.op.bmap(vp, 0)).error, EOPNOTSUPP);
      const { error, data } = await readWhole(vp, va!.size, 7);
      assert.equal(error, 0);
      assert.deepEqual(data, want);
      /* debugfs 1.47.0 dumps all 60 bytes of i_block for a shorter inline file: cut to i_size. */
      assert.ok(Buffer.from(data).equals(debugfsCat(image, `/${path}`).subarray(0, va!.size)));
      await vrele(vp);
    }
    const lnk = await lookupPath(mp, 'ilink');
    assert.deepEqual(await lnk.op.readlink(lnk), { error: 0, target: 'x'.repeat(70) });
    await vrele(lnk);
  });

  test('fifos, devices and sockets have their types; reading them is EOPNOTSUPP', async () => {
    for (const [path, type] of [['pipe', VType.VFIFO], ['chr', VType.VCHR], ['blk', VType.VBLK], ['sock', VType.VSOCK]] as const) {
      const vp = await lookupPath(mp, path);
      assert.equal(vp.type, type, path);
      assert.equal(await vp.op.read(vp, Uio.of(new Uint8Array(10), 0, UIO_READ), 0), EOPNOTSUPP);
      assert.equal((await vp.op.bmap(vp, 0)).error, EOPNOTSUPP);
      await vrele(vp);
    }
    const chr = await lookupPath(mp, 'chr');
    const { va } = await chr.op.getattr(chr);
    assert.deepEqual([va!.extra.major, va!.extra.minor], [1, 3]);
    await vrele(chr);
  });

  test('an encrypted file is never read as ciphertext: EACCES', async () => {
    const vp = await lookupPath(mp, 'secret');
    assert.equal(await vp.op.read(vp, Uio.of(new Uint8Array(10), 0, UIO_READ), 0), EACCES);
    assert.equal((await vp.op.bmap(vp, 0)).error, EACCES);
    assert.equal((await vp.op.getattr(vp)).va!.extra.encrypted, true);
    await vrele(vp);
  });

  test('HUGE_FILE_FL counts i_blocks in file-system blocks', async () => {
    const vp = await lookupPath(mp, 'huge');
    const { va } = await vp.op.getattr(vp);
    const blocks = Number(/Blockcount: (\d+)/.exec(debugfsScript(image, ['stat /huge']))![1]);
    assert.equal(va!.extra.blocks512, blocks * 2);
    assert.equal(va!.bytes, blocks * 1024);
    await vrele(vp);
  });
});

describe('ext4 inline data shorter than i_size', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2inline-');
  const image = join(dir, 'fs.img');
  let mp: Mount;
  const head = randomBytes(20, 5);

  before(async () => {
    // mke2fs -d keeps a file of holes inline (60 bytes, i_size past them); /grown is one with bytes in front.
    // The others are damage e2fsck reports: a directory and a symlink longer than their inline bytes, and
    // an inline file past 60 bytes whose system.data is gone.
    buildImage(image, {
      type: 'ext4', blockSize: 1024, size: 4 * 2 ** 20, extra: ['-O', 'inline_data,^has_journal', '-I', '256'],
      files: [{ path: 'grown', data: head }, { path: 'nodata', data: randomBytes(100, 6) }, { path: 'idir/x', data: randomBytes(3, 7) }, { path: 'ilink', symlink: 'y'.repeat(70) }],
      sparse: [{ path: 'holes', size: 10_000, writes: [] }],
    });
    debugfsScript(image, ['sif /grown size 9000', 'ea_rm /nodata system.data', 'sif /idir size 500', 'sif /ilink size 200'], true);
    mp = await mountImage(image);
  });
  after(cleanup);

  test('a regular file reads its inline bytes, then zeros up to i_size (as the kernel reads it)', async () => {
    for (const [path, size, front] of [['holes', 10_000, new Uint8Array(0)], ['grown', 9000, head]] as const) {
      const vp = await lookupPath(mp, path);
      const { va } = await vp.op.getattr(vp);
      assert.equal(va!.extra.inline, true, path);
      assert.equal(va!.size, size, path);
      const want = new Uint8Array(size);
      want.set(front);
      for (const chunk of [size, 4096, 7]) {
        const { error, data } = await readWhole(vp, size, chunk);
        assert.equal(error, 0, `${path} in chunks of ${chunk}`);
        assert.ok(Buffer.from(data).equals(want), `${path} in chunks of ${chunk}`);
      }
      await vrele(vp);
    }
  });

  test('an inline directory or symlink shorter than its size, or an inline file past 60 bytes without system.data, is EINTEGRITY', async () => {
    const file = await lookupPath(mp, 'nodata');
    assert.equal((await readWhole(file, 100)).error, EINTEGRITY);
    await vrele(file);
    const d = await lookupPath(mp, 'idir');
    assert.equal(await d.op.readdir(d, () => true), EINTEGRITY);
    await vrele(d);
    const lnk = await lookupPath(mp, 'ilink');
    assert.equal((await lnk.op.readlink(lnk)).error, EINTEGRITY);
    await vrele(lnk);
  });
});

describe('ext4 with meta_bg: descriptors found in every meta group', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2metabg-');
  const image = join(dir, 'fs.img');
  let mp: Mount;

  before(async () => {
    /* 32 groups of 256 blocks, 8 inodes each: the files land in groups past the first meta group (16 groups). */
    const files = [];
    for (let i = 0; i < 70; i++) files.push({ path: `d${i}/f`, data: randomBytes(3000, 30 + i) });
    buildImage(image, {
      type: 'ext4', blockSize: 1024, size: 8 * 2 ** 20, files,
      extra: ['-O', 'meta_bg,^resize_inode,^has_journal', '-g', '256', '-N', '256', '-I', '128'],
    });
    mp = await mountImage(image);
  });
  after(cleanup);

  test('files whose inodes sit in the second meta group read like debugfs cat', async () => {
    let far = 0;
    for (const i of [0, 35, 69]) {
      const vp = await lookupPath(mp, `d${i}/f`);
      if (vp.ino > 16 * 8) far++;
      await vrele(vp);
      await checkAgainstDebugfs(mp, image, `d${i}/f`);
    }
    assert.ok(far > 0, 'some inode lies past group 16');
  });
});
