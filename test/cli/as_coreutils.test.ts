/*
 * Commands that answer as their coreutils namesakes do where a new user
 * found them differ: ln into a directory makes the link inside it, ls of a
 * symlink that is not a directory's lists the link itself (a dangling one
 * too), get of a device node alone fails, since nothing is made, and
 * chmod's symbolic modes (copy forms too: o=u) give what chmod(1) gives.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
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
