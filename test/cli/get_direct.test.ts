/*
 * `get` reads regular files straight from the device by their block maps
 * (api/direct_read.ts, its mount being read-only), and its copy still
 * equals `debugfs rdump` of the image: files with holes inside, at the end
 * and in the indirect ranges, a file larger than one device read, an
 * unwritten extent whose blocks hold other bytes (zeros come out), last
 * blocks whose bytes past EOF hold other bytes, empty files, fast and slow
 * symlinks, two names of one file in one directory, more files in a
 * directory than one window, on ext2 (block map) and ext4 (extents) with
 * 1 KiB and 4 KiB blocks; inline-data files (no block map) come through the
 * VM, a file of holes mke2fs keeps inline (i_size past its 60 bytes) too. Small files side by side on the device come out of fewer device reads
 * than there are files. A file system in a partition of a whole disk comes
 * out the same (the lanes read the disk image at the partition's offset). A block pointer outside the file system stops the
 * copy in one line naming the file, every file before it complete.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, debugfsScript, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const src = join(tmp.dir, 'src');
const asRoot = process.getuid?.() === 0;
const SMALL = 100; // files in /many: several windows of get (16)

/** A file of `size` bytes with `pieces` of data at their offsets, holes elsewhere. */
function sparse(path: string, size: number, pieces: [number, Uint8Array][]): void {
  const fd = openSync(path, 'w');
  try {
    for (const [at, b] of pieces) writeSync(fd, b, 0, b.length, at);
  } finally {
    closeSync(fd);
  }
  execFileSync('truncate', ['-s', String(size), path]);
}

before(() => {
  mkdirSync(join(src, 'many'), { recursive: true });
  sparse(join(src, 'holes'), (1 << 20) + 100, [[0, randomBytes(5000, 1)], [300_000, randomBytes(7000, 2)], [1 << 20, randomBytes(100, 3)]]);
  sparse(join(src, 'tailhole'), 200_000, [[0, randomBytes(3000, 4)]]);
  writeFileSync(join(src, 'big'), randomBytes(3 * (1 << 20) + 777, 5));
  writeFileSync(join(src, 'empty'), '');
  writeFileSync(join(src, 'tiny'), 'six b\n');
  for (let i = 0; i < SMALL; i++) writeFileSync(join(src, 'many', `s${String(i).padStart(3, '0')}`), randomBytes(1 + ((i * 7919) % 9000), 100 + i));
  linkSync(join(src, 'many/s010'), join(src, 'many/s010-link'));
  symlinkSync('tiny', join(src, 'fast'));
  symlinkSync(`${'long/'.repeat(30)}target`, join(src, 'slow'));
  if (asRoot) {
    // Owners other than root's own, and root's own with another group.
    chownSync(join(src, 'many/s002'), 1234, 5678);
    chownSync(join(src, 'many/s003'), 0, 5678);
    chownSync(join(src, 'many'), 0, 4242);
    lchownSync(join(src, 'slow'), 4321, 0);
  }
});


function vmpager(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

/**
 * Each entry below dir, lost+found left out: type, owner (as root; not for
 * symlinks, whose owners and times rdump leaves), mode, mtime, size, bytes
 * or target.
 */
function snapshot(dir: string, rel = '', out = new Map<string, string>()): Map<string, string> {
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const r = rel === '' ? n : `${rel}/${n}`;
    if (r === 'lost+found') continue;
    const p = join(dir, r);
    const st = lstatSync(p);
    const owner = asRoot ? `${st.uid}:${st.gid} ` : '';
    if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)}`);
    else if (st.isDirectory()) out.set(r, `dir ${owner}${st.mode.toString(8)} ${Math.floor(st.mtimeMs / 1000)}`);
    else out.set(r, `file ${owner}${st.mode.toString(8)} ${Math.floor(st.mtimeMs / 1000)} ${st.size} ${readFileSync(p).toString('base64')}`);
    if (st.isDirectory()) snapshot(dir, r, out);
  }
  return out;
}

function image(name: string, type: string, blockSize: number, extra: string[] = []): string {
  const img = join(tmp.dir, name);
  execFileSync('mke2fs', ['-q', '-F', '-t', type, '-b', String(blockSize), ...extra, '-d', src, img, '16M'], { stdio: 'ignore' });
  return img;
}

/** The physical blocks of path, as debugfs maps them. */
function blocks(img: string, path: string): number[] {
  return debugfs(img, `blocks ${path}`).trim().split(/\s+/).filter((s) => s !== '').map(Number);
}

/**
 * Other bytes where get must not look: past EOF in the last block of
 * /tiny and of a file of /many (the blocks read whole when files go
 * together), and, on ext4, an unwritten extent of /unwritten over blocks
 * full of 0x55.
 */
function plantBytes(img: string, bsize: number, ext4: boolean): void {
  const cmds = [`zap_block -o 100 -l ${bsize - 100} -p 0x77 ${blocks(img, '/tiny')[0]}`];
  const s = blocks(img, '/many/s001'); // 7920 bytes
  cmds.push(`zap_block -o ${7920 % bsize} -l ${bsize - (7920 % bsize)} -p 0x66 ${s[s.length - 1]}`);
  if (ext4) cmds.push('write /dev/null /unwritten', 'fallocate /unwritten 0 9', `sif /unwritten size ${9 * bsize + 10}`);
  debugfsScript(img, cmds, true);
  if (ext4) debugfsScript(img, blocks(img, '/unwritten').map((b) => `zap_block -p 0x55 ${b}`), true);
}

function rdump(img: string, name: string): string {
  const out = join(tmp.dir, name);
  mkdirSync(out);
  debugfs(img, `rdump / ${out}`);
  return out;
}

for (const [type, bsize] of [['ext2', 1024], ['ext2', 4096], ['ext4', 1024], ['ext4', 4096]] as const) {
  test(`get equals debugfs rdump on ${type} with ${bsize}-byte blocks: holes, an unwritten extent, bytes past EOF, links, symlinks`, () => {
    const name = `${type}-${bsize}`;
    const img = image(`${name}.img`, type, bsize);
    plantBytes(img, bsize, type === 'ext4');
    const mine = join(tmp.dir, `${name}-get`);
    const g = vmpager(['get', img, '/', mine]);
    assert.equal(g.status, 0, g.stderr);
    assert.equal(g.stderr, '');
    const theirs = rdump(img, `${name}-rdump`);
    const a = snapshot(mine);
    assert.deepEqual(a, snapshot(theirs));
    assert.equal(a.size, 8 + SMALL + 1 + (type === 'ext4' ? 1 : 0));
    assert.equal(readFileSync(join(mine, 'tiny'), 'utf8'), 'six b\n');
    if (type === 'ext4') assert.ok(readFileSync(join(mine, 'unwritten')).equals(Buffer.alloc(9 * bsize + 10)), 'an unwritten extent reads as zeros');
    assert.equal(lstatSync(join(mine, 'many/s010-link')).ino, lstatSync(join(mine, 'many/s010')).ino, 'two names in one directory: a link');
  });
}

test('as root, owners come out as the image has them, also into a new directory below a set-group-ID one (whose group new files would take)', { skip: asRoot ? false : 'owners are set only by root' }, () => {
  const img = image('owners.img', 'ext4', 4096);
  const sg = join(tmp.dir, 'setgid');
  mkdirSync(sg);
  chownSync(sg, 0, 999);
  chmodSync(sg, 0o2775);
  const mine = join(sg, 'copy');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  const a = snapshot(mine);
  assert.deepEqual(a, snapshot(rdump(img, 'owners-rdump')));
  assert.match(a.get('tiny')!, /^file 0:0 /);
  assert.match(a.get('many/s002')!, /^file 1234:5678 /);
  const slow = lstatSync(join(mine, 'slow'));
  assert.deepEqual([slow.uid, slow.gid], [4321, 0], 'a symlink\'s owner (rdump leaves it)');
});

test('small files side by side on the device come out of fewer device reads than there are files', () => {
  const img = image('reads.img', 'ext4', 4096);
  const r = spawnSync(process.execPath, [CLI, '--stats', 'get', img, '/many', join(tmp.dir, 'reads-get')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const stats = JSON.parse(r.stderr) as { device: { reads: number } };
  assert.ok(stats.device.reads < SMALL / 2, `${stats.device.reads} device reads for ${SMALL} files`);
  assert.deepEqual(snapshot(join(tmp.dir, 'reads-get')), snapshot(join(src, 'many')));
});

test('a file system in a partition of a whole disk image comes out equal to the tree, its holes kept (the lanes read the disk at the partition\'s offset)', () => {
  const fsImg = image('part-fs.img', 'ext4', 4096);
  const disk = join(tmp.dir, 'part-disk.img');
  execFileSync('truncate', ['-s', '24M', disk]);
  execFileSync('sfdisk', ['-q', disk], { input: 'label: dos\nstart=2048, size=32768, type=83\n' });
  execFileSync('dd', [`if=${fsImg}`, `of=${disk}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
  const mine = join(tmp.dir, 'part-get');
  const g = vmpager(['--partition', '1', 'get', disk, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  assert.deepEqual(snapshot(mine), snapshot(src));
  assert.ok(lstatSync(join(mine, 'holes')).blocks * 512 < 64 << 10, 'the holes stay holes (1 MiB, 12 KiB of data)');
});

// (debugfs 1.47 dumps an inline file's whole 60-byte area, and mke2fs -d stores a
// file ending in a hole with its size cut to its last block there: judged against
// a tree of whole small files, by the sizes debugfs stat gives.)
test('inline-data files (no block map) come out through the VM, equal to the tree mke2fs took', () => {
  const tree = join(tmp.dir, 'inline-src');
  mkdirSync(join(tree, 'd'), { recursive: true });
  writeFileSync(join(tree, 'tiny'), 'six b\n');
  writeFileSync(join(tree, 'd/fifty'), randomBytes(50, 7));
  writeFileSync(join(tree, 'd/larger'), randomBytes(20_000, 8));
  symlinkSync('d/fifty', join(tree, 'fast'));
  const img = join(tmp.dir, 'inline.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', 'inline_data', '-d', tree, img, '8M'], { stdio: 'ignore' });
  assert.match(debugfs(img, 'stat /tiny'), /Size: 6\b[^]*Size of inline data: \d+/);
  assert.match(debugfs(img, 'stat /d/fifty'), /Size: 50\b[^]*Size of inline data: \d+/);
  const mine = join(tmp.dir, 'inline-get');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  assert.deepEqual(snapshot(mine), snapshot(tree));
});

test('a file of holes mke2fs -d keeps inline (60 bytes there, i_size past them) comes out of get, cat and stat as zeros to its size', () => {
  const tree = join(tmp.dir, 'inline-holes-src');
  mkdirSync(tree);
  sparse(join(tree, 'holes'), 10_000, []);
  writeFileSync(join(tree, 'small'), 'hi\n');
  const img = join(tmp.dir, 'inline-holes.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', 'inline_data', '-d', tree, img, '16M'], { stdio: 'ignore' });
  assert.match(debugfs(img, 'stat /holes'), /Flags: 0x10000000[^]*Size: 10000\b[^]*Size of inline data: 60/);
  const cat = spawnSync(process.execPath, [CLI, 'cat', img, '/holes'], { maxBuffer: 1 << 20 });
  assert.equal(cat.status, 0, cat.stderr.toString());
  assert.ok(cat.stdout.equals(Buffer.alloc(10_000)));
  const st = spawnSync(process.execPath, [CLI, 'stat', '--json', img, '/holes'], { encoding: 'utf8' });
  assert.equal(st.status, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).size, 10_000);
  const mine = join(tmp.dir, 'inline-holes-get');
  const g = vmpager(['get', img, '/', mine]);
  assert.equal(g.status, 0, g.stderr);
  assert.deepEqual(snapshot(mine), snapshot(tree));
});

test('a block pointer outside the file system stops get in one line naming the file; the files before it are complete', () => {
  const img = image('damaged.img', 'ext2', 4096);
  debugfs(img, 'sif /many/s050 block[0] 4000000000', true);
  const mine = join(tmp.dir, 'damaged-get');
  const g = vmpager(['get', img, '/many', mine]);
  assert.equal(g.status, 2);
  assert.equal(g.stderr.trimEnd().split('\n').length, 1, g.stderr);
  assert.ok(g.stderr.startsWith(`vmpager: ${img}: /many/s050: `), g.stderr);
  const order = debugfs(img, 'ls -p /many').split('\n').map((l) => l.split('/')[5]).filter((n) => n !== undefined && n.startsWith('s'));
  const at = order.indexOf('s050');
  assert.ok(at > 0);
  for (const n of order.slice(0, at)) assert.ok(readFileSync(join(mine, n)).equals(readFileSync(join(src, 'many', n))), `${n}: complete`);
  for (const n of order.slice(at + 1)) assert.equal(lstatSync(join(mine, n), { throwIfNoEntry: false }), undefined, `${n}: not made`);
});

test("get keeps the times' fractions to the microsecond (libuv's limit), for a tree's files, directories and symlinks and for one file alone", () => {
  const dir = join(tmp.dir, 'ns-src');
  mkdirSync(join(dir, 'd'), { recursive: true });
  writeFileSync(join(dir, 'f'), 'f');
  symlinkSync('f', join(dir, 'l'));
  const image = join(tmp.dir, 'ns.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', dir, image, '8M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // (mke2fs -d keeps whole seconds: the fractions are set with debugfs.)
  const ns = { f: 987654321, d: 123456789, l: 555666777 };
  debugfsScript(image, Object.entries(ns).flatMap(([n, v]) => [`sif /${n} mtime_extra ${v * 4}`, `sif /${n} atime_extra ${v * 4}`]), true);
  const out = join(tmp.dir, 'ns-out');
  const r = spawnSync(process.execPath, [CLI, 'get', image, '/', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const one = join(tmp.dir, 'ns-one');
  assert.equal(spawnSync(process.execPath, [CLI, 'get', image, '/f', one], { encoding: 'utf8' }).status, 0);
  for (const [n, v] of Object.entries(ns)) {
    const st = lstatSync(join(out, n), { bigint: true });
    assert.equal(st.mtimeNs % 1_000_000_000n, BigInt(v - (v % 1000)), `${n} mtime`);
    assert.equal(st.atimeNs % 1_000_000_000n, BigInt(v - (v % 1000)), `${n} atime`);
  }
  assert.equal(lstatSync(one, { bigint: true }).mtimeNs % 1_000_000_000n, 987654000n);
});

test('get to a DEST the host cannot have (below a file, through a symlink loop, a name too long) fails in one line naming it, and exits', () => {
  const dir = join(tmp.dir, 'bad-dest');
  mkdirSync(join(dir, 'src/d'), { recursive: true });
  writeFileSync(join(dir, 'src/d/f'), 'f');
  const image = join(dir, 'i.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', join(dir, 'src'), image, '8M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(join(dir, 'afile'), 'x');
  symlinkSync('loopB', join(dir, 'loopA'));
  symlinkSync('loopA', join(dir, 'loopB'));
  for (const [dest, reason] of [
    [join(dir, 'afile/sub'), 'not a directory'],
    [join(dir, 'loopA/x'), 'too many levels of symbolic links'],
    [join(dir, 'n'.repeat(300)), 'file name too long'],
  ]) {
    for (const path of ['/', '/d/f']) {
      const r = spawnSync(process.execPath, [CLI, 'get', image, path, dest], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `get ${path} ${dest}: ${r.stderr} (signal ${r.signal})`);
      assert.equal(r.stderr, `vmpager: ${dest}: ${reason}\n`);
    }
  }
});

test('get of one sparse file reads by its block map: its holes are neither read nor sent as zeros, and stay holes', () => {
  const dir = join(tmp.dir, 'one-sparse');
  mkdirSync(join(dir, 'src'), { recursive: true });
  sparse(join(dir, 'src/s'), 256 * 2 ** 20, [[100 * 2 ** 20, randomBytes(10_000, 71)]]);
  const image = join(dir, 'i.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', join(dir, 'src'), image, '16M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, [CLI, '--stats', 'get', image, '/s', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stderr).zeroSent, 0, 'no page of zeros sent');
  assert.ok(readFileSync(out).equals(readFileSync(join(dir, 'src/s'))));
  assert.ok(lstatSync(out).blocks <= 64, `${lstatSync(out).blocks} blocks: the holes kept`);
});
