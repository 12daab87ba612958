/*
 * The host tree's reading thread (host_tree_reader.ts) against the host's
 * own files: bytes through many turns of the ring, by copy and by view; a
 * listing too big for one record; entries the walk does not ask for passed
 * over; a host failure thrown at the ask that reaches it, with its code and
 * path; a stop that ends a worker waiting on a full ring; and a file
 * that became a FIFO or a symlink since it was listed, refused at once
 * (a FIFO held a put -r for ever, deaf to Ctrl-C); one that shrank, told.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { changedReason, type HostFailure, HostTreeReader, VIEW_UNIT } from '../../src/cli/host_tree_reader.js';
import { HostTree, openTreeFile } from '../../src/cli/host_tree.js';
import { randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir('vmpager-reader-');
after(() => tmp.cleanup());

const files = join(tmp.dir, 'files');
const SIZES = [0, 1, 4095, 4096, 65_535, 65_536, 65_537, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7];
/** 40 files, 23 MiB in all: the 8 MiB ring turns several times. */
const NAMES = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, '0')}`);
const sizeOf = (i: number) => SIZES[i % SIZES.length];

before(() => {
  mkdirSync(files);
  NAMES.forEach((n, i) => writeFileSync(join(files, n), randomBytes(sizeOf(i), i + 1)));
});

function top(path: string) {
  return [{ path, type: 2, key: null, size: 0 }];
}

test('file bytes come through many turns of the ring whole, by copy and by view', async () => {
  for (const byView of [false, true]) {
    const r = HostTreeReader.start(top(files), []);
    try {
      const listed = r.list(0);
      assert.deepEqual(listed.map((e) => e.name), NAMES);
      listed.forEach((e, i) => {
        r.open(1 + i);
        const parts: Uint8Array[] = [];
        if (byView) {
          for (let v = r.view(); v.length > 0; v = r.view()) {
            parts.push(v.slice());
            if (v.length % VIEW_UNIT !== 0) break;
          }
        } else {
          const buf = new Uint8Array(100_000); // not a divisor of the records: reads cross them
          for (let n = r.read(buf); n > 0; n = r.read(buf)) parts.push(buf.slice(0, n));
        }
        r.close();
        assert.ok(Buffer.concat(parts).equals(readFileSync(join(files, e.name))), `${e.name} (${byView ? 'views' : 'reads'})`);
      });
    } finally {
      await r.stop();
    }
  }
});

test('a listing bigger than one record is listed whole, in name order', async () => {
  const dir = join(tmp.dir, 'wide');
  mkdirSync(dir);
  const names = Array.from({ length: 9000 }, (_, i) => `a-rather-long-name-so-the-listing-spans-records-${i}`);
  for (const n of names) writeFileSync(join(dir, n), '');
  const r = HostTreeReader.start(top(dir), []);
  try {
    assert.deepEqual(r.list(0).map((e) => e.name), [...names].sort());
    assert.equal(r.listedUpTo, 1 + names.length);
  } finally {
    await r.stop();
  }
});

test('files a listing opens ahead of their turn are closed once read or passed over as second names', async () => {
  const dir = join(tmp.dir, 'ahead');
  mkdirSync(dir);
  // 600 files of 40 KiB, more than are opened ahead at once and more than the ring holds (the walk waits
  // on it, files open); every tenth has a second name, listed right after it. Then a file bigger than the
  // ring, which keeps the walk going (a walk that ends closes every file its thread opened).
  for (let i = 0; i < 600; i++) {
    const n = `f${String(i).padStart(3, '0')}`;
    writeFileSync(join(dir, n), randomBytes((40 << 10) + (i % 7), 1000 + i));
    if (i % 10 === 0) linkSync(join(dir, n), join(dir, `${n}-link`));
  }
  const big = join(tmp.dir, 'ahead-big');
  writeFileSync(big, randomBytes(12 << 20, 7));
  const bigTop = { path: big, type: 1, key: null, size: 12 << 20 };
  const buf = new Uint8Array(1 << 20);
  // What is open while a walk's thread waits on the ring in the big file: the thread's own, and the file.
  const fds = () => readdirSync('/proc/self/fd').length;
  const control = HostTreeReader.start([bigTop], []);
  control.open(0);
  control.read(buf);
  const waiting = fds();
  await control.stop();
  const r = HostTreeReader.start([...top(dir), bigTop], []);
  try {
    const listed = r.list(0);
    assert.equal(listed.length, 660);
    const seen = new Set<string>();
    listed.forEach((e, i) => {
      const key = `${e.dev}:${e.ino}`;
      if (seen.has(key)) return; // a second name: the walk links it, reads nothing
      seen.add(key);
      r.open(2 + i);
      let got = 0;
      for (let n = r.read(buf.subarray(got)); n > 0; n = r.read(buf.subarray(got))) got += n;
      r.close();
      assert.ok(Buffer.from(buf.subarray(0, got)).equals(readFileSync(join(dir, e.name))), e.name);
    });
    r.open(1);
    r.read(buf); // the big file's first bytes: the walk is past the directory, and waits on the ring
    assert.equal(fds(), waiting, `${fds() - waiting} more open than the thread's own and the big file's: each file opened ahead is closed once read or passed over`);
    r.close();
  } finally {
    await r.stop();
  }
});

test('entries the walk does not ask for are passed over', async () => {
  const r = HostTreeReader.start(top(files), []);
  try {
    r.list(0);
    r.open(1 + 37); // files 0 to 36 never opened
    const buf = new Uint8Array(8 << 20);
    const n = r.read(buf);
    assert.ok(Buffer.from(buf.subarray(0, n)).equals(readFileSync(join(files, NAMES[37]))));
  } finally {
    await r.stop();
  }
});

test('a host failure is thrown at the ask that reaches it, with its code and path', async () => {
  const missing = join(tmp.dir, 'no-such-file');
  const r = HostTreeReader.start([{ path: files, type: 2, key: null, size: 0 }, { path: missing, type: 1, key: null, size: 10 }], []);
  try {
    r.list(0); // the first top's listing is fine
    // The second top, read after the first's 40 files (passed over: never opened).
    assert.throws(() => r.open(1), (e: { code?: string; path?: string }) => e.code === 'ENOENT' && e.path === missing);
  } finally {
    await r.stop();
  }
});

test('stop ends a worker waiting on a full ring', async () => {
  const r = HostTreeReader.start(top(files), []);
  r.list(0);
  await new Promise((res) => setTimeout(res, 200)); // the worker fills the ring and waits
  await r.stop();
});

test('a file listed as regular that is a FIFO or a symlink when opened fails at once as changed: the reading never waits for a writer', async () => {
  const fifo = join(tmp.dir, 'now-a-fifo');
  execFileSync('mkfifo', [fifo]);
  const link = join(tmp.dir, 'now-a-link');
  symlinkSync(join(files, NAMES[1]), link);
  for (const path of [fifo, link]) {
    // Listed (by the walk, before the change) as a regular file of 10 bytes.
    const r = HostTreeReader.start([{ path, type: 1, key: null, size: 10 }], []);
    try {
      assert.throws(() => r.open(0), (e: HostFailure) => e.reason === changedReason && e.path === path && e.code === 'EINVAL');
    } finally {
      await r.stop();
    }
    // Where the tree is read without the thread (a small tree), the same.
    assert.throws(() => openTreeFile(path), (e: Error) => e.message === `${path}: ${changedReason}`);
  }
});

test('a file that shrank between its listing and its reading is told, with what was copied, read by the thread or not', async () => {
  for (const size of [5 << 20, 1000]) {
    // 5 MiB: the walk's reading thread reads it (past 4 MiB of top files); 1000 bytes: the walk reads it itself.
    const dir = join(tmp.dir, `shrink-${size}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), randomBytes(size, 9));
    const told: string[] = [];
    const tree = new HostTree(null, dir, '/', new Set(), (m) => told.push(m));
    const [node] = tree.nodes(dir, ['f']);
    tree.prepare([node]);
    truncateSync(join(dir, 'f'), 100);
    const h = tree.open(node);
    const buf = new Uint8Array(1 << 20);
    let got = 0;
    for (let n = tree.read(h, buf, 0); n > 0; n = tree.read(h, buf, got)) got += n;
    tree.close(h);
    await tree.stop();
    assert.equal(got, 100);
    assert.deepEqual(told, [`${join(dir, 'f')}: shrank while it was read: 100 of its ${size} bytes copied`]);
  }
});

test('a file closed before its end (a copy stopped, say by a full image) is not told as shrunk, read by copy, by view or without the thread', async () => {
  for (const [size, byView] of [[5 << 20, false], [5 << 20, true], [1000, false]] as const) {
    const dir = join(tmp.dir, `stopped-${size}-${byView}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), randomBytes(size, 10));
    const told: string[] = [];
    const tree = new HostTree(null, dir, '/', new Set(), (m) => told.push(m));
    const [node] = tree.nodes(dir, ['f']);
    tree.prepare([node]);
    const h = tree.open(node);
    const v = byView ? tree.next(h) : null;
    const got = v !== null ? v.length : tree.read(h, new Uint8Array(100), 0);
    assert.ok(got > 0 && got < size, `${got} of ${size} bytes read before the stop`);
    tree.close(h);
    await tree.stop();
    assert.deepEqual(told, []);
  }
});
