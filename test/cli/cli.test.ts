/*
 * The command line's contract: exit statuses, the one-line error
 * `vmpager: IMAGE: PATH: reason`, no stack traces, read-only commands
 * that never write, and the package's own name importable from the checkout.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, statSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfsScript, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI, CLI_MODULES } from '../helpers/cli.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

function vmpager(args: string[], cwd = ROOT): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineFailure(r: { status: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('vmpager command line', () => {
  const tmp = tempDir();
  const image = join(tmp.dir, 'fs.img');
  before(() => {
    mkext2(image, [
      { path: 'a.txt', data: new TextEncoder().encode('hello\n') },
      { path: 'dir/b.bin', data: randomBytes(10_000, 3) },
      { path: 'link', symlink: 'dir/b.bin' },
    ], { type: 'ext4', blockSize: 4096, size: 4 << 20 });
  });
  after(() => tmp.cleanup());

  test('--version and --help answer on stdout and exit 0', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(vmpager(['--version']), { status: 0, stdout: `vmpager ${pkg.version}\n`, stderr: '' });
    const h = vmpager(['--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /usage: vmpager/);
    assert.match(h.stdout, /--memory SIZE/);
  });

  test('the bundle (what `vmpager` runs) and the modules it is built from answer alike', () => {
    for (const args of [['--version'], ['ls', '-R', '--json', image], ['cat', image, '/dir/b.bin', '/a.txt'], ['stat', image, '/nope']]) {
      const bundled = spawnSync(process.execPath, [CLI, ...args]);
      const modules = spawnSync(process.execPath, [CLI_MODULES, ...args]);
      assert.equal(bundled.status, modules.status, args.join(' '));
      assert.ok(bundled.stdout.equals(modules.stdout), `${args.join(' ')}: same stdout`);
      assert.equal(bundled.stderr.toString(), modules.stderr.toString(), `${args.join(' ')}: same stderr`);
    }
  });

  test('usage mistakes exit 1 with one line', () => {
    for (const args of [['frobnicate'], ['cat', image], ['--bogus', 'ls', image], ['--memory', 'lots', 'ls', image], ['--memory', '100TiB', 'ls', image], ['--page-size', '65536', '--memory', '200TiB', 'ls', image]]) {
      const r = vmpager(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /^vmpager: /);
    }
    assert.equal(vmpager([]).status, 1);
  });

  test('a missing path is one line naming image and path, exit 2', () => {
    assertOneLineFailure(vmpager(['cat', image, '/nope']), new RegExp(`^vmpager: ${image}: /nope: no such file or directory$`));
    assertOneLineFailure(vmpager(['stat', image, '/dir/nope']), /: \/dir\/nope: no such file or directory$/);
    assertOneLineFailure(vmpager(['ls', image, '/a.txt/x']), /: \/a.txt\/x: not a directory$/);
  });

  test('cat of a directory fails cleanly', () => {
    assertOneLineFailure(vmpager(['cat', image, '/dir']), /: \/dir: is a directory$/);
  });

  test('an image that is missing or not a file system fails cleanly', () => {
    assertOneLineFailure(vmpager(['ls', join(tmp.dir, 'absent.img')]), /absent\.img: no such file or directory$/);
    const junk = join(tmp.dir, 'junk.img');
    writeFileSync(junk, randomBytes(1 << 20, 9));
    assertOneLineFailure(vmpager(['ls', junk]), /^vmpager: .*junk\.img: /);
    const tiny = join(tmp.dir, 'tiny.img');
    writeFileSync(tiny, new Uint8Array(100));
    assertOneLineFailure(vmpager(['cat', tiny, '/x']), /^vmpager: .*tiny\.img: /);
  });

  test('an unknown incompatible feature is refused by name', () => {
    const copy = join(tmp.dir, 'feature.img');
    copyFileSync(image, copy);
    const b = readFileSync(copy);
    // s_feature_incompat is at byte 96 of the superblock (offset 1024): set an unknown bit.
    b.writeUInt32LE(b.readUInt32LE(1024 + 96) | 0x100000, 1024 + 96);
    writeFileSync(copy, b);
    assertOneLineFailure(vmpager(['ls', copy]), /: unsupported ext4 feature: /);
  });

  test('read-only commands never write the image', () => {
    const before = sha(image);
    const mtime = statSync(image).mtimeMs;
    for (const args of [['ls', '-R', image], ['cat', image, '/a.txt', '/link'], ['stat', image, '/dir/b.bin'], ['--stats', 'stat', '--json', image, '/']]) {
      assert.equal(vmpager(args).status, 0);
    }
    assert.equal(sha(image), before);
    assert.equal(statSync(image).mtimeMs, mtime);
  });

  test('a journal that needs recovery is read without replay, with a warning', () => {
    const j = join(tmp.dir, 'journal.img');
    mkext2(j, [{ path: 'f', data: new TextEncoder().encode('data\n') }], { type: 'ext3', size: 8 << 20 });
    const b = readFileSync(j);
    b.writeUInt32LE(b.readUInt32LE(1024 + 96) | 0x4, 1024 + 96); // EXT3_FEATURE_INCOMPAT_RECOVER
    writeFileSync(j, b);
    const before = sha(j);
    const r = vmpager(['cat', j, '/f']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'data\n');
    assert.match(r.stderr, /journal needs recovery/);
    assert.equal(sha(j), before, 'no replay, no write');
    // A writing command is refused in one line saying why, naming no file of its own.
    for (const args of [['put', j, '/g'], ['mkdir', j, '/d'], ['rm', j, '/f'], ['put', '-r', j, '/t', '--from', tmp.dir]]) {
      const w = vmpager(args);
      assert.equal(w.status, 2, w.stderr);
      assert.equal(w.stderr, `vmpager: ${j}: read-only file system: journal needs recovery; mounted read-only without replaying it\n`);
    }
    assert.equal(sha(j), before, 'nothing written');
  });

  test('stat prints inode fields and the block map; --json has them by name', () => {
    const t = vmpager(['stat', image, '/dir/b.bin']);
    assert.equal(t.status, 0);
    assert.match(t.stdout, /^size: 10000$/m);
    assert.match(t.stdout, /block map \(\d+ runs?\):\n {2}0-2 -> \d+-\d+ \(3 blocks\)/);
    const j = JSON.parse(vmpager(['stat', '--json', image, '/link']).stdout) as Record<string, unknown>;
    assert.equal(j.type, 'symlink');
    assert.equal(j.size, 'dir/b.bin'.length);
  });

  test('stat prints times at and before the epoch as dates too, with their nanoseconds', () => {
    const img = join(tmp.dir, 'epoch.img');
    mkext2(img, [{ path: 'zero', data: randomBytes(10, 1) }, { path: 'old', data: randomBytes(10, 2) }], { type: 'ext4', size: 8 << 20 });
    // (mtime_extra: the nanoseconds shifted left by 2 over the epoch bits, 0 here.)
    debugfsScript(img, ['sif /zero mtime 0', 'sif /zero mtime_extra 0', 'sif /old mtime -315619200', `sif /old mtime_extra ${5 << 2}`], true);
    assert.match(vmpager(['stat', img, '/zero']).stdout, /^mtime: 1970-01-01T00:00:00\.000000000Z$/m);
    assert.match(vmpager(['stat', img, '/old']).stdout, /^mtime: 1960-01-01T00:00:00\.000000005Z$/m);
  });

  test('--stats prints the counters as JSON on stderr', () => {
    const r = vmpager(['--stats', '--memory', '128KiB', 'cat', image, '/dir/b.bin']);
    assert.equal(r.status, 0);
    const s = JSON.parse(r.stderr) as Record<string, number>;
    for (const k of ['faults', 'vnodein', 'vnodepgsin', 'vnodeout', 'vnodepgsout', 'hits', 'misses']) assert.equal(typeof s[k], 'number', k);
    assert.ok(s.vnodepgsin >= 3);
  });

  test('demo runs on a fresh checkout with no arguments', () => {
    const r = vmpager(['demo']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /pages in \d+ device reads?/);
    assert.match(r.stdout, /made in memory by vmpager's own mkfs/);
    assert.equal(r.stderr, '');
  });

  test("the package's own name imports from a script inside the checkout", () => {
    const script = join(ROOT, '.self-import-test.mjs');
    writeFileSync(script, "import { Vm, VmError } from 'vmpager'; console.log(typeof Vm, typeof VmError);\n");
    try {
      const r = spawnSync(process.execPath, [script], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.stdout, 'function function\n', r.stderr);
    } finally {
      spawnSync('rm', ['-f', script]);
    }
  });
});
