/*
 * The command line's guards: mkfs refuses an image that holds a partition
 * table or a file system (saying which) and leaves it unchanged, --force
 * formats it, an existing file is never cut; bad option values are usage
 * errors (exit 1, one line); a large --memory works; cat, like cat(1), goes
 * on after an operand that fails and exits 2 at the end.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { mkfs, VmError } from '../../src/api/index.js';
import { e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const oneLine = (s: string) => s.trimEnd().split('\n').length === 1;

/** A whole disk laid out as a Raspberry Pi image is: MBR, a FAT32 boot partition, an ext4 root. */
function piDisk(path: string): void {
  writeFileSync(path, new Uint8Array(0));
  execFileSync('truncate', ['-s', '80M', path]);
  execFileSync('sfdisk', ['--quiet', path], { input: 'label: dos\nstart=8192, size=65536, type=c\nstart=73728, type=83\n' });
  const root = join(tmp.dir, 'root.part');
  mkext2(root, [{ path: 'etc/hostname', data: new TextEncoder().encode('pi\n') }], { type: 'ext4', blockSize: 4096, size: 80 * 2 ** 20 - 73728 * 512, extra: ['-L', 'rootfs'] });
  execFileSync('dd', [`if=${root}`, `of=${path}`, 'bs=512', 'seek=73728', 'conv=notrunc', 'status=none']);
}

test('mkfs refuses a whole disk with a partition table, an ext4 image, a GPT disk: one line saying what it holds, the image unchanged', () => {
  const pi = join(tmp.dir, 'pi.img');
  piDisk(pi);
  const ext4 = join(tmp.dir, 'ext4.img');
  mkext2(ext4, [], { type: 'ext4', blockSize: 4096, size: 32 << 20, extra: ['-L', 'rootfs'] });
  const gpt = join(tmp.dir, 'gpt.img');
  execFileSync('truncate', ['-s', '32M', gpt]);
  execFileSync('sgdisk', ['-n', '1:2048:+8M', '-t', '1:ef00', gpt], { stdio: 'ignore' });
  for (const [img, what] of [
    [pi, 'an MBR partition table'],
    [ext4, 'an ext4 file system labelled "rootfs"'],
    [gpt, 'a GPT partition table'],
  ] as const) {
    const before = sha(img);
    const size = statSync(img).size;
    const r = vmpager(['mkfs', img, '16MiB']);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(oneLine(r.stderr), r.stderr);
    assert.ok(r.stderr.includes(`holds ${what}; not formatted (--force formats it anyway)`), r.stderr);
    assert.equal(sha(img), before, `${img} unchanged`);
    assert.equal(statSync(img).size, size);
  }
});

test('mkfs --force formats it, and an existing file is never cut: a larger one keeps its size and the bytes past the new file system', () => {
  const pi = join(tmp.dir, 'pi-force.img');
  piDisk(pi);
  const size = statSync(pi).size;
  const tail = readFileSync(pi).subarray(70 << 20);
  const r = vmpager(['mkfs', '--force', pi, '64MiB']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(pi).size, size, 'not cut to 64 MiB');
  assert.ok(readFileSync(pi).subarray(70 << 20).equals(tail), 'bytes past the new file system untouched');
  const blocks = execFileSync('dumpe2fs', ['-h', pi], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.match(blocks, /Block count:\s+65536\b/);
  assert.ok(e2fsck(pi).clean);
});

test('mkfs grows a smaller existing file with nothing in it, and the library refuses as the command does (EEXIST)', async () => {
  const small = join(tmp.dir, 'small.img');
  writeFileSync(small, new Uint8Array(1 << 20));
  assert.equal(vmpager(['mkfs', small, '8MiB']).status, 0);
  assert.equal(statSync(small).size, 8 << 20);
  assert.ok(e2fsck(small).clean);
  await assert.rejects(mkfs(small, 8 << 20), (e: unknown) => e instanceof VmError && e.code === 'EEXIST' && /holds an ext2 file system/.test(e.message));
  await mkfs(small, 8 << 20, { force: true });
  assert.ok(e2fsck(small).clean);
});

test('bad option values are usage errors: exit 1, one line, nothing read', () => {
  const img = join(tmp.dir, 'opts.img');
  mkext2(img, [{ path: 'a', data: randomBytes(1000, 1) }], { type: 'ext2', blockSize: 1024, size: 4 << 20 });
  for (const args of [
    ['--memory', '0'], ['--memory', '1'], ['--memory=-5'], ['--memory', 'lots'], ['--memory', '32KiB'],
    ['--page-size', '1000'], ['--page-size', '4096.5'], ['--page-size', '3000'], ['--page-size', '128KiB'], ['--page-size', '2048'],
  ]) {
    const r = vmpager([...args, 'cat', img, '/a']);
    assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
    assert.ok(oneLine(r.stderr) && r.stderr.startsWith('vmpager: '), `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout.length, 0);
  }
  // parseArgs' own refusals, in vmpager's words, one line each.
  for (const [args, line] of [
    [['--memory', '-5', 'cat', img, '/a'], "vmpager: --memory: a value that starts with '-' is written --memory=VALUE\n"],
    [['cat', '--bogus', img, '/a'], "vmpager: unknown option --bogus (a path or value that starts with '-' goes after '--')\n"],
    [['truncate', img, '/a', '-5'], "vmpager: unknown option -5 (a path or value that starts with '-' goes after '--')\n"],
    [['cat', img, '/a', '--memory'], 'vmpager: --memory needs a value\n'],
  ] as const) {
    const r = vmpager([...args]);
    assert.equal(r.status, 1, args.join(' '));
    assert.equal(r.stderr, line);
  }
  // A FIFO given as the image is refused at once (opening one waits for a writer for ever), read-only commands too.
  const fifo = join(tmp.dir, 'fifo.img');
  execFileSync('mkfifo', [fifo]);
  for (const args of [['ls', fifo, '/'], ['parts', fifo], ['--no-lock', 'cat', fifo, '/a'], ['touch', fifo, '/a']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.signal ?? ''} ${r.stderr}`);
    assert.equal(r.stderr, `vmpager: ${fifo}: not a file or block device\n`);
  }
  const stray = vmpager(['cat', '--json', img, '/a']);
  assert.equal(stray.status, 1);
  assert.match(stray.stderr, /cat takes no --json/);
});

test('--memory of 4 GiB and more (frames in several arenas) reads a file', { skip: freemem() < 8 * 2 ** 30 ? 'less than 8 GiB free' : false }, () => {
  const img = join(tmp.dir, 'big-mem.img');
  const data = randomBytes(3 << 20, 5);
  mkext2(img, [{ path: 'f', data }], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
  for (const memory of ['4GiB', '6GiB']) {
    const r = vmpager(['--memory', memory, 'cat', img, '/f']);
    assert.equal(r.status, 0, `${memory}: ${r.stderr}`);
    assert.ok(r.stdout.equals(Buffer.from(data)), memory);
  }
});

test('cat goes on after an operand that fails, like cat(1): every failure one line, exit 2 at the end', () => {
  const img = join(tmp.dir, 'cat.img');
  const a = randomBytes(5000, 6);
  const b = randomBytes(7000, 7);
  mkext2(img, [{ path: 'a', data: a }, { path: 'b', data: b }], { type: 'ext2', blockSize: 1024, size: 4 << 20 });
  const r = vmpager(['cat', img, '/missing', '/a', '/also-missing', '/b']);
  assert.equal(r.status, 2);
  assert.ok(r.stdout.equals(Buffer.concat([a, b])), 'the files that exist, in order');
  assert.deepEqual(r.stderr.trimEnd().split('\n'), [
    `vmpager: ${img}: /missing: no such file or directory`,
    `vmpager: ${img}: /also-missing: no such file or directory`,
  ]);
});

test('an image with multi-mount protection: reading warns when its block says another node has it; writing is refused, the image unchanged', () => {
  const img = join(tmp.dir, 'mmp.img');
  mkext2(img, [{ path: 'a', data: randomBytes(3000, 8) }], { type: 'ext2', blockSize: 1024, size: 16 << 20, extra: ['-O', 'mmp'] });
  const dump = execFileSync('debugfs', ['-R', 'dump_mmp', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const block = Number(/block_number:\s*(\d+)/.exec(dump)![1]);
  let r = vmpager(['cat', img, '/a']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'a clean MMP block: no warning');
  // Another node's sequence number, as a live mount keeps writing it.
  const bytes = readFileSync(img);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(block * 1024 + 4, 0x1234, true);
  writeFileSync(img, bytes);
  r = vmpager(['cat', img, '/a']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.equals(Buffer.from(randomBytes(3000, 8))));
  assert.match(r.stderr, /warning: multi-mount protection says the file system is in use by \S+: what is read may change/);
  const before = sha(img);
  r = vmpager(['mkdir', img, '/d']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^vmpager: .*mmp\.img: unsupported ext4 feature for writing: mmp\n$/);
  assert.equal(sha(img), before);
});

test('an image that is not a raw disk or file system says what it is and the step that makes it readable, in one line', () => {
  const raw = join(tmp.dir, 'plain.img');
  mkext2(raw, [{ path: 'hello', data: new TextEncoder().encode('hi\n') }], { type: 'ext4', blockSize: 4096, size: 8 << 20 });
  const cases: Array<[string, () => void, RegExp]> = [
    ['plain.img.gz', () => writeFileSync(join(tmp.dir, 'plain.img.gz'), execFileSync('gzip', ['-c', raw], { maxBuffer: 1 << 26 })), /the file is gzip-compressed \(uncompress it first: gunzip -k IMAGE\)$/],
    ['plain.img.xz', () => writeFileSync(join(tmp.dir, 'plain.img.xz'), execFileSync('xz', ['-c', '-0', raw], { maxBuffer: 1 << 26 })), /the file is xz-compressed \(uncompress it first: unxz -k IMAGE\)$/],
    // A QCOW2 version 3 header (magic, version, no backing file, 64 KiB clusters), as qemu-img writes one.
    ['disk.qcow2', () => {
      const h = new Uint8Array(1 << 20);
      const dv = new DataView(h.buffer);
      h.set([0x51, 0x46, 0x49, 0xfb]);
      dv.setUint32(4, 3);
      dv.setUint32(20, 16);
      dv.setBigUint64(24, BigInt(8 << 20));
      writeFileSync(join(tmp.dir, 'disk.qcow2'), h);
    }, /the file is a QCOW2 disk image, not a raw one \(convert it first: qemu-img convert -f qcow2 -O raw IMAGE disk\.img\)$/],
    ['swap.img', () => {
      writeFileSync(join(tmp.dir, 'swap.img'), new Uint8Array(1 << 20));
      execFileSync('/usr/sbin/mkswap', [join(tmp.dir, 'swap.img')], { stdio: 'ignore' });
    }, /no ext2\/3\/4, UFS or FAT file system found: it holds Linux swap$/],
  ];
  for (const [name, make, want] of cases) {
    make();
    const r = vmpager(['ls', join(tmp.dir, name), '/']);
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.ok(oneLine(r.stderr), r.stderr);
    assert.match(r.stderr.trimEnd(), want, name);
  }
});
