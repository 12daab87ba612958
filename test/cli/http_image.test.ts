/*
 * An image on a web server given to the command line and the library by its
 * URL: a whole disk (MBR, FAT32 and ext4 partitions, as a Raspberry Pi image
 * is laid out; sfdisk, mkfs.fat, mke2fs -d) served by the test's range server
 * (test/helpers/http_ranges.ts). Listings and bytes are judged by the tree
 * mke2fs was given and by mtools; a server without range support and a write
 * are one line each, exit 2, and the server sees nothing but range reads.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { Vm, VmError } from '../../src/api/index.js';
import { CLI } from '../helpers/cli.js';
import { randomBytes, tempDir } from '../helpers/images.js';
import { startRangeServer, type RangeServer } from '../helpers/http_ranges.js';

const tmp = tempDir('vmpager-http-');
let server: RangeServer;
const BIG = randomBytes(700_000, 11);
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/** Runs the CLI without blocking this process, whose event loop serves the image. */
function vmpager(...args: string[]): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
  });
}

before(async () => {
  const disk = join(tmp.dir, 'disk.img');
  execFileSync('truncate', ['-s', '96M', disk]);
  execFileSync('sfdisk', ['-q', disk], { input: 'label: dos\nstart=2048, size=67584, type=c\nstart=69632, type=83\n' });
  execFileSync('mkfs.fat', ['-F', '32', '-n', 'BOOTFS', '--offset', '2048', disk, String(67584 / 2)], { stdio: 'ignore' });
  const boot = join(tmp.dir, 'config.txt');
  writeFileSync(boot, 'enable_uart=1\n');
  execFileSync('mcopy', ['-i', `${disk}@@${2048 * 512}`, boot, '::/config.txt'], { env: MTOOLS_ENV });
  const root = join(tmp.dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'raspberrypi\n');
  writeFileSync(join(root, 'big.bin'), BIG);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', '-d', root, '-E', `offset=${69632 * 512}`, disk, `${(96 * 1024 * 1024 - 69632 * 512) / 1024}k`], { stdio: 'ignore' });
  server = await startRangeServer(readFileSync(disk));
});
after(async () => {
  await server?.close();
  tmp.cleanup();
});

test('an http URL is read like an image file: partitions, a listing, a file of each partition, byte for byte', async () => {
  const parts = await vmpager('parts', server.url);
  assert.equal(parts.status, 0, parts.stderr);
  assert.match(parts.stdout.toString(), /fat32/);
  assert.match(parts.stdout.toString(), /ext4/);
  const ls = await vmpager('--partition', '2', 'ls', '-R', server.url, '/');
  assert.equal(ls.status, 0, ls.stderr);
  assert.deepEqual(ls.stdout.toString().trim().split('\n').map((l) => l.split(' ').pop()), ['/big.bin', '/etc', '/etc/hostname', '/lost+found']);
  const big = await vmpager('--partition', 'rootfs', 'cat', server.url, '/big.bin');
  assert.equal(big.status, 0, big.stderr);
  assert.ok(Buffer.from(BIG).equals(big.stdout), 'big.bin over HTTP equals the tree mke2fs was given');
  const cfg = await vmpager('--partition', '1', 'cat', server.url, '/config.txt');
  assert.equal(cfg.stdout.toString(), 'enable_uart=1\n');
  assert.ok(server.log.every((r) => r.method === 'GET' && r.range !== null && r.status === 206), 'only range reads');
});

test('a server without range support, a write, and a missing image are one line each, exit 2, and nothing is sent but reads', async () => {
  const before = server.log.length;
  const put = await vmpager('--partition', '1', 'put', server.url, '/config.txt', '--from', join(tmp.dir, 'config.txt'));
  assert.equal(put.status, 2);
  assert.equal(put.stderr, `vmpager: ${server.url}: an image on a web server is read-only\n`);
  assert.equal(server.log.length, before, 'a write is refused before the server is asked anything');
  const missing = await vmpager('ls', `${server.origin}/nothing-here`, '/');
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^vmpager: http:\/\/127\.0\.0\.1:\d+\/nothing-here: .*HTTP 404\n$/);
  server.mode = 'no-ranges';
  try {
    const r = await vmpager('ls', server.url, '/');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vmpager: http:\S+: .*does not answer range requests.*\n$/);
    await assert.rejects(new Vm().mount(server.url), (e: unknown) => e instanceof VmError && e.code === 'EINVAL');
  } finally {
    server.mode = 'ranges';
  }
  await assert.rejects(new Vm().mount(server.url, { readOnly: false }), (e: unknown) => e instanceof VmError && e.code === 'EROFS');
  assert.ok(server.log.every((r) => r.method === 'GET'), 'nothing but GETs');
  // No server there: the socket's words, not fetch's "fetch failed".
  const closed = await new Promise<number>((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
  const none = await vmpager('ls', `http://127.0.0.1:${closed}/disk.img`, '/');
  assert.equal(none.status, 2);
  assert.equal(none.stderr, `vmpager: http://127.0.0.1:${closed}/disk.img: cannot fetch: connection refused\n`);
});
