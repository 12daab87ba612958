/*
 * Whole-disk images as users hold them, built at run time by the real
 * tools: a Raspberry Pi OS layout (MBR: FAT32 boot, ext4 root), a cloud
 * image (GPT: root is partition 1, after 14 BIOS boot and 15 EFI), a
 * FreeBSD GPT (freebsd-boot, freebsd-ufs, freebsd-swap), an MBR with an
 * extended partition and logical ones, an MBR slice 0xA5 holding a BSD
 * disklabel (offsets relative and absolute), a bare disklabel, and a GPT on
 * 4096-byte sectors. `parts --json` equals what sfdisk --json, sgdisk -p,
 * fdisk -l and mmls report; every file reads back byte for byte through
 * the partition named by number and by name, in the library and with
 * `vmpager cat`; opening costs one small read per table level.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, type PartitionInfo } from '../../src/api/index.js';
import { ImageDevice } from '../../src/dev/image.js';
import { mountFileSystem } from '../../src/api/fs_probe.js';
import { mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { assertReadsBack } from '../helpers/read_back.js';
import { CLI } from '../helpers/cli.js';
import { KiB, MiB, bsdLabel, fdisk4k, mmlsRows, newDisk, putFs, sfdisk, sfdiskJson, sgdisk, sgdiskRows } from '../helpers/disks.js';

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

function partsJson(disk: string): PartitionInfo[] {
  const r = vmpager(['parts', '--json', disk]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'no warnings');
  return JSON.parse(r.stdout.toString()) as PartitionInfo[];
}

/** A small tree, different for each seed. */
function tree(seed: number): TreeFile[] {
  return [
    { path: 'etc/hostname', data: new TextEncoder().encode(`disk-${seed}\n`) },
    { path: 'a/b/rand-100k', data: randomBytes(100_000, seed + 1) },
    { path: 'big', data: randomBytes(MiB + 4321, seed + 2) },
    { path: 'empty', data: new Uint8Array(0) },
  ];
}

/** Every file of files reads back through the library (partition p) and through `vmpager cat --partition p`. */
async function assertTreeReadsBack(disk: string, p: string | undefined, files: readonly TreeFile[], fsType: string): Promise<void> {
  const vm = new Vm({ memory: 4 * MiB });
  const fs = await vm.mount(disk, p === undefined ? {} : { partition: p });
  try {
    assert.equal(fs.type, fsType);
    for (const f of files) if (f.data !== undefined) await assertReadsBack(fs, `/${f.path}`, f.data);
  } finally {
    await fs.unmount();
  }
  const paths = files.filter((f) => f.data !== undefined).map((f) => `/${f.path}`);
  const r = vmpager([...(p === undefined ? [] : ['--partition', p]), 'cat', disk, ...paths]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.equals(Buffer.concat(files.filter((f) => f.data !== undefined).map((f) => Buffer.from(f.data!)))), `cat --partition ${p}`);
}

/**
 * Device reads of vm.mount() of a partition of the whole disk, minus those of
 * the same file system cut out on its own and mounted with no partition
 * step at all (its superblock and root directory): what the tables cost.
 */
async function extraReads(disk: string, partition: string, alone: string): Promise<number> {
  const whole = (await ImageDevice.open(disk, true)).dev!;
  const fs = await new Vm({ memory: 4 * MiB }).mount(whole, { partition });
  const n = whole.stats.reads;
  await fs.unmount();
  const dev = (await ImageDevice.open(alone, true)).dev!;
  const { mp } = await mountFileSystem(dev, { readOnly: true });
  assert.ok(mp !== null);
  assert.equal((await mp.op.root(mp)).error, 0);
  const m = dev.stats.reads;
  await dev.close();
  return n - m;
}

const GPT_CODES: Record<string, string> = {
  '8300': '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  EF00: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  EF02: '21686148-6449-6E6F-744E-656564454649',
  A501: '83BD6B9D-7F41-11DC-BE0B-001560B84F0F',
  A502: '516E7CB5-6ECF-11D6-8FF8-00022D09712B',
  A503: '516E7CB6-6ECF-11D6-8FF8-00022D09712B',
};

/** What `parts` should say of an MBR or GPT disk, from sfdisk --json. */
function fromSfdisk(disk: string): Array<Pick<PartitionInfo, 'index' | 'scheme' | 'type' | 'start' | 'size'>> {
  const t = sfdiskJson(disk);
  return t.partitions.map((p) => ({
    index: p.node.slice(disk.length),
    scheme: t.label === 'dos' ? 'mbr' : 'gpt',
    type: t.label === 'dos' ? `0x${p.type.padStart(2, '0')}` : p.type,
    start: p.start * t.sectorsize,
    size: p.size * t.sectorsize,
  }));
}

const strip = (ps: PartitionInfo[]) => ps.map(({ index, scheme, type, start, size }) => ({ index, scheme, type, start, size }));

const tmp = tempDir('vmpager-parts-');
after(() => tmp.cleanup());

describe('Raspberry Pi OS layout: MBR, FAT32 boot, ext4 root', () => {
  const files = tree(10);
  let disk = '';
  const rootStart = 34816 * 512;
  before(() => {
    disk = newDisk(tmp.dir, 'pi.img', 64 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, size=32768, type=c\nstart=34816, type=83\n');
    execFileSync('mkfs.fat', ['-F', '32', '-n', 'bootfs', '--offset=2048', disk, '16384'], { stdio: 'ignore' });
    const { dir, cleanup } = tempDir('vmpager-pitree-');
    try {
      const root = join(dir, 'root.img');
      mkext2(root, files, { type: 'ext4', blockSize: 4096, size: 47 * MiB, extra: ['-L', 'rootfs'] });
      putFs(disk, rootStart, root);
    } finally {
      cleanup();
    }
  });

  test('parts --json equals sfdisk --json, with the root file system and its label', () => {
    const parts = partsJson(disk);
    assert.deepEqual(strip(parts), fromSfdisk(disk));
    assert.equal(parts[1].fs, 'ext4');
    assert.equal(parts[1].name, 'rootfs');
    // FAT is not read yet here: when it is, the boot partition shows it and its label.
    assert.ok(parts[0].fs === null || parts[0].fs === 'fat32', String(parts[0].fs));
    if (parts[0].fs !== null) assert.equal(parts[0].name, 'bootfs');
  });

  test('every file reads back through partition 2 and through the name rootfs (ROOTFS too: a name matches without regard to case when none matches exactly)', async () => {
    await assertTreeReadsBack(disk, '2', files, 'ext4');
    await assertTreeReadsBack(disk, 'rootfs', files, 'ext4');
    await assertTreeReadsBack(disk, 'ROOTFS', files, 'ext4');
  });

  test('without --partition: the one partition with a file system vmpager reads, or one line naming them all', async () => {
    const fat = partsJson(disk)[0].fs;
    if (fat === null) {
      await assertTreeReadsBack(disk, undefined, files, 'ext4');
    } else {
      const r = vmpager(['ls', disk]);
      assert.equal(r.status, 2);
      assert.equal(r.stderr, `vmpager: ${disk}: 2 partitions hold file systems (1: ${fat} "bootfs", 2: ext4 "rootfs"); choose one with --partition\n`);
    }
  });

  test('stat keeps the file system\'s block numbers and says where the partition starts', () => {
    const r = vmpager(['--partition', '2', 'stat', '--json', disk, '/big']);
    assert.equal(r.status, 0, r.stderr);
    const st = JSON.parse(r.stdout.toString()) as { partition: { index: string; start: number }; blockMap: Array<{ physical: number }> };
    assert.deepEqual(st.partition, { index: '2', start: rootStart });
    assert.ok(st.blockMap[0].physical * 4096 < 47 * MiB, 'an address inside the file system');
    const text = vmpager(['--partition', '2', 'stat', disk, '/big']);
    assert.match(text.stdout.toString(), new RegExp(`partition: 2, starts at byte ${rootStart} of the disk`));
  });

  test('the text table names the types and sizes', () => {
    const r = vmpager(['parts', disk]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.toString().trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[1], /^1\s+mbr\s+1 MiB\s+16 MiB\s+W95 FAT32 \(LBA\)/);
    assert.match(lines[2], /^2\s+mbr\s+17 MiB\s+47 MiB\s+Linux\s+rootfs\s+ext4$/);
  });

  test('opening partition 2 costs one read more than the file system alone', async () => {
    const alone = join(tmp.dir, 'pi-root.img');
    execFileSync('dd', [`if=${disk}`, `of=${alone}`, 'bs=1M', `skip=${rootStart / MiB}`, 'status=none']);
    assert.equal(await extraReads(disk, '2', alone), 1);
  });

  test('--partition with a number or name the disk does not have fails in one line', () => {
    for (const [p, want] of [['3', /no partition '3' \(partitions: 1.*, 2 "rootfs"\)/], ['nosuch', /no partition 'nosuch'/]] as const) {
      const r = vmpager(['--partition', p, 'ls', disk]);
      assert.equal(r.status, 2);
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.match(r.stderr, want);
    }
  });
});

describe('cloud image layout: GPT, root is partition 1 after 14 (BIOS boot) and 15 (EFI)', () => {
  const files = tree(20);
  let disk = '';
  before(() => {
    disk = newDisk(tmp.dir, 'cloud.img', 80 * MiB);
    sgdisk(disk, ['-n', '14:2048:+4M', '-t', '14:ef02', '-n', '15:0:+16M', '-t', '15:ef00', '-c', '15:UEFI', '-n', '1:0:0', '-t', '1:8300', '-c', '1:cloudimg-rootfs']);
    const first = sgdiskRows(disk).find((r) => r.number === 1)!;
    execFileSync('mkfs.fat', ['-F', '32', '-n', 'UEFI', '--offset=10240', disk, '16384'], { stdio: 'ignore' });
    const { dir, cleanup } = tempDir('vmpager-cloudtree-');
    try {
      const root = join(dir, 'root.img');
      mkext2(root, files, { type: 'ext4', blockSize: 4096, size: 56 * MiB, extra: ['-L', 'cloudimg-rootfs'] });
      putFs(disk, first.first * 512, root);
    } finally {
      cleanup();
    }
  });

  test('parts --json equals sgdisk -p and sfdisk --json: slots 1, 14, 15, names and type GUIDs', () => {
    const parts = partsJson(disk);
    assert.deepEqual(strip(parts), fromSfdisk(disk));
    const rows = sgdiskRows(disk);
    assert.deepEqual(
      parts.map((p) => ({ index: p.index, start: p.start, size: p.size, type: p.type, name: p.name })),
      rows.map((r) => ({ index: String(r.number), start: r.first * 512, size: (r.last - r.first + 1) * 512, type: GPT_CODES[r.code], name: r.name === '' ? null : r.name })),
    );
    assert.deepEqual(parts.map((p) => p.index), ['1', '14', '15']);
    assert.equal(parts[0].fs, 'ext4');
  });

  test('every file reads back through partition 1, through its GPT name, and on its own', async () => {
    await assertTreeReadsBack(disk, '1', files, 'ext4');
    await assertTreeReadsBack(disk, 'cloudimg-rootfs', files, 'ext4');
    const efi = partsJson(disk)[2].fs;
    if (efi === null) await assertTreeReadsBack(disk, undefined, files, 'ext4');
    else assert.match(vmpager(['ls', disk]).stderr, /2 partitions hold file systems \(1: ext4 "cloudimg-rootfs", 15: /);
  });

  test('the text table names BIOS boot, EFI System and Linux filesystem', () => {
    const out = vmpager(['parts', disk]).stdout.toString();
    assert.match(out, /\n\s*1\s+gpt\s+21 MiB\s+59\.0 MiB\s+Linux filesystem\s+cloudimg-rootfs\s+ext4\n/);
    assert.match(out, /\n14\s+gpt\s+1 MiB\s+4 MiB\s+BIOS boot\s+-\s+-\n/);
    assert.match(out, /\n15\s+gpt\s+5 MiB\s+16 MiB\s+EFI System\s+UEFI/);
  });

  test('opening partition 1 costs one read more than the file system alone', async () => {
    const alone = join(tmp.dir, 'cloud-root.img');
    execFileSync('dd', [`if=${disk}`, `of=${alone}`, 'bs=512', `skip=43008`, `count=${163806 - 43008 + 1}`, 'status=none']);
    assert.equal(await extraReads(disk, '1', alone), 1);
  });
});

describe('FreeBSD VM layout: GPT with freebsd-boot, freebsd-ufs, freebsd-swap', () => {
  const files = tree(30);
  let disk = '';
  let ufsStart = 0;
  before(() => {
    disk = newDisk(tmp.dir, 'freebsd.img', 48 * MiB);
    sgdisk(disk, ['-a', '8', '-n', '1:40:+512K', '-t', '1:a501', '-c', '1:gptboot0', '-n', '2:0:+32M', '-t', '2:a503', '-c', '2:rootfs', '-n', '3:0:0', '-t', '3:a502', '-c', '3:swapfs']);
    ufsStart = sgdiskRows(disk).find((r) => r.number === 2)!.first * 512;
    const { dir, cleanup } = tempDir('vmpager-bsdtree-');
    try {
      const ufs = join(dir, 'ufs.img');
      mkufs(ufs, files, { version: 2, bsize: 32 * KiB, fsize: 4 * KiB, size: 32 * MiB });
      putFs(disk, ufsStart, ufs);
    } finally {
      cleanup();
    }
  });

  test('parts --json equals sgdisk -p, mmls agrees, and partition 2 holds UFS2', () => {
    const parts = partsJson(disk);
    const rows = sgdiskRows(disk);
    assert.deepEqual(
      parts.map((p) => ({ index: p.index, start: p.start, size: p.size, type: p.type, name: p.name })),
      rows.map((r) => ({ index: String(r.number), start: r.first * 512, size: (r.last - r.first + 1) * 512, type: GPT_CODES[r.code], name: r.name })),
    );
    const mm = mmlsRows(disk).filter((r) => /^\d+$/.test(r.slot));
    assert.deepEqual(mm.map((r) => [Number(r.slot) + 1, r.start * 512, r.length * 512]), parts.map((p) => [Number(p.index), p.start, p.size]));
    assert.deepEqual(parts.map((p) => p.fs), [null, 'ufs2', null]);
    assert.match(vmpager(['parts', disk]).stdout.toString(), /2\s+gpt\s+\S+ \S+\s+32 MiB\s+freebsd-ufs\s+rootfs\s+ufs2/);
  });

  test('every file reads back through partition 2, its name, and without --partition', async () => {
    await assertTreeReadsBack(disk, '2', files, 'ufs2');
    await assertTreeReadsBack(disk, 'rootfs', files, 'ufs2');
    await assertTreeReadsBack(disk, undefined, files, 'ufs2');
  });
});

describe('MBR with an extended partition and logical partitions 5 and 6', () => {
  const f1 = tree(40);
  const f5 = tree(50);
  const f6 = tree(60);
  let disk = '';
  const layout = { p1: 2048, p5: 0, p6: 0 };
  before(() => {
    disk = newDisk(tmp.dir, 'logical.img', 64 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, size=16M, type=83\nstart=34816, type=5\nsize=16M, type=83\ntype=83\n');
    const t = sfdiskJson(disk);
    layout.p5 = t.partitions.find((p) => p.node.endsWith('5'))!.start;
    layout.p6 = t.partitions.find((p) => p.node.endsWith('6'))!.start;
    const { dir, cleanup } = tempDir('vmpager-logtree-');
    try {
      for (const [name, files, start, type, label] of [['p1', f1, layout.p1, 'ext2', 'one'], ['p5', f5, layout.p5, 'ext3', 'five'], ['p6', f6, layout.p6, 'ext2', 'six']] as const) {
        const img = join(dir, `${name}.img`);
        mkext2(img, files, { type, blockSize: 1024, size: 15 * MiB, extra: ['-L', label] });
        putFs(disk, start * 512, img);
      }
    } finally {
      cleanup();
    }
  });

  test('parts --json equals sfdisk --json: the extended partition 2 and logicals 5, 6; mmls agrees', () => {
    const parts = partsJson(disk);
    assert.deepEqual(strip(parts), fromSfdisk(disk));
    assert.deepEqual(parts.map((p) => [p.index, p.fs, p.name]), [['1', 'ext2', 'one'], ['2', null, null], ['5', 'ext3', 'five'], ['6', 'ext2', 'six']]);
    const mm = mmlsRows(disk).filter((r) => /Linux \(0x83\)/.test(r.desc));
    assert.deepEqual(mm.map((r) => r.start * 512), [parts[0].start, parts[2].start, parts[3].start]);
  });

  test('every file of each partition reads back by number and by label', async () => {
    await assertTreeReadsBack(disk, '5', f5, 'ext3');
    await assertTreeReadsBack(disk, 'six', f6, 'ext2');
    await assertTreeReadsBack(disk, '6', f6, 'ext2');
    await assertTreeReadsBack(disk, '1', f1, 'ext2');
  });

  test('without --partition: one line lists the three file systems', () => {
    const r = vmpager(['ls', disk]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vmpager: ${disk}: 3 partitions hold file systems (1: ext2 "one", 5: ext3 "five", 6: ext2 "six"); choose one with --partition\n`);
  });

  test('the extended partition itself is no file system: one line says what it holds', () => {
    const r = vmpager(['--partition', '2', 'ls', disk]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vmpager: ${disk}: partition 2 holds other partitions (5, 6), not a file system\n`);
  });

  test('opening logical 6 costs the MBR and the two boot records of the chain', async () => {
    const alone = join(tmp.dir, 'six.img');
    execFileSync('dd', [`if=${disk}`, `of=${alone}`, 'bs=512', `skip=${layout.p6}`, `count=${15 * 2048}`, 'status=none']);
    assert.equal(await extraReads(disk, '6', alone), 3);
  });
});

for (const absolute of [false, true]) {
  describe(`MBR slice 0xA5 with a BSD disklabel (${absolute ? 'absolute' : 'relative'} offsets)`, () => {
    const files = tree(absolute ? 70 : 80);
    let disk = '';
    const slice = 2048;
    const sliceSectors = 40 * 2048;
    const aOff = 16;
    before(() => {
      disk = newDisk(tmp.dir, `bsd-${absolute}.img`, 48 * MiB);
      sfdisk(disk, `label: dos\nstart=${slice}, size=${sliceSectors}, type=a5, bootable\n`);
      bsdLabel(disk, slice * 512, sliceSectors, [
        { slot: 0, offset: aOff, size: 24 * 2048, fstype: 7 },
        { slot: 1, offset: aOff + 24 * 2048, size: 8 * 2048, fstype: 1 },
      ], { absolute });
      const { dir, cleanup } = tempDir('vmpager-labeltree-');
      try {
        const ufs = join(dir, 'ufs.img');
        mkufs(ufs, files, { version: 1, bsize: 16 * KiB, fsize: 2 * KiB, size: 24 * MiB });
        putFs(disk, (slice + aOff) * 512, ufs);
      } finally {
        cleanup();
      }
    });

    test('parts --json lists slice 1 and its partitions 1a, 1b as mmls -t bsd reads the label', () => {
      const parts = partsJson(disk);
      assert.deepEqual(parts.map((p) => [p.index, p.scheme, p.type, p.fs]), [['1', 'mbr', '0xa5', null], ['1a', 'bsd', '4.2BSD', 'ufs1'], ['1b', 'bsd', 'swap', null]]);
      assert.deepEqual(strip(parts).slice(0, 1), fromSfdisk(disk));
      // mmls reads the label with the slice's start as its offset and prints absolute sectors.
      const mm = mmlsRows(disk, ['-t', 'bsd', '-o', String(slice)]).filter((r) => r.desc !== 'Unused' && r.slot !== '002');
      const want = parts.slice(1);
      assert.deepEqual(mm.map((r) => [r.start * 512, r.length * 512]), want.map((p) => [absolute ? p.start : p.start - slice * 512, p.size]));
    });

    test('every file reads back through 1a and without --partition', async () => {
      await assertTreeReadsBack(disk, '1a', files, 'ufs1');
      await assertTreeReadsBack(disk, undefined, files, 'ufs1');
    });

    test('opening 1a costs the MBR and the disklabel: two reads', async () => {
      const alone = join(tmp.dir, `bsd-${absolute}-a.img`);
      execFileSync('dd', [`if=${disk}`, `of=${alone}`, 'bs=512', `skip=${slice + aOff}`, `count=${24 * 2048}`, 'status=none']);
      assert.equal(await extraReads(disk, '1a', alone), 2);
    });
  });
}

describe('a GPT freebsd partition holding a BSD disklabel', () => {
  const files = tree(95);
  let disk = '';
  let start = 0;
  before(() => {
    disk = newDisk(tmp.dir, 'gpt-label.img', 40 * MiB);
    sgdisk(disk, ['-n', '1:2048:+32M', '-t', '1:a500']);
    start = sgdiskRows(disk)[0].first * 512;
    bsdLabel(disk, start, 32 * 2048, [{ slot: 0, offset: 16, size: 28 * 2048, fstype: 7 }]);
    const { dir, cleanup } = tempDir('vmpager-gptlabel-');
    try {
      putFs(disk, start + 16 * 512, mkufs(join(dir, 'ufs.img'), files, { version: 2, bsize: 8 * KiB, fsize: KiB, size: 28 * MiB }));
    } finally {
      cleanup();
    }
  });

  test('parts lists 1 (freebsd) and 1a inside it; every file reads back through 1a', async () => {
    const parts = partsJson(disk);
    assert.deepEqual(parts.map((p) => [p.index, p.scheme, p.type, p.start, p.fs]), [
      ['1', 'gpt', '516E7CB4-6ECF-11D6-8FF8-00022D09712B', start, null],
      ['1a', 'bsd', '4.2BSD', start + 16 * 512, 'ufs2'],
    ]);
    const mm = mmlsRows(disk, ['-t', 'bsd', '-o', String(start / 512)]).filter((r) => r.slot === '000');
    assert.deepEqual(mm.map((r) => [r.start * 512, r.length * 512]), [[16 * 512, parts[1].size]]);
    await assertTreeReadsBack(disk, '1a', files, 'ufs2');
  });
});

describe('a bare BSD disklabel at the start of the disk', () => {
  const files = tree(90);
  let disk = '';
  before(() => {
    disk = newDisk(tmp.dir, 'bare-label.img', 32 * MiB);
    bsdLabel(disk, 0, 64 * 1024, [{ slot: 0, offset: 16, size: 24 * 2048, fstype: 7 }, { slot: 3, offset: 16 + 24 * 2048, size: 4096, fstype: 0 }]);
    const { dir, cleanup } = tempDir('vmpager-barelabel-');
    try {
      const ufs = join(dir, 'ufs.img');
      mkufs(ufs, files, { version: 2, bsize: 8 * KiB, fsize: KiB, size: 24 * MiB });
      // makefs sets no volume name: fs_volname (at 680 in the superblock, which makefs puts at 8 KiB or 64 KiB) written here.
      const img = readFileSync(ufs);
      const sb = [65536, 8192].find((o) => img.readUInt32LE(o + 1372) === 0x19540119)!;
      const fd = openSync(ufs, 'r+');
      writeSync(fd, Buffer.from('bsdroot\0', 'latin1'), 0, 8, sb + 680);
      closeSync(fd);
      putFs(disk, 16 * 512, ufs);
    } finally {
      cleanup();
    }
  });

  test('parts lists a and d as mmls -t bsd does', () => {
    const parts = partsJson(disk);
    assert.deepEqual(parts.map((p) => [p.index, p.scheme, p.type, p.fs]), [['a', 'bsd', '4.2BSD', 'ufs2'], ['d', 'bsd', 'unused', null]]);
    const mm = mmlsRows(disk, ['-t', 'bsd']).filter((r) => r.slot !== '002');
    assert.deepEqual(mm.map((r) => [r.start * 512, r.length * 512]), parts.map((p) => [p.start, p.size]));
  });

  test('every file reads back through a, and through its UFS volume name', async () => {
    assert.equal(partsJson(disk)[0].name, 'bsdroot');
    await assertTreeReadsBack(disk, 'a', files, 'ufs2');
    await assertTreeReadsBack(disk, 'bsdroot', files, 'ufs2');
  });
});

describe('GPT on 4096-byte sectors', () => {
  const files = tree(100);
  let disk = '';
  before(() => {
    disk = newDisk(tmp.dir, 'gpt4k.img', 64 * MiB);
    // fdisk -b 4096: new GPT, partition 1 at sector 256 of 16 MiB as EFI System, 2 the rest, named.
    fdisk4k(disk, 'g\nn\n1\n256\n+16M\nt\n1\nn\n2\n\n\nx\nn\n2\nroot4k\nr\nw\n');
    const { dir, cleanup } = tempDir('vmpager-4ktree-');
    try {
      const root = join(dir, 'root.img');
      mkext2(root, files, { type: 'ext2', blockSize: 4096, size: 40 * MiB, extra: ['-L', 'fourk'] });
      putFs(disk, 4352 * 4096, root);
    } finally {
      cleanup();
    }
  });

  test('parts --json equals fdisk -b 4096 and mmls -b 4096', () => {
    const parts = partsJson(disk);
    const mm = mmlsRows(disk, ['-b', '4096']).filter((r) => /^\d+$/.test(r.slot));
    assert.deepEqual(parts.map((p) => [p.start, p.size]), mm.map((r) => [r.start * 4096, r.length * 4096]));
    const fd = execFileSync('fdisk', ['-b', '4096', '-l', disk], { encoding: 'utf8' });
    for (const p of parts) assert.match(fd, new RegExp(`${disk}${p.index}\\s+${p.start / 4096}\\s+${(p.start + p.size) / 4096 - 1}\\s+${p.size / 4096}\\s`));
    assert.deepEqual(parts.map((p) => [p.index, p.type, p.name, p.fs]), [
      ['1', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', null, null],
      ['2', '0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'root4k', 'ext2'],
    ]);
  });

  test('every file reads back through 2 and through root4k', async () => {
    await assertTreeReadsBack(disk, '2', files, 'ext2');
    await assertTreeReadsBack(disk, 'root4k', files, 'ext2');
  });
});

describe('GPT names are UTF-16', () => {
  test('a name beyond ASCII reads as sgdisk wrote it, and chooses the partition', async () => {
    const files = tree(120);
    const disk = newDisk(tmp.dir, 'utf16.img', 16 * MiB);
    const name = 'données-été ☃';
    sgdisk(disk, ['-n', '1:2048:0', '-t', '1:8300', '-c', `1:${name}`]);
    assert.equal(sgdiskRows(disk)[0].name, name);
    putFs(disk, 2048 * 512, mkext2(join(tmp.dir, 'utf16.fs'), files, { type: 'ext2', size: 14 * MiB }));
    assert.equal(partsJson(disk)[0].name, name);
    await assertTreeReadsBack(disk, name, files, 'ext2');
  });
});

describe('a bare file system image', () => {
  test('mounts as before, has no partitions, and refuses --partition in one line', async () => {
    const img = mkext2(join(tmp.dir, 'bare.img'), tree(110), { type: 'ext2', size: 8 * MiB });
    assert.deepEqual(partsJson(img), []);
    assert.deepEqual([...(await new Vm().partitions(img))], []);
    const r = vmpager(['--partition', '1', 'ls', img]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vmpager: ${img}: no partition table, so no partition '1' (a bare file system image is mounted without one)\n`);
    await assertTreeReadsBack(img, undefined, tree(110), 'ext2');
  });

  test('mkfs refuses --partition (it would format the whole disk) and leaves the disk as it was', () => {
    const disk = newDisk(tmp.dir, 'mkfs-guard.img', 8 * MiB);
    sfdisk(disk, 'label: dos\nstart=2048, type=83\n');
    const before = execFileSync('sha256sum', [disk], { encoding: 'utf8' });
    const r = vmpager(['--partition', '1', 'mkfs', disk, '4MiB']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'vmpager: mkfs: --partition does not apply (mkfs formats the whole image)\n');
    assert.equal(execFileSync('sha256sum', [disk], { encoding: 'utf8' }), before);
  });

  test('a bare FAT file system (0x55AA, boot code where MBR entries would be) is no partition table', () => {
    for (const fat of ['12', '16', '32']) {
      const img = newDisk(tmp.dir, `fat${fat}.img`, 40 * MiB);
      execFileSync('mkfs.fat', ['-F', fat, '-n', 'BARE', img], { stdio: 'ignore' });
      assert.deepEqual(partsJson(img), [], `FAT${fat}`);
    }
  });
});
