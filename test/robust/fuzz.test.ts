/*
 * Fuzzing the read side: random bits flipped in the metadata of generated
 * ext2 and ext4 images (superblock, group descriptors, bitmaps, inode
 * tables, directory and indirect/extent blocks) and UFS1/UFS2 images
 * (superblock, cylinder groups, inode blocks, directories, indirect
 * blocks), and FAT12/16/32 images (boot sector, FSInfo, both FATs,
 * directories, long-name entries), then `ls -R` and `cat` of
 * every file: each command ends within its time limit, with data or with
 * one line `vmpager: ...` and exit 2; never a crash, a hang or a stack trace.
 * Files whose (damaged) size passes 16 MiB are not read whole: a flipped
 * high size bit makes a legitimate multi-GiB sparse file.
 * VMPAGER_FUZZ_RUNS sets the number of damaged images (default 24).
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { mkfat } from '../helpers/fat_images.js';
import { CLI } from '../helpers/cli.js';

const MAX_READ = 16 << 20;
const tmp = tempDir();
after(() => tmp.cleanup());

const tree: TreeFile[] = [
  { path: 'small', data: randomBytes(700, 1) },
  { path: 'big', data: randomBytes(300_000, 2) },
  { path: 'd/e/f', data: randomBytes(5000, 3) },
  { path: 'd/link', symlink: '../small' },
];
for (let i = 0; i < 60; i++) tree.push({ path: `many/n${i}`, data: randomBytes(100 + i, 10 + i) });

/** A run of one CLI command: its fate. */
function run(args: string[]): { status: number | null; signal: string | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', CLI, ...args], { timeout: 15_000, maxBuffer: 1 << 28 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString() };
}

function assertClean(r: ReturnType<typeof run>, what: string): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} (hang or crash)`);
  assert.ok(r.status === 0 || r.status === 2, `${what}: exit ${r.status}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: stack trace`);
  if (r.status === 2) {
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `${what}: one line, got ${r.stderr}`);
    assert.match(lines[0], /^vmpager: /);
    assert.doesNotMatch(lines[0], /internal error|panic/, `${what}: ${lines[0]}`);
  }
}

// FAT has no symbolic links: its tree leaves the link out.
const fatTree = tree.filter((f) => f.symlink === undefined);

for (const type of ['ext2', 'ext4', 'ufs1', 'ufs2', 'fat12', 'fat16', 'fat32'] as const) {
  const base = join(tmp.dir, `${type}.img`);
  if (type === 'ufs1' || type === 'ufs2') mkufs(base, tree, { version: type === 'ufs1' ? 1 : 2, bsize: 8192, fsize: 1024, size: 4 << 20 });
  else if (type === 'fat12') mkfat(base, fatTree, { fat: 12, kib: 1440, cluster: 512 });
  else if (type === 'fat16') mkfat(base, fatTree, { fat: 16, kib: 9 * 1024, cluster: 2048 });
  // mtools needs FAT32's 65 525 clusters at least.
  else if (type === 'fat32') mkfat(base, fatTree, { fat: 32, kib: 34 * 1024, cluster: 512 });
  else mkext2(base, tree, { type, blockSize: 1024, size: 2 << 20 });
  const pristine = readFileSync(base);
  // The metadata: everything but the blocks of file data, found as bytes that differ from zero
  // in a freshly made image minus the file contents. Flipping there hits superblock, descriptors,
  // bitmaps, inode tables, directories, indirect and extent blocks.
  const meta: number[] = [];
  for (let blk = 0; blk < pristine.length / 1024; blk++) {
    const b = pristine.subarray(blk * 1024, (blk + 1) * 1024);
    if (b.some((x) => x !== 0) && !tree.some((f) => f.data !== undefined && f.data.length >= 1024 && Buffer.from(f.data).includes(b.subarray(0, 64)))) meta.push(blk);
  }

  test(`${type}: bit flips in metadata end in data or a clean error`, () => {
    let n = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(meta.length - 1), fc.nat(1023), fc.nat(7)), { minLength: 1, maxLength: 12 }), (flips) => {
        const img = Buffer.from(pristine);
        for (const [bi, off, bit] of flips) img[meta[bi] * 1024 + off] ^= 1 << bit;
        const path = join(tmp.dir, `fuzz-${type}-${n++}.img`);
        writeFileSync(path, img);
        const ls = run(['ls', '-R', '--json', path]);
        assertClean(ls, 'ls -R');
        const sizes = new Map<string, number>();
        if (ls.status === 0) {
          const entries = JSON.parse(ls.stdout.toString()) as Array<{ path: string; type: string; size: number }>;
          for (const e of entries) sizes.set(e.path, e.size);
          const files = entries.filter((e) => e.type === 'file' && e.size <= MAX_READ).map((e) => e.path);
          if (files.length > 0) assertClean(run(['cat', path, ...files.slice(0, 200)]), 'cat');
        }
        // FAT's tree has no /d/link: a cat of it would fail on every image, which says nothing.
        for (const p of type.startsWith('fat') ? ['/big', '/many/n7'] : ['/big', '/d/link', '/many/n7']) if ((sizes.get(p) ?? 0) <= MAX_READ) assertClean(run(['cat', path, p]), `cat ${p}`);
        assertClean(run(['stat', path, '/big']), 'stat');
      }),
      { numRuns: Number(process.env.VMPAGER_FUZZ_RUNS ?? 12), seed: Number(process.env.VMPAGER_SEED ?? 4242) },
    );
  });
}
