/*
 * Whole trees in and out, judged by the real tools: `mkfs --from` and
 * `put -r` of a tree with a setuid binary, a 0640 file owned by 0:42, hard
 * links, a FIFO, character and block devices, a symlink and a sparse file —
 * `debugfs stat` of each equals the source's lstat and the holes stay
 * holes; `get` of the tree equals `debugfs rdump` of it; `put -r` then `get`
 * gives the tree back; `put -r` into a full file system stops with ENOSPC in
 * one line and leaves the image clean.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const root = process.getuid?.() === 0;

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

const src = join(tmp.dir, 'src');

before(() => {
  mkdirSync(join(src, 'bin'), { recursive: true });
  mkdirSync(join(src, 'etc/deep/er'), { recursive: true });
  mkdirSync(join(src, 'dev'));
  writeFileSync(join(src, 'bin/su'), randomBytes(20_000, 1));
  chmodSync(join(src, 'bin/su'), 0o4755);
  writeFileSync(join(src, 'etc/shadow'), 'root:*:1:0:99999:7:::\n');
  chmodSync(join(src, 'etc/shadow'), 0o640);
  chownSync(join(src, 'etc/shadow'), 0, 42);
  writeFileSync(join(src, 'etc/deep/er/note'), randomBytes(3000, 2));
  chmodSync(join(src, 'etc/deep'), 0o1777);
  writeFileSync(join(src, 'a'), 'hard\n');
  linkSync(join(src, 'a'), join(src, 'etc/a-link'));
  linkSync(join(src, 'a'), join(src, 'bin/a-link2'));
  symlinkSync('../bin/su', join(src, 'etc/su-link'));
  execFileSync('mkfifo', [join(src, 'dev/fifo')]);
  if (root) {
    execFileSync('mknod', [join(src, 'dev/null'), 'c', '1', '3']);
    execFileSync('mknod', [join(src, 'dev/sda9'), 'b', '259', '70000']);
  }
  const sparse = new Uint8Array(3 << 20);
  sparse.set(randomBytes(5000, 3), 1 << 20);
  sparse.set(randomBytes(10, 4), (3 << 20) - 10);
  writeFileSync(join(src, 'sparse'), sparse);
  utimesSync(join(src, 'a'), new Date('2001-02-03T04:05:06Z'), new Date('2002-03-04T05:06:07Z'));
  utimesSync(join(src, 'etc/deep'), new Date('2003-01-01T00:00:00Z'), new Date('2004-01-01T00:00:00Z'));
  // Nanoseconds a double of milliseconds cannot hold, after 1970 and before (a symlink's own too).
  execFileSync('touch', ['-d', '2020-01-01 00:00:00.123456789 UTC', join(src, 'etc/shadow')]);
  execFileSync('touch', ['-d', '1950-06-01 00:00:00.987654321 UTC', join(src, 'etc/deep/er/note')]);
  execFileSync('touch', ['-h', '-d', '2030-01-01 00:00:00.000000001 UTC', join(src, 'etc/su-link')]);
});

/** Every path below dir, relative, sorted. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const r = rel === '' ? n : `${rel}/${n}`;
    out.push(r);
    if (lstatSync(join(dir, r)).isDirectory()) out.push(...walk(dir, r));
  }
  return out;
}

/** debugfs's view of one inode: mode, owner, times, links, device numbers. */
/** The type as debugfs names it. */
function kind(st: ReturnType<typeof lstatSync> & object): string {
  if (st.isFile()) return 'regular';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character special';
  if (st.isBlockDevice()) return 'block special';
  return 'socket';
}

function inode(image: string, path: string): { type: string; mode: number; uid: number; gid: number; links: number; mtime: number; mtimeNsec: number; ino: number; dev: string | null } {
  const s = debugfs(image, `stat "${path}"`);
  const num = (re: RegExp) => Number((re.exec(s) ?? ['', 'NaN'])[1]);
  const dev = /Device major\/minor number: (\d+):(\d+)/.exec(s);
  return {
    ino: num(/Inode: (\d+)/),
    type: (/Type: (.*?)\s{2,}/.exec(s) ?? ['', '?'])[1],
    mode: parseInt((/Mode:\s+(\d+)/.exec(s) ?? ['', 'x'])[1], 8),
    uid: num(/User:\s+(\d+)/),
    gid: num(/Group:\s+(\d+)/),
    links: num(/Links: (\d+)/),
    mtime: parseInt((/mtime: 0x([0-9a-f]+)/.exec(s) ?? ['', 'x'])[1], 16) | 0, // (i_mtime is signed: 1901 to 2038, the epoch bits aside)
    // (i_mtime_extra: the nanoseconds above its two epoch bits.)
    mtimeNsec: parseInt((/mtime: 0x[0-9a-f]+:([0-9a-f]+)/.exec(s) ?? ['', 'x'])[1], 16) >>> 2,
    dev: dev === null ? null : `${Number(dev[1])}:${Number(dev[2])}`,
  };
}

function checkAgainstSource(image: string, at: string): void {
  const inodes = new Map<number, number>();
  for (const rel of walk(src)) {
    const st = lstatSync(join(src, rel));
    const ns = lstatSync(join(src, rel), { bigint: true }).mtimeNs;
    const path = `${at}/${rel}`.replace(/^\/\//, '/');
    const got = inode(image, path);
    assert.equal(got.mode & 0o7777, st.mode & 0o7777, `${path}: mode`);
    assert.equal(got.type, kind(st), `${path}: type`);
    assert.equal(got.uid, st.uid, `${path}: uid`);
    assert.equal(got.gid, st.gid, `${path}: gid`);
    if (!st.isDirectory()) assert.equal(got.links, st.nlink, `${path}: link count`);
    const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n; // (before 1970: seconds down, nanoseconds up)
    assert.equal(got.mtime, Number((ns - frac) / 1_000_000_000n), `${path}: mtime`);
    assert.equal(got.mtimeNsec, Number(frac), `${path}: mtime's nanoseconds`);
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
      const minor = Number(BigInt(st.rdev) & 0xffn) | Number((BigInt(st.rdev) >> 12n) & ~0xffn);
      assert.equal(got.dev, `${major}:${minor}`, `${path}: device number`);
    }
    if (st.isFile()) {
      const first = inodes.get(st.ino);
      if (first !== undefined) assert.equal(got.ino, first, `${path}: a hard link, not a copy`);
      inodes.set(st.ino, got.ino);
      assert.ok(execFileSync('debugfs', ['-R', `cat "${path}"`, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).equals(readFileSync(join(src, rel))), `${path}: bytes`);
    }
    if (st.isSymbolicLink()) assert.equal(debugfs(image, `stat "${path}"`).includes(`Fast link dest: "${readlinkSync(join(src, rel))}"`), true, `${path}: target`);
  }
  // The sparse file's 3 MiB hold two runs of data: a few blocks, not 3 MiB of them.
  const sp = `${at}/sparse`.replace('//', '/');
  const blocks = Number(/Blockcount: (\d+)/.exec(debugfs(image, `stat ${sp}`))![1]);
  assert.ok(blocks * 512 < 64 * 1024, `sparse: ${blocks} sectors allocated`);
}

test('mkfs --from keeps modes, owners, times, hard links, symlinks, devices, FIFOs and holes (debugfs stat equals lstat)', () => {
  const img = join(tmp.dir, 'from.img');
  const r = vmpager(['mkfs', '--from', src, img, '32MiB']);
  assert.equal(r.status, 0, r.stderr);
  const ck = e2fsck(img);
  assert.ok(ck.clean, ck.output);
  checkAgainstSource(img, '');
});

test('put -r merges the tree into an existing directory with the same metadata; get of it equals debugfs rdump', () => {
  const img = join(tmp.dir, 'put-r.img');
  mkext2(img, [{ path: 'srv/old', data: randomBytes(100, 9) }, { path: 'srv/a', data: randomBytes(9000, 10) }], { type: 'ext3', blockSize: 1024, size: 32 << 20 });
  const r = vmpager(['put', '-r', img, '/srv', '--from', src]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(e2fsck(img).clean);
  checkAgainstSource(img, '/srv');
  assert.equal(debugfs(img, 'cat /srv/old').length > 0, true, 'what was there stays');
  // Out again: the same bytes, modes, times and links as debugfs rdump gives.
  const mine = join(tmp.dir, 'get-out');
  const theirs = join(tmp.dir, 'rdump-out');
  mkdirSync(theirs);
  const g = vmpager(['get', img, '/srv', mine]);
  assert.equal(g.status, 0, g.stderr);
  execFileSync('debugfs', ['-R', `rdump /srv ${theirs}`, img], { stdio: 'ignore' });
  const rd = join(theirs, 'srv');
  const specials = new Set(['dev/fifo', 'dev/null', 'dev/sda9']);
  assert.deepEqual(walk(mine), walk(rd).filter((p) => !specials.has(p)), 'the same names (specials: Node cannot make them)');
  for (const rel of walk(mine)) {
    const a = lstatSync(join(mine, rel));
    const b = lstatSync(join(rd, rel));
    // debugfs rdump keeps no setuid, setgid or sticky bit (it sets the mode, then the owner, which clears them): compare the rest.
    assert.equal(a.mode & ~0o7000, b.mode & ~0o7000, `${rel}: mode`);
    if (!a.isSymbolicLink() && existsSync(join(src, rel))) {
      // Times against the source's, to the microsecond Node's utimes keeps (rdump reads one before 1970 as after 2038).
      const want = lstatSync(join(src, rel), { bigint: true }).mtimeNs;
      assert.equal(lstatSync(join(mine, rel), { bigint: true }).mtimeNs, want - (((want % 1000n) + 1000n) % 1000n), `${rel}: mtime`);
    }
    if (a.isFile()) assert.ok(readFileSync(join(mine, rel)).equals(readFileSync(join(rd, rel))), `${rel}: bytes`);
    if (a.isSymbolicLink()) assert.equal(readlinkSync(join(mine, rel)), readlinkSync(join(rd, rel)));
    if (root) assert.deepEqual([a.uid, a.gid], [b.uid, b.gid], `${rel}: owner`);
  }
  assert.equal(lstatSync(join(mine, 'bin/su')).mode & 0o7777, 0o4755, 'setuid kept, as cp -a keeps it');
  assert.equal(lstatSync(join(mine, 'etc/deep')).mode & 0o7777, 0o1777, 'sticky kept');
  assert.equal(lstatSync(join(mine, 'a')).ino, lstatSync(join(mine, 'etc/a-link')).ino, 'hard links out as links');
  assert.ok(lstatSync(join(mine, 'sparse')).blocks * 512 < 64 * 1024, 'holes out as holes');
});

test('put -r into a full file system stops with ENOSPC in one line and leaves the image clean', () => {
  const img = join(tmp.dir, 'full.img');
  mkext2(img, [], { type: 'ext2', blockSize: 1024, size: 2 << 20 });
  const big = join(tmp.dir, 'bigtree');
  mkdirSync(big);
  for (let i = 0; i < 6; i++) writeFileSync(join(big, `f${i}`), randomBytes(600_000, 20 + i));
  const r = vmpager(['put', '-r', img, '/in', '--from', big]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /no space left on device/);
  const ck = e2fsck(img);
  assert.ok(ck.clean, ck.output);
});

test('put -r merges a directory into a symlink to a directory (a merged /usr: /lib -> usr/lib), keeping the symlink and that directory\'s own mode', () => {
  const img = join(tmp.dir, 'usrmerge.img');
  mkext2(img, [{ path: 'usr/lib/modules/m', data: randomBytes(50, 30) }], { type: 'ext4', size: 16 << 20 });
  execFileSync('debugfs', ['-w', '-R', 'symlink /lib usr/lib', img], { stdio: 'ignore' });
  execFileSync('debugfs', ['-w', '-R', 'sif /usr/lib mode 040751', img], { stdio: 'ignore' });
  const overlay = join(tmp.dir, 'overlay');
  mkdirSync(join(overlay, 'lib/firmware'), { recursive: true });
  writeFileSync(join(overlay, 'lib/firmware/x.bin'), 'fw\n');
  chmodSync(join(overlay, 'lib'), 0o700);
  const r = vmpager(['put', '-r', img, '/', '--from', overlay]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(e2fsck(img).clean);
  assert.match(debugfs(img, 'stat /lib'), /Type: symlink/, 'the symlink stays');
  assert.equal(debugfs(img, 'cat /usr/lib/firmware/x.bin'), 'fw\n', 'the tree went into the directory it names');
  assert.match(debugfs(img, 'stat /usr/lib'), /Mode:\s+0751/, 'that directory keeps its own mode');
  assert.ok(debugfs(img, 'cat /usr/lib/modules/m').length > 0, 'what it held stays');
});

test('put -r refuses a directory where the image has a file, a dangling symlink or a special file in its way, and keeps it', () => {
  const img = join(tmp.dir, 'inway.img');
  mkext2(img, [{ path: 'd', data: Buffer.from('IMPORTANT\n') }], { type: 'ext4', size: 16 << 20 });
  execFileSync('debugfs', ['-w', '-R', 'symlink /e /nowhere', img], { stdio: 'ignore' });
  const tree = join(tmp.dir, 'inway-src');
  for (const name of ['d', 'e']) {
    mkdirSync(join(tree, name), { recursive: true });
    writeFileSync(join(tree, name, 'inner'), 'new\n');
  }
  const r = vmpager(['put', '-r', img, '/', '--from', tree]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${img}: /d: a file is in the way of a directory (kept)\n`);
  assert.equal(debugfs(img, 'cat /d'), 'IMPORTANT\n');
  assert.ok(e2fsck(img).clean);
  rmSync(join(tree, 'd'), { recursive: true });
  const s = vmpager(['put', '-r', img, '/', '--from', tree]);
  assert.equal(s.status, 2);
  assert.match(s.stderr, /\/e: .*a symlink is in the way of a directory/);
  assert.match(debugfs(img, 'stat /e'), /Type: symlink/);
  // FAT: a file in the way of a directory.
  const fat = join(tmp.dir, 'inway-fat.img');
  execFileSync('mkfs.fat', ['-C', fat, '8192'], { stdio: 'ignore' });
  const w = spawnSync(process.execPath, [CLI, 'put', fat, '/e'], { input: 'IMPORTANT\n' });
  assert.equal(w.status, 0, w.stderr.toString());
  const f = vmpager(['put', '-r', fat, '/', '--from', tree]);
  assert.equal(f.status, 2);
  assert.match(f.stderr, /\/e: .*a file is in the way of a directory/);
  assert.equal(vmpager(['cat', fat, '/e']).stdout.toString(), 'IMPORTANT\n');
});

test('the top directory of mkfs --from and put -r, and a file a merge replaces, keep their times to the nanosecond', () => {
  const tree = join(tmp.dir, 'frac-src');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'f'), 'new\n');
  const when = new Date('2100-06-01T12:00:00.123Z');
  for (const p of ['f', 'sub', '']) execFileSync('touch', ['-h', '-d', '2100-06-01 12:00:00.123456789 UTC', join(tree, p)]);
  const nsec = (img: string, path: string) => {
    const j = JSON.parse(vmpager(['stat', '--json', img, path]).stdout.toString()) as { mtime: number; mtimeNsec: number };
    return { mtime: j.mtime, mtimeNsec: j.mtimeNsec };
  };
  const want = { mtime: Math.floor(when.getTime() / 1000), mtimeNsec: 123456789 };
  const made = join(tmp.dir, 'frac-mkfs.img');
  assert.equal(vmpager(['mkfs', '--type', 'ext4', '--from', tree, made, '16MiB']).status, 0);
  assert.deepEqual(nsec(made, '/'), want, 'mkfs --from: the root');
  assert.deepEqual(nsec(made, '/sub'), want);
  const merged = join(tmp.dir, 'frac-put.img');
  mkext2(merged, [{ path: 'x/f', data: Buffer.from('old\n') }], { type: 'ext4', size: 16 << 20 });
  assert.equal(vmpager(['put', '-r', merged, '/x', '--from', tree]).status, 0);
  assert.deepEqual(nsec(merged, '/x'), want, 'put -r: the directory merged into');
  assert.deepEqual(nsec(merged, '/x/f'), want, 'put -r: the file it replaced');
  assert.ok(e2fsck(merged).clean);
});

test('get of a tree into a path whose parent is missing fails in one line and makes nothing, as cp -a does', () => {
  const img = join(tmp.dir, 'noparent.img');
  mkext2(img, [{ path: 'sub/f', data: Buffer.from('x\n') }], { type: 'ext4', size: 8 << 20 });
  const dest = join(tmp.dir, 'no-such-parent', 'deeper', 'out');
  const r = vmpager(['get', img, '/sub', dest]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${dest}: no such file or directory\n`);
  assert.ok(!readdirSync(tmp.dir).includes('no-such-parent'), 'no parent made');
  const ok = vmpager(['get', img, '/sub', join(tmp.dir, 'sub-out')]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(readFileSync(join(tmp.dir, 'sub-out', 'f'), 'utf8'), 'x\n');
});

test('put -r into FAT merges a directory the image has in another case or under its 8.3 alias, keeping its long names', () => {
  const fat = join(tmp.dir, 'merge-case.fat');
  execFileSync('mkfs.fat', ['-C', fat, '8192'], { stdio: 'ignore' });
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  execFileSync('mmd', ['-i', fat, '::/Sub Dir Long'], { env });
  execFileSync('mcopy', ['-i', fat, '-', '::/Sub Dir Long/Old File.txt'], { input: 'old\n', env });
  const tree = join(tmp.dir, 'merge-case-src');
  mkdirSync(join(tree, 'sub dir long'), { recursive: true });
  mkdirSync(join(tree, 'SUBDIR~1'));
  writeFileSync(join(tree, 'sub dir long', 'new.txt'), 'new\n');
  writeFileSync(join(tree, 'sub dir long', 'OLD FILE.TXT'), 'replaced\n');
  writeFileSync(join(tree, 'SUBDIR~1', 'via-alias.txt'), 'alias\n');
  const r = vmpager(['put', '-r', fat, '/', '--from', tree]);
  assert.equal(r.status, 0, r.stderr);
  const listing = execFileSync('mdir', ['-i', fat, '-/', '::'], { env, encoding: 'utf8' });
  assert.equal(listing.match(/<DIR>\s+\S+\s+\S+\s+Sub Dir Long/g)?.length, 1, listing);
  assert.match(listing, /Old File\.txt/, 'the replaced file keeps its long name');
  assert.match(listing, /via-alias\.txt/);
  assert.equal(execFileSync('mtype', ['-i', fat, '::/Sub Dir Long/Old File.txt'], { env, encoding: 'utf8' }), 'replaced\n');
  assert.equal(spawnSync('fsck.fat', ['-n', fat]).status, 0);
});

test('put -r and mkfs --from into FAT refuse a tree holding names that differ only in case (one file was kept, the others lost)', () => {
  const tree = join(tmp.dir, 'case-src');
  mkdirSync(join(tree, 'd'), { recursive: true });
  writeFileSync(join(tree, 'd', 'File'), '1\n');
  writeFileSync(join(tree, 'd', 'FILE'), '2\n');
  const fat = join(tmp.dir, 'case.fat');
  const r = vmpager(['mkfs', '--type', 'fat', '--from', tree, fat, '8MiB']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${fat}: /d/File: FAT cannot hold both it and FILE: names that differ only in case\n`);
});

test('get writes each time to the microsecond the image holds (not one early: Node takes a double of seconds), before 1970 too', () => {
  const img = join(tmp.dir, 'times-out.img');
  mkext2(img, [{ path: 'd/f1', data: Buffer.from('1\n') }, { path: 'd/f2', data: Buffer.from('2\n') }, { path: 'd/f3', data: Buffer.from('3\n') }], { type: 'ext4', size: 8 << 20 });
  const times: Array<[string, string, bigint]> = [
    ['/d/f1', '2023-11-14T22:13:20.545980000Z', 1700000000_545980000n],
    ['/d/f2', '2020-01-01T00:00:00.123456789Z', 1577836800_123456000n],
    ['/d/f3', '1950-06-01T00:00:00.987654321Z', -618105600_000000000n + 987654000n],
  ];
  for (const [p, iso] of times) assert.equal(vmpager(['touch', img, p, '--date', iso]).status, 0);
  const out = join(tmp.dir, 'times-out');
  assert.equal(vmpager(['get', img, '/d', out]).status, 0);
  for (const [p, , want] of times) {
    assert.equal(lstatSync(join(out, p.slice(3)), { bigint: true }).mtimeNs, want, `${p} in a tree`);
    const one = join(tmp.dir, `one-${p.slice(3)}`);
    assert.equal(vmpager(['get', img, p, one]).status, 0);
    assert.equal(lstatSync(one, { bigint: true }).mtimeNs, want, `${p} alone`);
  }
});

test('mkfs --from and put -r of a tree that holds the image itself leave the image and its lock folder out, with a warning (copied, the image grew as it was read)', () => {
  const tree = join(tmp.dir, 'self-tree');
  mkdirSync(join(tree, 'deep'), { recursive: true });
  writeFileSync(join(tree, 'keep'), 'kept\n');
  writeFileSync(join(tree, 'deep/big'), randomBytes(5 << 20, 77)); // (past 4 MiB: the reading thread lists deep/)
  for (const [type, image] of [['ext4', join(tree, 'self.img')], ['ext4', join(tree, 'deep', 'self.img')], ['fat', join(tree, 'deep', 'self-fat.img')]] as const) {
    const r = vmpager(['mkfs', '--type', type, '--from', tree, image, '32MiB']);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stderr.toString(), `vmpager: ${image}: warning: the image is inside ${tree}: it (and its lock folder) are left out of the copy\n`);
    const listed = vmpager(['ls', '-R', image, '/']).stdout.toString();
    assert.doesNotMatch(listed, /self|vmpager-lock/, `${image}: ${listed}`);
    assert.match(listed, /\/deep\/big$/m);
    assert.match(listed, /\/keep$/m);
    if (type === 'ext4') {
      assert.ok(e2fsck(image).clean);
      const p = vmpager(['put', '-r', image, '/again', '--from', tree]);
      assert.equal(p.status, 0, p.stderr.toString());
      assert.doesNotMatch(vmpager(['ls', '-R', image, '/again']).stdout.toString(), /self|vmpager-lock/);
      assert.ok(e2fsck(image).clean);
    }
    rmSync(image);
  }
});

test('get into a directory that holds the tree already writes over its files as cp -a does, each a new file: a symlink in the way is replaced, not followed, and a hard link elsewhere keeps its bytes', () => {
  const img = join(tmp.dir, 'again.img');
  mkext2(img, [{ path: 'f', data: Buffer.from('image f\n') }, { path: 'g', data: Buffer.from('image g\n') }, { path: 'h', data: Buffer.from('image h\n') }], { type: 'ext4', size: 8 << 20 });
  const out = join(tmp.dir, 'again-out');
  assert.equal(vmpager(['get', img, '/', out]).status, 0); // (the root's entries go straight into DEST)
  // In the way now: f a hard link of a file outside, g a symlink to a file outside, h a file of other bytes.
  const outside = join(tmp.dir, 'again-outside');
  writeFileSync(outside, 'outside\n');
  rmSync(join(out, 'f'));
  linkSync(outside, join(out, 'f'));
  rmSync(join(out, 'g'));
  symlinkSync(outside, join(out, 'g'));
  writeFileSync(join(out, 'h'), 'host h, longer than the image\'s\n');
  const r = vmpager(['get', img, '/', out]);
  assert.equal(r.status, 0, r.stderr.toString());
  for (const n of ['f', 'g', 'h']) assert.equal(readFileSync(join(out, n), 'utf8'), `image ${n}\n`, n);
  assert.ok(!lstatSync(join(out, 'g')).isSymbolicLink(), 'the symlink replaced');
  assert.equal(readFileSync(outside, 'utf8'), 'outside\n', 'neither the link nor the symlink wrote through to the file outside');
  // A single file onto an existing file: the same.
  writeFileSync(join(tmp.dir, 'again-one'), 'old\n');
  assert.equal(vmpager(['get', img, '/f', join(tmp.dir, 'again-one')]).status, 0);
  assert.equal(readFileSync(join(tmp.dir, 'again-one'), 'utf8'), 'image f\n');
});

test('get onto a DEST that is a symlink to a directory copies into that directory (the symlink kept), as cp -a does; inside the tree a symlink where the image has a directory is refused in one line, its target untouched (it was followed out of DEST)', () => {
  const img = join(tmp.dir, 'dest-link.img');
  const tree = join(tmp.dir, 'dest-link-src');
  mkdirSync(join(tree, 'e'), { recursive: true });
  writeFileSync(join(tree, 'f'), 'image f\n');
  writeFileSync(join(tree, 'e/z'), 'image z\n');
  chmodSync(join(tree, 'e'), 0o700);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '8M']);
  const real = join(tmp.dir, 'dest-link-real');
  mkdirSync(real);
  const link = join(tmp.dir, 'dest-link');
  symlinkSync(real, link);
  for (const [path, got] of [['/f', 'f'], ['/e', 'e/z']]) {
    const r = vmpager(['get', img, path, link]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(real, got)), `${path} went into the directory the symlink names`);
  }
  assert.ok(lstatSync(link).isSymbolicLink(), 'the symlink kept');
  // The root's entries into a DEST that is a symlink to a directory: into it too.
  const real2 = join(tmp.dir, 'dest-root-real');
  mkdirSync(real2);
  symlinkSync(real2, join(tmp.dir, 'dest-root'));
  assert.equal(vmpager(['get', img, '/', join(tmp.dir, 'dest-root')]).status, 0);
  assert.equal(readFileSync(join(real2, 'e/z'), 'utf8'), 'image z\n');
  // Below DEST: a symlink where the image has the directory e.
  const out = join(tmp.dir, 'dest-inner');
  const outside = join(tmp.dir, 'dest-inner-outside');
  mkdirSync(out);
  mkdirSync(outside, { mode: 0o755 });
  utimesSync(outside, 1_000_000_000, 1_000_000_000);
  symlinkSync(outside, join(out, 'e'));
  const r = vmpager(['get', img, '/', out]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${join(out, 'e')}: file exists\n`);
  assert.deepEqual(readdirSync(outside), [], 'nothing written through the symlink');
  const st = lstatSync(outside);
  assert.equal(st.mode & 0o7777, 0o755, 'its mode untouched');
  assert.equal(st.mtimeMs, 1_000_000_000_000, 'its times untouched');
});

test('get of a file onto a FIFO or a character device writes into it, as cp does: the node stays (it was replaced by a regular file: /dev/null as DEST)', async () => {
  const img = join(tmp.dir, 'dest-dev.img');
  mkext2(img, [{ path: 'f', data: Buffer.from('image f\n') }, { path: 'd/g', data: Buffer.from('g\n') }], { type: 'ext4', size: 8 << 20 });
  const fifo = join(tmp.dir, 'dest-fifo');
  execFileSync('mkfifo', [fifo]);
  const got = join(tmp.dir, 'dest-fifo-got');
  const { spawn } = await import('node:child_process');
  const reader = spawn('sh', ['-c', `cat "${fifo}" > "${got}"`]);
  const done = new Promise((resolve) => reader.on('exit', resolve));
  const r = spawnSync(process.execPath, [CLI, 'get', img, '/f', fifo], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const giveUp = setTimeout(() => reader.kill(), 5000); // (a FIFO replaced by a file has no writer left: the reader would wait for ever)
  await done;
  clearTimeout(giveUp);
  assert.equal(readFileSync(got, 'utf8'), 'image f\n');
  assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO stays');
  // A tree or a symlink is not written over one: one line, the node kept.
  const t = vmpager(['get', img, '/d', fifo]);
  assert.equal(t.status, 2);
  assert.ok(lstatSync(fifo).isFIFO());
  if (root) {
    const dev = join(tmp.dir, 'dest-null');
    execFileSync('mknod', ['-m', '666', dev, 'c', '1', '3']);
    const n = vmpager(['get', img, '/f', dev]);
    assert.equal(n.status, 0, n.stderr);
    const st = lstatSync(dev);
    assert.ok(st.isCharacterDevice(), 'the device node stays');
    assert.equal(st.mode & 0o777, 0o666, 'its mode untouched');
  }
});

test('put -r of a tree holding the image under another name (a hard link) leaves it out, with a warning (it was copied into itself)', () => {
  const tree = join(tmp.dir, 'alias-tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a'), 'a\n');
  const img = join(tmp.dir, 'alias.img');
  mkext2(img, [], { type: 'ext4', size: 16 << 20 });
  linkSync(img, join(tree, 'alias.img'));
  const r = vmpager(['put', '-r', img, '/c', '--from', tree]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `vmpager: ${img}: warning: the image has 2 names (hard links): one inside ${tree} is left out of the copy\n`);
  const listed = vmpager(['ls', '-R', img, '/c']).stdout.toString();
  assert.match(listed, /\/c\/a$/m);
  assert.doesNotMatch(listed, /alias/);
  assert.ok(e2fsck(img).clean);
});
