/*
 * The image device's writeback hint: an fdatasync started on the thread
 * pool while writes go on; flush and close wait for it (its descriptor is
 * not closed under it), one runs at a time, and what was written reads back.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageDevice } from '../../src/dev/image.js';
import { randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir('vmpager-writeback-');
after(() => tmp.cleanup());

test('writes with writeback hints between them read back whole; flush and close wait for the hint in flight', async () => {
  for (const io of ['sync', 'async'] as const) {
    const path = join(tmp.dir, `img-${io}`);
    writeFileSync(path, new Uint8Array(8 << 20));
    const { error, dev } = await ImageDevice.open(path, false, io);
    assert.equal(error, 0);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) {
      const c = randomBytes(1 << 20, i + 1);
      chunks.push(c);
      assert.equal(await dev!.writev([c], i << 20), 0);
      dev!.writeback();
      dev!.writeback(); // a second while one runs: nothing more
    }
    assert.equal(await dev!.flush(), 0);
    dev!.writeback();
    const pending = (dev as unknown as { inWriteback: Promise<void> | null }).inWriteback;
    assert.equal(pending !== null, io === 'sync', 'a hint in flight (io sync: the descriptor is ours)');
    assert.equal(await dev!.close(), 0); // waits for the hint's fdatasync before closing its descriptor
    assert.equal((dev as unknown as { inWriteback: Promise<void> | null }).inWriteback, null);
    assert.ok(readFileSync(path).equals(Buffer.concat(chunks)), io);
  }
});

test('a read-only device takes the hint as nothing', async () => {
  const path = join(tmp.dir, 'ro');
  writeFileSync(path, new Uint8Array(1 << 20));
  const { dev } = await ImageDevice.open(path, true, 'sync');
  dev!.writeback();
  assert.equal(await dev!.flush(), 0);
  assert.equal(await dev!.close(), 0);
});
