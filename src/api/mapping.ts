/*
 * Mapping: a file mapped into the Vm's address space (cf. mmap(2)). Offsets
 * are inside the mapping. A shared mapping reads and writes the file's own
 * pages (what File.read/write see, at once); a private one copies a page on
 * its first write and never changes the file. An access to a page past the
 * file's end fails with code 'SIGBUS'.
 *   const m = await f.mmap({ shared: true, writable: true }); await m.write(0, b); await m.sync(); await m.unmap()
 */

import { EACCES, EFAULT, EINVAL } from '../kern/errno.js';
import { vmObjectPageClean } from '../vm/vm_object_clean.js';
import { VM_PROT_READ, VM_PROT_WRITE, type VmMap, type VmMapEntry } from '../vm/vm_map.js';
import { vmMapAccess } from '../vm/vm_map_access.js';
import { vmReadaheadStart } from '../vm/vm_readahead_async.js';
import { MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL } from '../vm/vm_readahead.js';
import { vmPageFreeable, vmPageFree } from '../vm/vm_page.js';
import { check, VmError } from './errors.js';

export type Advice = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed';

export class Mapping {
  private unmapped = false;
  /** The error of an MS_ASYNC write-back, for the next sync(). */
  private pendingError = 0;

  /** @internal made by File.mmap */
  constructor(
    private readonly map: VmMap,
    private readonly entry: VmMapEntry,
    readonly image: string,
    readonly path: string,
  ) {}

  get length(): number {
    return this.entry.length;
  }

  get shared(): boolean {
    return this.entry.shared;
  }

  /** The mapping's virtual address in its Vm (for display). */
  get address(): number {
    return this.entry.start;
  }

  /** Loads `length` bytes at `offset`. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.range(offset, length, 'read');
    if ((this.entry.protection & VM_PROT_READ) === 0) throw new VmError(EACCES, 'mmap read', this.image, this.path);
    const buf = new Uint8Array(length);
    check(await vmMapAccess(this.entry, offset, buf, false), 'mmap read', this.image, this.path);
    return buf;
  }

  /** Stores `bytes` at `offset`. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.range(offset, bytes.length, 'write');
    if ((this.entry.protection & VM_PROT_WRITE) === 0) throw new VmError(EACCES, 'mmap write', this.image, this.path);
    check(await vmMapAccess(this.entry, offset, bytes, true), 'mmap write', this.image, this.path);
  }

  /**
   * msync: writes the mapping's dirty pages to the file; a write error
   * throws (EIO) and the pages stay dirty. `async` (MS_ASYNC) starts the
   * write-back and returns at once; its error is thrown by the next sync().
   */
  async sync(opts: { async?: boolean } = {}): Promise<void> {
    this.live('msync');
    if (!this.entry.shared) return;
    const pending = this.pendingError;
    this.pendingError = 0;
    check(pending, 'msync', this.image, this.path);
    const P = this.entry.vobject.vm.param.pageSize;
    const start = this.entry.pindex;
    const clean = vmObjectPageClean(this.entry.vobject, true, { start, end: start + Math.ceil(this.length / P) });
    if (opts.async) {
      void clean.then((error) => (this.pendingError ||= error));
      return;
    }
    check(await clean, 'msync', this.image, this.path);
  }

  /** mprotect: 'r', 'rw' or 'none'; never more than the mapping was made with. */
  mprotect(prot: 'none' | 'r' | 'rw'): void {
    this.live('mprotect');
    const p = prot === 'rw' ? VM_PROT_READ | VM_PROT_WRITE : prot === 'r' ? VM_PROT_READ : 0;
    if ((p & ~this.entry.maxProtection) !== 0) throw new VmError(EACCES, 'mprotect', this.image, this.path);
    this.entry.protection = p;
  }

  /** mincore: for each page of the mapping, is it resident? */
  mincore(): boolean[] {
    this.live('mincore');
    const e = this.entry;
    const P = e.vobject.vm.param.pageSize;
    const out: boolean[] = [];
    for (let i = 0; i < Math.ceil(this.length / P); i++) out.push((!e.shared && e.object.pages.has(i)) || e.vobject.pages.has(e.pindex + i));
    return out;
  }

  /**
   * madvise: 'sequential' / 'random' / 'normal' set the read-ahead policy of
   * the file's object; 'willneed' starts reading the range without waiting;
   * 'dontneed' frees its clean pages.
   */
  madvise(advice: Advice, offset = 0, length = this.length): void {
    this.range(offset, length, 'madvise');
    const e = this.entry;
    const vobj = e.vobject;
    const P = vobj.vm.param.pageSize;
    const first = e.pindex + Math.floor(offset / P);
    const count = Math.ceil((offset + length) / P) - Math.floor(offset / P);
    switch (advice) {
      case 'normal':
      case 'sequential':
      case 'random':
        vobj.ra.advice = advice === 'sequential' ? MADV_SEQUENTIAL : advice === 'random' ? MADV_RANDOM : MADV_NORMAL;
        return;
      case 'willneed':
        for (let at = first; at < first + count; ) {
          const next = vmReadaheadStart(vobj, at, first + count - at);
          at = next === at ? at + 1 : next;
        }
        return;
      case 'dontneed':
        for (let i = first; i < first + count; i++) {
          const m = vobj.pages.get(i);
          if (m !== undefined && vmPageFreeable(m)) vmPageFree(vobj.vm, m);
        }
        return;
      default:
        throw new VmError(EINVAL, 'madvise', this.image, this.path, `unknown advice: ${String(advice)}`);
    }
  }

  /** munmap: the mapping goes (a private mapping's copies with it); dirty shared pages stay in the file's object. */
  async unmap(): Promise<void> {
    if (this.unmapped || this.entry.removed) return;
    this.unmapped = true;
    await this.map.remove(this.entry);
  }

  private live(syscall: string): void {
    if (this.unmapped || this.entry.removed) throw new VmError(EINVAL, syscall, this.image, this.path, 'not mapped');
  }

  private range(offset: number, length: number, syscall: string): void {
    this.live(syscall);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new VmError(EFAULT, `mmap ${syscall}`, this.image, this.path, `outside the mapping (${offset}, ${length}; length ${this.length})`);
    }
  }
}
