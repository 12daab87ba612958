/*
 * Host trees compared, for the tests of trees copied out of images.
 *   walk(dir)                       // every path below dir, sorted ('a', 'a/b', ...)
 *   sameTree(mine, theirs)          // asserts names, modes, times, then bytes equal; the names
 *   const theirs = rdump(img, dir, name)   // debugfs rdump of the image's root into dir/name
 */

import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs } from './images.js';

/** Every path below dir (relative, sorted). */
export function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    out.push(p);
    if (e.isDirectory()) out.push(...walk(dir, p));
  }
  return out.sort();
}

/**
 * Asserts that the trees mine and theirs (lost+found aside) hold the same
 * names, each with the same mode and times to the second, then the same
 * bytes (read after every time is compared: reading sets an access time).
 * Returns the names.
 */
export function sameTree(mine: string, theirs: string): string[] {
  const names = walk(mine).filter((p) => p !== 'lost+found');
  assert.deepEqual(names, walk(theirs).filter((p) => p !== 'lost+found'));
  for (const rel of names) {
    const a = lstatSync(join(mine, rel));
    const b = lstatSync(join(theirs, rel));
    assert.equal(a.mode, b.mode, `${rel}: mode`);
    assert.equal(Math.floor(a.mtimeMs / 1000), Math.floor(b.mtimeMs / 1000), `${rel}: mtime`);
    assert.equal(Math.floor(a.atimeMs / 1000), Math.floor(b.atimeMs / 1000), `${rel}: atime`);
  }
  for (const rel of names) {
    if (lstatSync(join(mine, rel)).isFile()) assert.ok(readFileSync(join(mine, rel)).equals(readFileSync(join(theirs, rel))), `${rel}: bytes`);
  }
  return names;
}

/** debugfs rdump of the image's root into a new directory dir/name; its path. */
export function rdump(img: string, dir: string, name: string): string {
  const out = join(dir, name);
  mkdirSync(out);
  debugfs(img, `rdump / ${out}`);
  return out;
}
