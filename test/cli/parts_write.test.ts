/*
 * Writing through a partition of a whole disk: put (stdin and --from),
 * mkdir, truncate and rm with --partition by number and by name, on a
 * logical ext3 partition of an MBR disk and on partition 1 of a GPT cloud
 * layout, from the image file and over NBD (nbdkit serving the whole disk).
 * After the writes the partition, cut out with dd, is e2fsck -fn clean and
 * debugfs dumps exactly the expected bytes; every byte of the disk outside
 * the partition is unchanged (SHA-256 before and after).
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { MiB, cutOut, newDisk, outsideHash, putFs, sfdisk, sfdiskJson, sgdisk, sgdiskRows } from '../helpers/disks.js';
import { startNbdkit } from '../helpers/nbd_servers.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir('vmpager-partw-');
after(() => tmp.cleanup());

function ok(args: string[], input?: Uint8Array): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `vmpager ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr.toString(), '', 'no warnings');
}

interface Layout {
  disk: string;
  /** The partition written: its number, its name, and its byte window. */
  index: string;
  name: string;
  start: number;
  size: number;
}

/** An MBR disk: ext2 1, extended 2, logical ext3 5 'five' (written), logical ext2 6. */
function mbrDisk(name: string): Layout {
  const disk = newDisk(tmp.dir, name, 64 * MiB);
  sfdisk(disk, 'label: dos\nstart=2048, size=16M, type=83\nstart=34816, type=5\nsize=20M, type=83\ntype=83\n');
  const parts = sfdiskJson(disk).partitions;
  const sector = (n: string) => parts.find((p) => p.node.endsWith(n))!;
  const fill = (n: string, type: 'ext2' | 'ext3', label: string, seed: number) => {
    const img = join(tmp.dir, `${name}-${n}.fs`);
    mkext2(img, [{ path: 'keep', data: randomBytes(50_000, seed) }, { path: 'big', data: randomBytes(2 * MiB, seed + 1) }, { path: 'a/b/rand-100k', data: randomBytes(100_000, seed + 2) }], {
      type, blockSize: 1024, size: sector(n).size * 512, extra: ['-L', label],
    });
    putFs(disk, sector(n).start * 512, img);
  };
  fill('1', 'ext2', 'one', 1);
  fill('5', 'ext3', 'five', 5);
  fill('6', 'ext2', 'six', 6);
  return { disk, index: '5', name: 'five', start: sector('5').start * 512, size: sector('5').size * 512 };
}

/** A GPT cloud layout: 14 BIOS boot, 15 EFI, ext2 root 1 'cloudimg-rootfs' (written). */
function gptDisk(name: string): Layout {
  const disk = newDisk(tmp.dir, name, 48 * MiB);
  sgdisk(disk, ['-n', '14:2048:+4M', '-t', '14:ef02', '-n', '15:0:+8M', '-t', '15:ef00', '-n', '1:0:0', '-t', '1:8300', '-c', '1:cloudimg-rootfs']);
  // Something outside the root to keep: the EFI partition's bytes.
  const r = sgdiskRows(disk).find((x) => x.number === 1)!;
  const efi = join(tmp.dir, `${name}-efi`);
  writeFileSync(efi, randomBytes(8 * MiB, 15));
  putFs(disk, 10240 * 512, efi);
  const size = (r.last - r.first + 1) * 512;
  const img = join(tmp.dir, `${name}-root.fs`);
  mkext2(img, [{ path: 'keep', data: randomBytes(50_000, 21) }, { path: 'big', data: randomBytes(2 * MiB, 22) }, { path: 'a/b/rand-100k', data: randomBytes(100_000, 23) }], {
    type: 'ext2', blockSize: 4096, size: Math.floor(size / MiB) * MiB,
  });
  putFs(disk, r.first * 512, img);
  return { disk, index: '1', name: 'cloudimg-rootfs', start: r.first * 512, size };
}

/** The writes, through `target` (a path or NBD URL) and --partition; returns what the file system must hold. */
function writeThrough(target: string, l: Layout): Map<string, Uint8Array> {
  const expect = new Map<string, Uint8Array>();
  const byNumber = ['--partition', l.index];
  const byName = ['--partition', l.name];
  const n1 = randomBytes(MiB + 3, 31);
  ok([...byNumber, 'put', target, '/new1'], n1);
  expect.set('/new1', n1);
  const n2 = randomBytes(300_001, 32);
  const src = join(tmp.dir, `src-${Math.random()}`);
  writeFileSync(src, n2);
  ok([...byName, '--memory', '256KiB', 'put', target, '/new2', '--from', src]);
  expect.set('/new2', n2);
  ok([...byNumber, 'mkdir', target, '/newdir']);
  const n3 = randomBytes(5000, 33);
  ok([...byName, 'put', target, '/newdir/x'], n3);
  expect.set('/newdir/x', n3);
  ok([...byNumber, 'truncate', target, '/big', '5000']);
  ok([...byName, 'rm', target, '/a/b/rand-100k']);
  return expect;
}

function judge(l: Layout, expect: Map<string, Uint8Array>, outside: string, seedKeep: number, bigSeed: number): void {
  assert.equal(outsideHash(l.disk, l.start, l.size), outside, 'every byte outside the partition unchanged');
  const fs = cutOut(l.disk, l.start, l.size, join(tmp.dir, `cut-${Math.random()}.fs`));
  const ck = e2fsck(fs);
  assert.ok(ck.clean, ck.output);
  for (const [p, data] of expect) assert.ok(debugfsCat(fs, p).equals(Buffer.from(data)), `${p} as debugfs dumps it`);
  assert.ok(debugfsCat(fs, '/keep').equals(Buffer.from(randomBytes(50_000, seedKeep))), 'untouched file unchanged');
  assert.ok(debugfsCat(fs, '/big').equals(Buffer.from(randomBytes(2 * MiB, bigSeed).subarray(0, 5000))), 'truncated');
  assert.match(spawnSync('debugfs', ['-R', 'ls -l /a/b', fs], { encoding: 'utf8' }).stdout, /^(?![\s\S]*rand-100k)/, 'removed');
}

for (const [kind, make, keepSeed, bigSeed] of [['MBR logical ext3 partition 5', mbrDisk, 5, 6], ['GPT cloud layout, ext2 root 1', gptDisk, 21, 22]] as const) {
  describe(`writes through ${kind}`, () => {
    test('from the image file: put, mkdir, truncate, rm by number and name; fsck clean, nothing outside touched', () => {
      const l = make(`w-${keepSeed}.img`);
      const outside = outsideHash(l.disk, l.start, l.size);
      const expect = writeThrough(l.disk, l);
      judge(l, expect, outside, keepSeed, bigSeed);
    });

    test('over NBD, nbdkit serving the whole disk: the same, judged the same', async () => {
      const l = make(`nbd-${keepSeed}.img`);
      const outside = outsideHash(l.disk, l.start, l.size);
      const srv = await startNbdkit(['file', `file=${l.disk}`]);
      let expect: Map<string, Uint8Array>;
      try {
        expect = writeThrough(srv.url(''), l);
        const r = spawnSync(process.execPath, [CLI, '--partition', l.name, 'cat', srv.url(''), '/new1'], { maxBuffer: 1 << 28 });
        assert.equal(r.status, 0, r.stderr?.toString() + String(r.error));
        assert.ok(r.stdout.equals(Buffer.from(expect.get('/new1')!)));
        const parts = JSON.parse(spawnSync(process.execPath, [CLI, 'parts', '--json', srv.url('')]).stdout.toString()) as Array<{ index: string; start: number }>;
        assert.equal(parts.find((p) => p.index === l.index)!.start, l.start);
      } finally {
        await srv.stop();
      }
      judge(l, expect, outside, keepSeed, bigSeed);
    });

    test('through the library: vm.mount(disk, { partition, readOnly: false })', async () => {
      const l = make(`lib-${keepSeed}.img`);
      const copy = join(tmp.dir, `lib-copy-${keepSeed}.img`);
      copyFileSync(l.disk, copy);
      const outside = outsideHash(l.disk, l.start, l.size);
      const vm = new Vm({ memory: 2 * MiB });
      const fs = await vm.mount(l.disk, { partition: l.name, readOnly: false });
      assert.equal(fs.partition?.index, l.index);
      assert.equal(fs.partition?.start, l.start);
      const data = randomBytes(3 * MiB + 17, 41);
      const f = await fs.open('/lib', { create: true });
      await f.write(0, data);
      await f.close();
      await fs.unmount();
      assert.equal(outsideHash(l.disk, l.start, l.size), outside);
      const cut = cutOut(l.disk, l.start, l.size, join(tmp.dir, `lib-cut-${keepSeed}.fs`));
      assert.ok(e2fsck(cut).clean, e2fsck(cut).output);
      assert.ok(debugfsCat(cut, '/lib').equals(Buffer.from(data)));
    });
  });
}

test('a slice never lets a write reach outside its window', async () => {
  const { MemDisk } = await import('../../src/dev/memdisk.js');
  const { SliceDevice } = await import('../../src/dev/slice.js');
  const parent = new MemDisk(new Uint8Array(MiB).fill(0xa5));
  const s = new SliceDevice(parent, 64 * 1024, 128 * 1024);
  const buf = new Uint8Array(1024).fill(1);
  assert.equal(await s.writev([buf], 128 * 1024 - 512), 5, 'a write crossing the end: EIO');
  assert.equal(await s.writev([buf], -512), 5, 'a write before the start: EIO');
  assert.equal(await s.writev([buf.subarray(0, 512), buf.subarray(512)], 128 * 1024), 5, 'a write at the end: EIO');
  assert.equal(await s.readv([new Uint8Array(1024)], 128 * 1024 - 512), 5, 'a read crossing the end: EIO');
  assert.ok(parent.data.every((b) => b === 0xa5), 'the parent untouched');
  assert.equal(await s.writev([buf], 128 * 1024 - 1024), 0);
  assert.ok(parent.data.subarray(64 * 1024 + 127 * 1024, 64 * 1024 + 128 * 1024).every((b) => b === 1), 'written inside, at start + offset');
  assert.ok(parent.data.subarray(64 * 1024 + 128 * 1024).every((b) => b === 0xa5), 'nothing after the window');
  assert.equal(s.size, 128 * 1024);
});
