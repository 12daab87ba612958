/*
 * UFS times at the edges of their fields, from an mtree specification given
 * to makefs: before 1970 (negative seconds, in UFS1's signed 32-bit and
 * UFS2's signed 64-bit fields) and, on UFS2, past 2038. `stat` shows them as
 * stored and `get` writes them on the host's copies (files, directories,
 * symlinks), where a negative time must not turn into "now". The
 * nanoseconds kept beside each time (makefs leaves them 0, so the test
 * writes them into one inode) show in stat; a value past 999 999 999 is 0.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { inodeOffset, mkufs } from '../../helpers/ufs_images.js';
import { CLI } from '../../helpers/cli.js';

const MiB = 1024 * 1024;

for (const version of [1, 2] as const) {
  // UFS1 keeps seconds in a signed 32-bit field: only UFS2 holds a time past 2038.
  const times: Record<string, number> = { old: -1000, epoch: 0, dir: -86_400 * 365, link: -5, ...(version === 2 ? { future: 4_000_000_001 } : {}) };
  const types: Record<string, string> = { dir: 'dir', link: 'link' };

  describe(`UFS${version} times before 1970${version === 2 ? ' and past 2038' : ''}`, () => {
    const tmp = tempDir();
    const image = join(tmp.dir, 'fs.img');
    before(() => {
      const lines = ['/set uid=0 gid=0 mode=0644', '. type=dir mode=0755 time=1000000000.0'];
      for (const [name, t] of Object.entries(times)) {
        const type = types[name] ?? 'file';
        lines.push(`${name} type=${type}${type === 'link' ? ' link=old mode=0777' : ''}${type === 'dir' ? ' mode=0755' : ''} time=${t}.0`);
        if (type === 'dir') lines.push('..'); // an mtree directory line enters it until '..'
      }
      const files = Object.keys(times).filter((n) => types[n] === undefined).map((n, i) => ({ path: n, data: randomBytes(10 + i, i + 1) }));
      mkufs(image, [...files, { path: 'dir', dir: true }, { path: 'link', symlink: 'old' }], { version, bsize: 8192, fsize: 1024, size: 2 * MiB, spec: `${lines.join('\n')}\n` });
    });
    after(() => tmp.cleanup());

    test('stat shows each time as the specification gave it', () => {
      for (const [name, t] of Object.entries(times)) {
        const r = spawnSync(process.execPath, [CLI, 'stat', '--json', image, `/${name}`]);
        assert.equal(r.status, 0, r.stderr.toString());
        assert.equal((JSON.parse(r.stdout.toString()) as { mtime: number }).mtime, t, name);
      }
    });

    test('get writes the same modification times on the host, negative ones included', () => {
      const out = join(tmp.dir, 'out');
      const r = spawnSync(process.execPath, [CLI, 'get', image, '/', out]);
      assert.equal(r.status, 0, r.stderr.toString());
      for (const [name, t] of Object.entries(times)) assert.equal(lstatSync(join(out, name)).mtimeMs, t * 1000, name);
    });
  });
}

for (const version of [1, 2] as const) {
  test(`UFS${version}: stat shows the nanoseconds beside each time, and none from an impossible value`, () => {
    const tmp = tempDir();
    try {
      const image = join(tmp.dir, 'fs.img');
      mkufs(image, [{ path: 'f', data: randomBytes(100, 9) }], { version, bsize: 8192, fsize: 1024, size: 2 * MiB });
      const statOf = () => {
        const r = spawnSync(process.execPath, [CLI, 'stat', '--json', image, '/f']);
        assert.equal(r.status, 0, r.stderr.toString());
        return JSON.parse(r.stdout.toString()) as { ino: number; atimeNsec?: number; mtimeNsec?: number; ctimeNsec?: number; birthtimeNsec?: number };
      };
      const { offset, ufs2 } = inodeOffset(image, statOf().ino);
      // di_atimensec, di_mtimensec, di_ctimensec (and UFS2's di_birthnsec), as dinode.h places them.
      const at = ufs2 ? { atime: 68, mtime: 64, ctime: 72, birthtime: 76 } : { atime: 20, mtime: 28, ctime: 36 };
      const want: Record<string, number> = { atime: 111_111_111, mtime: 999_999_999, ctime: 1, birthtime: 424_242 };
      const img = readFileSync(image);
      for (const [k, o] of Object.entries(at)) img.writeInt32LE(want[k], offset + o);
      writeFileSync(image, img);
      const st = statOf() as unknown as Record<string, number>;
      for (const k of Object.keys(at)) assert.equal(st[`${k}Nsec`], want[k], k);
      img.writeInt32LE(1_000_000_000, offset + at.mtime);
      img.writeInt32LE(-1, offset + at.atime);
      writeFileSync(image, img);
      const bad = statOf();
      assert.equal(bad.mtimeNsec, 0);
      assert.equal(bad.atimeNsec, 0);
      assert.equal(bad.ctimeNsec, 1);
    } finally {
      tmp.cleanup();
    }
  });
}
