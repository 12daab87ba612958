/*
 * A host directory tree as VOP_POPULATE's source (vfs_tree.ts): each
 * directory's entries by name, with what lstat says of them (or one owner
 * for all), each file's bytes. Where the tree is more than a few small
 * files, a worker thread reads it ahead (host_tree_reader.ts) from the
 * first ask on; else each ask is its own system call. A host failure
 * throws the one-line error naming the host path.
 *   const src = new HostTree(owner, from, to); const nodes = src.nodes(dir, names);
 *   src.prepare(nodes); try { await fs.populate(to, nodes, src) } finally { await src.stop() }
 */

import { type BigIntStats, closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { hostName, hostReaddir, hostReadlink } from './host_names.js';
import { join, resolve, sep } from 'node:path';
import { joinPath } from '../api/mounted_fs.js';
import { changedReason, type HostFailure, HostTreeReader, VIEW_UNIT } from './host_tree_reader.js';
import { EINVAL, hostError, VmError } from '../api/errors.js';
import type { TreeNode, TreeNodeType, TreeSource } from '../api/mounted_fs.js';

/** A node of this tree: its number in the walk (host_tree_reader.ts numbers alike). */
interface HostNode extends TreeNode {
  seq: number;
}

/** Top entries worth a reading thread: any directory, or this many bytes of files. */
const READ_AHEAD_FROM = 4 << 20;
const TYPE_CODE: Record<TreeNodeType, number> = { file: 1, dir: 2, symlink: 3, chardev: 4, blockdev: 5, fifo: 6, socket: 7 };
const TYPE_OF: readonly TreeNodeType[] = ['socket', 'file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket'];

export class HostTree implements TreeSource {
  private reader: HostTreeReader | null = null;
  /** The top entries of the next walk, until its first ask starts the reader. */
  private tops: HostNode[] | null = null;

  /** Files of more than one name made in the image so far, by link key (the source's device and inode): image path and inode. */
  readonly links = new Map<string, { path: string; ino: number }>();
  private readonly under: string;

  /** A tree copied from host directory `from` into image directory `to`. */
  /**
   * leave: the device:inode keys of host files left out of the walk (the
   * image being written, its lock folder: copied into themselves they would
   * grow as they are read).
   */
  constructor(
    private readonly owner: { uid: number; gid: number } | null, from: string, private readonly to: string, readonly leave: ReadonlySet<string> = new Set(),
    /** Told of a file that shrank while it was read (what was read is what the image holds). */
    private readonly warn: (msg: string) => void = () => {},
  ) {
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

  /** The nodes of `names` (entries of host directory dir), with their lstat, numbered from 0 (the top of a walk). */
  nodes(dir: string, names: readonly string[]): TreeNode[] {
    const stats = names.map((name) => {
      const src = join(dir, name);
      return { name, src, st: hostCall(src, () => lstatSync(hostName(src), { bigint: true })) };
    });
    return stats.filter((e) => !this.leave.has(`${e.st.dev}:${e.st.ino}`)).map(({ name, src, st }, i) => {
      const type = typeOf(st);
      const dev = type === 'chardev' || type === 'blockdev';
      const link = st.nlink > 1n && type !== 'dir' ? `${st.dev}:${st.ino}` : null;
      return this.node(name, src, i, type, Number(st.mode), Number(st.uid), Number(st.gid), splitNs(st.atimeNs), splitNs(st.mtimeNs), Number(st.size), dev ? Number(st.rdev) : 0, link);
    });
  }

  private node(
    name: string, src: string, seq: number, type: TreeNodeType, mode: number, uid: number, gid: number, atime: Time, mtime: Time,
    size: number, rdev: number, link: string | null,
  ): HostNode {
    return {
      name,
      type,
      perm: mode & 0o7777,
      uid: this.owner?.uid ?? uid,
      gid: this.owner?.gid ?? gid,
      atime,
      mtime,
      size,
      major: rdev === 0 ? 0 : major(rdev),
      minor: rdev === 0 ? 0 : minor(rdev),
      link,
      src,
      seq,
    };
  }

  /** The next walk starts from `nodes` (made by nodes()): read ahead by a worker where that pays. */
  prepare(nodes: readonly TreeNode[]): void {
    let bytes = 0;
    for (const n of nodes) bytes += n.type === 'dir' ? READ_AHEAD_FROM : n.size;
    this.tops = bytes >= READ_AHEAD_FROM ? (nodes as HostNode[]) : null;
  }

  /** The walk's reader, started at its first ask. */
  private ahead(): HostTreeReader | null {
    if (this.reader === null && this.tops !== null) {
      this.reader = HostTreeReader.start(this.tops.map((n) => ({ path: n.src, type: TYPE_CODE[n.type], key: n.link, size: n.size })), [...this.links.keys()], [...this.leave]);
      this.tops = null;
    }
    return this.reader;
  }

  /** Ends the walk's reader, if one ran. */
  async stop(): Promise<void> {
    this.tops = null;
    const r = this.reader;
    this.reader = null;
    await r?.stop();
  }

  list(dir: TreeNode): TreeNode[] {
    const r = this.ahead();
    if (r === null) return this.nodes(dir.src, hostCall(dir.src, () => hostReaddir(dir.src)).sort());
    const first = r.listedUpTo;
    const es = fromWorker(dir.src, () => r.list((dir as HostNode).seq));
    const base = dir.src.endsWith(sep) ? dir.src : dir.src + sep;
    return es.map((e, i) => {
      const type = TYPE_OF[e.type];
      const key = e.nlink > 1 && type !== 'dir' ? `${e.dev}:${e.ino}` : null;
      const atime = { sec: e.atimeSec, nsec: e.atimeNsec };
      const mtime = { sec: e.mtimeSec, nsec: e.mtimeNsec };
      return this.node(e.name, base + e.name, first + i, type, e.mode, e.uid, e.gid, atime, mtime, e.size, type === 'chardev' || type === 'blockdev' ? e.rdev : 0, key);
    });
  }

  readlink(link: TreeNode): string {
    const r = this.ahead();
    if (r === null) return hostCall(link.src, () => hostReadlink(link.src));
    return fromWorker(link.src, () => r.readlink((link as HostNode).seq));
  }

  /** The files open, by handle: their paths, the size they were listed with, the bytes read, whether a read found their end. */
  private readonly open_ = new Map<number, { src: string; size: number; got: number; ended: boolean }>();

  open(file: TreeNode): number {
    const r = this.ahead();
    const handle = r !== null ? -1 : openTreeFile(file.src);
    if (r !== null) fromWorker(file.src, () => r.open((file as HostNode).seq));
    this.open_.set(handle, { src: file.src, size: file.size, got: 0, ended: false });
    return handle;
  }

  read(handle: number, buf: Uint8Array, pos: number): number {
    const f = this.open_.get(handle)!;
    const n = handle === -1 ? fromWorker(f.src, () => this.reader!.read(buf)) : hostCall(f.src, () => readSync(handle, buf, 0, buf.length, pos));
    f.got += n;
    if (n === 0) f.ended = true;
    return n;
  }

  next(handle: number): Uint8Array | null {
    if (handle !== -1) return null;
    const f = this.open_.get(handle)!;
    const v = fromWorker(f.src, () => this.reader!.view());
    f.got += v.length;
    if (v.length === 0 || v.length % VIEW_UNIT !== 0) f.ended = true; // (a view short of its unit is the file's last)
    return v;
  }

  close(handle: number): void {
    const f = this.open_.get(handle)!;
    this.open_.delete(handle);
    if (handle === -1) this.reader?.close();
    else hostCall(f.src, () => closeSync(handle));
    // (Closed before its end, the copy stopped: a failure of its own, no shrinking.)
    if (f.ended && f.got < f.size) this.warn(shrank(f.src, f.size, f.got));
  }
}

/** A call on the reader: a host failure it hands on becomes the one-line error naming its path. */
function fromWorker<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const f = e as HostFailure;
    if (typeof f?.code === 'string' && typeof f.path === 'string') {
      if (typeof f.reason === 'string') throw new VmError(EINVAL, f.syscall || 'read', f.path || path, null, f.reason);
      throw hostError(f, 'read', f.path || path, null);
    }
    throw e;
  }
}

function typeOf(st: Stats | BigIntStats): TreeNodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** A time as setattr takes it. */
type Time = { sec: number; nsec: number };

/** A time in nanoseconds since the epoch (lstat's, bigint) as whole seconds and nanoseconds (0 to 999 999 999, before 1970 too). */
export function splitNs(ns: bigint): Time {
  const r = ns % 1_000_000_000n;
  return r < 0n ? { sec: Number(ns / 1_000_000_000n) - 1, nsec: Number(r) + 1e9 } : { sec: Number(ns / 1_000_000_000n), nsec: Number(r) };
}

/** Linux's dev_t split into major and minor. */
export function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}

export function minor(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

/**
 * Opens a file of a tree being copied in, listed as a regular file: without
 * following a symlink and without waiting for a writer (a FIFO put in its
 * place since the listing would hold the copy for ever, deaf to Ctrl-C while
 * the reading waits); anything but a regular file is refused.
 */
export function openTreeFile(src: string): number {
  let fd: number;
  try {
    fd = openSync(hostName(src), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw changed(src);
    throw hostError(e, 'read', src, null);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw changed(src);
  }
  return fd;
}

/** A file that ended short of the size it was listed with: changed as it was read, as tar warns. */
export function shrank(src: string, size: number, got: number): string {
  return `${src}: shrank while it was read: ${got} of its ${size} bytes copied`;
}

function changed(src: string): VmError {
  return new VmError(EINVAL, 'open', src, null, changedReason);
}

export function hostCall<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw hostError(e, 'read', path, null);
  }
}
