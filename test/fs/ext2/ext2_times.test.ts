/*
 * Nanosecond times and crtime: on inodes with room for the *_extra fields,
 * vmpager writes each time's nanoseconds and epoch bits and a new file's
 * crtime; utimes (and touch --date) keep sub-second times and times past
 * 2038; debugfs `stat` reads the same fields, and a remount reads them back.
 * 128-byte inodes hold neither: times are clamped to 1901..2038, seconds only.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { debugfs, tempDir } from '../../helpers/images.js';
import { CLI } from '../../helpers/cli.js';
import { buildImage } from './ext2_util.js';
import { assertClean } from './ext2_write_util.js';

const tmp = tempDir('vmpager-times-');
after(() => tmp.cleanup());

/** One time of debugfs `stat`: the 32-bit seconds, the *_extra word (when shown) and the date text. */
function dbTime(image: string, path: string, field: string): { lo: number; extra: number | null; text: string } {
  const out = debugfs(image, `stat ${path}`);
  const m = new RegExp(`\\b${field}: 0x([0-9a-f]+)(?::([0-9a-f]+))? -- (.*)`).exec(out);
  assert.ok(m !== null, `${field} in\n${out}`);
  return { lo: parseInt(m[1], 16), extra: m[2] === undefined ? null : parseInt(m[2], 16), text: m[3] };
}

/** Seconds and nanoseconds as the inode stores them: low 32 bits, and nsec << 2 | epoch. */
function onDisk(sec: number, nsec: number): { lo: number; extra: number } {
  const epoch = Math.floor((sec + 2 ** 31) / 2 ** 32);
  return { lo: (sec - epoch * 2 ** 32) >>> 0, extra: ((nsec << 2) | (epoch & 3)) >>> 0 };
}

const NS = 1_000_000_000n;

describe('nanosecond times and crtime (ext4, 256-byte inodes)', () => {
  test('a new file gets crtime; utimes to the nanosecond, past 2038 and before 1970, reads back and matches debugfs', async () => {
    const image = join(tmp.dir, 'times.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 8 << 20, files: [] });
    const vm = new Vm({ memory: 1 << 20 });
    let fs = await vm.mount(image, { readOnly: false });
    const before = Date.now() / 1000;
    await (await fs.open('/f', { create: true })).close();
    await fs.mkdir('/d');
    const created = await fs.stat('/f');
    assert.ok(created.birthtime >= Math.floor(before) - 1 && created.birthtime <= Date.now() / 1000 + 1, `crtime ${created.birthtime}`);
    const a2100 = 4102444800n * NS + 123456789n; // 2100-01-01T00:00:00.123456789Z
    const m2300 = 10413792000n * NS + 987654321n; // 2300-01-01T00:00:00.987654321Z
    await fs.utimes('/f', a2100, m2300);
    const a1950 = -631152000n * NS + 5n; // 1950-01-01T00:00:00.000000005Z
    await fs.utimes('/d', a1950, 1700000000.25);
    await fs.unmount();

    assertClean(image);
    const cr = dbTime(image, '/f', 'crtime');
    assert.deepEqual({ lo: cr.lo, extra: cr.extra }, onDisk(created.birthtime, created.birthtimeNsec!));
    const at = dbTime(image, '/f', 'atime');
    assert.deepEqual({ lo: at.lo, extra: at.extra }, onDisk(4102444800, 123456789));
    assert.match(at.text, /2100/);
    const mt = dbTime(image, '/f', 'mtime');
    assert.deepEqual({ lo: mt.lo, extra: mt.extra }, onDisk(10413792000, 987654321));
    assert.match(mt.text, /2300/);
    const dat = dbTime(image, '/d', 'atime');
    assert.deepEqual({ lo: dat.lo, extra: dat.extra }, onDisk(-631152000, 5));
    assert.match(dat.text, /1950/);
    assert.deepEqual({ lo: dbTime(image, '/d', 'mtime').lo, extra: dbTime(image, '/d', 'mtime').extra }, onDisk(1700000000, 250000000));

    fs = await vm.mount(image, { readOnly: true });
    const f = await fs.stat('/f');
    assert.deepEqual([f.atime, f.atimeNsec, f.mtime, f.mtimeNsec], [4102444800, 123456789, 10413792000, 987654321]);
    assert.deepEqual([f.birthtime, f.birthtimeNsec], [created.birthtime, created.birthtimeNsec]);
    const d = await fs.stat('/d');
    assert.deepEqual([d.atime, d.atimeNsec, d.mtime, d.mtimeNsec], [-631152000, 5, 1700000000, 250000000]);
    await fs.unmount();
  });

  test('a time past 2446 or before 1901 is clamped to the end of the range with no nanoseconds, as Linux\'s timestamp_truncate leaves it', async () => {
    const image = join(tmp.dir, 'clamp.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 8 << 20, files: [{ path: 'f', data: new Uint8Array(1) }] });
    const vm = new Vm({ memory: 1 << 20 });
    const fs = await vm.mount(image, { readOnly: false });
    await fs.utimes('/f', -(2n ** 40n) * NS - 5n, 2n ** 40n * NS + 123n);
    const st = await fs.stat('/f');
    await fs.unmount();
    assert.deepEqual([st.atime, st.atimeNsec, st.mtime, st.mtimeNsec], [-(2 ** 31), 0, 2 ** 34 - 2 ** 31 - 1, 0]);
    assertClean(image);
  });

  test('a write sets mtime and ctime to now with their nanoseconds (old nanoseconds do not linger)', async () => {
    const image = join(tmp.dir, 'now.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 8 << 20, files: [{ path: 'f', data: new Uint8Array(10) }] });
    const vm = new Vm({ memory: 1 << 20 });
    const fs = await vm.mount(image, { readOnly: false });
    await fs.utimes('/f', 1000000000n * NS + 999999999n, 1000000000n * NS + 999999999n);
    const t0 = Date.now();
    const h = await fs.open('/f');
    await h.write(0, new Uint8Array([1, 2, 3]));
    await h.close();
    const st = await fs.stat('/f');
    await fs.unmount();
    const ms = st.mtime * 1000 + Math.floor(st.mtimeNsec! / 1e6);
    assert.ok(ms >= t0 - 1 && ms <= Date.now() + 1, `mtime ${st.mtime}.${st.mtimeNsec} vs now ${t0}`);
    assert.equal(st.mtimeNsec! % 1e6, 0, 'nanoseconds of now, from a millisecond clock');
    const mt = dbTime(image, '/f', 'mtime');
    assert.deepEqual({ lo: mt.lo, extra: mt.extra }, onDisk(st.mtime, st.mtimeNsec!));
    assertClean(image);
  });

  test('touch --date keeps nine digits of a second; stat --json shows them', () => {
    const image = join(tmp.dir, 'cli.img');
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 8 << 20, files: [] });
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    const t = run(['touch', image, '/x', '--date', '2100-01-01T00:00:00.123456789Z']);
    assert.equal(t.status, 0, t.stderr);
    const s = run(['stat', '--json', image, '/x']);
    assert.equal(s.status, 0, s.stderr);
    const j = JSON.parse(s.stdout) as { atime: number; atimeNsec: number; mtime: number; mtimeNsec: number; birthtime: number };
    assert.deepEqual([j.atime, j.atimeNsec, j.mtime, j.mtimeNsec], [4102444800, 123456789, 4102444800, 123456789]);
    assert.ok(j.birthtime > 0);
    assert.match(run(['stat', image, '/x']).stdout, /mtime: 2100-01-01T00:00:00\.123456789Z/);
    const mt = dbTime(image, '/x', 'mtime');
    assert.deepEqual({ lo: mt.lo, extra: mt.extra }, onDisk(4102444800, 123456789));
    // A date alone, and a date and time without a zone, are local times, as touch(1) reads them (here UTC+9).
    const local = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, TZ: 'Asia/Tokyo' } });
    for (const [date, secs] of [['2026-01-01', 1767193200], ['2026-01-01T10:00', 1767229200]] as const) {
      assert.equal(local(['touch', image, '/x', '--date', date]).status, 0);
      const j2 = JSON.parse(run(['stat', '--json', image, '/x']).stdout) as { mtime: number };
      assert.equal(j2.mtime, secs, date);
    }
    // A day its month does not have is not a date (JavaScript's parser would roll it into the next month).
    for (const date of ['2026-02-30T00:00:00Z', '2026-02-29', '2026-04-31T12:00']) {
      const bad = run(['touch', image, '/x', '--date', date]);
      assert.equal(bad.status, 1, date);
      assert.equal(bad.stderr, `vmpager: touch: --date: not a date: ${date}\n`);
    }
    assert.equal(run(['touch', image, '/x', '--date', '2024-02-29T00:00:00Z']).status, 0, 'a leap day is one');
    assertClean(image);
  });
});

describe('times on 128-byte inodes (ext2)', () => {
  test('no room for nanoseconds or epoch bits: a time past 2038 is clamped to 2038, whole seconds', async () => {
    const image = join(tmp.dir, 'small.img');
    buildImage(image, { type: 'ext2', blockSize: 1024, size: 8 << 20, files: [], extra: ['-I', '128'] });
    const fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
    await (await fs.open('/f', { create: true })).close();
    await fs.utimes('/f', 4102444800n * NS + 123456789n, 1600000000.5);
    const st = await fs.stat('/f');
    await fs.unmount();
    assert.deepEqual([st.atime, st.atimeNsec, st.mtime, st.mtimeNsec, st.birthtime], [2 ** 31 - 1, undefined, 1600000000, undefined, 0]);
    const at = dbTime(image, '/f', 'atime');
    assert.deepEqual([at.lo, at.extra], [2 ** 31 - 1, null]);
    assertClean(image);
  });
});
