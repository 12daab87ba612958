/*
 * The read path end to end on images made by mke2fs -d: every file read
 * back byte for byte through the library (page sizes 4 and 16 KiB, little
 * memory) and through `vmpager cat`; `ls -R --json` against the generated
 * tree; block maps against debugfs.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../../src/api/index.js';
import { debugfsScript, mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';
import { debugfsBlockMap } from '../helpers/debugfs_map.js';
import { assertReadsBack } from '../helpers/read_back.js';
import { CLI } from '../helpers/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 30 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

interface Expect {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  data?: Uint8Array;
  target?: string;
}

/** A sparse file: `size` bytes, zeros but for the given extents. */
function sparse(size: number, parts: Array<[number, Uint8Array]>): Uint8Array {
  const out = new Uint8Array(size);
  for (const [at, d] of parts) out.set(d, at);
  return out;
}

function buildTree(bs: number): { files: TreeFile[]; expect: Expect[] } {
  const expect: Expect[] = [];
  const file = (path: string, data: Uint8Array) => expect.push({ path, type: 'file', data });
  for (const n of [0, 1, 511, 512, 4095, 4096, 4097]) file(`sizes/size-${n}`, randomBytes(n, n + 1));
  file('rand-300k', randomBytes(300 * KiB + 7, 77));
  file('sparse-start', sparse(MiB, [[MiB - 10 * KiB, randomBytes(10 * KiB, 5)]]));
  file('sparse-middle', sparse(MiB + 100, [[0, randomBytes(64 * KiB, 6)], [MiB - 36, randomBytes(136, 7)]]));
  file('sparse-end', sparse(2 * MiB, [[0, randomBytes(40 * KiB + 3, 8)]]));
  if (bs === KiB) {
    // Past 64 MiB with 1 KiB blocks: the triple-indirect range.
    file('deep', sparse(70 * MiB + 5000, [[3 * KiB, randomBytes(2 * KiB, 9)], [70 * MiB, randomBytes(5000, 10)]]));
  }
  for (let i = 0; i < 400; i++) file(`dir400/entry-${String(i).padStart(3, '0')}`, new TextEncoder().encode(`entry ${i}\n`));
  file(`long/${'n'.repeat(255)}`, randomBytes(1000, 11));
  const longDir = `long/${'d'.repeat(200)}`;
  file(`${longDir}/target`, randomBytes(5000, 12));
  expect.push({ path: 'fast-link', type: 'symlink', target: 'sizes/size-4097' });
  expect.push({ path: 'slow-link', type: 'symlink', target: `${longDir}/target` });
  expect.push({ path: 'dangling', type: 'symlink', target: 'x'.repeat(100) });
  const files: TreeFile[] = expect.map((e) => (e.type === 'symlink' ? { path: e.path, symlink: e.target } : { path: e.path, data: e.data }));
  return { files, expect };
}

const configs: Array<{ type: 'ext2' | 'ext3' | 'ext4'; bs: number }> = [
  { type: 'ext2', bs: 1 * KiB },
  { type: 'ext2', bs: 2 * KiB },
  { type: 'ext2', bs: 4 * KiB },
  { type: 'ext3', bs: 4 * KiB },
  { type: 'ext4', bs: 1 * KiB },
  { type: 'ext4', bs: 4 * KiB },
  { type: 'ext2', bs: 8 * KiB },
  { type: 'ext4', bs: 64 * KiB },
];

for (const cfg of configs) {
  describe(`${cfg.type} with ${cfg.bs / KiB} KiB blocks`, () => {
    const tmp = tempDir();
    const image = join(tmp.dir, 'fs.img');
    const { files, expect } = buildTree(cfg.bs);
    const byPath = new Map(expect.map((e) => [`/${e.path}`, e]));

    before(() => {
      mkext2(image, files, { type: cfg.type, blockSize: cfg.bs, size: cfg.bs >= 64 * KiB ? 96 * MiB : 24 * MiB });
      // Fragment: small files written by debugfs, every other removed, then a large file into the gaps.
      const small = join(tmp.dir, 'small');
      writeFileSync(small, randomBytes(3 * cfg.bs, 21));
      const reqs = ['mkdir frag'];
      for (let i = 0; i < 24; i++) reqs.push(`write ${small} frag/s${i}`);
      for (let i = 0; i < 24; i += 2) reqs.push(`rm frag/s${i}`);
      const big = randomBytes(30 * cfg.bs + 123, 22);
      writeFileSync(join(tmp.dir, 'big'), big);
      reqs.push(`write ${join(tmp.dir, 'big')} frag/big`);
      debugfsScript(image, reqs, true);
      byPath.set('/frag/big', { path: 'frag/big', type: 'file', data: big });
      for (let i = 1; i < 24; i += 2) byPath.set(`/frag/s${i}`, { path: `frag/s${i}`, type: 'file', data: randomBytes(3 * cfg.bs, 21) });
      byPath.set('/frag', { path: 'frag', type: 'dir' });
    });
    after(() => tmp.cleanup());

    for (const pageSize of [4 * KiB, 16 * KiB]) {
      test(`every file reads back byte for byte through the library with ${pageSize / KiB} KiB pages`, async () => {
        const vm = new Vm({ memory: 32 * pageSize, pageSize });
        const fs = await vm.mount(image);
        try {
          for (const e of byPath.values()) if (e.type === 'file') await assertReadsBack(fs, `/${e.path}`, e.data!);
          for (const e of byPath.values()) {
            if (e.type === 'symlink') assert.equal(await fs.readlink(`/${e.path}`), e.target);
          }
          const viaLink = await fs.open('/slow-link');
          assert.ok(Buffer.from(await viaLink.read(0, 1 << 20)).equals(Buffer.from(byPath.get('/long/' + 'd'.repeat(200) + '/target')!.data!)));
          await viaLink.close();
        } finally {
          await fs.unmount();
        }
        const s = vm.stats();
        assert.equal(s.pages.free, s.pages.total, 'unmount frees every page');
      });
    }

    test('vmpager cat concatenates files, follows symlinks, and matches the source bytes', () => {
      const paths = ['/rand-300k', '/sizes/size-4097', '/fast-link', '/frag/big', '/sparse-middle'];
      const r = vmpager(['--memory', '256KiB', 'cat', image, ...paths]);
      assert.equal(r.status, 0, r.stderr);
      const want = Buffer.concat(paths.map((p) => Buffer.from((byPath.get(p === '/fast-link' ? '/sizes/size-4097' : p))!.data!)));
      assert.ok(r.stdout.equals(want));
    });

    test('vmpager ls -R --json lists the generated tree with types and sizes', () => {
      const r = vmpager(['ls', '-R', '--json', image]);
      assert.equal(r.status, 0, r.stderr);
      const entries = JSON.parse(r.stdout.toString()) as Array<{ name: string; path: string; type: string; size: number }>;
      const got = new Map(entries.filter((e) => !e.path.startsWith('/lost+found')).map((e) => [e.path, e]));
      for (const [path, e] of byPath) {
        const g = got.get(path);
        assert.ok(g, `${path} missing`);
        assert.equal(g.type, e.type, path);
        if (e.type === 'file') assert.equal(g.size, e.data!.length, path);
        if (e.type === 'symlink') assert.equal(g.size, e.target!.length, path);
        assert.equal(g.name, path.split('/').pop());
      }
      // Every directory on the way is listed too, and nothing else.
      const dirs = new Set<string>();
      for (const p of byPath.keys()) for (let d = p.slice(0, p.lastIndexOf('/')); d !== ''; d = d.slice(0, d.lastIndexOf('/'))) dirs.add(d);
      for (const d of dirs) assert.equal(got.get(d)?.type, 'dir', d);
      assert.equal(got.size, new Set([...byPath.keys(), ...dirs]).size);
    });

    test('block maps agree with debugfs', () => {
      for (const path of ['/rand-300k', '/sparse-start', '/sparse-middle', '/sparse-end', '/frag/big', '/sizes/size-4097', ...(cfg.bs === KiB ? ['/deep'] : [])]) {
        const r = vmpager(['stat', '--json', image, path]);
        assert.equal(r.status, 0, r.stderr);
        const st = JSON.parse(r.stdout.toString()) as { blockSize: number; blockMap: Array<{ logical: number; physical: number | null; count: number }>; blockMapTruncated: boolean };
        assert.equal(st.blockSize, cfg.bs);
        assert.equal(st.blockMapTruncated, false);
        const ours = new Map<number, number>();
        for (const run of st.blockMap) {
          if (run.physical === null) continue;
          for (let i = 0; i < run.count; i++) ours.set(run.logical + i, run.physical + i);
        }
        const theirs = debugfsBlockMap(image, path);
        assert.ok(theirs.size > 0, `debugfs maps ${path}`);
        assert.deepEqual([...ours].sort((a, b) => a[0] - b[0]), [...theirs].sort((a, b) => a[0] - b[0]), path);
      }
    });
  });
}
