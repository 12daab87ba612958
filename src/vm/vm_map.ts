/*
 * The address space of a Vm (cf. struct vm_map): map entries, each mapping
 * a page-aligned range of an object with a protection, shared or private.
 * A shared entry maps the vnode's object itself; a private one maps a shadow
 * object (OBJT_DEFAULT) whose backing object is the vnode's, so that the
 * first write to a page copies it into the shadow and the file never changes
 * (cf. vm_object_shadow). Accesses go through vm_map_access.ts.
 *   e = vmMapEnter(map, vobj, offset, length, prot, maxprot, shared); ...; await vmMapRemove(map, e)
 */

import { panic } from '../kern/panic.js';
import type { VmObject } from './vm_object.js';
import { OBJT_DEFAULT, vmObjectAllocate, vmObjectDeallocate, vmObjectReference } from './vm_object.js';
import { defaultPagerOps } from './pager/default_pager.js';
import type { VmSystem } from './vm.js';

export const VM_PROT_NONE = 0;
export const VM_PROT_READ = 1;
export const VM_PROT_WRITE = 2;

export class VmMapEntry {
  /** Unmapped (by munmap or by the unmount of its file system). */
  removed = false;

  constructor(
    /** Virtual address range [start, end) in this address space. */
    readonly start: number,
    readonly end: number,
    /** What the entry maps: the vnode object (shared) or its shadow (private). */
    readonly object: VmObject,
    /** The vnode object behind it. */
    readonly vobject: VmObject,
    /** Page index in the vnode object where the entry begins. */
    readonly pindex: number,
    public protection: number,
    readonly maxProtection: number,
    readonly shared: boolean,
  ) {}

  get length(): number {
    return this.end - this.start;
  }
}

export class VmMap {
  /** Entries by start address, in order. */
  readonly entries: VmMapEntry[] = [];
  /** Where the next mapping goes (addresses are never reused). */
  private nextAddr = 1 << 20;

  constructor(readonly sys: VmSystem) {}

  /** Maps `length` bytes of vobj from page index pindex (cf. vm_map_find). Takes a reference on vobj. */
  enter(vobj: VmObject, pindex: number, length: number, prot: number, maxprot: number, shared: boolean): VmMapEntry {
    const P = this.sys.param.pageSize;
    const span = Math.ceil(length / P) * P;
    vmObjectReference(vobj);
    let obj = vobj;
    if (!shared) {
      obj = vmObjectAllocate(this.sys, OBJT_DEFAULT, defaultPagerOps, span / P);
      obj.backingObject = vobj;
      obj.backingOffset = pindex;
    }
    const e = new VmMapEntry(this.nextAddr, this.nextAddr + length, obj, vobj, pindex, prot, maxprot, shared);
    this.nextAddr += span + P; // a guard page between entries
    this.entries.push(e);
    return e;
  }

  /** Unmaps e: its shadow goes, its reference on the vnode object is dropped (cf. vm_map_delete). */
  async remove(e: VmMapEntry): Promise<void> {
    const i = this.entries.indexOf(e);
    if (i < 0) panic('vm_map_delete: entry not in the map');
    this.entries.splice(i, 1);
    e.removed = true;
    if (!e.shared) {
      e.object.backingObject = null;
      await vmObjectDeallocate(e.object);
    }
    await vmObjectDeallocate(e.vobject);
  }
}
