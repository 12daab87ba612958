/*
 * vmpager ls [-R] [--json] IMAGE [PATH]: the entries of a directory (or the
 * file itself), -R the whole tree below it (MountedFs.walk: each directory
 * entered once, so a damaged image whose directories loop still ends).
 */

import type { DirEntry, MountedFs } from '../api/mounted_fs.js';
import { joinPath } from '../api/mounted_fs.js';

export interface LsEntry {
  name: string;
  path: string;
  type: DirEntry['type'];
  size: number;
}

export async function ls(fs: MountedFs, path: string, recursive: boolean, emit: (e: LsEntry) => void): Promise<void> {
  const st = await fs.stat(path, { follow: true });
  if (st.type !== 'dir') {
    emit({ name: path.split('/').filter(Boolean).pop() ?? path, path, type: st.type, size: st.size });
    return;
  }
  if (recursive) {
    await fs.walk(path, (p, e) => emit({ name: e.name, path: p, type: e.type, size: e.size }));
    return;
  }
  for (const e of await fs.readdir(path)) emit({ name: e.name, path: joinPath(path, e.name), type: e.type, size: e.size });
}

const typeChar: Record<DirEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', other: '?' };

export function formatLsLine(e: LsEntry, recursive: boolean): string {
  return `${typeChar[e.type]} ${String(e.size).padStart(12)} ${escapeName(recursive ? e.path : e.name)}`;
}

/** A name as `ls -b` prints it: control characters and backslashes as C escapes, so each entry is one line. */
export function escapeName(name: string): string {
  return name.replace(/[\x00-\x1f\x7f\\]/g, (c) => {
    const named: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\x07': '\\a' };
    return named[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`;
  });
}

/** Orders entries by path, one component at a time (a directory's entries right after it), names by their bytes. */
export function byPath(a: LsEntry, b: LsEntry): number {
  const pa = a.path.split('/');
  const pb = b.path.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return Buffer.compare(Buffer.from(pa[i]), Buffer.from(pb[i]));
  }
  return pa.length - pb.length;
}
