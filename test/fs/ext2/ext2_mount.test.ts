/*
 * ext2Mount: superblock checks, feature judgement (refusals and their
 * reasons, the journal needing recovery), statfs, and vget's one vnode per
 * inode under concurrent calls.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { EINTEGRITY, EINVAL, EOPNOTSUPP, EROFS } from '../../../src/kern/errno.js';
import { MemDisk } from '../../../src/dev/memdisk.js';
import { ext2Mount, RECOVER_WARNING } from '../../../src/fs/ext2/ext2_vfsops.js';
import { FEATURE_COMPAT, FEATURE_INCOMPAT, FEATURE_RO_COMPAT, featureName, featureNames } from '../../../src/fs/ext2/ext2_fs.js';
import { MNT_RDONLY } from '../../../src/vfs/mount.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { VROOT, VType } from '../../../src/vfs/vnode.js';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage, mountBytes, patched } from './ext2_util.js';

/* Superblock field offsets (inside the superblock, which starts at byte 1024). */
const SB = 1024;
const S_INODES_COUNT = SB + 0x00;
const S_LOG_BLOCK_SIZE = SB + 0x18;
const S_BLOCKS_PER_GROUP = SB + 0x20;
const S_MAGIC = SB + 0x38;
const S_STATE = SB + 0x3a;
const S_INODE_SIZE = SB + 0x58;
const S_INCOMPAT = SB + 0x60;
const S_RO_COMPAT = SB + 0x64;

const orBits = (off: number, bits: number) => (dv: DataView) => dv.setUint32(off, (dv.getUint32(off, true) | bits) >>> 0, true);

describe('ext2Mount', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2mount-');
  const files = [{ path: 'a', data: randomBytes(3000, 1) }, { path: 'd/b', data: randomBytes(10, 2) }];
  let ext2: Uint8Array;
  let ext3: Uint8Array;
  let ext4: Uint8Array;

  before(() => {
    const mk = (type: 'ext2' | 'ext3' | 'ext4', extra: string[] = []) => {
      const img = join(dir, `${type}.img`);
      buildImage(img, { type, blockSize: 1024, size: 4 * 2 ** 20, files, extra });
      return new Uint8Array(readFileSync(img));
    };
    ext2 = mk('ext2', ['-L', 'mylabel']);
    ext3 = mk('ext3');
    ext4 = mk('ext4');
  });
  after(cleanup);

  test('a read-write mount of plain ext2 is allowed and not MNT_RDONLY', async () => {
    const r = await mountBytes(ext2.slice(), false);
    assert.equal(r.error, 0, r.reason);
    assert.equal(r.mp!.flag & MNT_RDONLY, 0);
    assert.equal(r.mp!.stat.fstype, 'ext2');
    assert.equal(r.mp!.stat.label, 'mylabel');
    assert.ok(r.mp!.stat.blocks === 4096 && r.mp!.stat.bfree > 0 && r.mp!.stat.files > 0);
  });

  test('a read-only mount sets MNT_RDONLY', async () => {
    const r = await mountBytes(ext2.slice(), true);
    assert.ok((r.mp!.flag & MNT_RDONLY) !== 0);
  });

  test('ext3 and ext4 are told apart by their features', async () => {
    assert.equal((await mountBytes(ext3.slice())).mp!.stat.fstype, 'ext3');
    assert.equal((await mountBytes(ext4.slice())).mp!.stat.fstype, 'ext4');
  });

  test('a read-write mount of ext4 with mke2fs -t ext4 defaults is allowed', async () => {
    const r = await mountBytes(ext4.slice(), false);
    assert.equal(r.error, 0, r.reason);
    assert.equal(r.mp!.flag & MNT_RDONLY, 0);
  });

  test('each feature the writer cannot keep refuses a read-write mount with EROFS naming it; the image is unchanged', async () => {
    const cases: Array<[string[], string]> = [
      [['-O', 'bigalloc', '-C', '16384'], 'bigalloc'],
      [['-O', 'mmp'], 'mmp'], [['-O', 'encrypt'], 'encrypt'],
      [['-O', 'casefold'], 'casefold'], [['-O', 'verity'], 'verity'], [['-O', 'quota'], 'quota'],
      [['-O', 'ea_inode'], 'ea_inode'],
    ];
    for (const [extra, name] of cases) {
      const img = join(dir, `refused-${name}.img`);
      buildImage(img, { type: 'ext4', blockSize: 1024, size: 4 * 2 ** 20, files, extra });
      const bytes = new Uint8Array(readFileSync(img));
      const dev = new MemDisk(bytes.slice());
      const r = await ext2Mount(dev, { readOnly: false });
      assert.equal(r.error, EROFS, name);
      assert.equal(r.reason, `unsupported ext4 feature for writing: ${name}`);
      assert.equal(r.mp, null);
      assert.ok(Buffer.from(bytes).equals(Buffer.from(dev.data)), `${name}: unchanged`);
      assert.equal(dev.stats.writes, 0, `${name}: nothing written`);
    }
  });

  test('an unknown incompatible feature refuses the mount', async () => {
    const r = await mountBytes(patched(ext2, orBits(S_INCOMPAT, 0x80000000)));
    assert.equal(r.error, EOPNOTSUPP);
    assert.equal(r.reason, 'unsupported ext4 feature: FEATURE_I31');
  });

  test('journal_dev and compression are refused by name', async () => {
    const journalDev = 'an external ext3/4 journal (journal_dev), not a file system';
    let r = await mountBytes(patched(ext3, orBits(S_INCOMPAT, 0x8)));
    assert.deepEqual([r.error, r.reason], [EOPNOTSUPP, journalDev]);
    // As mke2fs -O journal_dev makes one: no inodes, no groups, before any of that is checked.
    const img = join(dir, 'journal-dev.img');
    execFileSync('mke2fs', ['-q', '-F', '-O', 'journal_dev', '-b', '1024', img, '4096'], { stdio: 'ignore' });
    r = await mountBytes(new Uint8Array(readFileSync(img)));
    assert.deepEqual([r.error, r.reason], [EOPNOTSUPP, journalDev]);
    r = await mountBytes(patched(ext2, orBits(S_INCOMPAT, 0x1)));
    assert.deepEqual([r.error, r.reason], [EOPNOTSUPP, 'unsupported ext4 feature: compression']);
  });

  test('a journal needing recovery mounts read-only with a warning, even when read-write was asked', async () => {
    const bytes = patched(ext3, orBits(S_INCOMPAT, 0x4));
    for (const readOnly of [true, false]) {
      const r = await mountBytes(bytes.slice(), readOnly);
      assert.equal(r.error, 0, r.reason);
      assert.ok((r.mp!.flag & MNT_RDONLY) !== 0);
      assert.deepEqual(r.mp!.stat.warnings, [RECOVER_WARNING]);
      assert.equal(RECOVER_WARNING, 'journal needs recovery; mounted read-only without replaying it');
    }
  });

  test('an unknown read-only-compatible feature allows reading but not writing', async () => {
    const bytes = patched(ext2, orBits(S_RO_COMPAT, 0x40000000));
    const ro = await mountBytes(bytes.slice(), true);
    assert.equal(ro.error, 0);
    const { vp } = await ro.mp!.op.root(ro.mp!);
    assert.ok(vp !== null);
    const rw = await mountBytes(bytes.slice(), false);
    assert.deepEqual([rw.error, rw.reason], [EROFS, 'unsupported ext4 feature for writing: FEATURE_R30']);
  });

  test('a file system marked with errors mounts with a warning', async () => {
    const r = await mountBytes(patched(ext2, (dv) => dv.setUint16(S_STATE, 3, true)));
    assert.equal(r.error, 0);
    assert.equal(r.mp!.stat.warnings.length, 1);
  });

  test('damaged superblocks are refused with a reason, never a throw', async () => {
    const cases: Array<[string, (dv: DataView) => void, number, RegExp]> = [
      ['bad magic', (dv) => dv.setUint16(S_MAGIC, 0x1234, true), EINVAL, /magic/],
      ['block size 128 KiB', (dv) => dv.setUint32(S_LOG_BLOCK_SIZE, 7, true), EINTEGRITY, /block size/],
      ['zero blocks per group', (dv) => dv.setUint32(S_BLOCKS_PER_GROUP, 0, true), EINTEGRITY, /blocks per group/],
      ['inode size 100', (dv) => dv.setUint16(S_INODE_SIZE, 100, true), EINTEGRITY, /inode size/],
      ['inode size above the block size', (dv) => dv.setUint16(S_INODE_SIZE, 2048, true), EINTEGRITY, /inode size/],
      ['inode count off', (dv) => dv.setUint32(S_INODES_COUNT, 12345, true), EINTEGRITY, /inode count/],
    ];
    for (const [what, patch, error, reason] of cases) {
      const r = await mountBytes(patched(ext2, patch));
      assert.equal(r.error, error, what);
      assert.match(r.reason, reason, what);
    }
  });

  test('an image shorter than the file system is refused with a clear reason', async () => {
    const r = await mountBytes(ext2.slice(0, ext2.length - 4096));
    assert.equal(r.error, EINTEGRITY);
    assert.match(r.reason, /image is shorter than the file system/);
    const tiny = await mountBytes(ext2.slice(0, 1500));
    assert.equal(tiny.error, EINVAL);
  });

  test('the root is a VROOT directory; vget checks the inode number', async () => {
    const { mp } = await mountBytes(ext2.slice());
    const { error, vp } = await mp!.op.root(mp!);
    assert.equal(error, 0);
    assert.equal(vp!.type, VType.VDIR);
    assert.ok((vp!.flag & VROOT) !== 0);
    assert.equal((await mp!.op.vget(mp!, 0)).error, EINVAL);
    assert.equal((await mp!.op.vget(mp!, 1_000_000)).error, EINVAL);
    await vrele(vp!);
  });

  test('concurrent vgets of one inode yield one vnode', async () => {
    const disk = new MemDisk(ext2.slice());
    const { mp } = await ext2Mount(disk, { readOnly: true });
    disk.hold = true;
    const p = [mp!.op.vget(mp!, 12), mp!.op.vget(mp!, 12), mp!.op.vget(mp!, 12)];
    let finished = false;
    const all = Promise.all(p).finally(() => (finished = true));
    while (!finished) {
      await new Promise((r) => setImmediate(r));
      disk.release();
    }
    const rs = await all;
    assert.ok(rs.every((r) => r.error === 0));
    assert.ok(rs[0].vp === rs[1].vp && rs[1].vp === rs[2].vp);
    assert.equal(rs[0].vp!.usecount, 3);
    assert.equal(mp!.vnodelist.size, 1);
  });

  test('feature names follow e2fsprogs', () => {
    assert.equal(featureName(FEATURE_INCOMPAT, 0x40), 'extents');
    assert.equal(featureName(FEATURE_INCOMPAT, 0x80), '64bit');
    assert.equal(featureName(FEATURE_INCOMPAT, 0x8000), 'inline_data');
    assert.equal(featureName(FEATURE_RO_COMPAT, 0x400), 'metadata_csum');
    assert.equal(featureName(FEATURE_RO_COMPAT, 0x8), 'huge_file');
    assert.equal(featureName(FEATURE_COMPAT, 0x4), 'has_journal');
    assert.equal(featureName(FEATURE_COMPAT, 0x40000000), 'FEATURE_C30');
    assert.deepEqual(featureNames(FEATURE_INCOMPAT, 0x2c2), ['filetype', 'extents', '64bit', 'flex_bg']);
  });
});
