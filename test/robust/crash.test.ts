/*
 * Crash safety of writes: `vmpager put` is killed (SIGKILL) at random points
 * while it writes a large file. Afterwards every file synced before is
 * intact, and what remains is at worst what `e2fsck -p` repairs on its own
 * (exit 0 or 1), after which `e2fsck -fn` finds the file system clean.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function putKilledAfter(image: string, src: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '--memory', '1MiB', 'put', image, '/big', '--from', src], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('a put killed at random points leaves synced files intact and only what e2fsck -p repairs', async () => {
  const base = join(tmp.dir, 'base.img');
  mkext2(base, [{ path: 'old/keep', data: randomBytes(200_000, 1) }], { type: 'ext2', blockSize: 1024, size: 64 << 20 });
  const synced = randomBytes(300_000, 2);
  const syncedSrc = join(tmp.dir, 'synced');
  writeFileSync(syncedSrc, synced);
  const r = spawnSync(process.execPath, [CLI, 'put', base, '/synced', '--from', syncedSrc], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const src = join(tmp.dir, 'src');
  writeFileSync(src, randomBytes(24 << 20, 3));
  const delays = [80, 150, 250, 400, 600, 900];
  for (const ms of delays) {
    const image = join(tmp.dir, `crash-${ms}.img`);
    copyFileSync(base, image);
    await putKilledAfter(image, src, ms);
    const preen = spawnSync('e2fsck', ['-p', image], { encoding: 'utf8' });
    assert.ok(preen.status === 0 || preen.status === 1, `killed after ${ms} ms: e2fsck -p exit ${preen.status}: ${preen.stdout}${preen.stderr}`);
    const ck = e2fsck(image);
    assert.ok(ck.clean, `killed after ${ms} ms, after e2fsck -p: ${ck.output}`);
    assert.ok(debugfsCat(image, '/synced').equals(Buffer.from(synced)), `killed after ${ms} ms: /synced`);
    assert.ok(debugfsCat(image, '/old/keep').equals(Buffer.from(randomBytes(200_000, 1))), `killed after ${ms} ms: /old/keep`);
  }
});
