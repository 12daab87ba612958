/*
 * metadata_csum on read: images from `mke2fs -t ext4` (today's defaults,
 * metadata_csum, with and without csum_seed) read clean; then one byte is
 * flipped in each kind of checksummed block (superblock, group descriptor,
 * inode, extent block, directory leaf, htree node) and the read that meets
 * it is refused naming the block; mounted with verify off, it reads with a
 * warning. The blocks are found with debugfs and dumpe2fs, not computed here.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemDisk } from '../../../src/dev/memdisk.js';
import { EINTEGRITY } from '../../../src/kern/errno.js';
import type { Ext2Fs } from '../../../src/fs/ext2/ext2_mount.js';
import { ext2Mount } from '../../../src/fs/ext2/ext2_vfsops.js';
import type { Mount } from '../../../src/vfs/mount.js';
import { namei } from '../../../src/vfs/vfs_lookup.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { debugfsScript, randomBytes, tempDir } from '../../helpers/images.js';
import { CLI } from '../../helpers/cli.js';
import { buildImage, debugfsBmap, inodeOffset, readWhole } from './ext2_util.js';

const tmp = tempDir('vmpager-ext4csum-');
after(() => tmp.cleanup());

/** Reads path whole through the VOPs: 0, or the errno of the first failure. */
async function readPath(mp: Mount, path: string): Promise<number> {
  const root = await mp.op.root(mp);
  if (root.vp === null) return root.error;
  const r = await namei(root.vp, path, false);
  await vrele(root.vp);
  if (r.vp === null) return r.error;
  try {
    if (r.vp.type === 2) {
      let n = 0;
      const e = await r.vp.op.readdir(r.vp, () => ++n > 0);
      return e;
    }
    const va = await r.vp.op.getattr(r.vp);
    return (await readWhole(r.vp, va.va!.size)).error;
  } finally {
    await vrele(r.vp);
  }
}

/** Mounts bytes read-only and reads every path; the first error and the file system's damage and warnings. */
async function readAll(bytes: Uint8Array, paths: readonly string[], verify: boolean) {
  const r = await ext2Mount(new MemDisk(bytes.slice()), { readOnly: true, verify });
  if (r.mp === null) return { error: r.error, damage: r.reason, warnings: [] as string[] };
  const fs = r.mp.data as Ext2Fs;
  let error = 0;
  for (const p of paths) error ||= await readPath(r.mp, p);
  return { error, damage: fs.damage, warnings: r.mp.stat.warnings };
}

const PATHS = ['/small', '/small/a', '/big', '/big/name_with_some_length_7', '/frag', '/plain'];

for (const [bs, extra] of [[1024, []], [4096, []], [4096, ['-O', 'metadata_csum_seed']]] as const) {
  describe(`mke2fs -t ext4, ${bs}-byte blocks ${extra.join(' ')}`, () => {
    const image = join(tmp.dir, `csum-${bs}-${extra.length}.img`);
    const sparse = { path: 'frag', size: 40 * 65536, writes: [] as Array<[number, Uint8Array]> };
    for (let i = 0; i < 40; i++) sparse.writes.push([i * 65536, randomBytes(bs, i + 1)]);
    const files = [
      { path: 'small/a', data: randomBytes(100, 1) },
      { path: 'plain', data: randomBytes(100_000, 2) },
      ...Array.from({ length: 600 }, (_, i) => ({ path: `big/name_with_some_length_${i}`, data: new Uint8Array(0) })),
    ];
    buildImage(image, { type: 'ext4', blockSize: bs, size: 32 << 20, files, sparse: [sparse], extra: [...extra] });
    execFileSync('e2fsck', ['-fyD', image], { stdio: 'ignore' }); // index the big directory (htree)
    const clean = new Uint8Array(readFileSync(image));
    writeFileSync(image, clean);

    /** Where each kind of block is, by the real tools. */
    const stat = debugfsScript(image, ['stat /frag', 'htree /big']);
    const etb = /\(ETB0\):(\d+)/.exec(stat);
    assert.ok(etb !== null, 'a fragmented file has an extent block');
    assert.match(stat, /Indirect levels: 0/, 'the big directory is indexed');
    const [smallBlk, bigBlk] = debugfsBmap(image, [['/small', 0], ['/big', 0]]);
    const imap = /Inode (\d+) is part of block group \d+\s+located at block (\d+)/.exec(debugfsScript(image, ['imap /small/a']));
    assert.ok(imap !== null);
    const sbBlock = bs === 1024 ? 1 : 0;
    const gdBlock = sbBlock + 1;

    test('a clean image reads whole with verification on, no warning', async () => {
      const r = await readAll(clean, PATHS, true);
      assert.equal(r.error, 0, r.damage);
      assert.deepEqual(r.warnings, []);
    });

    const flips: Array<[string, number, RegExp]> = [
      ['superblock', 1024 + 0x78, new RegExp(`superblock \\(block ${sbBlock}\\)`)],
      ['group descriptor', gdBlock * bs + 0x14, new RegExp(`group descriptor 0 \\(block ${gdBlock}\\)`)],
      ['inode', inodeOffset(image, '/small/a', bs) + 0x08, new RegExp(`inode ${imap![1]} \\(block ${imap![2]}\\)`)],
      ['extent block', Number(etb![1]) * bs + bs - 40, new RegExp(`extent block ${etb![1]} of inode`)],
      ['directory leaf', smallBlk * bs + bs - 16, new RegExp(`directory block 0 of inode \\d+ \\(block ${smallBlk}\\)`)],
      ['htree node', bigBlk * bs + 0x29, new RegExp(`directory block 0 of inode \\d+ \\(block ${bigBlk}\\)`)],
    ];
    for (const [kind, off, names] of flips) {
      test(`a byte flipped in the ${kind}: the read is refused naming the block; verify off reads it with a warning`, async () => {
        const bad = clean.slice();
        bad[off] ^= 0x10;
        const r = await readAll(bad, PATHS, true);
        assert.equal(r.error, EINTEGRITY);
        assert.match(r.damage, names);
        assert.match(r.damage, /checksum mismatch/);
        const w = await readAll(bad, PATHS, false);
        assert.equal(w.error, 0, w.damage);
        assert.ok(w.warnings.some((s) => names.test(s) && s.includes('checksum mismatch')), w.warnings.join('\n'));
      });
    }

    test('the command line: cat of a file whose inode is damaged fails in one line naming the block; --no-verify reads it with a warning', () => {
      const bad = clean.slice();
      bad[inodeOffset(image, '/small/a', bs) + 0x08] ^= 0x10;
      const damaged = join(tmp.dir, `cli-${bs}-${extra.length}.img`);
      writeFileSync(damaged, bad);
      let r = spawnSync(process.execPath, [CLI, 'cat', damaged, '/small/a']);
      assert.equal(r.status, 2);
      assert.equal(r.stderr.toString(), `vmpager: ${damaged}: /small/a: inode ${imap![1]} (block ${imap![2]}): checksum mismatch\n`);
      r = spawnSync(process.execPath, [CLI, '--no-verify', 'cat', damaged, '/small/a']);
      assert.equal(r.status, 0, r.stderr.toString());
      assert.deepEqual(new Uint8Array(r.stdout), randomBytes(100, 1));
      assert.equal(r.stderr.toString(), `vmpager: ${damaged}: warning: inode ${imap![1]} (block ${imap![2]}): checksum mismatch\n`);
    });
  });
}
