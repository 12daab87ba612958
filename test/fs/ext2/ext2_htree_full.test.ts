/*
 * A hash index at its limit: without large_dir an index has two levels
 * (the root and one level of nodes), with it three. Long names on 1 KiB
 * blocks fill two levels after some tens of thousands of names: on a plain
 * ext4 the create that finds no room in the index fails with ENOSPC and
 * writes nothing (the directory keeps every earlier name, indexed, e2fsck
 * -fn clean); on large_dir the same names, in the same order under the
 * same hash seed, go on into a third level that e2fsck checks.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm, VmError } from '../../../src/api/index.js';
import { debugfs, tempDir } from '../../helpers/images.js';
import { buildImage, debugfsLs } from './ext2_util.js';
import { assertClean } from './ext2_write_util.js';

const tmp = tempDir('vmpager-htree-full-');
after(() => tmp.cleanup());

/** 255-byte names: three to a 1 KiB leaf, so the index fills after about 15 000 leaves. */
const nameOf = (i: number) => `${i.toString(36).padStart(6, '0')}-`.padEnd(255, 'x');
const SEED = '0b1b0e36-8e57-4d25-9d6b-2f0b6b7d3c51';
const LIMIT = 60000;

function image(name: string, largeDir: boolean): string {
  const path = join(tmp.dir, name);
  const features = largeDir ? ['-O', 'large_dir'] : [];
  buildImage(path, { type: 'ext4', blockSize: 1024, size: 128 << 20, files: [], extra: ['-N', '70000', '-I', '128', '-E', `hash_seed=${SEED}`, ...features] });
  return path;
}

/** Creates names into /d until one fails (its error) or LIMIT are in. */
async function fill(path: string, upTo: number): Promise<{ created: number; error: VmError | null }> {
  const vm = new Vm({ memory: 32 << 20 });
  const fs = await vm.mount(path, { readOnly: false });
  let error: VmError | null = null;
  let created = 0;
  try {
    await fs.mkdir('/d');
    for (; created < upTo; created++) {
      try {
        await (await fs.open(`/d/${nameOf(created)}`, { create: true })).close();
      } catch (e) {
        if (!(e instanceof VmError)) throw e;
        error = e;
        break;
      }
    }
  } finally {
    await fs.unmount();
  }
  return { created, error };
}

describe('a hash index at its limit (1 KiB blocks, 255-byte names)', () => {
  let full = 0;

  test('without large_dir: the create that finds the index full fails with ENOSPC, and nothing it began is left', async () => {
    const path = image('plain.img', false);
    const r = await fill(path, LIMIT);
    assert.ok(r.error !== null, `${r.created} names went in without the index filling`);
    assert.equal(r.error.code, 'ENOSPC', r.error.message);
    full = r.created;
    console.log(`# the index filled at ${full} names`);
    assertClean(path);
    assert.match(debugfs(path, 'htree /d'), /Indirect levels: 1/);
    const names = debugfsLs(path, '/d').map((e) => e.name).filter((n) => n !== '.' && n !== '..');
    assert.equal(names.length, full);
    assert.ok(!names.includes(nameOf(full)), 'the failed name is not in the directory');
  });

  test('with large_dir: the same names go on into a third index level, e2fsck -fn clean', async () => {
    assert.ok(full > 0, 'the first test found where two levels fill');
    const path = image('large_dir.img', true);
    const want = full + 2000;
    const r = await fill(path, want);
    assert.equal(r.error, null, r.error?.message);
    assert.equal(r.created, want);
    assertClean(path);
    assert.match(debugfs(path, 'htree /d'), /Indirect levels: 2/);
    const names = debugfsLs(path, '/d').map((e) => e.name).filter((n) => n !== '.' && n !== '..');
    assert.equal(names.length, want);
  });
});
