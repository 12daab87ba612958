/*
 * Stats and Dirent for the node:fs/promises facade, built from an inode's
 * attributes (a FileStat or a Vattr) or a DirEntry: the fields and is*() predicates of Node's own classes.
 *   const st = new Stats(await fs.stat(p, { blockMap: false })); st.isFile()
 * Times are the inode's (seconds, with nanoseconds where it keeps them).
 */

import { constants } from 'node:fs';
import type { Vattr } from '../vfs/vnode_if.js';
import type { DirEntry } from './mounted_fs.js';

const S_IFMT = 0o170000;

/** Predicates on st_mode's type bits, shared by Stats and Dirent. */
abstract class ModeTyped {
  protected abstract get typeBits(): number;
  isFile(): boolean {
    return this.typeBits === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return this.typeBits === constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.typeBits === constants.S_IFLNK;
  }
  isBlockDevice(): boolean {
    return this.typeBits === constants.S_IFBLK;
  }
  isCharacterDevice(): boolean {
    return this.typeBits === constants.S_IFCHR;
  }
  isFIFO(): boolean {
    return this.typeBits === constants.S_IFIFO;
  }
  isSocket(): boolean {
    return this.typeBits === constants.S_IFSOCK;
  }
}

export class Stats extends ModeTyped {
  dev = 0;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  /** 512-byte blocks in use, as st_blocks. */
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** 0 (the epoch) when the inode keeps no creation time, as Node reports then. */
  birthtimeMs: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  birthtime: Date;

  constructor(st: Omit<Vattr, 'type' | 'extra'>) {
    super();
    this.ino = st.ino;
    this.mode = st.mode;
    this.nlink = st.nlink;
    this.uid = st.uid;
    this.gid = st.gid;
    this.rdev = st.rdev;
    this.size = st.size;
    this.blksize = st.blksize;
    this.blocks = Math.ceil(st.bytes / 512);
    // Milliseconds with the nanoseconds as a fraction, as Node's (where the inode keeps them).
    this.atimeMs = st.atime * 1000 + (st.atimeNsec ?? 0) / 1e6;
    this.mtimeMs = st.mtime * 1000 + (st.mtimeNsec ?? 0) / 1e6;
    this.ctimeMs = st.ctime * 1000 + (st.ctimeNsec ?? 0) / 1e6;
    this.birthtimeMs = st.birthtime * 1000 + (st.birthtimeNsec ?? 0) / 1e6;
    this.atime = new Date(this.atimeMs);
    this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
  }

  protected get typeBits(): number {
    return this.mode & S_IFMT;
  }
}

/** A time as Node's BigIntStats keeps it: whole nanoseconds since the epoch. */
function nanos(sec: number, nsec: number | undefined): bigint {
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec ?? 0);
}

/** What stat(p, { bigint: true }) gives: Stats' fields as bigints, and the times in nanoseconds too. */
export class BigIntStats extends ModeTyped {
  dev = 0n;
  ino: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeMs: bigint;
  mtimeMs: bigint;
  ctimeMs: bigint;
  birthtimeMs: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  atime: Date;
  mtime: Date;
  ctime: Date;
  birthtime: Date;

  constructor(st: Omit<Vattr, 'type' | 'extra'>) {
    super();
    this.ino = BigInt(st.ino);
    this.mode = BigInt(st.mode);
    this.nlink = BigInt(st.nlink);
    this.uid = BigInt(st.uid);
    this.gid = BigInt(st.gid);
    this.rdev = BigInt(st.rdev);
    this.size = BigInt(st.size);
    this.blksize = BigInt(st.blksize);
    this.blocks = BigInt(Math.ceil(st.bytes / 512));
    this.atimeNs = nanos(st.atime, st.atimeNsec);
    this.mtimeNs = nanos(st.mtime, st.mtimeNsec);
    this.ctimeNs = nanos(st.ctime, st.ctimeNsec);
    this.birthtimeNs = nanos(st.birthtime, st.birthtimeNsec);
    this.atimeMs = this.atimeNs / 1_000_000n;
    this.mtimeMs = this.mtimeNs / 1_000_000n;
    this.ctimeMs = this.ctimeNs / 1_000_000n;
    this.birthtimeMs = this.birthtimeNs / 1_000_000n;
    this.atime = new Date(Number(this.atimeMs));
    this.mtime = new Date(Number(this.mtimeMs));
    this.ctime = new Date(Number(this.ctimeMs));
    this.birthtime = new Date(Number(this.birthtimeMs));
  }

  protected get typeBits(): number {
    return Number(this.mode) & S_IFMT;
  }
}

/** The type bits for a DirEntry's type ('other' needs the inode's mode: pass it). */
function typeBitsOf(e: DirEntry, mode?: number): number {
  switch (e.type) {
    case 'file':
      return constants.S_IFREG;
    case 'dir':
      return constants.S_IFDIR;
    case 'symlink':
      return constants.S_IFLNK;
    default:
      return (mode ?? 0) & S_IFMT;
  }
}

export class Dirent extends ModeTyped {
  readonly name: string;
  /** The directory read (Node 20's `parentPath`, and its older `path`). */
  readonly parentPath: string;
  readonly path: string;
  /** Not an own enumerable field: a Dirent shows name, parentPath and path only, as Node's. */
  readonly #bits: number;

  constructor(e: DirEntry, parentPath: string, mode?: number) {
    super();
    this.name = e.name;
    this.parentPath = parentPath;
    this.path = parentPath;
    this.#bits = typeBitsOf(e, mode);
  }

  protected get typeBits(): number {
    return this.#bits;
  }
}
