/*
 * Commands that answer as their coreutils namesakes do where a new user
 * found them differ: ln into a directory makes the link inside it, ls of a
 * symlink that is not a directory's lists the link itself (a dangling one
 * too), get of a device node alone fails, since nothing is made,
 * chmod's symbolic and octal modes (copy forms too: o=u; 04755, and a
 * directory's set-ID bits kept) give what chmod(1) gives, chown drops
 * set-ID bits and capabilities as Linux does, touch makes what a dangling
 * symlink names, mv refuses a name onto itself and one hard link onto
 * another of the same file, usage mistakes name the
 * option as it was typed, and a full standard output is named in one line.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, e2fsck, mkext2, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';
import { parseMode } from '../../src/cli/modes.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const img = join(tmp.dir, 'tools.img');

function vmpager(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  mkext2(img, [{ path: 'etc/motd', data: Buffer.from('hello\n') }, { path: 'srv/.keep', data: new Uint8Array(0) }], { type: 'ext4', size: 8 << 20 });
  execFileSync('debugfs', ['-w', '-R', 'symlink /dangling /no/such/file', img], { stdio: 'ignore' });
  execFileSync('debugfs', ['-w', '-R', 'symlink /motd-link etc/motd', img], { stdio: 'ignore' });
  execFileSync('debugfs', ['-w', '-f', '-', img], { input: 'cd /srv\nmknod null c 1 3\n', stdio: ['pipe', 'ignore', 'ignore'] });
});

test('ln and ln -s into a directory make the link inside it, named as the target, as ln(1) does', () => {
  assert.equal(vmpager(['ln', img, '/etc/motd', '/srv']).status, 0);
  assert.match(debugfs(img, 'stat /srv/motd'), /Type: regular/);
  assert.match(debugfs(img, 'stat /etc/motd'), /Links: 2/, 'a hard link, inside /srv');
  assert.equal(vmpager(['rm', img, '/srv/motd']).status, 0);
  assert.equal(vmpager(['ln', '-s', img, '../etc/motd', '/srv/']).status, 0);
  assert.match(debugfs(img, 'stat /srv/motd'), /Type: symlink/, 'ln -s into /srv/ made /srv/motd');
  assert.match(debugfs(img, 'stat /srv/motd'), /Fast link dest: "\.\.\/etc\/motd"/);
  assert.equal(vmpager(['ln', img, '/etc/motd', '/srv/motd']).status, 2, 'an existing name is not a directory: EEXIST');
  assert.ok(e2fsck(img).clean);
});

test('ls of a symlink lists the link itself unless it names a directory; a dangling one too', () => {
  assert.equal(vmpager(['ls', img, '/dangling']).stdout, 'l           13 dangling\n');
  assert.equal(vmpager(['ls', img, '/motd-link']).stdout, 'l            8 motd-link\n');
  const r = vmpager(['ls', img, '/no-such']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${img}: /no-such: no such file or directory\n`);
});

test('get of a device node alone fails in one line and makes nothing (in a tree it is skipped with a line)', () => {
  const dest = join(tmp.dir, 'null-copy');
  const r = vmpager(['get', img, '/srv/null', dest]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmpager: ${img}: /srv/null: a device node, FIFO or socket: Node cannot make one, so get cannot copy it\n`);
  assert.ok(!existsSync(dest));
  const tree = join(tmp.dir, 'srv-copy');
  const t = vmpager(['get', img, '/srv', tree]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /\/srv\/null: a device node, FIFO or socket: skipped/);
});

test('ls names a device node, FIFO or socket with ls -l\'s letter (c, b, p, s); --json keeps its type "other"', () => {
  execFileSync('debugfs', ['-w', '-f', '-', img], { input: 'cd /srv\nmknod fifo p\nmknod sda b 8 0\n', stdio: ['pipe', 'ignore', 'ignore'] });
  const text = vmpager(['ls', img, '/srv']).stdout;
  assert.match(text, /^c +0 null$/m);
  assert.match(text, /^p +0 fifo$/m);
  assert.match(text, /^b +0 sda$/m);
  assert.match(vmpager(['ls', '-R', img, '/srv']).stdout, /^p +0 \/srv\/fifo$/m);
  assert.equal(vmpager(['ls', img, '/srv/fifo']).stdout, 'p            0 fifo\n');
  const json = JSON.parse(vmpager(['ls', '--json', img, '/srv']).stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(json.find((e) => e.name === 'fifo'), { name: 'fifo', path: '/srv/fifo', type: 'other', size: 0 });
});

test('chmod\'s symbolic modes, copy forms (o=u, g+o) too, give what chmod(1) gives from the same mode', () => {
  const probe = join(tmp.dir, 'mode-probe');
  writeFileSync(probe, '');
  const specs = ['u+x,go-w', 'a=rX', 'o=u', 'g=u', 'u=g', 'g+o', 'a-g', 'go=u', 'u=o,g=u', 'ug=o', 'u+s,o=u', 'o=u,u=g'];
  for (const start of [0o644, 0o751, 0o4755, 0o2640, 0o1777, 0o000, 0o7070]) {
    for (const spec of specs) {
      chmodSync(probe, start);
      execFileSync('chmod', [spec, probe]);
      assert.equal(parseMode(spec, start, false), statSync(probe).mode & 0o7777, `${spec} on ${start.toString(8)}`);
    }
  }
  assert.equal(parseMode('o=ux', 0o644, false), null, 'a copy form takes one class alone');
  assert.equal(vmpager(['chmod', img, 'o=u', '/etc/motd']).status, 0);
  assert.match(debugfs(img, 'stat /etc/motd'), /Mode:\s+0646/);
});

test('chmod\'s octal modes give what chmod(1) gives, on files and directories: 04755 and 00755 too, a directory keeping its set-ID bits unless five digits say otherwise', () => {
  const file = join(tmp.dir, 'octal-probe');
  const dir = join(tmp.dir, 'octal-probe-dir');
  writeFileSync(file, '');
  mkdirSync(dir, { recursive: true });
  const specs = ['755', '0755', '4755', '04755', '02755', '07777', '00755', '000755', '2750', '1777', '0', '6711'];
  for (const [probe, isDir] of [[file, false], [dir, true]] as const) {
    for (const start of [0o644, 0o2755, 0o4755, 0o6755, 0o1777]) {
      for (const spec of specs) {
        chmodSync(probe, start);
        execFileSync('chmod', [spec, probe]);
        assert.equal(parseMode(spec, start, isDir), statSync(probe).mode & 0o7777, `${spec} on ${isDir ? 'a directory' : 'a file'} of ${start.toString(8)}`);
      }
    }
  }
  assert.equal(parseMode('10000', 0o644, false), null, 'past 07777');
  assert.equal(spawnSync('chmod', ['10000', file]).status, 1, 'chmod(1) refuses it too');
  assert.equal(vmpager(['chmod', img, '04755', '/etc/motd']).status, 0);
  assert.match(debugfs(img, 'stat /etc/motd'), /Mode:\s+04755/);
  assert.equal(vmpager(['chmod', img, '644', '/etc/motd']).status, 0);
});

test('chown drops set-user-ID, set-group-ID (where group execution is on) and capabilities of what is not a directory, as chown(1) does on Linux; :GID sets the group alone', () => {
  // security.capability of cap_net_raw=ep (VFS_CAP_REVISION_2, effective; permitted bit 13).
  const cap = '0x0100000200200000000000000000000000000000';
  const cases: Array<[number, string, number]> = [[0o6755, 'file', 0o755], [0o6745, 'file', 0o2745], [0o4711, 'file', 0o711], [0o2711, 'file', 0o711], [0o6755, 'dir', 0o6755]];
  for (const [mode, type, want] of cases) {
    const p = `/own-${type}-${mode.toString(8)}`;
    assert.equal(vmpager(type === 'dir' ? ['mkdir', img, p] : ['touch', img, p]).status, 0);
    assert.equal(vmpager(['chmod', img, `0${mode.toString(8)}`, p]).status, 0);
    if (type === 'file') assert.equal(vmpager(['xattr', img, p, 'security.capability', cap]).status, 0);
    const r = vmpager(['chown', img, '1000:1000', p]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(debugfs(img, `stat ${p}`), new RegExp(`Mode:\\s+0?${want.toString(8)}\\b`), `${p}`);
    if (type === 'file') assert.doesNotMatch(debugfs(img, `ea_list ${p}`), /security\.capability/);
    if (process.getuid?.() === 0) {
      // The same on the host, where it runs as root.
      const h = join(tmp.dir, `host${p.slice(1)}`);
      if (type === 'dir') mkdirSync(h);
      else writeFileSync(h, '');
      chmodSync(h, mode);
      execFileSync('chown', ['1000:1000', h]);
      assert.equal(statSync(h).mode & 0o7777, want, `host ${p}`);
    }
  }
  assert.equal(vmpager(['chown', img, ':42', '/own-file-6755']).status, 0);
  assert.match(debugfs(img, 'stat /own-file-6755'), /User:\s+1000\s+Group:\s+42\b/);
  const bad = vmpager(['chown', img, '7:', '/own-file-6755']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^vmpager: chown: 7:: give the group's number after ':'/);
  assert.ok(e2fsck(img).clean);
});

test('touch through a dangling symlink makes the file it names, as touch(1) does; @SECONDS dates are taken', () => {
  assert.equal(vmpager(['ln', '-s', img, 'made-by-touch', '/srv/dangle']).status, 0);
  assert.equal(vmpager(['ln', '-s', img, '/srv/abs-made', '/srv/dangle-abs']).status, 0);
  for (const link of ['/srv/dangle', '/srv/dangle-abs']) {
    const r = vmpager(['touch', img, link, '--date', '@1700000000.5']);
    assert.equal(r.status, 0, r.stderr);
  }
  for (const made of ['/srv/made-by-touch', '/srv/abs-made']) {
    const st = debugfs(img, `stat ${made}`);
    assert.match(st, /Type: regular/);
    assert.match(st, /mtime: 0x6553f100:77359400/, 'mtime 1700000000 s and 500000000 ns (debugfs prints i_mtime_extra: nanoseconds << 2)');
  }
  // touch(1) on the host does the same.
  symlinkSync('host-made', join(tmp.dir, 'host-dangle'));
  execFileSync('touch', [join(tmp.dir, 'host-dangle')]);
  assert.ok(existsSync(join(tmp.dir, 'host-made')));
  assert.ok(e2fsck(img).clean);
});

test('mv of a name onto itself is refused as mv(1) refuses it, a last name of . is busy (rename(2)), and a link name of 256 bytes is too long', () => {
  for (const [from, to] of [['/etc/motd', '/etc/motd'], ['/etc/motd', '/etc'], ['/etc/motd', '/etc/']]) {
    const r = vmpager(['mv', img, from, to]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vmpager: ${img}: ${from}: '${from}' and '/etc/motd' are the same file\n`);
  }
  assert.equal(vmpager(['mv', img, '/srv/.', '/elsewhere']).stderr, `vmpager: ${img}: /srv/.: device busy\n`);
  const long = `/srv/${'h'.repeat(256)}`;
  assert.equal(vmpager(['ln', img, '/etc/motd', long]).stderr, `vmpager: ${img}: ${long}: file name too long\n`);
  assert.equal(vmpager(['ln', img, '/etc/motd', long.slice(0, -1)]).status, 0, '255 bytes are a name');
  assert.equal(vmpager(['rm', img, long.slice(0, -1)]).status, 0);
});

test('mv between two hard links of one file is refused as mv(1) refuses it (rename(2) would keep both); a case change on FAT is still a rename', () => {
  assert.equal(vmpager(['mkdir', img, '/lnk']).status, 0);
  assert.equal(vmpager(['ln', img, '/etc/motd', '/lnk/motd-hard']).status, 0);
  assert.equal(vmpager(['ln', img, '/etc/motd', '/lnk/motd']).status, 0);
  const before = debugfs(img, 'ls -l /lnk');
  for (const [from, to, dest] of [['/etc/motd', '/lnk/motd-hard', '/lnk/motd-hard'], ['/lnk/motd-hard', '/etc/motd', '/etc/motd'], ['/lnk/motd', '/etc/', '/etc/motd']]) {
    const r = vmpager(['mv', img, from, to]);
    assert.equal(r.status, 2, `${from} ${to}`);
    assert.equal(r.stderr, `vmpager: ${img}: ${from}: '${from}' and '${dest}' are the same file\n`);
  }
  assert.equal(debugfs(img, 'ls -l /lnk'), before, 'every name kept');
  // A new name for one of them is a move, as ever.
  assert.equal(vmpager(['mv', img, '/lnk/motd-hard', '/lnk/motd-moved']).status, 0);
  for (const p of ['/lnk/motd-moved', '/lnk/motd']) assert.equal(vmpager(['rm', img, p]).status, 0);
  assert.match(debugfs(img, 'stat /etc/motd'), /Links: 1\b/);
  assert.ok(e2fsck(img).clean);
  // FAT: one entry, renamed in case (no hard links there).
  const fat = join(tmp.dir, 'case.fat');
  assert.equal(spawnSync('mkfs.fat', ['-C', fat, '1024'], { encoding: 'utf8' }).status, 0);
  assert.equal(spawnSync('mmd', ['-i', fat, '::/boot'], { encoding: 'utf8' }).status, 0);
  assert.equal(spawnSync('mcopy', ['-i', fat, '-', '::/boot/Config.txt'], { input: 'x\n', encoding: 'utf8' }).status, 0);
  const r = vmpager(['mv', fat, '/boot/Config.txt', '/boot/config.txt']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(spawnSync('mdir', ['-i', fat, '-b', '::/boot'], { encoding: 'utf8' }).stdout, /config\.txt/);
});

test('chmod of a FAT file takes what FAT keeps (644 writable, 444 read-only: its read-only attribute) and refuses in one line what it cannot (set-ID, x bits, reads taken away), as Linux\'s vfat refuses them', () => {
  const fat = join(tmp.dir, 'modes.fat');
  assert.equal(spawnSync('mkfs.fat', ['-C', fat, '1024'], { encoding: 'utf8' }).status, 0);
  assert.equal(spawnSync('mcopy', ['-i', fat, '-', '::/cmdline.txt'], { input: 'x\n', encoding: 'utf8' }).status, 0);
  const mode = () => /^mode: (\d+)$/m.exec(vmpager(['stat', fat, '/cmdline.txt']).stdout)?.[1];
  for (const m of ['4755', '0755', '0600', 'u+s', 'u+x', '0666']) {
    const r = vmpager(['chmod', fat, m, '/cmdline.txt']);
    assert.equal(r.status, 2, m);
    assert.equal(r.stderr, `vmpager: ${fat}: /cmdline.txt: FAT keeps only a read-only attribute: a file is 644 or 444\n`, m);
    assert.equal(mode(), '0100644', `${m}: unchanged`);
  }
  assert.equal(vmpager(['chmod', fat, 'a-w', '/cmdline.txt']).status, 0);
  assert.equal(mode(), '0100444');
  assert.match(spawnSync('mattrib', ['-i', fat, '::/cmdline.txt'], { encoding: 'utf8' }).stdout, /^\s*A?\s*R/, 'the read-only attribute, as mtools reads it');
  assert.equal(vmpager(['chmod', fat, '644', '/cmdline.txt']).status, 0);
  assert.equal(mode(), '0100644');
  // A tree copied in gives each file what FAT keeps of its mode: an executable is taken, a file without write bits is read-only.
  const src = join(tmp.dir, 'fat-modes-src');
  mkdirSync(src);
  writeFileSync(join(src, 'run.sh'), '#!/bin/sh\n');
  chmodSync(join(src, 'run.sh'), 0o4755);
  writeFileSync(join(src, 'ro'), 'r\n');
  chmodSync(join(src, 'ro'), 0o444);
  const r = vmpager(['put', '-r', fat, '/t', '--from', src]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(vmpager(['stat', fat, '/t/run.sh']).stdout, /^mode: 0100644$/m);
  assert.match(vmpager(['stat', fat, '/t/ro']).stdout, /^mode: 0100444$/m);
  assert.equal(spawnSync('fsck.fat', ['-n', fat], { encoding: 'utf8' }).status, 0);
});

test('usage mistakes name what was typed: ln -x is not --remove, a size of 1.5 bytes is no size; put --owner gives a single file its owner', () => {
  assert.equal(vmpager(['ln', '-x', img, 'a', 'b']).stderr, 'vmpager: ln takes no -x (usage: vmpager ln [-s] IMAGE TARGET LINK)\n');
  const t = vmpager(['truncate', img, '/etc/motd', '1.5']);
  assert.equal(t.status, 1);
  assert.equal(t.stderr, 'vmpager: truncate: not a size: 1.5\n');
  const p = spawnSync(process.execPath, [CLI, 'put', '--owner', '5:6', img, '/owned'], { input: 'x\n', encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.match(debugfs(img, 'stat /owned'), /User:\s+5\s+Group:\s+6\b/);
  assert.ok(e2fsck(img).clean);
});

test('a full standard output (/dev/full) fails get - and cat in one line that names it, as cat(1) does, not as an internal error', () => {
  const full = openSync('/dev/full', 'w');
  try {
    for (const args of [['get', img, '/etc/motd', '-'], ['cat', img, '/etc/motd']]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 2, args[0]);
      assert.equal(r.stderr, 'vmpager: standard output: no space left on device\n', args[0]);
    }
  } finally {
    closeSync(full);
  }
});
