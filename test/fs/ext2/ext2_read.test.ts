/*
 * ext2/3/4 reading against the debugfs oracle, for every block size from
 * 1 KiB to 64 KiB: direct reads byte-identical to `debugfs cat`, bmap (and
 * its runs, a hole's too) identical to `debugfs bmap`, listings identical to `ls -p`.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MAXPHYS } from '../../../src/kern/param.js';
import { MNT_RDONLY, type Mount } from '../../../src/vfs/mount.js';
import { vrele } from '../../../src/vfs/vfs_subr.js';
import { VType, type Vnode } from '../../../src/vfs/vnode.js';
import { IO_DIRECT, type Dirent } from '../../../src/vfs/vnode_if.js';
import type { Uio } from '../../../src/vfs/uio.js';
import { type TreeFile, debugfsCat, randomBytes, tempDir } from '../../helpers/images.js';
import { checkHoleRuns } from '../../helpers/ext2_images.js';
import { type SparseFile, buildImage, debugfsBmap, debugfsLs, lookupPath, mountImage, readWhole } from './ext2_util.js';

const SIZES = [0, 1, 511, 512, 4095, 4096, 4097];
const SLOW_TARGET = `dir/nested/${'t'.repeat(90)}`;

function treeFor(bs: number): { files: TreeFile[]; sparse: SparseFile[] } {
  const files: TreeFile[] = SIZES.map((n, i) => ({ path: `s${n}`, data: randomBytes(n, 100 + i) }));
  files.push({ path: 'multi', data: randomBytes(200 * 1024 + 123, 7) });
  files.push({ path: 'dir/nested/deep.txt', data: new TextEncoder().encode('deep\n') });
  files.push({ path: 'fast', symlink: 's1' });
  files.push({ path: 'slow', symlink: SLOW_TARGET });
  const sparse: SparseFile[] = [
    {
      path: 'sparse',
      size: 24 * bs + 100,
      writes: [[3 * bs, randomBytes(2 * bs, 11)], [9 * bs + 10, randomBytes(5, 12)], [15 * bs, randomBytes(bs, 13)]],
    },
  ];
  if (bs === 1024) {
    /* Direct, single, double and triple indirect blocks (the last past 64 MiB). */
    const size = 70 * 2 ** 20;
    sparse.push({
      path: 'tind',
      size,
      writes: [
        [0, randomBytes(100, 21)], [12 * 1024, randomBytes(3000, 22)], [(12 + 256) * 1024 + 5, randomBytes(2048, 23)],
        [69 * 2 ** 20, randomBytes(5000, 24)], [size - 1, new Uint8Array([0x5a])],
      ],
    });
  }
  return { files, sparse };
}

/** Checks bmap of `lbns` (and its runs) against debugfs, file by file. */
async function checkBmap(mp: Mount, image: string, path: string, lbns: number[]): Promise<void> {
  const vp = await lookupPath(mp, path);
  const bs = mp.stat.iosize;
  const spb = bs / 512;
  const maxrun = MAXPHYS / bs - 1;
  const { va } = await vp.op.getattr(vp);
  const last = Math.ceil(va!.size / bs) - 1;
  /* Ask the oracle about every block a run could reach. */
  const want = new Set<number>();
  for (const l of lbns) for (let k = -maxrun - 1; k <= maxrun + 1; k++) if (l + k >= 0 && l + k <= last) want.add(l + k);
  const asked = [...want].sort((a, b) => a - b);
  const phys = new Map<number, number>();
  debugfsBmap(image, asked.map((l) => [`/${path}`, l] as const)).forEach((p, i) => phys.set(asked[i], p));
  for (const lbn of lbns) {
    const r = await vp.op.bmap(vp, lbn);
    assert.equal(r.error, 0, `${path} lbn ${lbn}`);
    const p = phys.get(lbn)!;
    assert.equal(r.bn === -1 ? 0 : r.bn / spb, p, `${path} lbn ${lbn}: bn ${r.bn}`);
    if (r.bn === -1) {
      // In-inode extent trees give exact hole runs; block pointers stop at the edge of their array.
      checkHoleRuns((l) => phys.get(l), lbn, r.runp, r.runb, last, maxrun, mp.stat.fstype === 'ext4', `${path} lbn ${lbn}`);
      continue;
    }
    let runp = 0;
    while (runp < maxrun && lbn + runp + 1 <= last && phys.get(lbn + runp + 1) === p + runp + 1) runp++;
    let runb = 0;
    while (runb < maxrun && lbn - runb - 1 >= 0 && phys.get(lbn - runb - 1) === p - runb - 1) runb++;
    assert.equal(r.runp, runp, `${path} lbn ${lbn} runp`);
    assert.equal(r.runb, runb, `${path} lbn ${lbn} runb`);
  }
  await vrele(vp);
}

/** Every block of small files, a sample around the data and the edges of big ones. */
function lbnsOf(size: number, bs: number, writes: Array<[number, Uint8Array]> = []): number[] {
  const n = Math.ceil(size / bs);
  if (n <= 512) return Array.from({ length: n }, (_, i) => i);
  const s = new Set<number>([0, 1, 11, 12, 13, n - 2, n - 1]);
  for (const [off, d] of writes) {
    const a = Math.floor(off / bs);
    const b = Math.floor((off + d.length - 1) / bs);
    for (let l = a - 1; l <= b + 1; l++) if (l >= 0 && l < n) s.add(l);
  }
  return [...s].sort((a, b) => a - b);
}

const configs: Array<['ext2' | 'ext3' | 'ext4', number]> = [
  ['ext2', 1024], ['ext2', 2048], ['ext2', 4096], ['ext2', 8192], ['ext2', 65536],
  ['ext3', 1024], ['ext3', 4096],
  ['ext4', 1024], ['ext4', 2048], ['ext4', 4096], ['ext4', 8192], ['ext4', 65536],
];

for (const [type, bs] of configs) {
  describe(`${type} with ${bs}-byte blocks`, () => {
    const { dir, cleanup } = tempDir('vmpager-ext2read-');
    const image = join(dir, 'fs.img');
    const tree = treeFor(bs);
    let mp: Mount;

    before(async () => {
      const size = Math.max(type === 'ext3' ? 2048 * bs : 0, bs === 1024 ? 6 * 2 ** 20 : 8 * 2 ** 20);
      buildImage(image, { type, blockSize: bs, size, files: tree.files, sparse: tree.sparse });
      mp = await mountImage(image);
    });
    after(cleanup);

    test('mount reports the type and the block size as iosize', () => {
      assert.equal(mp.stat.fstype, type);
      assert.equal(mp.stat.iosize, bs);
      assert.ok((mp.flag & MNT_RDONLY) !== 0);
      assert.deepEqual(mp.stat.warnings, []);
    });

    test('direct reads are byte-identical to debugfs cat', async () => {
      const paths = [...SIZES.map((n) => `s${n}`), 'multi', 'dir/nested/deep.txt', ...tree.sparse.map((s) => s.path)];
      for (const path of paths) {
        const vp = await lookupPath(mp, path);
        const { va } = await vp.op.getattr(vp);
        /* No VM on the mount: VOP_READ reads directly. An odd chunk size starts and ends reads inside blocks. */
        const { error, data } = await readWhole(vp, va!.size, path === 'tind' ? 1 << 22 : 3000, 0);
        assert.equal(error, 0, path);
        assert.ok(Buffer.from(data).equals(debugfsCat(image, `/${path}`)), `${path} differs from debugfs cat`);
        await vrele(vp);
      }
    });

    test('bmap and its runs agree with debugfs bmap', async () => {
      for (const n of SIZES) await checkBmap(mp, image, `s${n}`, lbnsOf(n, bs));
      await checkBmap(mp, image, 'multi', lbnsOf(200 * 1024 + 123, bs));
      for (const s of tree.sparse) await checkBmap(mp, image, s.path, lbnsOf(s.size, bs, s.writes));
    });

    test('a hole reads as zeros and bmap answers -1 with the hole\'s runs', async () => {
      // Blocks 3-4, 9 and 15 hold data; 0-2, 5-8, 10-14 and 16-24 (the last) are holes.
      const vp = await lookupPath(mp, 'sparse');
      assert.deepEqual(await vp.op.bmap(vp, 0), { error: 0, bn: -1, runp: 2, runb: 0 });
      assert.deepEqual(await vp.op.bmap(vp, 23), { error: 0, bn: -1, runp: 1, runb: 7 });
      const r = await vp.op.bmap(vp, 3);
      assert.ok(r.bn > 0 && r.runp <= 20 && r.runb === 0);
      await vrele(vp);
    });

    test('readdir agrees with debugfs ls', async () => {
      for (const path of ['', 'dir', 'dir/nested']) {
        const vp = path === '' ? (await mp.op.root(mp)).vp! : await lookupPath(mp, path);
        const ents: Dirent[] = [];
        assert.equal(await vp.op.readdir(vp, (d) => (ents.push(d), true)), 0);
        const oracle = debugfsLs(image, `/${path}`);
        assert.deepEqual(ents.map((e) => [e.ino, e.name]), oracle.map((o) => [o.ino, o.name]));
        for (const e of ents) {
          const o = oracle.find((x) => x.name === e.name)!;
          const t = (o.mode & 0xf000) === 0x4000 ? VType.VDIR : (o.mode & 0xf000) === 0xa000 ? VType.VLNK : VType.VREG;
          assert.equal(e.type, t, e.name);
        }
        await vrele(vp);
      }
    });

    test('fast and slow symlinks read back their targets', async () => {
      for (const [path, target, fast] of [['fast', 's1', true], ['slow', SLOW_TARGET, false]] as const) {
        const vp = await lookupPath(mp, path);
        assert.equal(vp.type, VType.VLNK);
        assert.deepEqual(await vp.op.readlink(vp), { error: 0, target });
        const { va } = await vp.op.getattr(vp);
        assert.equal(va!.extra.fast_symlink, fast);
        await vrele(vp);
      }
    });

    test('getattr reports size, bytes and the ext2 facts', async () => {
      const vp = await lookupPath(mp, 'multi');
      const { error, va } = await vp.op.getattr(vp);
      assert.equal(error, 0);
      assert.equal(va!.size, 200 * 1024 + 123);
      assert.equal(va!.type, VType.VREG);
      assert.equal(va!.blksize, bs);
      assert.equal(va!.extra.extents, type === 'ext4');
      assert.equal(va!.bytes, (va!.extra.blocks512 as number) * 512);
      assert.ok(va!.bytes >= Math.ceil(va!.size / bs) * bs);
      await vrele(vp);
    });
  });
}

describe('reading through the VM when the mount has one', () => {
  const { dir, cleanup } = tempDir('vmpager-ext2vm-');
  const image = join(dir, 'fs.img');
  after(cleanup);

  test('readdir, readlink and read go through the VM; IO_DIRECT bypasses it', async () => {
    const files: TreeFile[] = [{ path: 'f', data: randomBytes(5000, 1) }, { path: 'slow', symlink: SLOW_TARGET }];
    buildImage(image, { type: 'ext4', blockSize: 1024, size: 2 * 2 ** 20, files, extra: ['-O', '^has_journal'] });
    const mp = await mountImage(image);
    const seen: number[] = [];
    mp.vm = {
      rdwr: (v: Vnode, uio: Uio, ioflag: number) => {
        seen.push(v.ino);
        return v.op.read(v, uio, ioflag | IO_DIRECT);
      },
      setsize: async () => undefined,
      clean: async () => 0,
    };
    const root = (await mp.op.root(mp)).vp!;
    const names: string[] = [];
    assert.equal(await root.op.readdir(root, (d) => (names.push(d.name), true)), 0);
    assert.deepEqual(names, ['.', '..', 'lost+found', 'f', 'slow']);
    assert.ok(seen.includes(2), 'the directory was read through the VM');
    const f = await lookupPath(mp, 'f');
    const viaVm = await readWhole(f, 5000, 5000, 0);
    assert.ok(seen.includes(f.ino));
    const n = seen.length;
    const direct = await readWhole(f, 5000, 5000, IO_DIRECT);
    assert.equal(seen.length, n, 'IO_DIRECT did not touch the VM');
    assert.deepEqual(viaVm.data, direct.data);
    const slow = await lookupPath(mp, 'slow');
    assert.deepEqual(await slow.op.readlink(slow), { error: 0, target: SLOW_TARGET });
    assert.ok(seen.includes(slow.ino));
  });
});
