/*
 * What every command shares: the global options (--memory, --page-size,
 * --stats), making the Vm, mounting IMAGE, and the failure contract: one
 * line `vmpager: IMAGE: PATH: reason` on stderr and exit status 2.
 */

import { DEFAULT_MEMORY, Vm } from '../api/vm.js';
import { VmError } from '../api/errors.js';
import type { MountedFs } from '../api/mounted_fs.js';
import { parseSize } from '../api/size.js';

/** Exit statuses. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 1;
export const EXIT_FAIL = 2;

/** A usage mistake: exit 1. */
export class UsageError extends Error {}

export interface GlobalOptions {
  memory: number;
  pageSize: number;
  stats: boolean;
}

export function globalOptions(values: Record<string, unknown>): GlobalOptions {
  let memory = DEFAULT_MEMORY;
  if (values.memory !== undefined) {
    const m = parseSize(String(values.memory));
    if (m === null) throw new UsageError(`--memory: not a size: ${String(values.memory)}`);
    memory = m;
  }
  let pageSize = 4096;
  if (values['page-size'] !== undefined) {
    const p = parseSize(String(values['page-size']));
    if (p === null) throw new UsageError(`--page-size: not a size: ${String(values['page-size'])}`);
    pageSize = p;
  }
  return { memory, pageSize, stats: values.stats === true };
}

export function makeVm(g: GlobalOptions): Vm {
  return new Vm({ memory: g.memory, pageSize: g.pageSize });
}

/**
 * Mounts image read-only (a command that only reads never writes), with
 * synchronous image I/O: a command has no other work for the event loop.
 */
export function mountReadOnly(vm: Vm, image: string): Promise<MountedFs> {
  return vm.mount(image, { readOnly: true, io: 'sync' });
}

/** Mounts image for writing, with synchronous image I/O. */
export function mountReadWrite(vm: Vm, image: string): Promise<MountedFs> {
  return vm.mount(image, { readOnly: false, io: 'sync' });
}

/** The one stderr line for a failure. */
export function failureLine(e: unknown): string {
  if (e instanceof VmError) return `vmpager: ${e.message}`;
  if (e instanceof UsageError) return `vmpager: ${e.message}`;
  const msg = e instanceof Error ? e.message : String(e);
  return `vmpager: internal error: ${msg.split('\n')[0]}`;
}
