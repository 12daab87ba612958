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
