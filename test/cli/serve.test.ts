/*
 * vmpager serve: the image at /image answers range requests as curl asks
 * them (curl -r is the oracle: the bytes must be the file's), a whole GET,
 * HEAD, a suffix range, an unsatisfiable one; the page, the bundle and the
 * config are served and nothing outside web/ is; the image is held as a
 * reader while served (a writer is refused) and let go at SIGTERM; bad
 * operands are one line with exit 1 or 2.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const MiB = 2 ** 20;
const tmp = tempDir('vmpager-serve-');
const image = mkext2(join(tmp.dir, 'e.img'), [{ path: 'a.bin', data: randomBytes(300_000, 3) }], { type: 'ext4', blockSize: 4096, size: 8 * MiB });
const bytes = readFileSync(image);
let proc: ChildProcess | null = null;
let url = '';

function vmpager(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

/** curl's body, and its status code with -w. */
function curl(args: string[]): { body: Buffer; status: number; headers: string } {
  const hdr = join(tmp.dir, 'headers');
  const body = execFileSync('curl', ['-s', '-D', hdr, ...args], { maxBuffer: 1 << 26 });
  const headers = readFileSync(hdr, 'latin1');
  return { body, status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)![1]), headers };
}

before(async () => {
  proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', image], { stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc!.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
});

after(() => {
  proc?.kill('SIGTERM');
  tmp.cleanup();
});

test('/image answers the ranges curl asks for with the image bytes, 206 and Content-Range', () => {
  for (const [a, b] of [
    [0, 0],
    [1024, 1024 + 4095],
    [bytes.length - 100, bytes.length - 1],
    [12_345, 1_000_000],
  ]) {
    const r = curl(['-r', `${a}-${b}`, url + 'image']);
    assert.equal(r.status, 206);
    assert.match(r.headers, new RegExp(`content-range: bytes ${a}-${b}/${bytes.length}`, 'i'));
    assert.ok(r.body.equals(bytes.subarray(a, b + 1)), `${a}-${b}`);
  }
  const suffix = curl(['-r', '-10', url + 'image']);
  assert.ok(suffix.body.equals(bytes.subarray(bytes.length - 10)));
  const past = curl(['-r', `${bytes.length}-${bytes.length + 10}`, url + 'image']);
  assert.equal(past.status, 416);
  assert.match(past.headers, new RegExp(`content-range: bytes \\*/${bytes.length}`, 'i'));
  const whole = curl([url + 'image']);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(bytes));
  const head = curl(['-I', url + 'image']);
  assert.equal(head.status, 200);
  assert.match(head.headers, /accept-ranges: bytes/i);
  assert.match(head.headers, new RegExp(`content-length: ${bytes.length}`, 'i'));
  assert.match(head.headers, /etag: "/i);
});

test('the page, the bundle and the config are served; nothing outside them is', () => {
  const page = curl([url]);
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /<title>vmpager explorer<\/title>/);
  const js = curl([url + 'vmpager.js']);
  assert.equal(js.status, 200);
  assert.ok(js.body.equals(readFileSync(new URL('../../browser/vmpager.js', import.meta.url))));
  assert.deepEqual(JSON.parse(curl([url + 'config.json']).body.toString()), { image: { url: '/image', name: 'e.img', size: bytes.length }, memory: 64 * MiB, pageSize: 4096 });
  for (const p of ['../package.json', '..%2fpackage.json', '../dist/vmpager.mjs']) assert.equal(curl(['--path-as-is', url + p]).status, 404, p);
});

test('the served image is held as a reader: a writer is refused while it is served', () => {
  const from = join(tmp.dir, 'x');
  writeFileSync(from, 'x');
  const r = vmpager(['put', image, '/x', '--from', from]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^vmpager: .*e\.img: .*in use by another vmpager process.*\n$/);
});

test('bad operands: a usage error is exit 1, a missing image one line and exit 2', () => {
  assert.equal(vmpager(['serve', '--port', 'http']).status, 1);
  assert.equal(vmpager(['serve', '--port', '70000']).status, 1);
  assert.equal(vmpager(['--partition', '2', 'serve', image]).status, 1);
  const missing = vmpager(['serve', '--port', '0', join(tmp.dir, 'none.img')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^vmpager: .*none\.img: no such file or directory\n$/);
});

test('SIGTERM stops serving and lets the image go (a writer then succeeds)', async () => {
  const p = proc!;
  proc = null;
  const code = await new Promise<number | null>((resolve) => {
    p.on('exit', (c) => resolve(c));
    p.kill('SIGTERM');
  });
  assert.equal(code, 0);
  const from = join(tmp.dir, 'y');
  writeFileSync(from, 'y');
  assert.equal(vmpager(['put', image, '/y', '--from', from]).status, 0);
});
