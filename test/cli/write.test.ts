/*
 * Writing through the command line, judged by e2fsprogs: on copies of
 * mke2fs-made ext2 and ext3 images, put, mkdir, replace, truncate and rm;
 * after each step e2fsck -fn is clean and debugfs dumps exactly the
 * expected bytes, and untouched files are unchanged. ext4 is refused for
 * writing with the image unchanged, and so is put --from a file that cannot
 * be read. A device that fails writes makes sync
 * fail with the pages kept dirty; healed, a later sync writes them.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, FaultyDisk, VmError } from '../../src/api/index.js';
import { ImageDevice } from '../../src/dev/image.js';
import { debugfs, debugfsCat, debugfsScript, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';
import { fsckFat, mcopyRead, mdirPaths, mkfat } from '../helpers/fat_images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function vmpager(args: string[], input?: Uint8Array): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

function ok(args: string[], input?: Uint8Array): void {
  const r = vmpager(args, input);
  assert.equal(r.status, 0, `vmpager ${args.join(' ')}: ${r.stderr}`);
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

for (const type of ['ext2', 'ext3'] as const) {
  for (const bs of [1024, 2048, 4096, 8192]) {
    describe(`${type} with ${bs}-byte blocks`, () => {
      const image = join(tmp.dir, `${type}-${bs}.img`);
      const untouched = randomBytes(70_000, bs);
      const expect = new Map<string, Uint8Array>();
      mkext2(image, [{ path: 'old/untouched', data: untouched }, { path: 'old/victim', data: randomBytes(9000, 3) }], { type, blockSize: bs, size: 32 << 20 });

      const check = () => {
        const ck = e2fsck(image);
        assert.ok(ck.clean, ck.output);
        for (const [p, data] of expect) assert.ok(debugfsCat(image, p).equals(Buffer.from(data)), `${p} as debugfs dumps it`);
        assert.ok(debugfsCat(image, '/old/untouched').equals(Buffer.from(untouched)), 'untouched file unchanged');
      };

      test('put new files of 0, 1, 4097, 1 MiB + 3 and 5 MiB bytes (stdin and --from)', () => {
        for (const [i, n] of [0, 1, 4097, (1 << 20) + 3, 5 << 20].entries()) {
          const data = randomBytes(n, 100 + i);
          if (i % 2 === 0) ok(['put', image, `/f${n}`], data);
          else {
            const src = join(tmp.dir, `src-${n}`);
            writeFileSync(src, data);
            ok(['--memory', '256KiB', 'put', image, `/f${n}`, '--from', src]);
          }
          expect.set(`/f${n}`, data);
        }
        check();
      });

      test('mkdir, and put inside it', () => {
        ok(['mkdir', image, '/dir']);
        const data = randomBytes(12_345, 7);
        ok(['put', image, '/dir/inner'], data);
        expect.set('/dir/inner', data);
        check();
        assert.match(debugfs(image, 'ls -l /dir'), /inner/);
      });

      test('replace a file with a smaller one and with a larger one', () => {
        const smaller = randomBytes(100, 8);
        ok(['put', image, `/f${(1 << 20) + 3}`], smaller);
        expect.set(`/f${(1 << 20) + 3}`, smaller);
        check();
        const larger = randomBytes(3 << 20, 9);
        ok(['put', image, '/f4097'], larger);
        expect.set('/f4097', larger);
        check();
      });

      test('truncate down inside a page, then up past the end: the gap reads zeros', () => {
        const p = `/f${5 << 20}`;
        const data = expect.get(p)!;
        ok(['truncate', image, p, '10000']);
        expect.set(p, data.subarray(0, 10000));
        check();
        ok(['truncate', image, p, '3MiB']);
        const grown = new Uint8Array(3 << 20);
        grown.set(data.subarray(0, 10000));
        expect.set(p, grown);
        check();
        const r = vmpager(['cat', image, p]);
        assert.ok(r.stdout.equals(Buffer.from(grown)));
      });

      test('rm a file and an empty directory', () => {
        ok(['rm', image, '/old/victim']);
        ok(['rm', image, '/dir/inner']);
        ok(['rm', image, '/dir']);
        expect.delete('/dir/inner');
        check();
        assert.doesNotMatch(debugfs(image, 'ls -l /old'), /victim/);
        const r = vmpager(['rm', image, '/old']);
        assert.equal(r.status, 2, 'a directory that is not empty stays');
        assert.match(r.stderr, /^vmpager: .*: \/old: directory not empty\n$/);
      });
    });
  }
}

test('a write to an ext4 image with a feature the writer cannot keep (bigalloc) is refused in one line naming it, the image byte for byte unchanged', () => {
  const image = join(tmp.dir, 'ext4.img');
  mkext2(image, [{ path: 'a', data: randomBytes(5000, 1) }], { type: 'ext4', size: 8 << 20, extra: ['-O', 'bigalloc', '-C', '16384'] });
  const before = sha(image);
  for (const args of [['put', image, '/b'], ['mkdir', image, '/d'], ['rm', image, '/a'], ['truncate', image, '/a', '0']]) {
    const r = vmpager(args, new Uint8Array(10));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^vmpager: .*ext4\.img: unsupported ext4 feature for writing: bigalloc\n$/);
  }
  assert.equal(sha(image), before);
});

test('put --from a file exactly as large as the free space fills the image: no room is asked past its end', () => {
  const image = join(tmp.dir, 'fill.img');
  mkext2(image, [{ path: 'a', data: randomBytes(3000, 4) }], { type: 'ext4', blockSize: 1024, size: 4 << 20, extra: ['-O', '^has_journal'] });
  const free = () => Number(/^Free blocks:\s*(\d+)/m.exec(spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' }).stdout)?.[1]);
  const data = randomBytes(free() * 1024, 5);
  const from = join(tmp.dir, 'fill.bin');
  writeFileSync(from, data);
  ok(['put', image, '/fill', '--from', from]);
  assert.equal(free(), 0);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
  assert.ok(debugfsCat(image, '/fill').equals(Buffer.from(data)));
});

test('put --from a file whose size reads 0 but holds bytes (/proc/version) copies them all', () => {
  const image = join(tmp.dir, 'proc.img');
  mkext2(image, [], { type: 'ext2', size: 4 << 20 });
  ok(['put', image, '/version', '--from', '/proc/version']);
  assert.ok(debugfsCat(image, '/version').equals(readFileSync('/proc/version')));
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('put of a new file that fails names PATH, not the hidden file it was writing, and leaves none behind', () => {
  const image = join(tmp.dir, 'full.img');
  mkext2(image, [{ path: 'a', data: randomBytes(3000, 6) }], { type: 'ext2', blockSize: 1024, size: 1 << 20 });
  const from = join(tmp.dir, 'big.bin');
  writeFileSync(from, randomBytes(2 << 20, 7));
  const r = vmpager(['put', image, '/new', '--from', from]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, `vmpager: ${image}: /new: no space left on device\n`);
  assert.doesNotMatch(debugfs(image, 'ls /'), /vmpager/);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('put --from a file that cannot be read fails in one line naming it, and leaves the image unchanged', () => {
  const image = join(tmp.dir, 'from.img');
  mkext2(image, [{ path: 'a', data: randomBytes(5000, 2) }], { type: 'ext2', size: 8 << 20 });
  const before = sha(image);
  const missing = join(tmp.dir, 'no-such-input');
  for (const [from, reason] of [[missing, 'no such file or directory'], [tmp.dir, 'is a directory']]) {
    const r = vmpager(['put', image, '/b', '--from', from]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `vmpager: ${from}: ${reason}\n`);
  }
  assert.equal(sha(image), before, 'no file was created');
});

test('a device that fails writes: sync fails with EIO, pages stay dirty, a later sync on the healed device writes them', async () => {
  const image = join(tmp.dir, 'faulty.img');
  mkext2(image, [], { type: 'ext2', blockSize: 4096, size: 8 << 20 });
  const { dev: inner } = await ImageDevice.open(image, false);
  const dev = new FaultyDisk(inner!);
  const vm = new Vm({ memory: 1 << 20 });
  const fs = await vm.mount(dev, { readOnly: false });
  const data = randomBytes(300_000, 5);
  const f = await fs.open('/x', { create: true });
  await f.write(0, data);
  dev.failWrites = true;
  await assert.rejects(f.sync(), (e: VmError) => e.code === 'EIO');
  await assert.rejects(fs.unmount(), (e: VmError) => e.code === 'EIO');
  assert.ok(Buffer.from(await f.read(0, data.length)).equals(Buffer.from(data)), 'nothing lost in memory');
  dev.failWrites = false;
  await f.sync();
  await f.close();
  await fs.unmount();
  assert.ok(debugfsCat(image, '/x').equals(Buffer.from(data)));
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('a closed file whose write-back fails is not dropped when the object cache evicts it', async () => {
  // 70 other files opened and closed push /x's object out of the cache (64
  // objects) while the device fails writes: its dirty pages must survive for
  // the sync after the device heals.
  const image = join(tmp.dir, 'evict.img');
  const others = Array.from({ length: 70 }, (_, i) => ({ path: `o${i}`, data: randomBytes(100, i) }));
  mkext2(image, others, { type: 'ext2', blockSize: 4096, size: 8 << 20 });
  const { dev: inner } = await ImageDevice.open(image, false);
  const dev = new FaultyDisk(inner!);
  const vm = new Vm({ memory: 4 << 20 });
  const fs = await vm.mount(dev, { readOnly: false });
  const data = randomBytes(200_000, 6);
  const f = await fs.open('/x', { create: true });
  await f.write(0, data);
  dev.failWrites = true;
  // The last close writes the pages back: it fails, and says so, with the pages kept dirty.
  await assert.rejects(f.close(), (e: unknown) => e instanceof VmError && e.code === 'EIO');
  for (const o of others) await (await fs.open(`/${o.path}`)).close();
  dev.failWrites = false;
  await fs.sync();
  await fs.unmount();
  assert.ok(debugfsCat(image, '/x').equals(Buffer.from(data)), 'the evicted file kept its bytes');
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('mv removes what a killed put or mv left in the directory it writes (hidden new and old names), and nothing else', () => {
  const image = join(tmp.dir, 'mvleft.img');
  mkext2(image, [
    { path: 'd/.vmpager-old-0123456789abcdef', data: randomBytes(3000, 1) },
    { path: 'd/.vmpager-new-fedcba9876543210', data: randomBytes(3000, 2) },
    { path: 'd/.vmpager-old-lookalike', data: randomBytes(10, 3) },
    { path: 'd/keep', data: randomBytes(10, 4) },
    { path: 'src', data: randomBytes(10, 5) },
  ], { size: 8 * 1024 * 1024 });
  ok(['mv', image, '/src', '/d/moved']);
  const names = debugfs(image, 'ls /d').match(/\(\d+\) (\S+)/g)!.map((m) => m.replace(/^\(\d+\) /, '')).sort();
  assert.deepEqual(names, ['.', '..', '.vmpager-old-lookalike', 'keep', 'moved']);
  assert.ok(e2fsck(image).clean, e2fsck(image).output);
});

test('mv of a symlink to a directory TO moves the link into TO (the change-of-case rename looks at FROM itself)', () => {
  const image = join(tmp.dir, 'mvlink.img');
  mkext2(image, [{ path: 'dir/keep', data: randomBytes(10, 5) }], { size: 8 * 1024 * 1024 });
  ok(['ln', '-s', image, '/dir', '/lnk']);
  ok(['mv', image, '/lnk', '/dir']);
  assert.match(debugfs(image, 'ls -l /dir'), / lnk\s*$/m);
  assert.match(debugfs(image, 'stat /dir/lnk'), /Type: symlink/);
  assert.ok(e2fsck(image).clean, e2fsck(image).output);
});

test('mv FILE onto a symlink to a directory moves the file into that directory, as mv(1) does (a merged /usr: /lib -> usr/lib)', () => {
  const image = join(tmp.dir, 'mvinto.img');
  const data = randomBytes(5000, 21);
  mkext2(image, [{ path: 'usr/lib/keep', data: randomBytes(10, 22) }, { path: 'x.ko', data }], { type: 'ext4', size: 8 << 20 });
  ok(['ln', '-s', image, 'usr/lib', '/lib']);
  ok(['mv', image, '/x.ko', '/lib']);
  assert.match(debugfs(image, 'stat /lib'), /Type: symlink/, 'the symlink stays');
  assert.ok(debugfsCat(image, '/usr/lib/x.ko').equals(Buffer.from(data)));
  // mkdir -p goes through it too, as mkdir(1) -p does.
  ok(['mkdir', '-p', image, '/lib/firmware/brcm']);
  assert.match(debugfs(image, 'stat /usr/lib/firmware/brcm'), /Type: directory/);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('a trailing slash names a directory: touch, put, mv, ln and ln -s refuse to make a file, link or symlink through one, and make nothing', () => {
  const image = join(tmp.dir, 'slash.img');
  mkext2(image, [{ path: 'a', data: randomBytes(10, 23) }, { path: 'd/keep', data: randomBytes(10, 24) }], { type: 'ext4', size: 8 << 20 });
  const before = debugfs(image, 'ls -p /') + debugfs(image, 'ls -p /d');
  for (const [args, reason] of [
    [['touch', image, '/newt/'], 'is a directory'],
    [['put', image, '/newp/'], 'is a directory'],
    [['put', image, '/a/'], 'not a directory'],
    [['mv', image, '/a', '/nodir/'], 'not a directory'],
    [['ln', image, '/a', '/hl/'], 'no such file or directory'],
    [['ln', '-s', image, '/a', '/sl/'], 'no such file or directory'],
  ] as const) {
    const r = vmpager([...args], new Uint8Array(3));
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^vmpager: .*: ${reason}\\n$`), args.join(' '));
  }
  assert.equal(debugfs(image, 'ls -p /') + debugfs(image, 'ls -p /d'), before, 'nothing made or moved');
  // Into a directory named with one, as ln(1) makes it (symlink(2) itself would say EEXIST).
  ok(['ln', '-s', image, '/a', '/d/']);
  assert.match(debugfs(image, 'stat /d/a'), /Type: symlink/);
  // A directory moves through one.
  ok(['mv', image, '/d/', '/e/']);
  assert.match(debugfs(image, 'stat /e/keep'), /Type: regular/);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('rm -r of the root, of a path ending in . or .. is refused before anything is removed (ext4 and FAT)', () => {
  const ext4 = join(tmp.dir, 'keep-root.img');
  mkext2(ext4, [{ path: 'keep', data: randomBytes(3000, 11) }, { path: 'd/e/f', data: randomBytes(10, 12) }], { type: 'ext4', size: 8 << 20 });
  const fat = join(tmp.dir, 'keep-root-fat.img');
  mkfat(fat, [{ path: 'KEEP', data: randomBytes(3000, 13) }, { path: 'D/E/F', data: randomBytes(10, 14) }], { fat: 16, kib: 16384 });
  // (A read-write mount of ext4 records its time and count in the superblock, as the kernel's does: the trees are compared.)
  const tree = (image: string) => (image === fat ? mdirPaths(fat).join('\n') : debugfs(image, 'ls -p /') + debugfs(image, 'ls -p /d/e'));
  for (const image of [ext4, fat]) {
    const before = tree(image);
    for (const path of ['/', '//', '/d/.', '/d/e/..', '/D/.', '/D/E/..']) {
      const r = vmpager(['rm', '-r', image, path]);
      assert.equal(r.status, 2, `rm -r ${path}: ${r.stderr}`);
      assert.match(r.stderr, /^vmpager: .*: (the root directory|'\.\.?') cannot be removed\n$/);
      assert.equal(tree(image), before, `rm -r ${path} removed nothing from ${image}`);
    }
  }
  const ck = e2fsck(ext4);
  assert.ok(ck.clean, ck.output);
});

for (const type of ['ext2', 'ext4'] as const) {
  test(`rm, put and mv over a device node free no block (${type}: i_block holds the device's numbers, not block pointers), and put -r onto a tree with device nodes succeeds`, () => {
    const image = join(tmp.dir, `dev-${type}.img`);
    const data = randomBytes(1 << 20, 31);
    mkext2(image, [{ path: 'data', data }, { path: 'dev/keep', data: randomBytes(10, 32) }], { type, blockSize: 1024, size: 20 << 20 });
    // Device numbers that read as blocks of /data, as old-style numbers (major * 256 + minor) and as new ones.
    const blocks = debugfs(image, 'blocks /data').trim().split(/\s+/).map(Number);
    const b = blocks[500];
    debugfsScript(image, ['cd /dev', `mknod a c ${b >> 8} ${b & 0xff}`, `mknod b b ${blocks[600] >> 8} ${blocks[600] & 0xff}`, 'mknod c c 1 3', 'mknod p p'], true);
    assert.ok(e2fsck(image).clean, e2fsck(image).output);
    ok(['rm', image, '/dev/a']);
    ok(['put', image, '/dev/b'], randomBytes(100, 33));
    ok(['mv', image, '/dev/keep', '/dev/c']);
    ok(['rm', image, '/dev/p']);
    const ck = e2fsck(image);
    assert.ok(ck.clean, ck.output);
    // Filling the image hands out every free block: /data must keep its own.
    const fill = join(tmp.dir, `fill-${type}`);
    writeFileSync(fill, randomBytes(16 << 20, 34));
    vmpager(['put', image, '/fill', '--from', fill]);
    assert.ok(debugfsCat(image, '/data').equals(Buffer.from(data)), '/data whole');
    // A tree with device nodes, put again over itself.
    const src = join(tmp.dir, `devtree-${type}`);
    mkdirSync(join(src, 'dev'), { recursive: true });
    writeFileSync(join(src, 'dev/keep'), 'k');
    debugfsScript(image, ['cd /dev', 'mknod null c 1 3', 'mknod console c 5 1'], true);
    vmpager(['rm', image, '/fill']);
    ok(['put', '-r', image, '/', '--from', src]);
    assert.ok(e2fsck(image).clean, e2fsck(image).output);
  });
}

test("the image's host full (writes into its holes fail): no inode or entry reaches the disk pointing at a block whose write failed; what is left is what e2fsck -p mends", async () => {
  const image = join(tmp.dir, 'hostfull.img');
  mkext2(image, [{ path: 'keep', data: randomBytes(5000, 41) }], { type: 'ext4', blockSize: 1024, size: 64 << 20 });
  // Every 4 KiB page of the image file that mke2fs left zero stands for a hole the full host cannot fill.
  const bytes = readFileSync(image);
  const holes: { start: number; end: number }[] = [];
  for (let p = 0; p < bytes.length; p += 4096) {
    if (!bytes.subarray(p, p + 4096).every((b) => b === 0)) continue;
    const last = holes.at(-1);
    if (last !== undefined && last.end === p) last.end = p + 4096;
    else holes.push({ start: p, end: p + 4096 });
  }
  const { dev: inner } = await ImageDevice.open(image, false);
  const dev = new FaultyDisk(inner!);
  const fs = await new Vm({ memory: 4 << 20 }).mount(dev, { readOnly: false });
  const f = await fs.open('/big', { create: true });
  await f.write(0, randomBytes(30 << 20, 42));
  dev.badRanges = holes;
  await assert.rejects(f.close(), (e: VmError) => e.code === 'EIO');
  await assert.rejects(fs.unmount(), (e: VmError) => e.code === 'EIO');
  await fs.abandon();
  const out = spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(out, /^Inode \d+|extent|Entry '/m, out);
  const copy = join(tmp.dir, 'hostfull-p.img');
  writeFileSync(copy, readFileSync(image));
  assert.ok((spawnSync('e2fsck', ['-p', copy]).status ?? 8) <= 1, 'e2fsck -p mends it on its own');
  assert.ok(debugfsCat(image, '/keep').equals(Buffer.from(randomBytes(5000, 41))));
});

test('put -r of a regular file over a FIFO, a device node, a dangling symlink and a symlink to a file replaces each, the symlink\'s target untouched', () => {
  const image = join(tmp.dir, 'over-special.img');
  const target = randomBytes(3000, 51);
  mkext2(image, [{ path: 't', data: target }], { type: 'ext4', size: 8 << 20 });
  debugfsScript(image, ['mknod F p', 'mknod C c 1 3', 'symlink D /nowhere', 'symlink L /t'], true);
  const src = join(tmp.dir, 'over-special-src');
  mkdirSync(src, { recursive: true });
  for (const n of ['F', 'C', 'D', 'L']) writeFileSync(join(src, n), `new ${n}\n`);
  ok(['put', '-r', image, '/', '--from', src]);
  for (const n of ['F', 'C', 'D', 'L']) {
    assert.match(debugfs(image, `stat /${n}`), /Type: regular/, n);
    assert.equal(debugfsCat(image, `/${n}`).toString(), `new ${n}\n`);
  }
  assert.ok(debugfsCat(image, '/t').equals(Buffer.from(target)), 'the symlink was replaced, not written through');
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('put -r that runs out of room replacing a file names that file, which is unchanged (not the hidden new one), e2fsck clean', () => {
  const image = join(tmp.dir, 'putr-full.img');
  const old = randomBytes(3000, 81);
  mkext2(image, [{ path: 'd/f', data: old }], { type: 'ext4', size: 4 << 20 });
  const src = join(tmp.dir, 'putr-full-src');
  mkdirSync(join(src, 'd'), { recursive: true });
  writeFileSync(join(src, 'd/f'), randomBytes(6 << 20, 82));
  const r = vmpager(['put', '-r', image, '/', '--from', src]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^vmpager: .*putr-full\.img: \/d\/f: no space left on device \(\/d\/f is unchanged\)\n$/);
  assert.ok(debugfsCat(image, '/d/f').equals(Buffer.from(old)));
  assert.doesNotMatch(debugfs(image, 'ls /d'), /vmpager-new/);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test("mv's failures that are TO's name TO: a directory onto a file, onto a directory that is not empty", () => {
  const image = join(tmp.dir, 'mvnames.img');
  mkext2(image, [{ path: 'file', data: randomBytes(10, 91) }, { path: 'a/d1/x', data: randomBytes(10, 92) }, { path: 'dir/y', data: randomBytes(10, 93) }], { type: 'ext4', size: 8 << 20 });
  ok(['mkdir', image, '/d1']);
  for (const [args, line] of [
    [['mv', image, '/dir', '/file'], '/file: not a directory'],
    [['mv', image, '/d1', '/a'], '/a/d1: directory not empty'],
    [['mv', image, '/nope', '/a'], '/nope: no such file or directory'],
  ] as const) {
    const r = vmpager([...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `vmpager: ${image}: ${line}\n`);
  }
  assert.ok(e2fsck(image).clean);
});

test("put over a file in a full FAT12 root directory says why (no free entry for its hidden new file), the file unchanged, fsck.fat clean", () => {
  const image = join(tmp.dir, 'fullroot.img');
  const files = Array.from({ length: 224 }, (_, i) => ({ path: `F${i}.TXT`, data: randomBytes(10, 200 + i) }));
  mkfat(image, files, { fat: 12, kib: 1440, rootEntries: 224 });
  const r = vmpager(['put', image, '/F1.TXT'], randomBytes(100, 300));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^vmpager: .*fullroot\.img: \/F1\.TXT: no free entry in \/ for put's hidden new file \(\/F1\.TXT is unchanged\)\n$/);
  assert.ok(mcopyRead(image, 'F1.TXT').equals(Buffer.from(files[1].data)));
  const ck = fsckFat(image);
  assert.ok(ck.clean, ck.output);
});

test('on ext4 names are exact: put to another case of a name makes a second file, the first unchanged, e2fsck clean', () => {
  const image = join(tmp.dir, 'ext4-case.img');
  mkext2(image, [{ path: 'Readme.txt', data: new TextEncoder().encode('v1\n') }], { type: 'ext4', size: 8 << 20 });
  ok(['put', image, '/README.TXT'], new TextEncoder().encode('v2\n'));
  assert.equal(debugfsCat(image, '/Readme.txt').toString(), 'v1\n');
  assert.equal(debugfsCat(image, '/README.TXT').toString(), 'v2\n');
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});
