/*
 * Superblock damage that would move inodes or cylinder groups without
 * breaking any other check: fs_ipg changed by a multiple of the inodes per
 * block (the inode area no longer ends where the data begins, as every newfs
 * and makefs lays it out), and on UFS1 fs_fpg changed (no longer old_cpg
 * cylinders of old_spc sectors). Before these checks such images mounted and
 * served other inodes' bytes as files; now the mount is refused in one line.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, tempDir, type TreeFile } from '../../helpers/images.js';
import { mkufs } from '../../helpers/ufs_images.js';
import { CLI } from '../../helpers/cli.js';

const MiB = 1024 * 1024;
const SB = 8192; // where makefs puts the superblock of both versions (fs_sblockloc)

const files: TreeFile[] = Array.from({ length: 40 }, (_, i) => ({ path: `d${i % 4}/f${i}`, data: randomBytes(700 + i * 300, i + 1) }));

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args]);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** A copy of image with the 32-bit superblock field at off changed by f. */
function patched(image: string, out: string, off: number, f: (v: number) => number): string {
  const img = readFileSync(image);
  assert.equal(img.readInt32LE(SB + 1372) >>> 0 === 0x011954 || img.readInt32LE(SB + 1372) === 0x19540119, true, 'superblock at 8 KiB');
  img.writeInt32LE(f(img.readInt32LE(SB + off)), SB + off);
  writeFileSync(out, img);
  return out;
}

for (const version of [1, 2] as const) {
  describe(`UFS${version} superblock geometry that disagrees with itself`, () => {
    const tmp = tempDir();
    const image = join(tmp.dir, 'fs.img');
    before(() => {
      // 4 KiB blocks of 512-byte fragments: several cylinder groups in a few MiB.
      mkufs(image, files, { version, bsize: 4096, fsize: 512, size: 12 * MiB });
      const r = vmpager(['cat', image, `/${files[39].path}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.equals(Buffer.from(files[39].data!)), 'the undamaged image reads back');
    });
    after(() => tmp.cleanup());

    test('fs_ipg lowered by a block of inodes: the mount is refused in one line', () => {
      const inopb = readFileSync(image).readInt32LE(SB + 120);
      const bad = patched(image, join(tmp.dir, 'ipg.img'), 184, (v) => v - inopb);
      const r = vmpager(['cat', bad, `/${files[39].path}`]);
      assert.equal(r.status, 2, 'refused');
      assert.equal(r.stdout.length, 0, 'no bytes served');
      assert.match(r.stderr, /^vmpager: .*inode blocks disagree with the inodes per group \(\d+\)\n$/);
    });

    if (version === 1) {
      test('fs_fpg changed by a few fragments: the mount is refused in one line', () => {
        const bad = patched(image, join(tmp.dir, 'fpg.img'), 188, (v) => v ^ 0x10);
        const r = vmpager(['ls', '-R', bad]);
        assert.equal(r.status, 2, 'refused');
        assert.match(r.stderr, /^vmpager: .*fragments per group disagree with the cylinder geometry \(\d+\)\n$/);
      });
    }
  });
}
