/*
 * The metadata buffer cache over a memory disk: a second bread is a hit; a
 * busy buffer makes a second getblk sleep; delayed writes reach the disk at
 * bflush; the byte budget evicts the least recently released clean buffer;
 * a read error leaves nothing cached.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EIO } from '../../src/kern/errno.js';
import { MemDisk } from '../../src/dev/memdisk.js';
import { B_BUSY, B_DONE } from '../../src/vfs/buf.js';
import { BufCache } from '../../src/vfs/vfs_bio.js';

const K = 1024;

function disk(n = 64 * K): MemDisk {
  return new MemDisk(Uint8Array.from({ length: n }, (_, i) => (i >> 9) & 0xff));
}

test('bread reads a block once; a second bread is a hit', async () => {
  const d = disk();
  const c = new BufCache(d, 16 * K);
  const r1 = await c.bread(8, K);
  assert.equal(r1.error, 0);
  assert.equal(r1.bp!.data[0], 8, 'the block at sector 8');
  assert.ok((r1.bp!.flags & B_DONE) !== 0);
  c.brelse(r1.bp!);
  const r2 = await c.bread(8, K);
  assert.equal(r2.bp, r1.bp);
  c.brelse(r2.bp!);
  assert.equal(d.stats.reads, 1);
  assert.deepEqual([c.hits, c.misses], [1, 1]);
});

test('a busy buffer makes a second getblk sleep until brelse', async () => {
  const c = new BufCache(disk(), 16 * K);
  const bp = await c.getblk(2, K);
  let second = false;
  const p = c.getblk(2, K).then((b) => {
    second = true;
    return b;
  });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assert.equal(second, false);
  c.brelse(bp);
  const b2 = await p;
  assert.equal(b2, bp);
  assert.ok((b2.flags & B_BUSY) !== 0);
  c.brelse(b2);
});

test('bdwrite keeps the write in the cache until bflush', async () => {
  const d = disk();
  const c = new BufCache(d, 16 * K);
  const { bp } = await c.bread(4, K);
  bp!.data.fill(0xab);
  c.bdwrite(bp!);
  assert.equal(d.stats.writes, 0);
  assert.equal(c.dirtyCount, 1);
  assert.equal(await c.bflush(), 0);
  assert.equal(d.stats.writes, 1);
  assert.equal(c.dirtyCount, 0);
  assert.ok(d.data.subarray(4 * 512, 4 * 512 + K).every((x) => x === 0xab));
});

test('over budget, the least recently released clean buffer goes first; dirty ones stay', async () => {
  const c = new BufCache(disk(), 3 * K);
  const take = async (blkno: number) => (await c.bread(blkno, K)).bp!;
  const a = await take(0);
  const b = await take(2);
  const x = await take(4);
  c.brelse(b);
  c.brelse(a);
  x.data[0] = 1;
  c.bdwrite(x);
  await take(6).then((bp) => c.brelse(bp)); // evicts b, released before a
  assert.ok(c.residentBytes <= 3 * K);
  const hits = c.hits;
  c.brelse((await c.bread(0, K)).bp!);
  assert.equal(c.hits, hits + 1, 'a still cached');
  c.brelse((await c.bread(2, K)).bp!);
  assert.equal(c.hits, hits + 1, 'b was evicted');
  assert.equal(c.dirtyCount, 1, 'the dirty buffer was never dropped');
});

test('a read error returns the errno and caches nothing', async () => {
  const d = disk();
  const c = new BufCache(d, 16 * K);
  d.readv = async () => EIO;
  const r = await c.bread(0, K);
  assert.deepEqual(r, { error: EIO, bp: null });
  assert.equal(c.residentBytes, 0);
  assert.deepEqual(await c.bread(1 << 20, K), { error: EIO, bp: null }, 'past the device end');
});

test('breadn reads the blocks after a miss in the same transfer, each its own buffer, stopping at a resident one', async () => {
  const d = disk();
  const c = new BufCache(d, 16 * K);
  const held = await c.bread(8 + 2 * 5, K); // block 5 of the run (sectors 18-19) is resident already
  c.brelse(held.bp!);
  const reads = d.stats.reads;
  const r = await c.breadn(8, K, 7);
  assert.equal(r.error, 0);
  assert.equal(r.bp!.data[0], 8);
  c.brelse(r.bp!);
  assert.equal(d.stats.reads - reads, 1, 'one transfer');
  assert.equal(d.stats.bytesRead - K, 5 * K, 'blocks 0-4: the run ends where block 5 is resident');
  for (let i = 1; i < 5; i++) {
    const h = await c.bread(8 + 2 * i, K);
    assert.equal(h.bp!.data[0], 8 + 2 * i, `block ${i} read ahead, with its own bytes`);
    assert.equal(h.bp!.data.length, K);
    c.brelse(h.bp!);
  }
  assert.equal(d.stats.reads - reads, 1, 'the read-ahead blocks are hits');
  const bytes = c.residentBytes;
  assert.ok(bytes <= 16 * K);
});
