/*
 * The FAT writer against the real tools (issue 16's acceptance): on images
 * made by mkfs.fat over garbage (so any byte the writer failed to write
 * shows) and filled by mcopy, a scripted sequence of vmpager commands — put
 * of long and Unicode names, mkdir, a directory grown past its cluster,
 * replacement, truncation down and up, rm of files and a directory — after
 * each of which fsck.fat -n finds nothing to fix, mdir lists exactly the
 * model's paths and mcopy reads every file back byte for byte. Then random
 * writes and truncations against a flat model; what FAT cannot hold is
 * refused in one line with the image unchanged; FAT[1]'s clean bit is
 * cleared while mounted for writing and back at unmount.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { type FatOptions, fsckFat, mcopyRead, mcopyTree, mdirPaths, mkfsFat, mtool } from '../../helpers/fat_images.js';
import { CLI } from '../../helpers/cli.js';

const KiB = 1024;
const tmp = tempDir('vmpager-fatwrite-');
after(() => tmp.cleanup());

function vmpager(args: string[], input?: Uint8Array): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 30, input });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** mkfs.fat over a file of 0xEE bytes. */
function garbageFat(image: string, opts: FatOptions): void {
  writeFileSync(image, new Uint8Array(opts.kib * KiB).fill(0xee));
  const args = ['-F', String(opts.fat), '-S', '512', '-s', String((opts.cluster ?? 512) / 512)];
  const r = spawnSync('mkfs.fat', [...args, image], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** The model: paths to bytes (files) or null (directories). */
type Model = Map<string, Uint8Array | null>;

function assertImage(image: string, model: Model, step: string): void {
  const f = fsckFat(image);
  assert.ok(f.clean, `${step}: fsck.fat -n: ${f.output}`);
  assert.deepEqual(mdirPaths(image).sort(), [...model.keys()].sort(), `${step}: mdir`);
  for (const [path, data] of model) {
    if (data === null) continue;
    const got = mcopyRead(image, path);
    assert.ok(got.equals(Buffer.from(data)), `${step}: mcopy ${path} (${got.length} bytes, want ${data.length})`);
  }
}

function ok(args: string[], input?: Uint8Array): void {
  const r = vmpager(args, input);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
}

const configs: Array<FatOptions & { cluster: number; big: number }> = [
  { fat: 12, kib: 1440, cluster: 512, big: 200_000 },
  { fat: 16, kib: 16 * KiB, cluster: 2 * KiB, big: 3 << 20 },
  { fat: 32, kib: 40 * KiB, cluster: 512, big: 1 << 20 },
  { fat: 32, kib: 288 * KiB, cluster: 4 * KiB, big: 5 << 20 },
];

for (const cfg of configs) {
  describe(`FAT${cfg.fat}, ${cfg.cluster}-byte clusters`, () => {
    test('each writing step leaves fsck.fat clean and mcopy reading every file back', async () => {
      const image = join(tmp.dir, `seq-${cfg.fat}-${cfg.cluster}.img`);
      garbageFat(image, cfg);
      const model: Model = new Map();
      const seed = [
        { path: 'keep.bin', data: randomBytes(50_000, 1) },
        { path: 'shrinks', data: randomBytes(20_000, 2) },
        { path: 'grows.txt', data: randomBytes(3000, 3) },
        { path: 'olddir/gone with a long name.txt', data: randomBytes(5000, 4) },
      ];
      mcopyTree(image, seed);
      for (const s of seed) model.set(`/${s.path}`, s.data);
      model.set('/olddir', null);
      assertImage(image, model, 'mcopy');
      const host = (data: Uint8Array, name: string) => {
        const p = join(tmp.dir, name);
        writeFileSync(p, data);
        return p;
      };

      const big = randomBytes(cfg.big, 10);
      ok(['put', image, '/Ünïcode long name ☃ número.bin', '--from', host(big, 'big')]);
      model.set('/Ünïcode long name ☃ número.bin', big);
      assertImage(image, model, 'put big');

      ok(['mkdir', image, '/newdir']);
      model.set('/newdir', null);
      assertImage(image, model, 'mkdir');

      const small = new TextEncoder().encode('hello, FAT\n');
      ok(['put', image, '/newdir/readme.txt'], small);
      ok(['put', image, '/newdir/EMPTY'], new Uint8Array(0));
      model.set('/newdir/readme.txt', small);
      model.set('/newdir/EMPTY', new Uint8Array(0));
      assertImage(image, model, 'put small and empty');

      // A directory grown past its first cluster by vmpager's own entries (3 slots each).
      const vm = new Vm({ memory: 1 << 20 });
      const fs = await vm.mount(image, { readOnly: false });
      const n = Math.ceil((cfg.cluster / 32 / 3) * 2.5);
      for (let i = 0; i < n; i++) {
        const data = randomBytes(i * 37, 100 + i);
        const f = await fs.open(`/newdir/a long file name number ${i}.dat`, { create: true });
        await f.write(0, data);
        await f.close();
        model.set(`/newdir/a long file name number ${i}.dat`, data);
      }
      await fs.unmount();
      assertImage(image, model, 'directory grown');
      const st = JSON.parse(vmpager(['stat', '--json', image, '/newdir']).stdout.toString()) as { size: number };
      assert.ok(st.size > cfg.cluster, `the directory holds ${st.size} bytes`);

      const larger = randomBytes(300_000, 11);
      ok(['put', image, '/grows.txt', '--from', host(larger, 'larger')]);
      model.set('/grows.txt', larger);
      const smaller = randomBytes(777, 12);
      ok(['put', image, '/shrinks', '--from', host(smaller, 'smaller')]);
      model.set('/shrinks', smaller);
      assertImage(image, model, 'replace');

      ok(['truncate', image, '/keep.bin', '1001']);
      ok(['truncate', image, '/keep.bin', '40000']);
      const keep = new Uint8Array(40_000);
      keep.set(seed[0].data.subarray(0, 1001));
      model.set('/keep.bin', keep);
      assertImage(image, model, 'truncate down and up');

      ok(['rm', image, '/olddir/gone with a long name.txt']);
      model.delete('/olddir/gone with a long name.txt');
      ok(['rm', image, '/olddir']);
      model.delete('/olddir');
      ok(['rm', image, '/Ünïcode long name ☃ número.bin']);
      model.delete('/Ünïcode long name ☃ número.bin');
      assertImage(image, model, 'rm');

      // The space freed is found again.
      const again = randomBytes(cfg.big, 13);
      ok(['put', image, '/again.bin', '--from', host(again, 'again')]);
      model.set('/again.bin', again);
      assertImage(image, model, 'put into freed space');
    });
  });
}

/** xorshift32: the same sequence of operations on every run. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('random writes and truncations against a flat model', () => {
  const cases: Array<[FatOptions & { cluster: number }, number]> = [
    [{ fat: 16, kib: 16 * KiB, cluster: 1024 }, 4096],
    [{ fat: 32, kib: 288 * KiB, cluster: 4 * KiB }, 4096],
    [{ fat: 32, kib: 40 * KiB, cluster: 512 }, 16384],
  ];
  for (const [cfg, pageSize] of cases) {
    test(`FAT${cfg.fat}, ${cfg.cluster}-byte clusters, ${pageSize}-byte pages: the file equals the model after each remount`, async () => {
      const image = join(tmp.dir, `model-${cfg.fat}-${cfg.cluster}.img`);
      garbageFat(image, cfg);
      const rnd = prng(cfg.cluster + pageSize);
      let model = new Uint8Array(0);
      const MAX = 3 << 20;
      for (let round = 0; round < 3; round++) {
        const vm = new Vm({ memory: 32 * pageSize, pageSize });
        const fs = await vm.mount(image, { readOnly: false });
        const f = await fs.open('/f', { create: true });
        for (let op = 0; op < 40; op++) {
          const x = rnd();
          if (x < 0.65) {
            const off = Math.floor(rnd() * MAX);
            const len = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 3000 : 200_000));
            const data = randomBytes(len, 1 + Math.floor(rnd() * 1e9));
            await f.write(off, data);
            if (off + len > model.length) {
              const m = new Uint8Array(off + len);
              m.set(model);
              model = m;
            }
            model.set(data, off);
          } else if (x < 0.9) {
            const size = Math.floor(rnd() * MAX);
            await f.truncate(size);
            const m = new Uint8Array(size);
            m.set(model.subarray(0, Math.min(size, model.length)));
            model = m;
          } else {
            await fs.sync();
          }
        }
        assert.ok(Buffer.from(await f.read(0, model.length + 100)).equals(Buffer.from(model)));
        await f.close();
        await fs.unmount();
        const fsck = fsckFat(image);
        assert.ok(fsck.clean, fsck.output);
        assert.ok(mcopyRead(image, '/f').equals(Buffer.from(model)), `round ${round}: mcopy reads the model`);
      }
    });
  }
});

describe('renaming directories', () => {
  /** The Sleuth Kit's view of each live directory: path to its first cluster (from istat's sectors and fsstat's cluster area). */
  function tskDirClusters(image: string): Map<string, number> {
    const fsstat = spawnSync('fsstat', [image], { encoding: 'utf8' }).stdout;
    const area = /Cluster Area: (\d+) -/.exec(fsstat);
    const csize = /Cluster Size: (\d+)/.exec(fsstat);
    const ssize = /Sector Size: (\d+)/.exec(fsstat);
    assert.ok(area && csize && ssize, `fsstat: ${fsstat}`);
    const perCluster = Number(csize[1]) / Number(ssize[1]);
    const fls = spawnSync('fls', ['-r', '-p', '-D', image], { encoding: 'utf8' }).stdout;
    const out = new Map<string, number>();
    for (const line of fls.split('\n')) {
      const m = /^d\/d (\d+):\t(.*)$/.exec(line);
      if (m === null) continue;
      const sectors = /Sectors:\n(\d+)/.exec(spawnSync('istat', [image, m[1]], { encoding: 'utf8' }).stdout);
      assert.ok(sectors, `istat ${m[2]}`);
      out.set(`/${m[2]}`, (Number(sectors[1]) - Number(area[1])) / perCluster + 2);
    }
    return out;
  }

  /** Every directory's ".." entry names its parent's first cluster (0 for the root), read from the image's bytes. */
  function assertDotDot(image: string, fat: 16 | 32, step: string): void {
    const b = readFileSync(image);
    const bps = b.readUInt16LE(11);
    const dirs = tskDirClusters(image);
    const fsstat = spawnSync('fsstat', [image], { encoding: 'utf8' }).stdout;
    const area = Number(/Cluster Area: (\d+) -/.exec(fsstat)![1]);
    const perCluster = b[13];
    for (const [path, cn] of dirs) {
      const parent = path.slice(0, path.lastIndexOf('/')) || '/';
      const want = parent === '/' ? 0 : dirs.get(parent);
      assert.notEqual(want, undefined, `${step}: fls lists ${parent}`);
      const off = (area + (cn - 2) * perCluster) * bps + 32;
      assert.equal(b.subarray(off, off + 11).toString('latin1'), '..         ', `${step}: ${path}: the second slot is ..`);
      const got = b.readUInt16LE(off + 26) + (fat === 32 ? b.readUInt16LE(off + 20) * 65536 : 0);
      assert.equal(got, want, `${step}: ${path}/.. names cluster ${got}, its parent's is ${want}`);
    }
  }

  for (const fat of [16, 32] as const) {
    test(`FAT${fat}: a directory moves within and across parents, with its .. rewritten and its files kept; into itself, over a non-empty directory or a file is refused`, async () => {
      const image = join(tmp.dir, `mvdir-${fat}.img`);
      mkfsFat(image, fat === 16 ? { fat, kib: 16 * KiB, cluster: 2 * KiB } : { fat, kib: 40 * KiB, cluster: 512 });
      const model: Model = new Map();
      const seed = [
        { path: 'a/b/f1', data: randomBytes(5000, 21) },
        { path: 'a/f2', data: randomBytes(100, 22) },
        { path: 'c/keep', data: randomBytes(10, 23) },
        { path: 'e/g', data: randomBytes(1, 24) },
      ];
      mcopyTree(image, seed);
      mtool('mmd', image, '::/d');
      for (const d of ['/a', '/a/b', '/c', '/d', '/e']) model.set(d, null);
      for (const s of seed) model.set(`/${s.path}`, s.data);
      const move = (from: string, to: string) => {
        ok(['mv', image, from, to]);
        for (const [p, v] of [...model]) {
          if (p === from || p.startsWith(`${from}/`)) {
            model.delete(p);
            model.set(to + p.slice(from.length), v);
          }
        }
        assertImage(image, model, `mv ${from} ${to}`);
        assertDotDot(image, fat, `mv ${from} ${to}`);
      };
      move('/a/b', '/c/bee');
      move('/a', '/c/long name A');
      move('/c/long name A', '/c/renamed');
      move('/c/renamed', '/top');
      // mv into an existing directory puts the source inside it, as mv(1) does.
      move('/c/bee', '/d/bee');
      const cli = vmpager(['mv', image, '/c', '/c/inside']);
      assert.equal(cli.status, 2, cli.stderr);
      assert.match(cli.stderr, /^vmpager: .*cannot move into itself\n$/);

      // The library's rename replaces an empty directory, and refuses the rest with Node's codes, the image unchanged.
      mtool('mmd', image, '::/empty');
      model.set('/empty', null);
      const vm = new Vm();
      let fs = await vm.mount(image, { readOnly: false });
      await fs.rename('/d/bee', '/empty');
      await fs.unmount();
      model.delete('/d/bee');
      model.set('/empty', null);
      model.set('/empty/f1', model.get('/d/bee/f1')!);
      model.delete('/d/bee/f1');
      assertImage(image, model, 'rename /d/bee over /empty');
      assertDotDot(image, fat, 'rename /d/bee over /empty');
      const before = readFileSync(image);
      fs = await vm.mount(image, { readOnly: false });
      for (const [from, to, code] of [
        ['/c', '/c/inside', 'EINVAL'],
        ['/empty', '/e', 'ENOTEMPTY'],
        ['/d', '/top/f2', 'ENOTDIR'],
        ['/top/f2', '/e', 'EISDIR'],
      ] as const) {
        await assert.rejects(fs.rename(from, to), (e: Error & { code?: string }) => e.code === code, `rename ${from} ${to}: ${code}`);
      }
      await fs.unmount();
      assert.ok(readFileSync(image).equals(before), 'the refused renames left the image unchanged');
    });
  }
});

describe('changing the case of a name', () => {
  test('mv of a directory or a file to its own name in another case renames it (FAT matches names without regard to case)', () => {
    const img = join(tmp.dir, 'case.img');
    mkfsFat(img, { fat: 16, kib: 40 * KiB, cluster: 2048 });
    const data = randomBytes(5000, 41);
    mcopyTree(img, [{ path: 'boot/inner.bin', data }, { path: 'readme.txt', data }]);
    ok(['mv', img, '/boot', '/BOOT']);
    ok(['mv', img, '/readme.txt', '/README.TXT']);
    assert.ok(fsckFat(img).clean, fsckFat(img).output);
    assert.deepEqual(mdirPaths(img).sort(), ['/BOOT', '/BOOT/inner.bin', '/README.TXT']);
    assert.ok(mcopyRead(img, '/BOOT/inner.bin').equals(Buffer.from(data)));
    assert.ok(mcopyRead(img, '/README.TXT').equals(Buffer.from(data)));
    // A directory still cannot go below itself.
    const r = vmpager(['mv', img, '/BOOT', '/boot/sub']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vmpager: .*invalid argument|cannot move into itself/);
  });
});

describe('replacing a file through another of its names', () => {
  const enc = (s: string) => new TextEncoder().encode(s);

  test('put through the 8.3 alias or another case keeps the long name, one file, fsck.fat clean; so does writeFile', async () => {
    const img = join(tmp.dir, 'alias.img');
    mkfsFat(img, { fat: 16, kib: 16 * KiB, cluster: 2048 });
    mcopyTree(img, [
      { path: 'My Document.txt', data: enc('v1\n') },
      { path: 'Mixed Long Name.txt', data: enc('m1\n') },
    ]);
    const names = ['/Mixed Long Name.txt', '/My Document.txt'];
    for (const [typed, data] of [['/MYDOCU~1.TXT', 'v2\n'], ['/my document.TXT', 'v3\n'], ['/MY DOCUMENT.TXT', 'v4\n']]) {
      ok(['put', img, typed], enc(data));
      assert.deepEqual(mdirPaths(img).sort(), names, `put ${typed}`);
      assert.equal(mcopyRead(img, '/My Document.txt').toString(), data, `put ${typed}`);
      assert.ok(fsckFat(img).clean, `put ${typed}: ${fsckFat(img).output}`);
    }
    const fs = await new Vm({ memory: 1 << 20 }).mount(img, { readOnly: false });
    try {
      await fs.promises.writeFile('/MIXEDL~1.TXT', 'm2\n');
      await fs.promises.writeFile('/mixed long name.txt', 'm3\n');
    } finally {
      await fs.unmount();
    }
    assert.deepEqual(mdirPaths(img).sort(), names);
    assert.equal(mcopyRead(img, '/Mixed Long Name.txt').toString(), 'm3\n');
    assert.ok(fsckFat(img).clean, fsckFat(img).output);
  });

  test("mv of another file onto a file's alias replaces it under the replaced file's own name (as Linux's vfat)", () => {
    const img = join(tmp.dir, 'alias-mv.img');
    mkfsFat(img, { fat: 12, kib: 1440, cluster: 512 });
    mcopyTree(img, [{ path: 'Long Target Name.bin', data: enc('old') }, { path: 'src.bin', data: enc('new') }]);
    ok(['mv', img, '/src.bin', '/LONGTA~1.BIN']);
    assert.deepEqual(mdirPaths(img), ['/Long Target Name.bin']);
    assert.equal(mcopyRead(img, '/Long Target Name.bin').toString(), 'new');
    assert.ok(fsckFat(img).clean, fsckFat(img).output);
  });
});

describe('names outside the Basic Multilingual Plane', () => {
  /** fls -r -p of the image: live names (no deleted or virtual entries) to their inode numbers. */
  function flsNames(image: string): Map<string, string> {
    const r = spawnSync('fls', ['-r', '-p', image], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, `fls: ${r.stderr}`);
    const out = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const m = /^([a-z-])\/[a-z-] (\d+):\t(.*)$/.exec(line);
      if (m !== null) out.set(`/${m[3]}`, m[2]);
    }
    return out;
  }

  test('emoji names are written as UTF-16 surrogate pairs the Sleuth Kit reads back, and counted in UTF-16 units against 255', async () => {
    const image = join(tmp.dir, 'emoji.img');
    mkfsFat(image, { fat: 16, kib: 16 * KiB, cluster: 2 * KiB });
    const files = new Map<string, Uint8Array>([
      ['/🎉 party 😀.txt', randomBytes(3000, 11)],
      ['/dir 🚀/𝄞 clef', randomBytes(5000, 12)],
      ['/dir 🚀/mixed é😀ü.bin', randomBytes(1, 13)],
      [`/${'😀'.repeat(50)}`, randomBytes(700, 14)],
    ]);
    ok(['mkdir', image, '/dir 🚀']);
    for (const [path, data] of files) ok(['put', image, path], data);
    // 127 emoji and one letter are 255 UTF-16 units: the longest name FAT holds; 128 emoji (256 units) are one too many.
    const longest = `/${'😀'.repeat(127)}a`;
    ok(['put', image, longest], new Uint8Array([7]));
    const before = readFileSync(image);
    const r = vmpager(['put', image, `/${'😀'.repeat(128)}`], new Uint8Array(1));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /file name too long\n$/);
    assert.ok(readFileSync(image).equals(before), 'refused name left the image unchanged');

    const f = fsckFat(image);
    assert.ok(f.clean, f.output);
    const fls = flsNames(image);
    for (const [path, data] of files) {
      const inode = fls.get(path);
      assert.ok(inode !== undefined, `fls lists ${path}: ${[...fls.keys()].join(', ')}`);
      const icat = spawnSync('icat', [image, inode], { maxBuffer: 1 << 26 });
      assert.ok(icat.stdout.equals(Buffer.from(data)), `icat ${path}`);
    }
    assert.ok(fls.has('/dir 🚀'), 'fls lists the directory');
    // mtools shows each surrogate pair as two underscores: the longest name has 254 of them and the a.
    assert.ok(mdirPaths(image).includes(`/${'_'.repeat(254)}a`), 'mdir lists the 255-unit name');

    const vm = new Vm();
    const fs = await vm.mount(image);
    const names = (await fs.readdir('/')).map((e) => e.name).sort();
    assert.deepEqual(names, ['🎉 party 😀.txt', 'dir 🚀', '😀'.repeat(50), longest.slice(1)].sort());
    for (const [path, data] of files) assert.ok(Buffer.from(await fs.promises.readFile(path)).equals(Buffer.from(data)), path);
    await fs.unmount();
  });
});

describe('what FAT cannot hold', () => {
  const image = join(tmp.dir, 'refuse.img');

  test('names FAT cannot hold, symlinks and files of 4 GiB are refused in one line, the image unchanged', async () => {
    mkfsFat(image, { fat: 32, kib: 40 * KiB, cluster: 512 });
    mcopyTree(image, [{ path: 'a.txt', data: randomBytes(100, 1) }]);
    const before = readFileSync(image);
    for (const name of ['/trailing dot.', '/trailing space ', '/ctl\x01char', `/${'x'.repeat(256)}`, '/what?.txt']) {
      const r = vmpager(['put', image, name], new Uint8Array(1));
      assert.equal(r.status, 2, `${name}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^vmpager: .*(invalid argument|file name too long)/);
    }
    const t = vmpager(['truncate', image, '/a.txt', '4GiB']);
    assert.equal(t.status, 2);
    assert.match(t.stderr, /^vmpager: .*file too large\n$/);
    const huge = join(tmp.dir, 'huge');
    const fd = openSync(huge, 'w');
    closeSync(fd);
    spawnSync('truncate', ['-s', '4G', huge]);
    const p = vmpager(['put', image, '/huge', '--from', huge]);
    assert.equal(p.status, 2);
    assert.match(p.stderr, /^vmpager: .*file too large\n$/);
    const vm = new Vm();
    const fs = await vm.mount(image, { readOnly: false });
    await assert.rejects(fs.symlink('a.txt', '/link'), (e: Error & { code?: string }) => e.code === 'EPERM');
    const f = await fs.open('/a.txt');
    await assert.rejects(f.write(2 ** 32 - 1, new Uint8Array(1)), (e: Error & { code?: string }) => e.code === 'EFBIG');
    await f.close();
    await fs.unmount();
    assert.ok(readFileSync(image).equals(before), 'image unchanged');
  });

  test('put of a new file into a full fixed root directory fails in one line naming that file, the image unchanged', () => {
    const img = join(tmp.dir, 'fullroot.img');
    mkfsFat(img, { fat: 12, kib: 1024, cluster: 512, rootEntries: 16 });
    const root = Buffer.from(readFileSync(img).subarray(17, 19)).readUInt16LE(0);
    assert.equal(root, 16, 'mkfs.fat made a root of 16 entries');
    mcopyTree(img, Array.from({ length: 16 }, (_, i) => ({ path: `F${i}.TXT`, data: randomBytes(10, i) })));
    const before = readFileSync(img);
    const r = vmpager(['put', img, '/new.txt'], new Uint8Array(5));
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vmpager: ${img}: /new.txt: no space left on device\n`);
    assert.ok(readFileSync(img).equals(before), 'image unchanged');
    assert.ok(fsckFat(img).clean);
  });

  test('in a nearly full fixed root, put of a new file and a rename reuse the old entry\'s slots; a name that fits nowhere leaves the file as it was', async () => {
    const img = join(tmp.dir, 'nearfullroot.img');
    mkfsFat(img, { fat: 12, kib: 1024, cluster: 512, rootEntries: 16 });
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `F${i}.TXT`, data: randomBytes(700, 100 + i) }));
    mcopyTree(img, files);
    const x = randomBytes(5000, 99);
    ok(['put', img, '/X.TXT'], x); // its hidden name takes the 4 free slots; the rename gives them back for X.TXT
    const model: Model = new Map(files.map((f) => [`/${f.path}`, f.data]));
    model.set('/X.TXT', x);
    assertImage(img, model, 'put X.TXT');
    // X.TXT took the first of the 4 slots its hidden name had; a name of 3 long entries and the short one fits there again.
    const long4 = 'a name of twenty-nine letters';
    const long5 = 'a name of forty letters, one too many!!!';
    const vm = new Vm();
    const fs = await vm.mount(img, { readOnly: false });
    await assert.rejects(fs.rename('/F1.TXT', `/${long5}`), (e: Error & { code?: string }) => e.code === 'ENOSPC');
    await fs.rename('/X.TXT', `/${long4}`);
    await fs.unmount();
    model.set(`/${long4}`, x);
    model.delete('/X.TXT');
    assertImage(img, model, 'renames');
  });

  test('put of a name no free run of the root can hold fails in one line naming it, and leaves no hidden file behind', () => {
    const img = join(tmp.dir, 'nofit.img');
    mkfsFat(img, { fat: 12, kib: 1024, cluster: 512, rootEntries: 16 });
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `F${i}.TXT`, data: randomBytes(300, 200 + i) }));
    mcopyTree(img, files);
    const name = '/a name of forty letters, one too many!!!'; // 5 slots; 4 are free
    const r = vmpager(['put', img, name], randomBytes(3000, 7));
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vmpager: ${img}: ${name}: no space left on device\n`);
    assertImage(img, new Map(files.map((f) => [`/${f.path}`, f.data])), 'after the refused put');
  });

  test('a file and a directory may take the volume label\'s name: its root entry names no file', () => {
    for (const [fat, kind] of [[16, 'file'], [32, 'dir']] as const) {
      const img = join(tmp.dir, `label-${fat}.img`);
      mkfsFat(img, { fat, kib: 40 * KiB, cluster: fat === 16 ? 2048 : 512, label: 'BOOTFS' });
      const data = randomBytes(3000, fat);
      if (kind === 'file') ok(['put', img, '/BOOTFS'], data);
      else ok(['mkdir', img, '/BOOTFS']);
      assert.ok(fsckFat(img).clean, fsckFat(img).output);
      assert.deepEqual(mdirPaths(img), ['/BOOTFS'], 'the exact 8.3 name, no ~1 alias');
      if (kind === 'file') assert.ok(mcopyRead(img, '/BOOTFS').equals(Buffer.from(data)));
      const l = spawnSync('mlabel', ['-i', img, '-s', '::'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
      assert.match(l.stdout, /Volume label is BOOTFS/, 'the label is still there');
    }
  });

  test("FAT[1]'s clean bit is clear while mounted for writing and back after unmount", async () => {
    for (const fat of [16, 32] as const) {
      const img = join(tmp.dir, `cleanbit-${fat}.img`);
      mkfsFat(img, { fat, kib: 40 * KiB, cluster: fat === 16 ? 2048 : 512 });
      const fat1 = () => {
        const b = readFileSync(img);
        const fatOff = b.readUInt16LE(14) * b.readUInt16LE(11);
        return fat === 16 ? b.readUInt16LE(fatOff + 2) & 0x8000 : b.readUInt32LE(fatOff + 4) & 0x08000000;
      };
      assert.notEqual(fat1(), 0, 'clean after mkfs.fat');
      const vm = new Vm();
      const fs = await vm.mount(img, { readOnly: false });
      assert.equal(fat1(), 0, 'dirty while mounted');
      const f = await fs.open('/x', { create: true });
      await f.write(0, randomBytes(10_000, 5));
      await f.close();
      await fs.unmount();
      assert.notEqual(fat1(), 0, 'clean after unmount');
      const r = fsckFat(img);
      assert.ok(r.clean, r.output);
    }
  });
});
