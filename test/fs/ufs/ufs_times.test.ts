/*
 * UFS times at the edges of their fields, from an mtree specification given
 * to makefs: before 1970 (negative seconds, in UFS1's signed 32-bit and
 * UFS2's signed 64-bit fields) and, on UFS2, past 2038. `stat` shows them as
 * stored and `get` writes them on the host's copies (files, directories,
 * symlinks), where a negative time must not turn into "now".
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, tempDir } from '../../helpers/images.js';
import { mkufs } from '../../helpers/ufs_images.js';
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
