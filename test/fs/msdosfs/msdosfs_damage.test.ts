/*
 * Damaged FAT images, each made from a clean mkfs.fat + mcopy image by one
 * deliberate change: a cluster chain that loops, points past the last
 * cluster, meets a free entry or ends before the file's size, a directory
 * chain that loops, impossible boot sector fields. Every command ends, at
 * once, in one line naming the image and the file; the untouched files
 * still read.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { mkfat } from '../../helpers/fat_images.js';
import { CLI } from '../../helpers/cli.js';

const CLUSTER = 2048;

function vmpager(args: string[]): { status: number | null; signal: string | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { timeout: 20_000, maxBuffer: 1 << 28 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Where a FAT16 image keeps its FAT and data, from its boot sector. */
function geometry(img: Buffer): { fatOff: number; fatBytes: number; dataOff: number } {
  const bps = img.readUInt16LE(11);
  const res = img.readUInt16LE(14);
  const fatSecs = img.readUInt16LE(22);
  const rootSecs = Math.ceil((img.readUInt16LE(17) * 32) / bps);
  const fatOff = res * bps;
  return { fatOff, fatBytes: fatSecs * bps, dataOff: fatOff + (2 * fatSecs + rootSecs) * bps };
}

/** The first cluster of the file whose 11-byte short name is `name`. */
function startCluster(img: Buffer, name: string): number {
  const at = img.indexOf(name, 0, 'latin1');
  assert.ok(at > 0, `${name} in the image`);
  return img.readUInt16LE(at + 26);
}

/** Sets FAT16 entry cn in both FATs. */
function setFat(img: Buffer, cn: number, v: number): void {
  const g = geometry(img);
  img.writeUInt16LE(v, g.fatOff + cn * 2);
  img.writeUInt16LE(v, g.fatOff + g.fatBytes + cn * 2);
}

describe('damaged FAT16 images', () => {
  const tmp = tempDir('vmpager-fatdamage-');
  const base = join(tmp.dir, 'base.img');
  const big = randomBytes(10 * CLUSTER + 5, 1);
  const keep = randomBytes(3000, 2);
  before(() => {
    const files = [{ path: 'BIG.BIN', data: big }, { path: 'KEEP.BIN', data: keep }];
    for (let i = 0; i < 100; i++) files.push({ path: `D/a long name number ${i}.txt`, data: randomBytes(10, 10 + i) });
    mkfat(base, files, { fat: 16, kib: 9 * 1024, cluster: CLUSTER });
  });
  after(() => tmp.cleanup());

  const damage = (name: string, change: (img: Buffer) => void): string => {
    const img = readFileSync(base);
    change(img);
    const p = join(tmp.dir, `${name}.img`);
    writeFileSync(p, img);
    return p;
  };
  const oneLine = (r: ReturnType<typeof vmpager>, re: RegExp) => {
    assert.equal(r.signal, null, 'ends in time');
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
  };

  const chainCases: Array<[string, (img: Buffer, c: number) => void]> = [
    ['a chain that loops', (img, c) => setFat(img, c + 3, c + 1)],
    ['a pointer past the last cluster', (img, c) => setFat(img, c + 2, 0xfff0)],
    ['a free entry inside the chain', (img, c) => setFat(img, c + 2, 0)],
    ['a chain that ends before the size', (img, c) => setFat(img, c + 4, 0xffff)],
  ];
  for (const [what, change] of chainCases) {
    test(`${what}: cat fails in one line naming the file; the other file reads`, () => {
      const img = damage(what.replace(/ /g, '-'), (b) => change(b, startCluster(b, 'BIG     BIN')));
      oneLine(vmpager(['cat', img, '/BIG.BIN']), /^vmpager: .*: \/BIG\.BIN: integrity check failed/);
      oneLine(vmpager(['stat', img, '/BIG.BIN']), /^vmpager: .*integrity check failed/);
      const ok = vmpager(['cat', img, '/KEEP.BIN']);
      assert.equal(ok.status, 0, ok.stderr);
      assert.ok(ok.stdout.equals(Buffer.from(keep)));
    });
  }

  test('a directory whose chain loops: ls -R fails in one line naming it', () => {
    const img = damage('dirloop', (b) => {
      const c = startCluster(b, 'D          ');
      const g = geometry(b);
      const next = b.readUInt16LE(g.fatOff + c * 2);
      assert.ok(next >= 2 && next < 0xfff0, 'the directory has a second cluster');
      setFat(b, next, c);
    });
    oneLine(vmpager(['ls', '-R', img]), /^vmpager: .*: \/D: integrity check failed/);
  });

  const bootCases: Array<[string, (img: Buffer) => void, RegExp]> = [
    ['no FATs', (b) => (b[16] = 0), /bad FAT count/],
    ['more sectors than the image', (b) => b.writeUInt16LE(0xffff, 19), /image is shorter than the file system/],
    ['a FAT too small for its clusters', (b) => b.writeUInt16LE(2, 22), /FAT too small/],
    ['a cluster of 64 KiB sectors', (b) => (b[13] = 128) && b.writeUInt16LE(4096, 11), /bad cluster size/],
  ];
  for (const [what, change, re] of bootCases) {
    test(`a boot sector with ${what} is refused in one line`, () => {
      oneLine(vmpager(['ls', damage(what.replace(/ /g, '-'), change)]), re);
    });
  }
});
