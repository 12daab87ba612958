/*
 * File: an open file of a mounted file system. Reads go through VOP_READ,
 * which the file system passes to the file's VM object: the same pages
 * serve reads, writes and mappings.
 *   const f = await fs.open('/x'); await f.read(0, 100); await f.close()
 */

import { EBADF, EINVAL, EISDIR, EROFS } from '../kern/errno.js';
import { LK_EXCLUSIVE } from '../kern/lock.js';
import { type FrameSource, Uio, UIO_READ, UIO_SOURCE, UIO_WRITE } from '../vfs/uio.js';
import { VType, type Vnode } from '../vfs/vnode.js';
import { vrele } from '../vfs/vfs_subr.js';
import { MNT_NOWAIT, type SetattrArgs } from '../vfs/vnode_if.js';
import { type VmObject, vmObjectDeallocate } from '../vm/vm_object.js';
import { vmObjectPageClean } from '../vm/vm_object_clean.js';
import { check, VmError } from './errors.js';
import { Mapping } from './mapping.js';
import { VM_PROT_READ, VM_PROT_WRITE } from '../vm/vm_map.js';
import { type FrameSink, vmSendfile } from '../vm/vm_sendfile.js';
import { MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL } from '../vm/vm_readahead.js';
import { vmObjectPageMap } from '../vm/vm_pagemap.js';
import type { MountedFs } from './mounted_fs.js';

export class File {
  private closed = false;

  /** @internal made by MountedFs.open */
  constructor(
    private readonly fs: MountedFs,
    readonly vp: Vnode,
    /** @internal the file's VM object (one reference held by this File) */
    readonly object: VmObject,
    readonly path: string,
  ) {}

  /** Size in bytes. */
  get size(): number {
    return this.object.vnpSize;
  }

  /**
   * Declares how the file will be read (cf. posix_fadvise / madvise):
   * 'sequential' grows read-ahead at once and frees pages well behind the
   * reader; 'noreuse' (POSIX_FADV_NOREUSE) is 'sequential' for bytes used
   * once: sendfile frees each batch's clean pages as soon as the consumer is
   * done with them, and writeFrom writes each batch to the device at once
   * and frees it (write-behind), so a stream recycles a few frames; 'random'
   * reads only the pages asked for; 'normal' undoes them all.
   */
  advise(advice: 'normal' | 'sequential' | 'random' | 'noreuse'): void {
    this.checkOpen('fadvise');
    const ra = this.object.ra;
    ra.advice = advice === 'sequential' || advice === 'noreuse' ? MADV_SEQUENTIAL : advice === 'random' ? MADV_RANDOM : MADV_NORMAL;
    ra.noreuse = advice === 'noreuse';
  }

  /**
   * What each page of the file is doing now, one byte a page: 0 not in
   * memory, 1 resident (active), 2 resident (inactive: reclaimed first),
   * 3 read ahead and not used yet, 4 dirty, 5 I/O in progress. A snapshot.
   */
  pageMap(): Uint8Array {
    this.checkOpen('pagemap');
    return vmObjectPageMap(this.object);
  }

  /** Reads up to `length` bytes at `offset`; short at EOF. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.checkOpen('read');
    checkRange(offset, length, 'read', this.fs.image, this.path);
    const n = Math.max(0, Math.min(length, this.size - offset));
    const buf = new Uint8Array(n);
    const got = await this.readInto(buf, offset);
    return got === n ? buf : buf.subarray(0, got);
  }

  /**
   * Fills `target` from file offset `position`; returns the bytes read
   * (0 at EOF). A page-cache hit allocates nothing per page.
   */
  async readInto(target: Uint8Array, position: number): Promise<number> {
    this.checkOpen('read');
    checkRange(position, target.length, 'read', this.fs.image, this.path);
    if (this.vp.type === VType.VDIR) throw new VmError(EISDIR, 'read', this.fs.image, this.path);
    const uio = Uio.of(target, position, UIO_READ);
    check(await this.vp.op.read(this.vp, uio, 0), 'read', this.fs.image, this.path);
    return target.length - uio.resid;
  }

  /**
   * Hands the bytes from `offset` on (to EOF, or `length` of them) to `sink`
   * straight from the page frames, in batches of up to one cluster, with no
   * copy (cf. sendfile(2)). The views are valid until the sink's promise
   * resolves; meanwhile those pages are neither freed nor changed, so the
   * sink must not wait for a write or truncation of this file (that waits for
   * the sink: a deadlock). A sink that throws or rejects ends the transfer
   * with that error. Resolves to the bytes sent.
   */
  async sendfile(sink: FrameSink, offset = 0, length = Math.max(0, this.size - offset)): Promise<number> {
    this.checkOpen('sendfile');
    checkRange(offset, length, 'sendfile', this.fs.image, this.path);
    if (this.vp.type === VType.VDIR) throw new VmError(EISDIR, 'sendfile', this.fs.image, this.path);
    const { error, sent } = await vmSendfile(this.object, offset, length, sink);
    check(error, 'sendfile', this.fs.image, this.path);
    return sent;
  }

  /**
   * Writes `bytes` at `offset`, growing the file as needed. The bytes go into
   * the file's pages (the same pages reads and mappings see); they are on
   * the disk when sync() resolves, when the last handle's close() resolves,
   * when unmount() resolves or the program ends normally (the README's "What
   * is on disk when"); memory pressure may write them earlier.
   */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.checkWritable('write');
    checkRange(offset, bytes.length, 'write', this.fs.image, this.path);
    if (bytes.length === 0) return;
    await this.locked(async () => {
      const uio = Uio.of(bytes, offset, UIO_WRITE);
      check(await this.vp.op.write(this.vp, uio, 0), 'write', this.fs.image, this.path);
    });
  }

  /**
   * Appends `bytes` at the end of the file (O_APPEND): the end is read under
   * the vnode lock the write holds, so concurrent appends each land whole,
   * one after another, and none overwrites another. Resolves to the offset
   * the bytes went to (the size before them).
   */
  async append(bytes: Uint8Array): Promise<number> {
    this.checkWritable('write');
    let at = 0;
    await this.locked(async () => {
      at = this.size;
      if (bytes.length === 0) return;
      checkRange(at, bytes.length, 'write', this.fs.image, this.path);
      const uio = Uio.of(bytes, at, UIO_WRITE);
      check(await this.vp.op.write(this.vp, uio, 0), 'write', this.fs.image, this.path);
    });
    return at;
  }

  /**
   * Writes up to `length` bytes at `offset` that `source` puts straight into
   * the file's page frames, a cluster at a time (the counterpart of sendfile:
   * a readv(2) from a host file as the source makes no copy at all). The
   * source is called with views of the frames, fills them in order, and
   * returns how many bytes it put there; fewer than asked ends the write
   * (its input ended), and the file keeps exactly the bytes it got: a file
   * this grew is cut back to them. Returns the bytes written. If the source
   * throws, what it filled before stays written and the error is rethrown.
   */
  async writeFrom(source: FrameSource, offset: number, length: number): Promise<number> {
    this.checkWritable('write');
    checkRange(offset, length, 'write', this.fs.image, this.path);
    let done = 0;
    let thrown: unknown = null;
    await this.locked(async () => {
      const uio = new Uio([], offset, UIO_WRITE, UIO_SOURCE, length);
      uio.source = source;
      const error = length === 0 ? 0 : await this.vp.op.write(this.vp, uio, 0);
      done = length - uio.resid;
      thrown = uio.sourceError;
      check(error, 'write', this.fs.image, this.path);
    });
    if (thrown !== null) throw thrown;
    return done;
  }

  /** Sets the size: a shrink frees blocks past it, a growth reads as zeros. */
  async truncate(size: number): Promise<void> {
    this.checkWritable('truncate');
    checkRange(size, 0, 'truncate', this.fs.image, this.path);
    await this.locked(async () => check(await this.vp.op.setsize(this.vp, size), 'truncate', this.fs.image, this.path));
  }

  /**
   * @internal Sets mode, owner and times in one VOP_SETATTR (a tree copy's
   * fchmod + fchown + futimes; no path lookup).
   */
  async setattr(va: SetattrArgs): Promise<void> {
    this.checkWritable('setattr');
    await this.locked(async () => check(await this.vp.op.setattr(this.vp, va), 'setattr', this.fs.image, this.path));
  }

  /** Writes the file's dirty pages and its inode to the disk (fsync). Errors surface here (EIO). */
  async sync(): Promise<void> {
    this.checkOpen('fsync');
    if (this.fs.readOnly) return;
    await this.locked(async () => {
      check(await vmObjectPageClean(this.object, true, { locked: true }), 'fsync', this.fs.image, this.path);
      check(await this.vp.op.fsync(this.vp), 'fsync', this.fs.image, this.path);
    });
  }

  /**
   * Maps the file (cf. mmap): `offset` page-aligned, `length` (default: to
   * EOF), `shared` (default true), `writable` (default false; a shared
   * writable mapping needs a writable mount).
   */
  async mmap(opts: { offset?: number; length?: number; shared?: boolean; writable?: boolean } = {}): Promise<Mapping> {
    this.checkOpen('mmap');
    const P = this.object.vm.param.pageSize;
    const offset = opts.offset ?? 0;
    const length = opts.length ?? this.size - offset;
    const shared = opts.shared ?? true;
    checkRange(offset, length, 'mmap', this.fs.image, this.path);
    if (offset % P !== 0 || length === 0) throw new VmError(EINVAL, 'mmap', this.fs.image, this.path, 'offset must be page-aligned and length non-zero');
    if (this.vp.type !== VType.VREG) throw new VmError(EINVAL, 'mmap', this.fs.image, this.path, 'not a regular file');
    const maxprot = VM_PROT_READ | (shared && this.fs.readOnly ? 0 : VM_PROT_WRITE);
    const prot = VM_PROT_READ | (opts.writable ? VM_PROT_WRITE : 0);
    if ((prot & ~maxprot) !== 0) throw new VmError(EROFS, 'mmap', this.fs.image, this.path);
    const map = this.fs.vmMap;
    if (shared && !this.fs.readOnly) this.fs.written.add(this.vp); // stores may come through it (mprotect can allow them later)
    const e = map.enter(this.object, offset / P, length, prot, maxprot, shared);
    return new Mapping(map, e, this.fs.image, this.path);
  }

  /**
   * Closes the handle. The last handle of a file written through a handle
   * (write, writeFrom, truncate, a writable mapping) writes its dirty pages,
   * its inode and the metadata they need to the image before it resolves,
   * but leaves the device's flush (power-cut durability) to sync() (cf. NFS's close-to-open); a
   * write error is thrown then, the handle closed and the pages kept dirty
   * for a later sync.
   * @internal `lazy` (a tree copy, which syncs once at its end): the pages
   * are written, the inode and the metadata they need are left delayed for
   * the next sync (cf. the syncer's MNT_LAZY).
   */
  async close(opts: { lazy?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fs.forget(this);
    let error = 0;
    if (!this.fs.isOpen(this.vp) && this.fs.written.delete(this.vp)) {
      await this.vp.lock.lock(LK_EXCLUSIVE);
      try {
        error = await vmObjectPageClean(this.object, true, { locked: true });
        if (error === 0 && !opts.lazy) error = await this.vp.op.fsync(this.vp, MNT_NOWAIT);
      } finally {
        this.vp.lock.unlock();
      }
    }
    await vmObjectDeallocate(this.object);
    await vrele(this.vp);
    check(error, 'close', this.fs.image, this.path);
  }

  private checkOpen(syscall: string): void {
    if (this.closed) throw new VmError(EBADF, syscall, this.fs.image, this.path);
  }

  private checkWritable(syscall: string): void {
    this.checkOpen(syscall);
    if (this.fs.readOnly) throw new VmError(EROFS, syscall, this.fs.image, this.path);
    if (this.vp.type === VType.VDIR) throw new VmError(EISDIR, syscall, this.fs.image, this.path);
    this.fs.written.add(this.vp);
  }

  /** Runs fn with the vnode locked exclusively (VOP_WRITE's and VOP_SETSIZE's precondition). */
  private async locked(fn: () => Promise<void>): Promise<void> {
    await this.vp.lock.lock(LK_EXCLUSIVE);
    try {
      await fn();
    } finally {
      this.vp.lock.unlock();
    }
  }
}

export function checkRange(offset: number, length: number, syscall: string, image: string, path: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new VmError(EINVAL, syscall, image, path, `bad offset or length (${offset}, ${length})`);
  }
}
