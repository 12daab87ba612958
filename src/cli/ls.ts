/*
 * vmpager ls [-R] [--json] IMAGE [PATH]: the entries of a directory (or the
 * file itself), -R the whole tree below it (MountedFs.walk: each directory
 * entered once, so a damaged image whose directories loop still ends),
 * printed as it is read (lsPrint).
 */

import type { DirEntry, MountedFs } from '../api/mounted_fs.js';
import { joinPath } from '../api/mounted_fs.js';
import { escapeName } from './context.js';
import { ELOOP, ENOENT, VmError } from '../api/errors.js';

export interface LsEntry {
  name: string;
  path: string;
  type: DirEntry['type'];
  size: number;
  /** A device node's, FIFO's or socket's kind, for the text listing (not in --json, whose 'other' stays). */
  kind?: DirEntry['kind'];
}

/** The entries of path (the file itself, when it is no directory); `recursive` the tree, in walk order or `sorted` (ls -R's). */
export async function ls(fs: MountedFs, path: string, recursive: boolean, emit: (e: LsEntry) => void, sorted = false): Promise<void> {
  // A symlink to a directory is listed as that directory; any other symlink (a dangling one too) as itself, as ls(1) does.
  const st = await fs.stat(path, { follow: true, blockMap: false }).catch((e: unknown) => {
    if (e instanceof VmError && (e.errno === ENOENT || e.errno === ELOOP)) return null;
    throw e;
  });
  if (st === null || st.type !== 'dir') {
    const own = await fs.stat(path, { follow: false, blockMap: false });
    emit({ name: path.split('/').filter(Boolean).pop() ?? path, path, type: own.type, size: own.size, kind: kindOfMode(own.mode) });
    return;
  }
  if (recursive) {
    await fs.walk(path, (p, e) => emit({ name: e.name, path: p, type: e.type, size: e.size, kind: e.kind }), { sorted });
    return;
  }
  for (const e of await fs.readdir(path)) emit({ name: e.name, path: joinPath(path, e.name), type: e.type, size: e.size, kind: e.kind });
}

/**
 * Prints the listing to `write` as it is read: -R's lines in the sorted
 * order as each directory is read (a walk by name, never the whole tree
 * held); --json as one array written an entry at a time in walk order
 * (on a failure part way, the array is left unclosed). One directory
 * alone is read whole and sorted. Output goes out in pieces of about 64 KiB.
 */
export async function lsPrint(fs: MountedFs, path: string, recursive: boolean, json: boolean, write: (s: string) => void): Promise<void> {
  let buf = '';
  const put = (s: string) => {
    buf += s;
    if (buf.length >= 1 << 16) {
      write(buf);
      buf = '';
    }
  };
  try {
    if (json) {
      let first = true;
      put('[');
      await ls(fs, path, recursive, (e) => {
        const j = JSON.stringify({ name: e.name, path: e.path, type: e.type, size: e.size }); // (the contract's four fields)
        put(first ? j : ',' + j);
        first = false;
      });
      put(']\n');
    } else if (recursive) {
      await ls(fs, path, true, (e) => put(formatLsLine(e, true) + '\n'), true);
    } else {
      const entries: LsEntry[] = [];
      await ls(fs, path, false, (e) => entries.push(e));
      for (const e of entries.sort(byPath)) put(formatLsLine(e, false) + '\n');
    }
  } finally {
    if (buf.length > 0) write(buf);
  }
}

const typeChar: Record<DirEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', other: '?' };
/** ls -l's letters for the rest. */
const kindChar: Record<NonNullable<DirEntry['kind']>, string> = { chardev: 'c', blockdev: 'b', fifo: 'p', socket: 's' };

export function formatLsLine(e: LsEntry, recursive: boolean): string {
  const c = e.kind !== undefined ? kindChar[e.kind] : typeChar[e.type];
  return `${c} ${String(e.size).padStart(12)} ${escapeName(recursive ? e.path : e.name)}`;
}

/** The kind in a mode's type bits, for one path listed alone. */
function kindOfMode(mode: number): DirEntry['kind'] {
  switch (mode & 0o170000) {
    case 0o020000:
      return 'chardev';
    case 0o060000:
      return 'blockdev';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return undefined;
  }
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
