/*
 * The command's code cache (src/cli/compile_cache.ts): a run makes it, the
 * next uses it, and a cache that is damaged, another bundle's, another
 * user's or writable by others is never given to V8 (it is ignored and
 * made again); a cache folder that cannot be written changes nothing. The
 * bundled command (dist/vmpager.mjs) answers alike with its cache fresh,
 * in use, damaged or turned off, and writes nothing beside the package.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheFileOf, cacheKeyOf, compileCacheDir, readCodeCache, runCommonJs, writeCodeCache } from '../../src/cli/compile_cache.js';
import { mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** A CommonJS file as the build writes one: its text, then its SHA-256 as the last line. */
function bundleText(body: string, digestOf = body): string {
  return `${body}//# vmpager-sha256=${createHash('sha256').update(digestOf).digest('hex')}\n`;
}

const BODY = `"use strict";
globalThis.ccRuns = (globalThis.ccRuns ?? 0) + 1;
function twice(x) { return x * 2; }
globalThis.ccAnswer = twice(21) + (typeof module.exports === 'object' && typeof require === 'function' ? 0 : 1000);
`;

let n = 0;
/** Writes text as a new file (each under a name of its own: V8's in-memory cache keys on it). */
function place(text: string): string {
  const path = join(tmp.dir, `b${n++}`, 'vmpager.cjs');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** Runs path with the cache under dir; what it did, and the writer it left for exit (run here, on demand). */
function run(path: string, dir: string | null, answer = 42): { use: string; exit: () => void } {
  const writers: (() => void)[] = [];
  const runsBefore = (globalThis as { ccRuns?: number }).ccRuns ?? 0;
  const use = runCommonJs(path, dir, (w) => writers.push(w));
  assert.equal((globalThis as { ccRuns?: number }).ccRuns, runsBefore + 1, 'the file ran');
  assert.equal((globalThis as { ccAnswer?: number }).ccAnswer, answer, 'its own code, with require and module');
  return { use, exit: () => writers.forEach((w) => w()) };
}

function keyOf(text: string): string {
  return cacheKeyOf(Buffer.from(text))!;
}

test('a first run makes the cache at exit and the next run uses it', () => {
  const dir = join(tmp.dir, 'c-first');
  const text = bundleText(BODY);
  const first = run(place(text), dir);
  assert.equal(first.use, 'made');
  first.exit();
  const file = cacheFileOf(dir, keyOf(text));
  assert.ok(readCodeCache(file, keyOf(text)) !== undefined, 'a cache that checks out');
  assert.equal((statSync(file).mode & 0o777).toString(8), '600');
  assert.equal(run(place(text), dir).use, 'used');
});

test('a damaged cache (a byte changed, cut short, another format) is ignored and made again', () => {
  const dir = join(tmp.dir, 'c-damaged');
  const text = bundleText(BODY);
  const key = keyOf(text);
  const file = cacheFileOf(dir, key);
  run(place(text), dir).exit();
  const good = readFileSync(file);
  const damages: [string, (b: Buffer) => Buffer][] = [
    ['a byte of the code changed', (b) => { const c = Buffer.from(b); c[c.length - 10] ^= 0x40; return c; }],
    ['a byte of the checksum changed', (b) => { const c = Buffer.from(b); c[8 + 2 + key.length] ^= 1; return c; }],
    ['cut short', (b) => b.subarray(0, b.length - 100)],
    ['only its header', (b) => b.subarray(0, 8 + 2 + key.length + 4)],
    ['another format', (b) => { const c = Buffer.from(b); c[6] = 0x39; return c; }],
    ['empty', () => Buffer.alloc(0)],
  ];
  for (const [what, damage] of damages) {
    writeFileSync(file, damage(good), { mode: 0o600 });
    assert.equal(readCodeCache(file, key), undefined, what);
    const r = run(place(text), dir);
    assert.equal(r.use, 'made', what);
    r.exit();
    assert.ok(readCodeCache(file, key) !== undefined, `${what}: made again`);
  }
});

test("another bundle's cache is never used: an edit since the build, another digest, or its file under this one's name", () => {
  const dir = join(tmp.dir, 'c-foreign');
  const a = bundleText(BODY);
  run(place(a), dir).exit();
  // The same length, one character changed, the build's digest line left as it was: another key.
  // (V8 would take A's code for any source of A's length: each run checks it ran its own.)
  const edited = bundleText(BODY.replace('x * 2', 'x * 3'), BODY);
  assert.equal(edited.length, a.length);
  assert.notEqual(keyOf(edited), keyOf(a));
  assert.equal(run(place(edited), dir, 63).use, 'made');
  // A's cache renamed to what B looks for: the key inside it is A's.
  const b = bundleText(BODY.replace('x * 2', 'x * 4'));
  assert.equal(b.length, a.length);
  copyFileSync(cacheFileOf(dir, keyOf(a)), cacheFileOf(dir, keyOf(b)));
  assert.equal(readCodeCache(cacheFileOf(dir, keyOf(b)), keyOf(b)), undefined);
  assert.equal(run(place(b), dir, 84).use, 'made');
});

test("a cache file others may write, or another user's, is not used", () => {
  const dir = join(tmp.dir, 'c-owner');
  const text = bundleText(BODY);
  const key = keyOf(text);
  const file = cacheFileOf(dir, key);
  run(place(text), dir).exit();
  chmodSync(file, 0o666);
  assert.equal(readCodeCache(file, key), undefined, 'writable by others');
  assert.equal(run(place(text), dir).use, 'made');
  chmodSync(file, 0o600);
  assert.ok(readCodeCache(file, key) !== undefined);
  if (process.getuid?.() === 0) {
    chownSync(file, 1, 1);
    assert.equal(readCodeCache(file, key), undefined, "another user's");
    chownSync(file, 0, 0);
  }
});

test('no cache without the digest line or when turned off; the folder comes from VMPAGER_COMPILE_CACHE, XDG_CACHE_HOME or HOME', () => {
  const dir = join(tmp.dir, 'c-none');
  assert.equal(run(place(BODY), dir).use, 'none', 'no digest line');
  assert.equal(run(place(bundleText(BODY)), null).use, 'none', 'no folder');
  assert.deepEqual(readdirSync(tmp.dir).includes('c-none'), false, 'nothing written');
  assert.equal(compileCacheDir({ VMPAGER_COMPILE_CACHE: '0', HOME: '/home/u' }), null);
  assert.equal(compileCacheDir({ VMPAGER_COMPILE_CACHE: '', HOME: '/home/u' }), null);
  assert.equal(compileCacheDir({ VMPAGER_COMPILE_CACHE: '/c', HOME: '/home/u' }), '/c');
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/home/u' }), '/x/vmpager');
  assert.equal(compileCacheDir({ HOME: '/home/u' }), '/home/u/.cache/vmpager');
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: 'relative', HOME: 'relative' }), null);
  assert.equal(compileCacheDir({}), null);
});

test('a cache folder that cannot be made: the file runs, the write at exit fails silently, nothing is left', () => {
  const blocker = join(tmp.dir, 'a-file');
  writeFileSync(blocker, 'not a folder');
  const r = run(place(bundleText(BODY)), join(blocker, 'cache'));
  assert.equal(r.use, 'made');
  r.exit(); // ENOTDIR inside: swallowed
  assert.equal(readFileSync(blocker, 'utf8'), 'not a folder');
  // The cache is only serialised once its file could be made: an unwritable folder costs nothing at each exit.
  let made = 0;
  writeCodeCache(join(blocker, 'cache', 'x.v8cache'), 'x', () => (made++, Buffer.alloc(10)));
  assert.equal(made, 0);
  writeCodeCache(join(tmp.dir, 'c-ok', 'x.v8cache'), 'x', () => (made++, Buffer.alloc(10, 1)));
  assert.equal(made, 1);
  assert.deepEqual(readCodeCache(join(tmp.dir, 'c-ok', 'x.v8cache'), 'x'), Buffer.alloc(10, 1));
  assert.deepEqual(readdirSync(join(tmp.dir, 'c-ok')), ['x.v8cache'], 'no temporary file left');
});

/** Runs the bundled command with its cache in dir (null: turned off). */
function vmpager(args: string[], dir: string | null): { status: number | null; stdout: Buffer; stderr: string } {
  const env = { ...process.env, VMPAGER_COMPILE_CACHE: dir ?? '0' };
  const r = spawnSync(process.execPath, [CLI, ...args], { env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

test('vmpager answers alike with its cache made, used, damaged or off, and writes nothing beside the package', () => {
  const image = join(tmp.dir, 'cli.img');
  const data = randomBytes(300_000, 5);
  mkext2(image, [{ path: 'f', data }], { type: 'ext4', blockSize: 1024, size: 8 << 20 });
  const dist = dirname(CLI);
  const distBefore = readdirSync(dist).sort();
  const dir = join(tmp.dir, 'c-cli');
  const args = ['cat', image, '/f'];
  const off = vmpager(args, null);
  assert.equal(off.status, 0, off.stderr);
  assert.ok(off.stdout.equals(Buffer.from(data)));
  assert.deepEqual(readdirSync(tmp.dir).includes('c-cli'), false, 'turned off: no folder');

  const made = vmpager(args, dir);
  const files = readdirSync(dir);
  assert.equal(files.length, 1, `one cache: ${files}`);
  const file = join(dir, files[0]);
  const written = readFileSync(file);
  const used = vmpager(args, dir);
  assert.ok(readFileSync(file).equals(written), 'used as it was, not made again');
  writeFileSync(file, Buffer.concat([written.subarray(0, written.length >> 1), Buffer.alloc(written.length - (written.length >> 1), 0x5a)]));
  const damaged = vmpager(args, dir);
  assert.notEqual(readFileSync(file).subarray(written.length >> 1).every((b) => b === 0x5a), true, 'the damaged cache was made again');
  for (const [what, r] of [['made', made], ['used', used], ['damaged', damaged]] as const) {
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${what}: nothing on stderr`);
    assert.ok(r.stdout.equals(off.stdout), `${what}: the same bytes`);
  }
  assert.deepEqual(readdirSync(dist).sort(), distBefore, 'nothing new in dist/');
});

test('vmpager makes its cache after a command that succeeded, not after --version, --help or a failure', () => {
  const dir = join(tmp.dir, 'c-which');
  const image = join(tmp.dir, 'which.img');
  mkext2(image, [{ path: 'f', data: randomBytes(1000, 6) }], { type: 'ext4', blockSize: 4096, size: 8 << 20 });
  const made = () => (readdirSync(tmp.dir).includes('c-which') ? readdirSync(dir).filter((n) => n.endsWith('.v8cache')) : []);
  for (const args of [['--version'], ['--help'], ['cat', image, '/nothing']]) {
    const r = vmpager(args, dir);
    assert.equal(r.status, args[0] === 'cat' ? 2 : 0, r.stderr);
    assert.deepEqual(made(), [], `${args.join(' ')}: no cache`);
  }
  const r = vmpager(['cat', image, '/f'], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(made().length, 1, 'cat: its cache');
});

test('vmpager.mjs without its bundle beside it: one line, exit 2, no stack trace', () => {
  const dir = join(tmp.dir, 'lonely');
  mkdirSync(dir);
  copyFileSync(CLI, join(dir, 'vmpager.mjs'));
  const r = spawnSync(process.execPath, [join(dir, 'vmpager.mjs'), '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^vmpager: internal error: ENOENT[^\n]*vmpager\.cjs'?\n$/);
});

test('a command that sets V8 flags of its own (get of a tree, mkfs --from) makes a cache its next run uses, beside the others\'', () => {
  const dir = join(tmp.dir, 'c-flags');
  const image = join(tmp.dir, 'flags.img');
  mkext2(image, [{ path: 'd/f', data: randomBytes(5000, 7) }, { path: 'g', data: randomBytes(100, 8) }], { type: 'ext4', blockSize: 4096, size: 8 << 20 });
  const caches = () => new Map(readdirSync(dir).filter((n) => n.endsWith('.v8cache')).map((n) => [n, statSync(join(dir, n)).ino]));
  const ok = (args: string[]) => {
    const r = vmpager(args, dir);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  };
  ok(['get', image, '/', join(tmp.dir, 'flags-out-1')]);
  const afterGet = caches();
  assert.equal(afterGet.size, 1, 'get: its cache');
  // V8 refuses a cache made under other flags: one made after the command changed them was refused and made again at every run.
  ok(['get', image, '/', join(tmp.dir, 'flags-out-2')]);
  assert.deepEqual(caches(), afterGet, 'the next get used it: not made again');
  ok(['cat', image, '/g']);
  const afterCat = caches();
  assert.equal(afterCat.size, 2, 'cat: a cache of its own, beside get\'s');
  ok(['cat', image, '/g']);
  ok(['get', image, '/', join(tmp.dir, 'flags-out-3')]);
  assert.deepEqual(caches(), afterCat, 'each used its own');
  ok(['mkfs', '--type', 'ext4', '--from', join(tmp.dir, 'flags-out-1'), join(tmp.dir, 'flags-mkfs-1.img'), '8MiB']);
  const afterMkfs = caches();
  assert.equal(afterMkfs.size, 3, 'mkfs --from: its own');
  ok(['mkfs', '--type', 'ext4', '--from', join(tmp.dir, 'flags-out-1'), join(tmp.dir, 'flags-mkfs-2.img'), '8MiB']);
  assert.deepEqual(caches(), afterMkfs, 'the next mkfs --from used it');
});
