/*
 * Renames, hard links and attribute changes on ext2 and ext3, judged by
 * e2fsck -fn after every step and by debugfs (entries, link counts, modes,
 * owners, times): files across directories and over existing files, a
 * directory of 1000 entries moved into another (its ".." rewritten), a
 * directory over an empty one, into itself refused, links to the limit.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm, VmError, type MountedFs } from '../../../src/api/index.js';
import { debugfs, debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../../helpers/images.js';
import { debugfsLs } from './ext2_util.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** A debugfs stat field, e.g. 'Links'. */
function statField(image: string, path: string, re: RegExp): string {
  const m = re.exec(debugfs(image, `stat ${path}`));
  assert.ok(m !== null, `debugfs stat ${path}: ${re}`);
  return m[1];
}

async function step(image: string, what: string, fn: (fs: MountedFs) => Promise<void>): Promise<void> {
  const fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    await fn(fs);
  } finally {
    await fs.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, `${what}: ${ck.output}`);
}

const isCode = (code: string) => (e: unknown) => e instanceof VmError && e.code === code;

for (const type of ['ext2', 'ext3', 'ext4'] as const) {
  for (const bs of [1024, 4096]) {
    describe(`${type} with ${bs}-byte blocks`, () => {
      const image = join(tmp.dir, `${type}-${bs}.img`);
      const big = Array.from({ length: 1000 }, (_, i) => ({ path: `big/f${i}`, data: randomBytes(i % 7 === 0 ? 3000 : 10, i) }));
      mkext2(image, [...big, { path: 'a/x', data: randomBytes(5000, 1) }, { path: 'b/y', data: randomBytes(7000, 2) }, { path: 'c/z', data: randomBytes(100, 3) }], { type, blockSize: bs, size: 16 << 20 });

      test('a file renamed across directories, then over an existing file (replaced whole)', async () => {
        const xIno = Number(statField(image, '/a/x', /Inode: (\d+)/));
        await step(image, 'mv /a/x /c/x', (fs) => fs.rename('/a/x', '/c/x'));
        assert.equal(debugfsLs(image, '/a').filter((e) => e.name === 'x').length, 0);
        assert.equal(debugfsLs(image, '/c').find((e) => e.name === 'x')?.ino, xIno);
        await step(image, 'mv /c/x /b/y', (fs) => fs.rename('/c/x', '/b/y'));
        assert.ok(debugfsCat(image, '/b/y').equals(Buffer.from(randomBytes(5000, 1))));
        assert.equal(statField(image, '/b/y', /Links: (\d+)/), '1');
        assert.deepEqual(debugfsLs(image, '/b').map((e) => e.name).filter((n) => !['.', '..'].includes(n)), ['y'], 'no hidden name left');
      });

      test('a directory of 1000 entries moved into another: entries kept, ".." and both parents\' link counts right', async () => {
        const before = Number(statField(image, '/c', /Links: (\d+)/));
        await step(image, 'mv /big /c/big', (fs) => fs.rename('/big', '/c/big'));
        const names = debugfsLs(image, '/c/big').map((e) => e.name).filter((n) => n.startsWith('f'));
        assert.equal(names.length, 1000);
        assert.equal(Number(statField(image, '/c', /Links: (\d+)/)), before + 1);
        assert.ok(debugfsCat(image, '/c/big/f700').equals(Buffer.from(randomBytes(3000, 700))));
        await step(image, 'mv back', (fs) => fs.rename('/c/big', '/big'));
        assert.equal(Number(statField(image, '/c', /Links: (\d+)/)), before);
      });

      test('a directory over an empty one replaces it; over a non-empty one is ENOTEMPTY; into itself is EINVAL', async () => {
        await step(image, 'mkdir', async (fs) => {
          await fs.mkdir('/e1');
          await fs.mkdir('/e2');
          await fs.mkdir('/e1/inner');
        });
        await step(image, 'mv /e1 over /e2', (fs) => fs.rename('/e1', '/e2'));
        assert.ok(debugfsLs(image, '/e2').some((e) => e.name === 'inner'));
        await step(image, 'refusals', async (fs) => {
          await fs.mkdir('/e3');
          await assert.rejects(fs.rename('/e3', '/big'), isCode('ENOTEMPTY'));
          await assert.rejects(fs.rename('/e2', '/e2/inner/deeper'), isCode('EINVAL'));
          await assert.rejects(fs.rename('/b/y', '/e3'), isCode('EISDIR'));
          await assert.rejects(fs.rename('/e3', '/b/y'), isCode('ENOTDIR'));
        });
      });

      test('hard links: counts follow, data shared; at the limit EMLINK; a directory cannot be linked', async () => {
        await step(image, 'link', async (fs) => {
          await fs.link('/b/y', '/a/y2');
          await fs.link('/b/y', '/y3');
          await assert.rejects(fs.link('/b/y', '/a/y2'), isCode('EEXIST'));
          await assert.rejects(fs.link('/a', '/a-link'), isCode('EPERM'));
        });
        assert.equal(statField(image, '/b/y', /Links: (\d+)/), '3');
        assert.ok(debugfsCat(image, '/y3').equals(debugfsCat(image, '/b/y')));
        await step(image, 'unlink one', (fs) => fs.unlink('/a/y2'));
        assert.equal(statField(image, '/y3', /Links: (\d+)/), '2');
        // The limit: ext4's 65000 where the file system has dir_nlink, ext2's 32000 otherwise.
        const max = /dir_nlink/.test(debugfs(image, 'features')) ? 65000 : 32000;
        debugfs(image, `sif /y3 links_count ${max - 1}`, true); // as if that many more names existed
        const fs = await new Vm().mount(image, { readOnly: false });
        await fs.link('/y3', '/y4');
        await assert.rejects(fs.link('/y3', '/y5'), isCode('EMLINK'));
        await fs.unmount();
        assert.equal(statField(image, '/y3', /Links: (\d+)/), String(max));
        debugfs(image, 'sif /y3 links_count 3', true);
        assert.ok(e2fsck(image).clean);
      });

      test('chmod, chown and utimes change the inode as debugfs shows it', async () => {
        await step(image, 'attrs', async (fs) => {
          // (A chown drops the set-user-ID bit, as Linux's does: the mode goes after it.)
          await fs.chown('/c/z', 1000, 70000);
          await fs.chmod('/c/z', 0o4751);
          await fs.utimes('/c/z', new Date('2021-05-06T07:08:09Z'), 1_600_000_000);
        });
        const st = debugfs(image, 'stat /c/z');
        assert.match(st, /Mode:\s+04751/);
        assert.match(st, /User:\s+1000\s+Group:\s+70000/);
        assert.match(st, /mtime: 0x5f5e1000/);
        assert.match(st, /atime: 0x609395d9/);
      });
    });
  }
}

test('a file renamed over an open file and over a symlink: the open file still reads its old bytes and is freed at close; no hidden name left, e2fsck clean', async () => {
  const image = join(tmp.dir, 'open-target.img');
  const old = randomBytes(20_000, 41);
  mkext2(image, [{ path: 'a/s1', data: randomBytes(9_000, 42) }, { path: 'a/s2', data: randomBytes(7_000, 43) }, { path: 'b/open', data: old }, { path: 'b/lnk', symlink: '../a/s2' }], { type: 'ext4', blockSize: 1024, size: 4 << 20 });
  const oldIno = Number(statField(image, '/b/open', /Inode: (\d+)/));
  await step(image, 'mv over an open file, then over a symlink', async (fs) => {
    const f = await fs.open('/b/open');
    await fs.rename('/a/s1', '/b/open');
    assert.ok(Buffer.from(await f.read(0, old.length)).equals(Buffer.from(old)), 'the open file keeps its bytes');
    await f.close();
    await fs.rename('/a/s2', '/b/lnk');
  });
  assert.ok(debugfsCat(image, '/b/open').equals(Buffer.from(randomBytes(9_000, 42))));
  assert.ok(debugfsCat(image, '/b/lnk').equals(Buffer.from(randomBytes(7_000, 43))));
  assert.match(debugfs(image, 'stat /b/lnk'), /Type: regular/);
  assert.deepEqual(debugfsLs(image, '/b').map((e) => e.name).filter((n) => !['.', '..'].includes(n)).sort(), ['lnk', 'open'], 'no hidden name left');
  assert.match(debugfs(image, `stat <${oldIno}>`), /Links: 0/, 'the replaced file freed');
});
