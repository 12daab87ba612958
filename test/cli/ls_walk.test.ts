/*
 * ls -R streamed: the listing is written as each directory is read, in the
 * same bytes as before (the sorted lines; --json the walk's order as one
 * JSON array), and a tree of many entries lists in memory bounded by
 * --memory + 64 MiB. The large tree (100 000 empty files in nested
 * directories by mke2fs -d; VMPAGER_TEST_MILLION=1 for 1 000 000) is built
 * once and kept in the system's temporary folder for later runs.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vm } from '../../src/api/index.js';
import { byPath, formatLsLine, type LsEntry } from '../../src/cli/ls.js';
import { CLI } from '../helpers/cli.js';
import { mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

function vmpager(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The walk's entries through the library, unstreamed: what ls printed before it streamed. */
async function walked(image: string, path = '/'): Promise<LsEntry[]> {
  const fs = await new Vm({ memory: 4 << 20 }).mount(image, { readOnly: true });
  const out: LsEntry[] = [];
  await fs.walk(path, (p, e) => out.push({ name: e.name, path: p, type: e.type, size: e.size }));
  await fs.unmount();
  return out;
}

test('ls -R and ls -R --json stream the same bytes as the whole listing sorted, and the walk as one JSON array', async () => {
  const files: TreeFile[] = [
    { path: 'b/z', data: randomBytes(10, 1) },
    { path: 'b/a/deep/x', data: randomBytes(5000, 2) },
    { path: 'a', data: new Uint8Array(0) },
    { path: 'B', dir: true },
    { path: 'b/link', symlink: 'z' },
    { path: 'é/ü', data: randomBytes(3, 3) },
    { path: 'ab/c', data: randomBytes(1, 4) },
  ];
  for (let i = 0; i < 40; i++) files.push({ path: `b/many/f${(i * 7) % 40}`, data: randomBytes(i, 10 + i) });
  const image = join(tmp.dir, 'small.img');
  mkext2(image, files, { type: 'ext4', size: 8 << 20 });
  const entries = await walked(image);
  const text = vmpager(['ls', '-R', image]);
  assert.equal(text.status, 0, text.stderr);
  assert.equal(text.stdout, [...entries].sort(byPath).map((e) => formatLsLine(e, true) + '\n').join(''));
  const json = vmpager(['ls', '-R', '--json', image]);
  assert.equal(json.status, 0, json.stderr);
  assert.equal(json.stdout, JSON.stringify(entries) + '\n', 'byte for byte the unstreamed JSON');
  assert.deepEqual(JSON.parse(json.stdout), entries);
  const sub = vmpager(['ls', '-R', '--json', image, '/b']);
  assert.deepEqual(JSON.parse(sub.stdout), await walked(image, '/b'));
  const empty = vmpager(['ls', '-R', '--json', image, '/B']);
  assert.equal(empty.stdout, '[]\n');
});

/** mke2fs -d of dirs × subdirs × files empty files, built once into the system's temporary folder. */
function bigTree(files: number): string {
  const [top, sub] = [10, 100];
  const per = files / (top * sub);
  const cache = join(tmpdir(), 'vmpager-test-cache');
  const image = join(cache, `tree-${files}-v1.img`);
  if (existsSync(image)) return image;
  mkdirSync(cache, { recursive: true });
  const root = join(cache, `tree-${files}-${process.pid}`);
  try {
    for (let a = 0; a < top; a++) {
      for (let b = 0; b < sub; b++) {
        const d = join(root, `d${a}`, `s${b}`);
        mkdirSync(d, { recursive: true });
        for (let c = 0; c < per; c++) writeFileSync(join(d, `f${c}`), '');
      }
    }
    const inodes = files + top * sub + top + 64;
    const bytes = Math.ceil((inodes * 256 + files * 40 + 64 * 2 ** 20) / 2 ** 20);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', String(inodes), '-d', root, `${image}.tmp`, `${bytes}M`], { stdio: 'ignore', env: { ...process.env, PATH } });
    renameSync(`${image}.tmp`, image);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return image;
}

const MANY = process.env.VMPAGER_TEST_MILLION === '1' ? 1_000_000 : 100_000;

test(`ls -R of ${MANY} files in nested directories peaks at no more than --memory + 64 MiB`, { timeout: 30 * 60_000 }, () => {
  const image = bigTree(MANY);
  const r = spawnSync(process.execPath, [CLI, '--stats', 'ls', '-R', image], { encoding: 'utf8', maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').length - 1;
  assert.equal(lines, MANY + 10 * 100 + 10 + 1, 'every file, the directories and lost+found');
  const { maxRssKiB } = JSON.parse(r.stderr.trim().split('\n').pop()!) as { maxRssKiB: number };
  process.stdout.write(`# ls -R of ${lines} entries: peak RSS ${maxRssKiB} KiB with --memory 64MiB\n`);
  assert.ok(maxRssKiB <= (64 + 64) * 1024, `peak RSS ${(maxRssKiB / 1024).toFixed(1)} MiB`);
});
