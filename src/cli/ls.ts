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
  return `${typeChar[e.type]} ${String(e.size).padStart(12)} ${recursive ? e.path : e.name}`;
}
