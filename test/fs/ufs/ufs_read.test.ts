/*
 * UFS1 and UFS2 read end to end on images made by `makefs -t ffs`: block
 * sizes from 4 to 64 KiB with their fragments, both byte orders, page sizes
 * 4, 16 and 64 KiB. Every file reads back byte for byte through the library
 * and `vmpager cat`; `ls -R --json` lists the generated tree; `stat` shows
 * the times makefs copied; every fragment a block map names is allocated in
 * makefs's own cylinder-group maps, no two files share one, and a small
 * file's map accounts for exactly the sectors its inode says it holds.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../../../src/api/index.js';
import { randomBytes, tempDir, type TreeFile } from '../../helpers/images.js';
import { cgFreeMap, mkufs, treeMtime, type UfsOptions } from '../../helpers/ufs_images.js';
import { assertReadsBack } from '../../helpers/read_back.js';
import { CLI } from '../../helpers/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 30 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

interface Expect {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  data?: Uint8Array;
  target?: string;
  /** Index in the tree (for its mtime). */
  index: number;
}

function buildTree(): { files: TreeFile[]; expect: Expect[] } {
  const expect: Expect[] = [];
  const file = (path: string, data: Uint8Array) => expect.push({ path, type: 'file', data, index: expect.length });
  // Around fragment, page and block boundaries; 5000 ends in a fragment run on every geometry.
  for (const n of [0, 1, 511, 512, 1023, 1025, 4095, 4096, 4097, 5000, 8191, 8193, 65537]) file(`sizes/size-${n}`, randomBytes(n, n + 1));
  file('rand-100k', randomBytes(100_000, 77));
  // Through the single and, with 4 KiB blocks, the double indirect block.
  file('big/f3m', randomBytes(3 * MiB + 300_001, 78));
  const zeros = new Uint8Array(MiB + 1000);
  zeros.set(randomBytes(1000, 5), MiB);
  file('mostly-zero', zeros);
  // 600 names of 45 bytes: a directory of 36 KiB, past dirhash's threshold.
  for (let i = 0; i < 600; i++) file(`dir600/entry-${String(i).padStart(3, '0')}-${'y'.repeat(34)}`, new TextEncoder().encode(`entry ${i}\n`));
  file(`long/${'n'.repeat(255)}`, randomBytes(1000, 11));
  const longDir = `long/${'d'.repeat(200)}`;
  file(`${longDir}/target`, randomBytes(5000, 12));
  const link = (path: string, target: string) => expect.push({ path, type: 'symlink', target, index: expect.length });
  link('short-link', 'sizes/size-4097');
  link('long-link', `${longDir}/target`);
  link('dangling', 'x'.repeat(100));
  const files: TreeFile[] = expect.map((e) => (e.type === 'symlink' ? { path: e.path, symlink: e.target } : { path: e.path, data: e.data }));
  return { files, expect };
}

const configs: Array<UfsOptions & { pages: number[] }> = [
  { version: 2, bsize: 8 * KiB, fsize: KiB, size: 24 * MiB, pages: [4 * KiB, 16 * KiB, 64 * KiB] },
  { version: 1, bsize: 8 * KiB, fsize: KiB, size: 24 * MiB, pages: [4 * KiB, 16 * KiB] },
  { version: 2, bsize: 4 * KiB, fsize: 512, size: 24 * MiB, pages: [4 * KiB, 16 * KiB] },
  { version: 1, bsize: 4 * KiB, fsize: 512, endian: 'be', size: 24 * MiB, pages: [4 * KiB, 64 * KiB] },
  { version: 2, bsize: 32 * KiB, fsize: 4 * KiB, size: 32 * MiB, pages: [4 * KiB, 16 * KiB] },
  { version: 2, bsize: 64 * KiB, fsize: 8 * KiB, endian: 'be', size: 48 * MiB, pages: [4 * KiB, 16 * KiB] },
  // Made for disks of 4 KiB and 2 KiB sectors: fs_fsbtodb is 0 and 0, not log2(fsize / 512).
  { version: 2, bsize: 32 * KiB, fsize: 4 * KiB, sectorSize: 4096, size: 32 * MiB, pages: [4 * KiB] },
  { version: 1, bsize: 16 * KiB, fsize: 2 * KiB, sectorSize: 2048, size: 32 * MiB, pages: [4 * KiB] },
];

const { files, expect } = buildTree();
const byPath = new Map(expect.map((e) => [`/${e.path}`, e]));

for (const cfg of configs) {
  const name = `UFS${cfg.version} ${cfg.bsize / KiB} KiB blocks / ${cfg.fsize} B fragments${cfg.endian === 'be' ? ', big-endian' : ''}${cfg.sectorSize !== undefined ? `, ${cfg.sectorSize} B sectors` : ''}`;
  describe(name, () => {
    const tmp = tempDir();
    const image = join(tmp.dir, 'fs.img');

    before(() => {
      mkufs(image, files, cfg);
    });
    after(() => tmp.cleanup());

    for (const pageSize of cfg.pages) {
      test(`every file reads back byte for byte through the library with ${pageSize / KiB} KiB pages`, async () => {
        const vm = new Vm({ memory: 32 * Math.max(pageSize, cfg.bsize), pageSize });
        const fs = await vm.mount(image);
        try {
          assert.equal(fs.type, `ufs${cfg.version}`);
          for (const e of expect) if (e.type === 'file') await assertReadsBack(fs, `/${e.path}`, e.data!);
          for (const e of expect) if (e.type === 'symlink') assert.equal(await fs.readlink(`/${e.path}`), e.target);
          const viaLink = await fs.open('/long-link');
          assert.ok(Buffer.from(await viaLink.read(0, MiB)).equals(Buffer.from(byPath.get(`/long/${'d'.repeat(200)}/target`)!.data!)));
          await viaLink.close();
        } finally {
          await fs.unmount();
        }
        const s = vm.stats();
        assert.equal(s.pages.free, s.pages.total, 'unmount frees every page');
      });
    }

    test('vmpager cat concatenates files, follows symlinks, and matches the source bytes', () => {
      const paths = ['/big/f3m', '/sizes/size-5000', '/short-link', '/mostly-zero', '/sizes/size-0', '/rand-100k'];
      const r = vmpager(['--memory', '512KiB', 'cat', image, ...paths]);
      assert.equal(r.status, 0, r.stderr);
      const want = Buffer.concat(paths.map((p) => Buffer.from(byPath.get(p === '/short-link' ? '/sizes/size-4097' : p)!.data!)));
      assert.ok(r.stdout.equals(want));
    });

    test('vmpager ls -R --json lists the generated tree with types and sizes', () => {
      const r = vmpager(['ls', '-R', '--json', image]);
      assert.equal(r.status, 0, r.stderr);
      const entries = JSON.parse(r.stdout.toString()) as Array<{ name: string; path: string; type: string; size: number }>;
      const got = new Map(entries.map((e) => [e.path, e]));
      for (const [path, e] of byPath) {
        const g = got.get(path);
        assert.ok(g, `${path} missing`);
        assert.equal(g.type, e.type, path);
        assert.equal(g.size, e.type === 'file' ? e.data!.length : e.target!.length, path);
      }
      const dirs = new Set<string>();
      for (const p of byPath.keys()) for (let d = p.slice(0, p.lastIndexOf('/')); d !== ''; d = d.slice(0, d.lastIndexOf('/'))) dirs.add(d);
      for (const d of dirs) assert.equal(got.get(d)?.type, 'dir', d);
      assert.equal(got.size, byPath.size + dirs.size, 'nothing else listed');
    });

    test('stat shows the times makefs copied, and block maps name only fragments makefs allocated', () => {
      const maps = cgFreeMap(image);
      const owner = new Map<number, string>();
      for (const e of expect) {
        if (e.type !== 'file' || e.data!.length === 0) continue;
        const path = `/${e.path}`;
        if (path.startsWith('/dir600/') && !path.endsWith('-007-' + 'y'.repeat(34))) continue; // one of the 600 is enough
        const r = vmpager(['stat', '--json', image, path]);
        assert.equal(r.status, 0, r.stderr);
        const st = JSON.parse(r.stdout.toString()) as {
          mtime: number; size: number; bytes: number; blockSize: number; addressSize: number;
          blockMap: Array<{ logical: number; physical: number | null; count: number }>;
        };
        assert.equal(st.mtime, treeMtime(e.index), `${path} mtime`);
        assert.equal(st.blockSize, cfg.bsize);
        assert.equal(st.addressSize, cfg.fsize);
        let sectors = 0;
        for (const run of st.blockMap) {
          if (run.physical === null) continue;
          for (let i = 0; i < run.count; i++) {
            const lbn = run.logical + i;
            // The last block below the 12 direct ones holds only the fragments the size needs.
            const whole = lbn >= 12 || st.size >= (lbn + 1) * cfg.bsize;
            const nfrags = whole ? cfg.bsize / cfg.fsize : Math.ceil((st.size - lbn * cfg.bsize) / cfg.fsize);
            const first: number = run.physical + i * (cfg.bsize / cfg.fsize);
            for (let f: number = first; f < first + nfrags; f++) {
              assert.ok(f > 0 && f < maps.size, `${path}: fragment ${f} outside the file system`);
              assert.ok(!maps.isFree(f), `${path}: fragment ${f} is free in its cylinder group's map`);
              assert.equal(owner.get(f), undefined, `${path}: fragment ${f} also belongs to ${owner.get(f)}`);
              owner.set(f, path);
            }
            sectors += (nfrags * cfg.fsize) / 512;
          }
        }
        // Files within the direct blocks have no indirect block: their map is all they hold.
        if (st.size <= 12 * cfg.bsize) assert.equal(sectors * 512, st.bytes, `${path}: mapped bytes vs di_blocks`);
        else assert.ok(sectors * 512 < st.bytes, `${path}: indirect blocks counted too`);
      }
      const text = vmpager(['stat', image, '/sizes/size-5000']);
      assert.equal(text.status, 0, text.stderr);
      if (cfg.bsize !== cfg.fsize) assert.match(text.stdout.toString(), new RegExp(`address unit: ${cfg.fsize}-byte fragment \\(${cfg.bsize / cfg.fsize} per block\\)`));
    });
  });
}

describe('UFS refusals', () => {
  const tmp = tempDir();
  const image = join(tmp.dir, 'fs.img');
  before(() => {
    mkufs(image, [{ path: 'a', data: randomBytes(3000, 1) }], { version: 2, bsize: 8 * KiB, fsize: KiB, size: 4 * MiB });
  });
  after(() => tmp.cleanup());

  test('writing commands fail in one line and leave the image byte for byte as it was', () => {
    const before = readFileSync(image);
    for (const args of [['put', image, '/b'], ['mkdir', image, '/d'], ['rm', image, '/a'], ['truncate', image, '/a', '0']]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { input: 'data' });
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      const lines = r.stderr.toString().trim().split('\n');
      assert.equal(lines.length, 1, r.stderr.toString());
      assert.match(lines[0], /^vmpager: .*UFS is read-only in vmpager/);
    }
    assert.ok(readFileSync(image).equals(before), 'image unchanged');
  });

  test('a library mount for writing is refused with EROFS', async () => {
    const vm = new Vm();
    await assert.rejects(vm.mount(image, { readOnly: false }), (e: Error & { code?: string }) => e.code === 'EROFS' && /read-only/.test(e.message));
  });

  test('an image cut short of its file system is refused in one line', () => {
    const cut = join(tmp.dir, 'cut.img');
    spawnSync('sh', ['-c', `head -c ${2 * MiB} ${image} > ${cut}`]);
    const r = vmpager(['ls', cut]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vmpager: .*image is shorter than the file system/);
  });

  test('a whiteout entry names no file: ls skips it', () => {
    const wh = join(tmp.dir, 'wh.img');
    mkufs(wh, [{ path: 'keep', data: randomBytes(10, 2) }, { path: 'whiteout-me', data: randomBytes(10, 3) }], { version: 2, bsize: 8 * KiB, fsize: KiB, size: 4 * MiB });
    const img = readFileSync(wh);
    const at = img.indexOf('whiteout-me\0');
    assert.ok(at > 8, 'the entry is in the image');
    img.writeUInt32LE(1, at - 8); // d_ino = WINO
    img[at - 2] = 14; // d_type = DT_WHT
    writeFileSync(wh, img);
    const r = vmpager(['ls', wh]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), / keep\n/);
    assert.doesNotMatch(r.stdout.toString(), /whiteout-me/);
  });

  test('a device with neither ext2, UFS nor FAT says so', () => {
    const zero = join(tmp.dir, 'zero.img');
    spawnSync('truncate', ['-s', '1M', zero]);
    const r = vmpager(['ls', zero]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^vmpager: .*no ext2\/3\/4, UFS or FAT file system found\n$/);
  });
});
