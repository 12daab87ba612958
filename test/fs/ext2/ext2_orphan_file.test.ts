/*
 * Files unlinked while open on an image with orphan_file (mke2fs -O
 * orphan_file): vmpager keeps them on the superblock's orphan list, which
 * the kernel and e2fsck process on such images too (the kernel itself falls
 * back to it when the orphan file has no free slot); the orphan file is left
 * as it is. Closed and unmounted: e2fsck -fn clean, the blocks free again.
 * Killed (SIGKILL) while the file is open: e2fsck -p frees the orphan
 * (exit 1: repaired), and then e2fsck -fn is clean.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Vm } from '../../../src/api/index.js';
import { debugfs, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage } from './ext2_util.js';
import { assertClean } from './ext2_write_util.js';

const tmp = tempDir('vmpager-orphanfile-');
after(() => tmp.cleanup());

const API = pathToFileURL(join(import.meta.dirname, '../../../src/api/index.js')).href;
const lastOrphan = (image: string) => new DataView(readFileSync(image).buffer).getUint32(1024 + 0xe8, true);
const freeBlocks = (image: string) => Number(/Free blocks:\s+(\d+)/.exec(spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' }).stdout)![1]);

function orphanImage(name: string): string {
  const image = join(tmp.dir, name);
  buildImage(image, { type: 'ext4', blockSize: 1024, size: 16 << 20, files: [{ path: 'keep', data: randomBytes(3000, 1) }], extra: ['-O', 'orphan_file'] });
  assert.match(debugfs(image, 'features'), /orphan_file/);
  return image;
}

describe('orphan_file images (ext4, metadata_csum)', () => {
  test('a file unlinked while open is an orphan until closed; then freed, e2fsck -fn clean, the orphan file unchanged', async () => {
    const image = orphanImage('closed.img');
    const free0 = freeBlocks(image);
    const orphanFileBefore = debugfs(image, 'stat <12>').replace(/ctime|atime|mtime|crtime/g, '');
    const fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
    const f = await fs.open('/victim', { create: true });
    await f.write(0, randomBytes(100_000, 2));
    const ino = (await fs.stat('/victim')).ino;
    await fs.unlink('/victim');
    await fs.sync();
    assert.equal(lastOrphan(image), ino, 'on the orphan list');
    assert.deepEqual(await f.read(0, 4), randomBytes(100_000, 2).subarray(0, 4));
    await f.close();
    await fs.unmount();
    assert.equal(lastOrphan(image), 0);
    assertClean(image);
    assert.equal(freeBlocks(image), free0);
    assert.equal(debugfs(image, 'stat <12>').replace(/ctime|atime|mtime|crtime/g, ''), orphanFileBefore);
  });

  test('killed while the unlinked file is open: e2fsck -p frees it (exit 1), then e2fsck -fn is clean', async () => {
    const image = orphanImage('killed.img');
    const free0 = freeBlocks(image);
    const script = `
      import { Vm } from ${JSON.stringify(API)};
      const fs = await new Vm({ memory: 1 << 20 }).mount(${JSON.stringify(image)}, { readOnly: false });
      const f = await fs.open('/victim', { create: true });
      await f.write(0, new Uint8Array(100000).fill(7));
      await fs.unlink('/victim');
      await fs.sync();
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited ${code}: ${err}`)));
    });
    const gone = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await gone;
    assert.notEqual(lastOrphan(image), 0, 'the orphan list names the open file');
    const p = spawnSync('e2fsck', ['-p', image], { encoding: 'utf8' });
    assert.equal(p.status, 1, p.stdout + p.stderr);
    assert.match(p.stdout + p.stderr, /Clearing orphaned inode/);
    assertClean(image);
    assert.equal(freeBlocks(image), free0);
  });
});
