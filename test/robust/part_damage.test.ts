/*
 * Damaged partition tables end in data with a warning or in one line, and
 * quickly: a GPT whose primary header or entry array fails its CRC32 (the
 * backup is used, with a warning), one with an absurd entry count, one with
 * both headers broken (an error); an EBR chain that points back at itself;
 * a partition running past the disk's end, one starting past it;
 * overlapping partitions; a disklabel whose checksum is wrong. Each is read
 * with `parts`, `ls` and the library, which must answer within a second.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Vm } from '../../src/api/index.js';
import { mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { MiB, type SfdiskPart, bsdLabel, newDisk, putFs, sfdisk, sfdiskJson, sgdisk, sgdiskRows } from '../helpers/disks.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir('vmpager-partdmg-');
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Reads n bytes of file at off. */
function peek(file: string, off: number, n: number): Buffer {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(n);
  readSync(fd, b, 0, n, off);
  closeSync(fd);
  return b;
}

function poke(file: string, off: number, b: Uint8Array): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, b, 0, b.length, off);
  closeSync(fd);
}

/** A copy of src to damage. */
function copy(src: string, name: string): string {
  const p = join(tmp.dir, name);
  copyFileSync(src, p);
  return p;
}

/** The library's answers within a second: partitions() and a mount of partition p (or the error each gives). */
async function quickly(disk: string, p: string | undefined): Promise<{ parts: string; mount: string }> {
  const t0 = Date.now();
  const vm = new Vm({ memory: MiB });
  let parts: string;
  let mount: string;
  try {
    parts = (await vm.partitions(disk)).map((x) => x.index).join(',');
  } catch (e) {
    parts = `error: ${(e as Error).message}`;
  }
  try {
    const fs = await vm.mount(disk, p === undefined ? {} : { partition: p });
    mount = `${fs.type} ${fs.warnings.join(' | ')}`;
    await fs.unmount();
  } catch (e) {
    mount = `error: ${(e as Error).message}`;
  }
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  return { parts, mount };
}

function assertOneLine(r: { status: number; stderr: string }, re: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^vmpager: /);
  assert.match(lines[0], re);
}

describe('GPT damage', () => {
  let disk = '';
  let lastLba = 0;
  before(() => {
    disk = newDisk(tmp.dir, 'gpt.img', 24 * MiB);
    sgdisk(disk, ['-n', '1:2048:+4M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8300', '-c', '2:root']);
    const r = sgdiskRows(disk).find((x) => x.number === 2)!;
    const fs = mkext2(join(tmp.dir, 'gpt-root.fs'), [{ path: 'hello', data: new TextEncoder().encode('hello\n') }], { type: 'ext2', size: 16 * MiB });
    putFs(disk, r.first * 512, fs);
    lastLba = 24 * 2048 - 1;
  });

  test('a primary header with a broken CRC: the backup is used, with a warning', async () => {
    const d = copy(disk, 'gpt-hdr.img');
    poke(d, 512 + 40, Buffer.from([0x99])); // first usable LBA changed, CRC left as it was
    const r = vmpager(['--partition', 'root', 'cat', d, '/hello']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.stderr, `vmpager: ${d}: warning: the primary GPT is damaged (header CRC32 mismatch); using the backup at LBA ${lastLba}\n`);
    const p = vmpager(['parts', '--json', d]);
    assert.deepEqual(JSON.parse(p.stdout), JSON.parse(vmpager(['parts', '--json', disk]).stdout));
    assert.match((await quickly(d, '2')).mount, /^ext2 the primary GPT is damaged/);
  });

  test('a primary entry array with a broken CRC: the backup is used, with a warning', async () => {
    const d = copy(disk, 'gpt-arr.img');
    poke(d, 1024 + 128 + 56, Buffer.from('X\0', 'latin1')); // entry 2's name
    const r = vmpager(['--partition', 'root', 'cat', d, '/hello']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: the primary GPT is damaged \(entry array CRC32 mismatch\); using the backup/);
    await quickly(d, 'root');
  });

  test('an absurd entry count (CRC made right) is refused before anything is allocated: the backup is used', async () => {
    const d = copy(disk, 'gpt-count.img');
    const h = peek(d, 512, 92);
    h.writeUInt32LE(0xffffffff, 80);
    h.writeUInt32LE(0, 16);
    h.writeUInt32LE(crc32(h), 16);
    poke(d, 512, h);
    const r = vmpager(['parts', d]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /primary GPT is damaged \(absurd entry array \(4294967295 entries of 128 bytes\)\)/);
    assert.match(r.stdout, /\n\s*2\s+gpt.*root\s+ext2\n/);
    await quickly(d, '2');
  });

  test('both headers broken: one line, no partition guessed', async () => {
    const d = copy(disk, 'gpt-both.img');
    poke(d, 512 + 40, Buffer.from([0x99]));
    poke(d, lastLba * 512 + 40, Buffer.from([0x99]));
    for (const args of [['parts', d], ['ls', d], ['--partition', '2', 'ls', d]]) {
      assertOneLine(vmpager(args), /damaged GPT: primary header: header CRC32 mismatch; backup header: header CRC32 mismatch/);
    }
    const q = await quickly(d, '2');
    assert.match(q.parts, /^error: .*damaged GPT/);
    assert.match(q.mount, /^error: .*damaged GPT/);
  });
});

describe('MBR damage', () => {
  let disk = '';
  let layout: SfdiskPart[] = [];
  before(() => {
    disk = newDisk(tmp.dir, 'mbr.img', 40 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, size=8M, type=83\nstart=18432, type=5\nsize=8M, type=83\nsize=8M, type=83\n');
    layout = sfdiskJson(disk).partitions;
    for (const p of layout) {
      if (p.type === '5') continue;
      const fs = mkext2(join(tmp.dir, `mbr-${p.node.slice(-1)}.fs`), [{ path: 'which', data: new TextEncoder().encode(`${p.node.slice(-1)}\n`) }], { type: 'ext2', size: 7 * MiB, extra: ['-L', `p${p.node.slice(-1)}`] });
      putFs(disk, p.start * 512, fs);
    }
  });

  test('an EBR whose link points back at itself: the chain stops with a warning, what it found is read', async () => {
    const d = copy(disk, 'ebr-loop.img');
    const ext = layout.find((p) => p.type === '5')!;
    // The first EBR's link (entry 2) made to point at the first EBR (0 from the extended start).
    const ebr = peek(d, ext.start * 512, 512);
    assert.equal(ebr[446 + 16 + 4], 5, 'the first EBR links on');
    ebr.writeUInt32LE(0, 446 + 16 + 8);
    poke(d, ext.start * 512, ebr);
    const r = vmpager(['--partition', '5', 'cat', d, '/which']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '5\n');
    assert.match(r.stderr, /warning: extended partition 2: its chain of boot records loops back to sector \d+; stopped there\n$/);
    assert.equal((await quickly(d, '5')).parts, '1,2,5');
    assertOneLine(vmpager(['--partition', '6', 'ls', d]), /no partition '6' .*loops back/);
  });

  test('a partition running past the disk\'s end is cut there, one starting past it is ignored, with warnings', async () => {
    const d = copy(disk, 'past-end.img');
    const mbr = peek(d, 0, 512);
    mbr.writeUInt32LE(0x7fffffff, 446 + 12); // partition 1's size
    mbr[446 + 16 * 2 + 4] = 0x83; // partition 3 far past the end
    mbr.writeUInt32LE(0x10000000, 446 + 16 * 2 + 8);
    mbr.writeUInt32LE(2048, 446 + 16 * 2 + 12);
    poke(d, 0, mbr);
    const r = vmpager(['parts', '--json', d]);
    assert.equal(r.status, 0, r.stderr);
    const parts = JSON.parse(r.stdout) as Array<{ index: string; start: number; size: number }>;
    assert.equal(parts[0].size, 40 * MiB - 2048 * 512, 'cut at the disk\'s end');
    assert.ok(!parts.some((p) => p.index === '3'));
    assert.match(r.stderr, /warning: partition 1 runs past the end of the disk \(by \d+ bytes\); cut at the end\n/);
    assert.match(r.stderr, /warning: partition 3 starts past the end of the disk; ignored\n/);
    assert.match(r.stderr, /warning: partitions 1 and 2 overlap/);
    const c = vmpager(['--partition', 'p6', 'cat', d, '/which']);
    assert.equal(c.stdout, '6\n', c.stderr);
    await quickly(d, '1');
  });

  test('overlapping partitions: a warning, each still read', async () => {
    const d = copy(disk, 'overlap.img');
    const mbr = peek(d, 0, 512);
    mbr.writeUInt32LE(3 * 8192 * 2, 446 + 12); // partition 1 grows over the extended one
    poke(d, 0, mbr);
    const r = vmpager(['--partition', '1', 'cat', d, '/which']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '1\n');
    assert.equal(r.stderr, `vmpager: ${d}: warning: partitions 1 and 2 overlap\n`);
    await quickly(d, '5');
  });
});

describe('disklabel damage', () => {
  test('a bad checksum: the label is ignored with the reason, in a warning or in the one line of a failure', async () => {
    const disk = newDisk(tmp.dir, 'label.img', 24 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, size=40000, type=a5\n');
    bsdLabel(disk, 2048 * 512, 40000, [{ slot: 0, offset: 16, size: 32768, fstype: 7 }]);
    putFs(disk, (2048 + 16) * 512, mkufs(join(tmp.dir, 'label.fs'), [{ path: 'f', data: randomBytes(100, 1) }], { version: 1, bsize: 8192, fsize: 1024, size: 16 * MiB }));
    assert.equal(vmpager(['--partition', '1a', 'ls', disk]).status, 0);
    poke(disk, 2048 * 512 + 512 + 148 + 4, Buffer.from([17])); // a's offset changed, checksum not
    const p = vmpager(['parts', '--json', disk]);
    assert.equal(p.status, 0);
    assert.deepEqual((JSON.parse(p.stdout) as Array<{ index: string }>).map((x) => x.index), ['1']);
    assert.equal(p.stderr, `vmpager: ${disk}: warning: partition 1: BSD disklabel ignored: bad checksum\n`);
    assertOneLine(vmpager(['--partition', '1a', 'ls', disk]), /no partition '1a' \(partitions: 1\); partition 1: BSD disklabel ignored: bad checksum$/);
    assertOneLine(vmpager(['ls', disk]), /no partition holds a file system vmpager reads .*bad checksum$/);
    await quickly(disk, '1');
    assert.ok(readFileSync(disk).length === 24 * MiB);
  });
});

test('an EBR chain that runs on without looping stops after 128 logical partitions, with a warning, quickly', async () => {
  const { MemDisk } = await import('../../src/dev/memdisk.js');
  const sectors = 2048;
  const data = new Uint8Array(sectors * 512);
  const entry = (sector: number, slot: number, type: number, start: number, size: number) => {
    const o = sector * 512 + 446 + 16 * slot;
    data[o + 4] = type;
    new DataView(data.buffer).setUint32(o + 8, start, true);
    new DataView(data.buffer).setUint32(o + 12, size, true);
    data[sector * 512 + 510] = 0x55;
    data[sector * 512 + 511] = 0xaa;
  };
  entry(0, 0, 0x05, 1, sectors - 1);
  // An EBR every other sector, each holding a one-sector partition and linking to the next: 1023 of them.
  for (let s = 1; s + 2 < sectors; s += 2) {
    entry(s, 0, 0x83, 1, 1);
    entry(s, 1, 0x05, s + 2 - 1, 2);
  }
  const t0 = Date.now();
  const parts = await new Vm().partitions(new MemDisk(data));
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  assert.equal(parts.length, 1 + 128);
  assert.equal(parts[parts.length - 1].index, '132');
  assert.deepEqual(parts.warnings, ['extended partition 1: more than 128 logical partitions; the rest are ignored']);
});
