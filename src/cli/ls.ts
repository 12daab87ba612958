/*
 * vmpager ls [-R] [--json] IMAGE [PATH]: the entries of a directory (or the
 * file itself), -R the whole tree below it. A directory reached twice (a
 * damaged image can loop) is listed once and not entered again.
 */

import type { DirEntry, MountedFs } from '../api/mounted_fs.js';
import { joinPath } from '../api/mounted_fs.js';

export interface LsEntry {
  name: string;
  path: string;
  type: DirEntry['type'];
  size: number;
}

/** Deepest directory -R enters. */
const MAX_DEPTH = 512;

export async function ls(fs: MountedFs, path: string, recursive: boolean, emit: (e: LsEntry) => void): Promise<void> {
  const st = await fs.stat(path, { follow: true });
  if (st.type !== 'dir') {
    emit({ name: path.split('/').filter(Boolean).pop() ?? path, path, type: st.type, size: st.size });
    return;
  }
  const seen = new Set<number>([st.ino]);
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir);
    const subdirs: string[] = [];
    for (const e of entries) {
      const p = joinPath(dir, e.name);
      emit({ name: e.name, path: p, type: e.type, size: e.size });
      if (recursive && e.type === 'dir' && !seen.has(e.ino) && depth < MAX_DEPTH) {
        seen.add(e.ino);
        subdirs.push(p);
      }
    }
    for (const d of subdirs) await walk(d, depth + 1);
  };
  await walk(path, 0);
}

const typeChar: Record<DirEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', other: '?' };

export function formatLsLine(e: LsEntry, recursive: boolean): string {
  return `${typeChar[e.type]} ${String(e.size).padStart(12)} ${recursive ? e.path : e.name}`;
}
