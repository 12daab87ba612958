/*
 * A host directory tree as VOP_POPULATE's source (vfs_tree.ts): each
 * directory's entries by name, with what lstat says of them (or one owner
 * for all), each file's bytes read in place. A host failure throws the
 * one-line error naming the host path.
 *   const src = new HostTree({ owner: null }); const nodes = src.nodes(dir, names); await fs.populate(to, nodes, src)
 */

import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { joinPath } from '../api/mounted_fs.js';
import { hostError } from '../api/errors.js';
import type { TreeNode, TreeNodeType, TreeSource } from '../api/mounted_fs.js';

export class HostTree implements TreeSource {
  /** Files of more than one name made in the image so far, by link key (the source's device and inode): image path and inode. */
  readonly links = new Map<string, { path: string; ino: number }>();
  private readonly under: string;

  /** A tree copied from host directory `from` into image directory `to`. */
  constructor(private readonly owner: { uid: number; gid: number } | null, from: string, private readonly to: string) {
    const root = resolve(from);
    this.under = root.endsWith(sep) ? root : root + sep;
  }

  /** The link key of a host file of more than one name, else null. */
  static linkKey(st: Stats): string | null {
    return st.nlink > 1 && !st.isDirectory() ? `${st.dev}:${st.ino}` : null;
  }

  linked(key: string): number {
    return this.links.get(key)?.ino ?? 0;
  }

  made(node: TreeNode, ino: number): void {
    if (node.link === null) return;
    const abs = resolve(node.src);
    const rel = abs.startsWith(this.under) ? abs.slice(this.under.length).split(sep).join('/') : node.name;
    this.links.set(node.link, { path: joinPath(this.to, rel), ino });
  }

  /** The nodes of `names` (entries of host directory dir), with their lstat. */
  nodes(dir: string, names: readonly string[]): TreeNode[] {
    return names.map((name) => {
      const src = join(dir, name);
      return this.node(name, src, hostCall(src, () => lstatSync(src)));
    });
  }

  node(name: string, src: string, st: Stats): TreeNode {
    return {
      name,
      type: typeOf(st),
      perm: st.mode & 0o7777,
      uid: this.owner?.uid ?? st.uid,
      gid: this.owner?.gid ?? st.gid,
      atime: splitMs(st.atimeMs),
      mtime: splitMs(st.mtimeMs),
      size: st.size,
      major: st.isCharacterDevice() || st.isBlockDevice() ? major(st.rdev) : 0,
      minor: st.isCharacterDevice() || st.isBlockDevice() ? minor(st.rdev) : 0,
      link: HostTree.linkKey(st),
      src,
    };
  }

  list(dir: TreeNode): TreeNode[] {
    return this.nodes(dir.src, hostCall(dir.src, () => readdirSync(dir.src)).sort());
  }

  readlink(link: TreeNode): string {
    return hostCall(link.src, () => readlinkSync(link.src));
  }

  private readonly paths = new Map<number, string>();

  open(file: TreeNode): number {
    const fd = hostCall(file.src, () => openSync(file.src, 'r'));
    this.paths.set(fd, file.src);
    return fd;
  }

  read(handle: number, buf: Uint8Array, pos: number): number {
    return hostCall(this.paths.get(handle) ?? '', () => readSync(handle, buf, 0, buf.length, pos));
  }

  close(handle: number): void {
    const path = this.paths.get(handle) ?? '';
    this.paths.delete(handle);
    hostCall(path, () => closeSync(handle));
  }
}

function typeOf(st: Stats): TreeNodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** A time in milliseconds as seconds and nanoseconds (microseconds kept: what a double of milliseconds holds). */
function splitMs(ms: number): { sec: number; nsec: number } {
  const sec = Math.floor(ms / 1000);
  const nsec = Math.round((ms - sec * 1000) * 1000) * 1000;
  return nsec >= 1e9 ? { sec: sec + 1, nsec: 0 } : { sec, nsec };
}

/** Linux's dev_t split into major and minor. */
export function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}

export function minor(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

export function hostCall<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw hostError(e, 'read', path, null);
  }
}
