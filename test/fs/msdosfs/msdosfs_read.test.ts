/*
 * FAT12, FAT16 and FAT32 read end to end on images made by mkfs.fat and
 * filled by `mcopy -s` from a generated tree: odd sizes, empty files, long,
 * Unicode and 8.3-only names, names differing only in case (in separate
 * directories: FAT holds one of them per directory), a directory of 2000
 * entries, 24 levels of nesting, and a file fragmented on purpose (many
 * copied, every other deleted, a big one copied into the holes). Every file
 * reads back byte for byte through the library and `vmpager cat`; `ls -R`
 * lists exactly what `mdir -/ -b` lists; `stat` shows attributes set with
 * mattrib and a fragmented block map; the volume label is the mount's.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { randomBytes, tempDir, type TreeFile } from '../../helpers/images.js';
import { type FatOptions, mcopyTree, mdirPaths, mkfat, mtool } from '../../helpers/fat_images.js';
import { assertReadsBack } from '../../helpers/read_back.js';
import { CLI } from '../../helpers/cli.js';

const KiB = 1024;

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 30 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

const enc = new TextEncoder();

/** The generated tree: `small` leaves out what a floppy cannot hold. */
function buildTree(small: boolean, cluster: number): { files: TreeFile[]; frag: TreeFile[]; fragBig: TreeFile } {
  const files: TreeFile[] = [];
  const file = (path: string, data: Uint8Array) => files.push({ path, data });
  const sizes = [0, 1, 511, 512, 513, 2047, 2048, 4095, 4096, 4097, 32767, 32768, 32769, 65537];
  for (const n of sizes) file(`sizes/size-${n}`, randomBytes(n, n + 1));
  file('rand-100k', randomBytes(100_000, 77));
  if (!small) file('big/f3m', randomBytes(3 * 1024 * KiB + 300_001, 78));
  file('Long File Name With Spaces.txt', randomBytes(1234, 2));
  file('ünïcødé ñame €.bin', randomBytes(777, 3));
  file('日本語のファイル名.txt', randomBytes(99, 4));
  file(`long/${'n'.repeat(240)}.dat`, randomBytes(3000, 6));
  file('case/a/readme.txt', enc.encode('lower\n'));
  file('case/b/README.TXT', enc.encode('upper\n'));
  file('case/c/ReadMe.Txt', enc.encode('mixed\n'));
  file('SHORT.TXT', enc.encode('8.3 only\n'));
  file('NOEXT', enc.encode('no extension\n'));
  file('UPPER8CH.EXT', randomBytes(10_000, 7));
  let deep = 'deep';
  for (let i = 0; i < 24; i++) deep += `/level${i}`;
  file(`${deep}/leaf.txt`, enc.encode('deep leaf\n'));
  if (!small) for (let i = 0; i < 2000; i++) file(`dir2000/${String(i).padStart(4, '0')} entry number.txt`, enc.encode(`entry ${i}\n`));
  const frag: TreeFile[] = [];
  const nfrag = small ? 60 : 200;
  for (let i = 0; i < nfrag; i++) frag.push({ path: `frag/f${String(i).padStart(3, '0')}`, data: randomBytes(3 * cluster - 100, 1000 + i) });
  const fragBig = { path: 'fragbig.bin', data: randomBytes(Math.floor(nfrag / 2) * 3 * cluster - 1234, 99) };
  return { files, frag, fragBig };
}

interface Config extends FatOptions {
  cluster: number;
  pages: number[];
}

const configs: Config[] = [
  { fat: 12, kib: 1440, cluster: 512, label: 'FLOPPY', pages: [4 * KiB, 64 * KiB] },
  { fat: 16, kib: 32 * KiB, cluster: 2 * KiB, label: 'SIXTEEN', pages: [4 * KiB, 16 * KiB] },
  { fat: 32, kib: 40 * KiB, cluster: 512, label: 'F32 512', pages: [4 * KiB] },
  // FAT32 needs 65 525 clusters at least (mtools goes wrong below): sparse images of 288 MiB and 2 GiB.
  { fat: 32, kib: 288 * KiB, cluster: 4 * KiB, pages: [4 * KiB, 64 * KiB] },
  { fat: 32, kib: 2080 * KiB, cluster: 32 * KiB, label: 'BIGCLUSTER', pages: [4 * KiB, 16 * KiB] },
];

for (const cfg of configs) {
  describe(`FAT${cfg.fat}, ${cfg.cluster}-byte clusters`, () => {
    const tmp = tempDir('vmpager-fatread-');
    const image = join(tmp.dir, 'fat.img');
    const { files, frag, fragBig } = buildTree(cfg.fat === 12, cfg.cluster);
    const expect = new Map<string, Uint8Array>();

    before(() => {
      mkfat(image, files, cfg);
      mcopyTree(image, frag);
      for (let i = 0; i < frag.length; i += 2) mtool('mdel', image, `::/${frag[i].path}`);
      // mtools takes clusters from FAT32's next-free hint on; pointing it at the start sends the big file into the holes.
      if (cfg.fat === 32) {
        const fd = openSync(image, 'r+');
        const boot = Buffer.alloc(512);
        readSync(fd, boot, 0, 512, 0);
        const hint = Buffer.alloc(4);
        hint.writeUInt32LE(2);
        writeSync(fd, hint, 0, 4, boot.readUInt16LE(48) * 512 + 492);
        closeSync(fd);
      }
      mcopyTree(image, [fragBig]);
      mtool('mattrib', image, '+r', '+h', '+s', '::/SHORT.TXT');
      for (const f of [...files, ...frag.filter((_, i) => i % 2 === 1), fragBig]) expect.set(`/${f.path}`, f.data!);
    });
    after(() => tmp.cleanup());

    for (const pageSize of cfg.pages) {
      test(`every file reads back byte for byte through the library with ${pageSize / KiB} KiB pages`, async () => {
        const vm = new Vm({ memory: 64 * pageSize, pageSize });
        const fs = await vm.mount(image);
        try {
          assert.equal(fs.type, `fat${cfg.fat}`);
          assert.equal(fs.blockSize, cfg.cluster);
          assert.equal(fs.mp.stat.label, cfg.label ?? '');
          for (const [path, data] of expect) await assertReadsBack(fs, path, data);
        } finally {
          await fs.unmount();
        }
        const s = vm.stats();
        assert.equal(s.pages.free, s.pages.total, 'unmount frees every page');
      });
    }

    test('ls -R --json lists exactly what mdir -/ -b lists, with the sizes mcopy wrote, hidden files too', () => {
      const r = vmpager(['ls', '-R', '--json', image]);
      assert.equal(r.status, 0, r.stderr);
      const entries = JSON.parse(r.stdout.toString()) as Array<{ path: string; type: string; size: number }>;
      assert.deepEqual(entries.map((e) => e.path).sort(), mdirPaths(image).sort());
      for (const e of entries) {
        const want = expect.get(e.path);
        if (want !== undefined) {
          assert.equal(e.type, 'file', e.path);
          assert.equal(e.size, want.length, e.path);
        }
      }
      assert.ok(entries.some((e) => e.path === '/case/a/readme.txt'), 'an 8.3 name stored upper case with the lower-case flags lists lower case');
    });

    test('vmpager cat concatenates files and matches the source bytes; names match without regard to case', () => {
      const paths = ['/fragbig.bin', '/ünïcødé ñame €.bin', '/sizes/size-0', '/rand-100k', '/case/a/README.TXT', '/case/b/readme.txt'];
      const r = vmpager(['--memory', '512KiB', 'cat', image, ...paths]);
      assert.equal(r.status, 0, r.stderr);
      const want = Buffer.concat(paths.map((p) => Buffer.from(expect.get(p) ?? expect.get(p === '/case/a/README.TXT' ? '/case/a/readme.txt' : '/case/b/README.TXT')!)));
      assert.ok(r.stdout.equals(want));
    });

    test('stat shows the attributes mattrib set, and the fragmented file in several runs of clusters', () => {
      const r = vmpager(['stat', '--json', image, '/SHORT.TXT']);
      assert.equal(r.status, 0, r.stderr);
      const st = JSON.parse(r.stdout.toString()) as { mode: number; extra: Record<string, string | number>; blockMap: Array<{ count: number }> };
      assert.equal(st.extra.attributes, 'readonly,hidden,system,archive');
      assert.equal(st.mode & 0o222, 0, 'read-only: no write bits');
      const f = vmpager(['stat', '--json', image, '/fragbig.bin']);
      assert.equal(f.status, 0, f.stderr);
      const fs = JSON.parse(f.stdout.toString()) as { size: number; blockMap: Array<{ logical: number; physical: number; count: number }> };
      assert.ok(fs.blockMap.length > 1, `fragmented: ${fs.blockMap.length} run(s)`);
      assert.equal(fs.blockMap.reduce((n, b) => n + b.count, 0), Math.ceil(fs.size / cfg.cluster));
      const text = vmpager(['stat', image, '/fragbig.bin']);
      assert.match(text.stdout.toString(), new RegExp(`fat: fat${cfg.fat}`));
    });
  });
}

describe('FAT oddities', () => {
  const tmp = tempDir('vmpager-fatodd-');
  after(() => tmp.cleanup());

  test('an 8.3 name with a byte above 0x7F reads in code page 437 by default and 850 when asked', async () => {
    const image = join(tmp.dir, 'cp.img');
    mkfat(image, [{ path: 'XBC.TXT', data: enc.encode('cp\n') }], { fat: 16, kib: 16 * KiB });
    const img = readFileSync(image);
    const at = img.indexOf('XBC     TXT');
    assert.ok(at > 0);
    img[at] = 0x9b; // 437: U+00A2 (cent); 850: U+00F8 (o with stroke)
    writeFileSync(image, img);
    for (const [cp, name] of [[undefined, '\u00a2BC.TXT'], [437, '\u00a2BC.TXT'], [850, '\u00f8BC.TXT']] as const) {
      const vm = new Vm();
      const fs = await vm.mount(image, cp === undefined ? {} : { codepage: cp });
      try {
        assert.deepEqual((await fs.readdir('/')).map((e) => e.name), [name]);
        assert.deepEqual(await (await fs.open(`/${name}`)).read(0, 10), enc.encode('cp\n'));
      } finally {
        await fs.unmount();
      }
    }
  });

  test('a long name whose checksum does not match its short entry shows the short name', async () => {
    const image = join(tmp.dir, 'sum.img');
    mkfat(image, [{ path: 'A rather long name.txt', data: enc.encode('x') }], { fat: 16, kib: 16 * KiB });
    const img = readFileSync(image);
    const at = img.indexOf('ARATHE~1TXT');
    assert.ok(at > 32);
    img[at - 32 + 13] ^= 0xff; // the checksum of the long-name entry just before
    writeFileSync(image, img);
    const r = vmpager(['ls', image]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), / \/?ARATHE~1\.TXT\n/);
  });

  test('exFAT and NTFS boot sectors are refused by name in one line', () => {
    for (const [oem, name] of [['EXFAT   ', 'exfat'], ['NTFS    ', 'ntfs']]) {
      const image = join(tmp.dir, `${name}.img`);
      const img = Buffer.alloc(1 << 20);
      img[0] = 0xeb;
      img[1] = 0x76;
      img[2] = 0x90;
      img.write(oem, 3, 'latin1');
      img[510] = 0x55;
      img[511] = 0xaa;
      writeFileSync(image, img);
      const r = vmpager(['ls', image]);
      assert.equal(r.status, 2);
      assert.equal(r.stderr, `vmpager: ${image}: unsupported file system: ${name}\n`);
    }
  });

  test('a FAT image cut short of its file system is refused in one line', () => {
    const image = join(tmp.dir, 'cut.img');
    mkfat(image, [], { fat: 16, kib: 16 * KiB });
    writeFileSync(image, readFileSync(image).subarray(0, 4 << 20));
    const r = vmpager(['ls', image]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vmpager: .*image is shorter than the file system/);
  });
});
