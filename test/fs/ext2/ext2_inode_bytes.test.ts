/*
 * An in-core inode's bytes (src/fs/ext2/ext2_inode.ts: inodeBytes) are cut
 * from shared slabs, each piece its own and zeros (or the copy asked for),
 * and its decoded i_block is a view of those bytes (decodeDinode), not a
 * copy of its own: a new file's inode gives the collector no buffer of its
 * own to sweep, and i_block and the bytes never disagree.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDinode } from '../../../src/fs/ext2/ext2_fs.js';
import { inodeBytes } from '../../../src/fs/ext2/ext2_inode.js';

test('inode bytes: pieces never overlap, each starts as zeros or as the copy given, whatever was written to the others', () => {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < 70; i++) {
    const size = i % 3 === 0 ? 128 : 256;
    const from = i % 5 === 0 ? Uint8Array.from({ length: size }, (_, k) => (k * 7 + i) & 0xff) : undefined;
    const b = inodeBytes(size, from);
    assert.equal(b.length, size);
    if (from !== undefined) assert.deepEqual(b, from);
    else assert.ok(b.every((x) => x === 0), `piece ${i} not zeros`);
    b.fill(0xa5); // (what a later piece must not see)
    pieces.push(b);
  }
  for (let i = 0; i < pieces.length; i++) {
    for (let j = i + 1; j < pieces.length; j++) {
      const a = pieces[i];
      const b = pieces[j];
      if (a.buffer !== b.buffer) continue;
      assert.ok(a.byteOffset + a.length <= b.byteOffset || b.byteOffset + b.length <= a.byteOffset, `pieces ${i} and ${j} overlap`);
    }
  }
  assert.ok(pieces.some((b, i) => i > 0 && b.buffer === pieces[i - 1].buffer), 'no two pieces share a slab');
});

test('inode bytes: an inode larger than a quarter of a slab gets a buffer of its own', () => {
  const b = inodeBytes(2048);
  assert.equal(b.byteOffset, 0);
  assert.equal(b.buffer.byteLength, 2048);
});

test('a decoded inode\'s i_block is a view of its bytes at 0x28: a change to either is seen by the other', () => {
  const raw = inodeBytes(256);
  raw[0x28] = 0x0a;
  raw[0x29] = 0xf3; // an extent header's magic
  const din = decodeDinode(raw);
  assert.equal(din.iblock.buffer, raw.buffer);
  assert.equal(din.iblock.byteOffset, raw.byteOffset + 0x28);
  assert.equal(din.iblock.length, 60);
  assert.deepEqual([din.iblock[0], din.iblock[1]], [0x0a, 0xf3]);
  din.iblock[59] = 0x42;
  assert.equal(raw[0x28 + 59], 0x42);
});
