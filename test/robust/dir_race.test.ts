/*
 * Lookups and listings of a directory while other callers of the same
 * mount add entries to it. A lookup reads the directory block by block
 * without its lock; an entry added can move others (an htree leaf split
 * moves half its names to a new block), so a name there all along could
 * be missed, and a listing could hold a name twice. Deterministic: the
 * image is a memory disk whose transfers complete as microtasks, so the
 * interleaving of the callers is the same on every run.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemDisk, Vm } from '../../src/api/index.js';
import { e2fsck, mkext2, tempDir } from '../helpers/images.js';

const N = 400;

/** A fixed UUID and hash seed: the same names in the same blocks on every run, so the same interleaving. */
const SEED = '6b1f5a52-4a8e-4f8c-9d4e-2f3a1c0b7e11';
const CONFIGS = (['ext2', 'ext4'] as const).map((type) => ({ type, uuid: SEED }));

async function mounted({ type, uuid }: { type: 'ext2' | 'ext4'; uuid: string }) {
  const tmp = tempDir();
  const image = join(tmp.dir, `race-${type}.img`);
  mkext2(image, [], { type, blockSize: 1024, size: 64 << 20, extra: ['-U', uuid, '-E', `hash_seed=${uuid}`] });
  const disk = new MemDisk(new Uint8Array(readFileSync(image)));
  const fs = await new Vm({ memory: 4 << 20 }).mount(disk, { readOnly: false });
  const p = fs.promises!;
  await p.mkdir('/many');
  for (let i = 0; i < N; i++) await p.writeFile(`/many/f${i}`, `v1 ${i}`);
  return { tmp, image, disk, fs, p };
}

const name = (c: { type: string; uuid: string }) => `${c.type} (seed ${c.uuid.slice(0, 8)})`;

test(`replacing ${N} existing files at once replaces every one (a lookup of the file being replaced missed it: ENOENT, the old bytes kept)`, async () => {
  for (const c of CONFIGS) {
    const { tmp, image, disk, fs, p } = await mounted(c);
    const r = await Promise.allSettled(Array.from({ length: N }, (_, i) => p.writeFile(`/many/f${i}`, `v2 ${i}`)));
    const failed = r.filter((x) => x.status === 'rejected').map((x) => String((x as PromiseRejectedResult).reason));
    assert.deepEqual(failed, [], name(c));
    for (let i = 0; i < N; i++) assert.equal(await p.readFile(`/many/f${i}`, 'utf8'), `v2 ${i}`, name(c));
    assert.equal((await p.readdir('/many')).length, N, name(c));
    await fs.unmount();
    writeFileSync(image, disk.data);
    assert.ok(e2fsck(image).clean, `${name(c)}: ${e2fsck(image).output}`);
    tmp.cleanup();
  }
});

test('a listing made while other callers add entries holds every name that was there all along, each once', async () => {
  for (const c of CONFIGS) {
    const { tmp, fs, p } = await mounted(c);
    const listings: string[][] = [];
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      await p.writeFile(`/many/new-${'x'.repeat(40)}-${i}`, 'n');
      if (i % 20 === 0) listings.push(await p.readdir('/many'));
    }));
    assert.ok(listings.length > 0);
    for (const names of listings) {
      assert.equal(new Set(names).size, names.length, `${name(c)}: a name listed twice`);
      for (let i = 0; i < N; i++) assert.ok(names.includes(`f${i}`), `${name(c)}: f${i} missing from a listing`);
    }
    await fs.unmount();
    tmp.cleanup();
  }
});
