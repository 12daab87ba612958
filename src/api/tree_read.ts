/*
 * A tree read out of a mounted file system by file number, for copying it
 * to the host (vmpager get): each entry's vnode is got once, from its
 * directory entry's number, and held while the copy takes its attributes,
 * extended attributes, link target or bytes; no lookup by name per entry.
 * A plain regular file (no extended attribute, its block map in its inode)
 * needs no vnode at all where the file system answers VFS_BULKSTAT: its
 * attributes and runs come from its inode as it lies in core (fileNow;
 * measured on the bench's 20 000 files: the reading thread's allocation
 * went from 302 MB to 204 MB, its CPU from about 0.69 s to 0.53 s).
 *   const n = await treeNode(fs, path); n.stat; for (const e of await n.entries()) { const c = await n.child(e); ...; await c.release() }
 *   await n.sendfile(sink); await n.release()
 *   const runs = await n.runs(); if (runs !== null) await readDirect(fs, [{ runs, path }], buf, sink)   // direct_read.ts
 *   const f = n.fileNow(e) ?? await n.child(e)   // a regular file without a vnode where the file system can (VFS_BULKSTAT)
 */

import { EOPNOTSUPP, ENOTDIR } from '../kern/errno.js';
import { vrecycle, vrele } from '../vfs/vfs_subr.js';
import { VType, type Vnode } from '../vfs/vnode.js';
import { vnodePagerAlloc } from '../vm/pager/vnode_pager.js';
import { vmObjectDeallocate } from '../vm/vm_object.js';
import { MADV_SEQUENTIAL } from '../vm/vm_readahead.js';
import { type FrameSink, vmSendfile } from '../vm/vm_sendfile.js';
import { type FileRuns, fileRuns, fileRunsNow } from './direct_read.js';
import { check } from './errors.js';
import { type FileType, fileType, joinPath, type MountedFs } from './mounted_fs.js';
import { IO_DIRECT, type Vattr } from '../vfs/vnode_if.js';

/** A directory entry as stored: its name and file number. */
export interface TreeEntry {
  name: string;
  ino: number;
}

const NONE: readonly [string, Uint8Array][] = Object.freeze([]);

/** One entry of the tree, its vnode referenced until release(). */
export class TreeNode {
  private released = false;

  private constructor(
    private readonly fs: MountedFs,
    private readonly vp: Vnode,
    /** The path in the image, for messages. */
    readonly path: string,
    /** Its attributes as getattr gave them. */
    readonly stat: Vattr,
    readonly type: FileType = fileType(stat.type),
  ) {}

  /** Takes a referenced vnode over: its attributes, or the vnode released and an error thrown. */
  static async of(fs: MountedFs, vp: Vnode, path: string): Promise<TreeNode> {
    const { error, va } = await vp.op.getattr(vp);
    if (error !== 0) await vrele(vp);
    check(error, 'stat', fs.image, path);
    return new TreeNode(fs, vp, path, va!);
  }

  /** The directory's entries as stored, without "." and "..". */
  async entries(): Promise<TreeEntry[]> {
    if (this.vp.type !== VType.VDIR) check(ENOTDIR, 'readdir', this.fs.image, this.path);
    const ents: TreeEntry[] = [];
    // (A copy meets each directory once: read straight from the device where the file system can, not kept in the VM.)
    const error = await this.vp.op.readdir(this.vp, (d) => (d.name !== '.' && d.name !== '..' && ents.push({ name: d.name, ino: d.ino }), true), IO_DIRECT);
    check(error, 'readdir', this.fs.image, this.path);
    return ents;
  }

  /** The node of one of this directory's entries, by its file number. */
  async child(e: TreeEntry): Promise<TreeNode> {
    const fs = this.fs;
    const path = joinPath(this.path, e.name);
    const { error, vp } = fs.mp.op.vgetNow?.(fs.mp, e.ino) ?? (await fs.mp.op.vget(fs.mp, e.ino));
    check(error, 'stat', fs.image, path);
    const r = await vp!.op.getattr(vp!);
    if (r.error !== 0) await vrele(vp!);
    check(r.error, 'stat', fs.image, path);
    return new TreeNode(fs, vp!, path, r.va!);
  }

  /**
   * One of this directory's entries as a regular file read without a vnode
   * (VFS_BULKSTAT), its data runs known; null where it is anything else or
   * needs a read, a report or its vnode (take child() then).
   */
  fileNow(e: TreeEntry): TreeFile | null {
    const mp = this.fs.mp;
    const b = mp.op.bulkstatNow?.(mp, e.ino) ?? null;
    return b === null ? null : new TreeFile(joinPath(this.path, e.name), b.va, fileRunsNow(this.fs, b));
  }

  /** Every extended attribute, in on-disk order; none where the file system keeps none. */
  async xattrs(): Promise<readonly [name: string, value: Uint8Array][]> {
    const { error, names } = await this.vp.op.listextattr(this.vp);
    if (error === EOPNOTSUPP || (error === 0 && names.length === 0)) return NONE;
    check(error, 'listxattr', this.fs.image, this.path);
    const out: [string, Uint8Array][] = [];
    for (const n of names) {
      const r = await this.vp.op.getextattr(this.vp, n);
      check(r.error, 'getxattr', this.fs.image, this.path);
      out.push([n, r.value!]);
    }
    return out;
  }

  /** A symbolic link's target. */
  async readlink(): Promise<string> {
    const { error, target } = await this.vp.op.readlink(this.vp);
    check(error, 'readlink', this.fs.image, this.path);
    return target;
  }

  /**
   * Hands a regular file's bytes to sink straight from the page frames, as
   * File.sendfile does after advise('noreuse'): each batch's pages are freed
   * once the sink is done with them. Resolves to the bytes sent.
   */
  async sendfile(sink: FrameSink): Promise<number> {
    const { error, obj } = await vnodePagerAlloc(this.fs.sys, this.vp);
    check(error || (obj === null ? EOPNOTSUPP : 0), 'open', this.fs.image, this.path);
    try {
      obj!.ra.advice = MADV_SEQUENTIAL;
      obj!.ra.noreuse = true;
      const r = await vmSendfile(obj!, 0, obj!.vnpSize, sink);
      check(r.error, 'sendfile', this.fs.image, this.path);
      return r.sent;
    } finally {
      await vmObjectDeallocate(obj!);
    }
  }

  /**
   * A regular file's data runs on the device, for readDirect (direct_read.ts);
   * null where its bytes must come through the VM (sendfile): a mount not
   * read-only, no block map (inline data), an error of the map.
   */
  runs(): Promise<FileRuns | null> {
    return fileRuns(this.fs, this.vp, this.stat.size);
  }

  /** Drops the vnode, once; a file's (not a directory's) is reclaimed at once where nothing else holds it. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await vrele(this.vp);
    // A copy meets each file once: keeping its inode cached would only push others out (and cost the collector).
    if (this.vp.type !== VType.VDIR) await vrecycle(this.vp);
  }
}

/** A regular file of the tree read without a vnode (TreeNode.fileNow): it has no extended attribute, and nothing to release. */
export class TreeFile {
  readonly type = 'file';

  constructor(
    /** The path in the image, for messages. */
    readonly path: string,
    /** Its attributes, as getattr of its vnode gives them. */
    readonly stat: Vattr,
    /** Its data on the device. */
    readonly runs: FileRuns,
  ) {}
}

/** The node at path (a final symlink not followed). */
export async function treeNode(fs: MountedFs, path: string): Promise<TreeNode> {
  return TreeNode.of(fs, await fs.vnodeOf(path, 'stat'), path);
}
