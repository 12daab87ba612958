/*
 * The read-back check of the image tests: a file of a mounted image read
 * whole through File.readInto in odd-sized pieces (77 777 bytes, so reads
 * cross page, block and fragment boundaries), compared with what the tree
 * that made the image held, and nothing read past its end.
 *   await assertReadsBack(fs, '/dir/file', expectedBytes)
 */

import assert from 'node:assert/strict';
import type { MountedFs } from '../../src/api/index.js';

const PIECE = 77_777;

export async function assertReadsBack(fs: MountedFs, path: string, want: Uint8Array): Promise<void> {
  const f = await fs.open(path);
  try {
    assert.equal(f.size, want.length, path);
    const got = new Uint8Array(want.length);
    for (let off = 0; off < got.length; off += PIECE) {
      const n = await f.readInto(got.subarray(off, Math.min(got.length, off + PIECE)), off);
      assert.equal(n, Math.min(PIECE, got.length - off), `${path}: read at ${off}`);
    }
    assert.ok(Buffer.from(got).equals(Buffer.from(want)), `${path} differs`);
    assert.equal((await f.read(want.length, 10)).length, 0, `${path}: nothing past EOF`);
  } finally {
    await f.close();
  }
}
