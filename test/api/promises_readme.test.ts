/*
 * The README's ported provisioning script, run as written: its code block
 * is taken from README.md, stripped of types by esbuild, and run by node
 * against an mke2fs -d image of a small root tree; debugfs and e2fsck -fn
 * then check every change it makes.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { transformSync } from 'esbuild';
import { debugfs, debugfsCat, e2fsck, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The first ts block after the README's facade heading. */
function readmeScript(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const at = readme.indexOf('### `node:fs/promises` on an image');
  assert.ok(at >= 0, 'the README has the section');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m !== null);
  return m[1];
}

test("the README's balena-image-fs style script runs on an image as written", () => {
  const tree = join(tmp.dir, 'tree');
  const file = (rel: string, data: string | Uint8Array, mode = 0o644): void => {
    mkdirSync(dirname(join(tree, rel)), { recursive: true });
    writeFileSync(join(tree, rel), data);
    chmodSync(join(tree, rel), mode);
  };
  file('etc/device/config.json', JSON.stringify({ hostname: 'factory', uuid: 'abc' }));
  file('etc/hosts', '127.0.0.1 localhost\n');
  file('etc/systemd/system/keep.service', '[Unit]\n');
  symlinkSync('/dev/null', join(tree, 'etc/systemd/system/masked.service'));
  symlinkSync('/lib/systemd/system/x.service', join(tree, 'etc/systemd/system/other.service'));
  file('var/cache/apt/archives/a.deb', randomBytes(50_000, 3));
  const bootLog = 'booted ok\n'.repeat(30_000);
  file('var/log/boot.log', bootLog);
  file('usr/bin/app', '#!/bin/sh\n');
  mkdirSync(join(tree, 'boot'));
  mkdirSync(join(tree, 'opt'));
  const work = join(tmp.dir, 'work');
  mkdirSync(work);
  const image = join(work, 'rootfs.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', tree, image, '16M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const tar = randomBytes(3 << 20, 5);
  writeFileSync(join(work, 'app.tar'), tar);

  const api = join(repo, 'dist/src/api/index.js');
  const source = readmeScript().replace("from 'vmpager'", `from ${JSON.stringify(api)}`);
  const js = transformSync(source, { loader: 'ts', format: 'esm', target: 'node20' }).code;
  writeFileSync(join(work, 'script.mjs'), js);
  execFileSync(process.execPath, ['script.mjs'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });

  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
  assert.deepEqual(JSON.parse(debugfsCat(image, '/etc/device/config.json').toString()), { hostname: 'kiosk-42', uuid: 'abc' });
  assert.equal(debugfsCat(image, '/etc/NetworkManager/system-connections/wifi').toString(), '[connection]\nid=wifi\ntype=wifi\n');
  assert.match(debugfs(image, 'stat /etc/NetworkManager/system-connections/wifi'), /Mode: {2}0600/);
  assert.equal(debugfsCat(image, '/etc/hosts').toString(), '127.0.0.1 localhost\n10.0.0.5 registry.local\n');
  const units = debugfs(image, 'ls -l /etc/systemd/system');
  assert.ok(!units.includes('masked.service') && units.includes('other.service') && units.includes('keep.service'), units);
  assert.doesNotMatch(debugfs(image, 'ls /var/cache'), /apt/);
  assert.match(debugfs(image, 'ls /var/cache'), /\.\./);
  assert.match(debugfs(image, 'stat /boot/firstboot'), /Size: 0\b/);
  assert.match(debugfs(image, 'stat /usr/bin/app'), /Mode: {2}0755/);
  assert.equal(gunzipSync(readFileSync(join(work, 'boot.log.gz'))).toString(), bootLog);
  assert.ok(debugfsCat(image, '/opt/app.tar').equals(tar));
});
