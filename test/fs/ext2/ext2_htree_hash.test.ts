/*
 * The htree name hashes against debugfs's dx_hash (e2fsprogs): legacy,
 * half_md4 and tea, signed and unsigned, with and without a seed, for short,
 * long (past one 32-byte block) and non-ASCII names. The versions are given
 * to dx_hash by number: it does not know the unsigned variants by name.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ext2Dirhash } from '../../../src/fs/ext2/ext2_htree_hash.js';

const NAMES = ['a', 'hello', 'file_with_long_name_1234567890_abcdefghijklmnop.txt', 'h\u00e9llo-w\u00f6rld', 'x'.repeat(255)];
const ALGS: Array<[string, number]> = [
  ['legacy', 0], ['half_md4', 1], ['tea', 2], ['legacy_unsigned', 3], ['half_md4_unsigned', 4], ['tea_unsigned', 5],
];
const SEED = '01234567-89ab-cdef-0123-456789abcdef';

/** The seed as the superblock stores it: the UUID's bytes read as four little-endian words. */
function seedWords(uuid: string): Uint32Array {
  const hex = uuid.replace(/-/g, '');
  const b = Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  return new Uint32Array(b.buffer);
}

test('ext2Dirhash equals debugfs dx_hash for every algorithm, seed and name', () => {
  const reqs: string[] = [];
  const want: Array<[string, number, string, boolean]> = [];
  for (const [alg, v] of ALGS) {
    for (const seed of [false, true]) {
      for (const name of NAMES) {
        reqs.push(`dx_hash -h ${v}${seed ? ` -s ${SEED}` : ''} ${name}`);
        want.push([alg, v, name, seed]);
      }
    }
  }
  const r = spawnSync('debugfs', ['-f', '-', '/dev/null'], { input: reqs.join('\n') + '\n', encoding: 'utf8' });
  const got = [...r.stdout.matchAll(/Hash of .* is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)/g)];
  assert.equal(got.length, want.length, r.stdout + r.stderr);
  for (let i = 0; i < want.length; i++) {
    const [alg, v, name, seed] = want[i];
    const h = ext2Dirhash(v, new TextEncoder().encode(name), seed ? seedWords(SEED) : new Uint32Array(4));
    assert.ok(h !== null);
    assert.equal(h.hash, parseInt(got[i][1], 16), `${alg} ${seed ? 'seeded ' : ''}${name}`);
    assert.equal(h.minor, parseInt(got[i][2], 16), `${alg} minor ${name}`);
  }
});
