/*
 * Host trees compared, for the tests of trees copied out of images.
 *   walk(dir)                       // every path below dir, sorted ('a', 'a/b', ...)
 *   sameTree(mine, theirs)          // asserts names, modes, times, then bytes equal; the names
 *   const theirs = rdump(img, dir, name)   // debugfs rdump of the image's root into dir/name
 */

import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, type Stats } from 'node:fs';
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

/** Every path below dir with its lstat, each taken before the directory it names (if one) is listed. */
function statsBeforeListing(dir: string, rel = '', out = new Map<string, Stats>()): Map<string, Stats> {
  const names = readdirSync(join(dir, rel));
  const here = names.map((n) => (rel === '' ? n : `${rel}/${n}`));
  for (const p of here) out.set(p, lstatSync(join(dir, p)));
  for (const p of here) if (out.get(p)!.isDirectory()) statsBeforeListing(dir, p, out);
  return out;
}

/**
 * Asserts that the trees mine and theirs (lost+found aside) hold the same
 * names, each with the same mode and times to the second, then the same
 * bytes (read after every time is compared: reading sets an access time).
 * Returns the names.
 */
export function sameTree(mine: string, theirs: string): string[] {
  // Each entry's lstat taken before its directory is listed: listing a directory sets its access time (relatime,
  // where it is older than the mtime), and the two walks may fall in different seconds.
  const [ours, peer] = [statsBeforeListing(mine), statsBeforeListing(theirs)];
  const names = [...ours.keys()].sort().filter((p) => p !== 'lost+found');
  assert.deepEqual(names, [...peer.keys()].sort().filter((p) => p !== 'lost+found'));
  for (const rel of names) {
    const a = ours.get(rel)!;
    const b = peer.get(rel)!;
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
