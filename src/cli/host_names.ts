/*
 * Host paths that hold names that are not UTF-8. Names in vmpager are
 * strings holding such bytes as lone U+DC80-U+DCFF (api/names.ts); Node's
 * fs takes a string path as UTF-8, which would write each as U+FFFD, and
 * reads names the same lossy way. So a path holding one goes to fs as its
 * bytes (a Buffer), and host directories and symlinks are read as bytes.
 *   fs.openSync(hostName(p), 'wx');   hostReaddir(dir);   hostReadlink(p)
 */

import { readdirSync, readlinkSync } from 'node:fs';
import { escapedBytes, nameDecode, nameEscaped } from '../api/names.js';

/** p as fs takes it: the string, or where it holds bytes that are not UTF-8, those bytes. */
export function hostName(p: string): string | Buffer {
  return nameEscaped(p) ? Buffer.from(escapedBytes(p)) : p;
}

/** The names in host directory dir, each byte that is not UTF-8 kept. */
export function hostReaddir(dir: string): string[] {
  return readdirSync(hostName(dir), { encoding: 'buffer' }).map((b) => nameDecode(b, 0, b.length));
}

/** A host symlink's target, each byte that is not UTF-8 kept. */
export function hostReadlink(p: string): string {
  const b = readlinkSync(hostName(p), { encoding: 'buffer' });
  return nameDecode(b, 0, b.length);
}
