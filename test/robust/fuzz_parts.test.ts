/*
 * Partition tables join the bit-flip fuzz: random bits flipped in the
 * sectors that hold the tables of generated whole disks — the MBR and its
 * EBR chain, a GPT's protective MBR, both headers and both entry arrays,
 * an MBR slice's disklabel — then `parts --json`, `ls` without and with
 * --partition, and `cat`: each command ends within its time limit, with
 * data or with one line `vmpager: ...` and exit 2; never a crash, a hang or
 * a stack trace. VMPAGER_FUZZ_RUNS sets the number of damaged disks per
 * layout (default 8).
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { MiB, bsdLabel, newDisk, putFs, sfdisk, sfdiskJson, sgdisk, sgdiskRows } from '../helpers/disks.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir('vmpager-partfuzz-');
after(() => tmp.cleanup());

function run(args: string[]): { status: number | null; signal: string | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', CLI, ...args], { timeout: 15_000, maxBuffer: 1 << 28 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString() };
}

function assertClean(r: ReturnType<typeof run>, what: string): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} (hang or crash)`);
  assert.ok(r.status === 0 || r.status === 2, `${what}: exit ${r.status}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: stack trace`);
  assert.doesNotMatch(r.stderr, /internal error|panic/, `${what}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  for (const l of lines) assert.match(l, /^vmpager: /, what);
  if (r.status === 2) assert.equal(lines.filter((l) => !/: warning: /.test(l)).length, 1, `${what}: one line, got ${r.stderr}`);
}

const files = [{ path: 'f', data: randomBytes(70_000, 3) }, { path: 'd/g', data: randomBytes(3000, 4) }];
const fsImage = (name: string, size: number) => mkext2(join(tmp.dir, name), files, { type: 'ext2', size, extra: ['-L', 'fz'] });

interface Layout {
  name: string;
  disk: string;
  /** Byte ranges holding the tables: where bits are flipped. */
  ranges: Array<[number, number]>;
  partition: string;
}

function layouts(): Layout[] {
  const out: Layout[] = [];
  {
    const disk = newDisk(tmp.dir, 'gpt.img', 12 * MiB);
    sgdisk(disk, ['-n', '1:2048:+1M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8300', '-c', '2:root']);
    putFs(disk, sgdiskRows(disk).find((r) => r.number === 2)!.first * 512, fsImage('gpt.fs', 8 * MiB));
    out.push({ name: 'GPT', disk, ranges: [[0, 34 * 512], [12 * MiB - 33 * 512, 12 * MiB]], partition: '2' });
  }
  {
    const disk = newDisk(tmp.dir, 'mbr.img', 24 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, size=4M, type=83\nstart=10240, type=5\nsize=6M, type=83\nsize=6M, type=83\n');
    const parts = sfdiskJson(disk).partitions;
    const ranges: Array<[number, number]> = [[0, 512]];
    for (const p of parts) {
      if (p.type === '5') continue;
      putFs(disk, p.start * 512, fsImage(`mbr-${p.node.slice(-1)}.fs`, 4 * MiB));
      if (Number(p.node.slice(disk.length)) >= 5) ranges.push([(p.start - 2048) * 512, (p.start - 2048) * 512 + 512]);
    }
    out.push({ name: 'MBR with logical partitions', disk, ranges, partition: '6' });
  }
  {
    const disk = newDisk(tmp.dir, 'label.img', 16 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, size=28000, type=a5\n');
    bsdLabel(disk, 2048 * 512, 28000, [{ slot: 0, offset: 16, size: 24576, fstype: 7 }, { slot: 1, offset: 24592, size: 2048, fstype: 1 }]);
    putFs(disk, (2048 + 16) * 512, mkufs(join(tmp.dir, 'label.fs'), files, { version: 2, bsize: 8192, fsize: 1024, size: 12 * MiB }));
    out.push({ name: 'MBR slice with a disklabel', disk, ranges: [[0, 512], [2048 * 512 + 512, 2048 * 512 + 512 + 148 + 16 * 8]], partition: '1a' });
  }
  return out;
}

for (const l of layouts()) {
  test(`${l.name}: bit flips in the partition tables end in data or a clean error`, () => {
    const pristine = readFileSync(l.disk);
    const span = l.ranges.reduce((n, [a, b]) => n + b - a, 0);
    const at = (i: number) => {
      for (const [a, b] of l.ranges) {
        if (i < b - a) return a + i;
        i -= b - a;
      }
      return 0;
    };
    let n = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(span - 1), fc.nat(7)), { minLength: 1, maxLength: 12 }), (flips) => {
        const img = Buffer.from(pristine);
        for (const [i, bit] of flips) img[at(i)] ^= 1 << bit;
        const path = join(tmp.dir, `fuzz-${n++}.img`);
        writeFileSync(path, img);
        assertClean(run(['parts', '--json', path]), 'parts');
        assertClean(run(['ls', path]), 'ls');
        assertClean(run(['--partition', l.partition, 'ls', '-R', path]), `ls --partition ${l.partition}`);
        const cat = run(['--partition', l.partition, 'cat', path, '/f']);
        assertClean(cat, 'cat');
        if (cat.status === 0) assert.equal(cat.stdout.length, 70_000);
      }),
      { numRuns: Number(process.env.VMPAGER_FUZZ_RUNS ?? 8), seed: Number(process.env.VMPAGER_SEED ?? 4242) },
    );
  });
}
