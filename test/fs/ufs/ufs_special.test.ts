/*
 * UFS special files and attributes as makefs writes them from an mtree
 * specification (-F): character and block devices (a device number past 32
 * bits on UFS2, whose di_rdev is the 64-bit di_db[0]), FIFOs, setuid,
 * setgid and sticky modes, owners past 2^31, on UFS1 and UFS2 in both byte
 * orders. The oracle is the specification itself: `vmpager stat --json`
 * must show its type, mode, owner, time and device number.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { mkufs } from '../../helpers/ufs_images.js';
import { CLI } from '../../helpers/cli.js';

const MiB = 1024 * 1024;

/** glibc's makedev: the dev_t makefs stores for `device=native,major,minor`. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

interface Node {
  name: string;
  type: 'char' | 'block' | 'fifo' | 'file' | 'dir';
  mode: number;
  uid: number;
  gid: number;
  time: number;
  dev?: [number, number];
}

const nodes: Node[] = [
  { name: 'null', type: 'char', mode: 0o666, uid: 0, gid: 0, time: 1_000_000_001, dev: [1, 3] },
  { name: 'sda1', type: 'block', mode: 0o640, uid: 0, gid: 6, time: 1_000_000_002, dev: [8, 1] },
  { name: 'wide', type: 'char', mode: 0o600, uid: 7, gid: 8, time: 1_000_000_003, dev: [300, 70000] },
  { name: 'huge', type: 'block', mode: 0o600, uid: 9, gid: 10, time: 1_000_000_004, dev: [0x1234, 5] },
  { name: 'pipe', type: 'fifo', mode: 0o620, uid: 11, gid: 12, time: 1_000_000_005 },
  { name: 'suid', type: 'file', mode: 0o4755, uid: 1234, gid: 5678, time: 1_000_000_006 },
  { name: 'sgid', type: 'file', mode: 0o2711, uid: 4_000_000_000, gid: 3_000_000_000, time: 1_000_000_007 },
  { name: 'sticky', type: 'dir', mode: 0o1777, uid: 0, gid: 0, time: 1_000_000_008 },
];

const IFMT = { char: 0o020000, block: 0o060000, fifo: 0o010000, file: 0o100000, dir: 0o040000 };

function spec(): string {
  const lines = ['/set uid=0 gid=0 mode=0644', '. type=dir mode=0755 time=1000000000.0'];
  for (const n of nodes) {
    const dev = n.dev ? ` device=native,${n.dev[0]},${n.dev[1]}` : '';
    lines.push(`${n.name} type=${n.type} mode=0${n.mode.toString(8)} uid=${n.uid} gid=${n.gid} time=${n.time}.0${dev}`);
  }
  return `${lines.join('\n')}\n`;
}

for (const version of [1, 2] as const) {
  for (const endian of ['le', 'be'] as const) {
    describe(`UFS${version} ${endian === 'be' ? 'big' : 'little'}-endian special files from an mtree specification`, () => {
      const tmp = tempDir();
      const image = join(tmp.dir, 'fs.img');
      before(() => {
        // The regular files and the directory need their data in the tree; the rest come from the spec.
        mkufs(image, [{ path: 'suid', data: randomBytes(100, 1) }, { path: 'sgid', data: randomBytes(5, 2) }, { path: 'sticky', dir: true }], {
          version, endian, bsize: 8192, fsize: 1024, size: 2 * MiB, spec: spec(),
        });
      });
      after(() => tmp.cleanup());

      test('stat shows each node\'s type, mode, owner, time and device number as the specification gave them', () => {
        for (const n of nodes) {
          const r = spawnSync(process.execPath, [CLI, 'stat', '--json', image, `/${n.name}`]);
          assert.equal(r.status, 0, r.stderr.toString());
          const st = JSON.parse(r.stdout.toString()) as { mode: number; uid: number; gid: number; mtime: number; rdev: number };
          assert.equal(st.mode, IFMT[n.type] | n.mode, `${n.name} mode`);
          assert.equal(st.uid, n.uid, `${n.name} uid`);
          assert.equal(st.gid, n.gid, `${n.name} gid`);
          assert.equal(st.mtime, n.time, `${n.name} mtime`);
          if (n.dev !== undefined) {
            const dev = makedev(n.dev[0], n.dev[1]);
            // UFS1's di_rdev is 32 bits: makefs keeps the low half.
            const want = version === 1 ? dev & 0xffffffffn : dev;
            assert.equal(BigInt(st.rdev), want, `${n.name} rdev`);
          } else {
            assert.equal(st.rdev, 0, `${n.name} rdev`);
          }
        }
      });
    });
  }
}
