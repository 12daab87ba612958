/*
 * What every command shares: the global options (--memory, --page-size,
 * --stats, --no-lock, --partition, --no-verify), the Vm, withMount() (mount IMAGE, run, unmount), and
 * the failure contract: one line `vmpager: IMAGE: PATH: reason` on stderr
 * and exit status 2; a bad option value is a usage error, exit 1.
 */

import { DEFAULT_MEMORY, MIN_FRAMES, Vm } from '../api/vm.js';
import { EROFS, VmError } from '../api/errors.js';
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
  /** False with --no-lock: the image is not locked against other vmpager processes. */
  lock: boolean;
  /** --timeout: seconds an NBD transfer may wait for its reply (undefined: no limit). */
  timeout: number | undefined;
  /** --connections: NBD connections when the server offers multi-conn (undefined: the default). */
  connections?: number;
  /** --partition: which partition of a whole disk to mount. */
  partition?: string;
  /** False with --no-verify: metadata checksum mismatches are read past with a warning. */
  verify: boolean;
}

/** The most pages --memory may give the VM. */
const MAX_FRAMES = 2 ** 31;
const MIN_PAGE = 4096;
const MAX_PAGE = 65536;

/** The global options from parsed values; a bad value is a UsageError naming the option. */
export function globalOptions(values: Record<string, unknown>): GlobalOptions {
  let pageSize = 4096;
  if (values['page-size'] !== undefined) {
    const text = String(values['page-size']);
    const p = parseSize(text);
    if (p === null || !/^\s*\d+\s*[kK]?(i?[bB])?\s*$/.test(text) || p < MIN_PAGE || p > MAX_PAGE || (p & (p - 1)) !== 0) {
      throw new UsageError(`--page-size: must be a power of two from 4096 to 65536, not ${text}`);
    }
    pageSize = p;
  }
  let memory = DEFAULT_MEMORY;
  if (values.memory !== undefined) {
    const text = String(values.memory);
    const m = parseSize(text);
    if (m === null) throw new UsageError(`--memory: not a size: ${text}`);
    if (m < MIN_FRAMES * pageSize) throw new UsageError(`--memory: at least ${MIN_FRAMES} pages (${(MIN_FRAMES * pageSize) / 1024}KiB), not ${text}`);
    // (The page queues are typed arrays, one slot a page: 2^31 pages at most.)
    if (m > MAX_FRAMES * pageSize) throw new UsageError(`--memory: at most 2^31 pages (${(MAX_FRAMES * pageSize) / 2 ** 40}TiB), not ${text}`);
    memory = m;
  }
  let timeout: number | undefined;
  if (values.timeout !== undefined) {
    const text = String(values.timeout);
    timeout = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
    if (!(timeout > 0)) throw new UsageError(`--timeout: a positive number of seconds, not ${text}`);
  }
  let connections: number | undefined;
  if (values.connections !== undefined) {
    const text = String(values.connections);
    connections = /^\s*[1-4]\s*$/.test(text) ? Number(text) : NaN;
    if (Number.isNaN(connections)) throw new UsageError(`--connections: 1 to 4, not ${text}`);
  }
  const partition = values.partition === undefined ? undefined : String(values.partition);
  if (partition === '') throw new UsageError('--partition: empty');
  return { memory, pageSize, stats: values.stats === true, lock: values['no-lock'] !== true, timeout, connections, partition, verify: values['no-verify'] !== true };
}

export function makeVm(g: GlobalOptions): Vm {
  return new Vm({ memory: g.memory, pageSize: g.pageSize });
}

/**
 * Mounts image read-only (a command that only reads never writes), with
 * synchronous image I/O: a command has no other work for the event loop.
 */
export function mountReadOnly(vm: Vm, image: string, g?: GlobalOptions): Promise<MountedFs> {
  return vm.mount(image, { readOnly: true, io: 'sync', lock: g?.lock ?? true, timeout: g?.timeout, connections: g?.connections, partition: g?.partition, verify: g?.verify ?? true });
}

/** Mounts image for writing, with synchronous image I/O. */
export function mountReadWrite(vm: Vm, image: string, g?: GlobalOptions): Promise<MountedFs> {
  return vm.mount(image, { readOnly: false, io: 'sync', lock: g?.lock ?? true, timeout: g?.timeout, connections: g?.connections, partition: g?.partition, verify: g?.verify ?? true });
}

/** What a command's handler is given. */
export class CommandContext {
  private vmMade: Vm | null = null;
  /** Mount warnings, written once the command has succeeded (a failure is one line). */
  readonly warnings: string[] = [];

  constructor(
    readonly g: GlobalOptions,
    readonly values: Record<string, unknown>,
    /** The operands after the command's name. */
    readonly args: readonly string[],
  ) {}

  /** The Vm, made on first use. */
  get vm(): Vm {
    this.vmMade ??= makeVm(this.g);
    return this.vmMade;
  }

  /** The Vm if one was made (for --stats). */
  get vmIfMade(): Vm | null {
    return this.vmMade;
  }

  /** Mounts image ('read': read-only and shared; 'write': exclusive), runs fn, and unmounts whatever fn did. */
  async withMount<T>(image: string, mode: 'read' | 'write', fn: (fs: MountedFs) => Promise<T>, opts: { lock?: boolean } = {}): Promise<T> {
    const g = opts.lock === false ? { ...this.g, lock: false } : this.g;
    const fs = await (mode === 'read' ? mountReadOnly : mountReadWrite)(this.vm, image, g);
    if (mode === 'write' && fs.readOnly) {
      // Mounted read-only though writing was asked (a journal that needs recovery): refused before
      // anything, saying why, rather than the EROFS of whatever the command tried first.
      const why = fs.warnings.join('; ');
      await fs.unmount();
      throw new VmError(EROFS, 'mount', image, null, why === '' ? undefined : `read-only file system: ${why}`);
    }
    let result: T;
    try {
      result = await fn(fs);
    } catch (e) {
      // The first failure is the one to tell; an unmount that fails too gives the image up as it stands
      // (its write order kept), rather than try once more at exit.
      await fs.unmount().catch(() => fs.abandon());
      throw e;
    }
    // The command's own unmount failing (the host refused its last writes) is its one line: given up, not tried again at exit.
    await fs.unmount().catch(async (e: unknown) => {
      await fs.abandon();
      throw e;
    });
    this.warnings.push(...fs.warnings);
    return result;
  }

  /** Reports a failure that does not end the command (cat(1)'s next operand goes on). */
  readonly report = (e: unknown): void => {
    process.stderr.write(failureLine(e) + '\n');
  };
}

/** The one stderr line for a failure. */
export function failureLine(e: unknown): string {
  // (Names in it as ls -b prints them: a newline in a name would make two lines.)
  if (e instanceof VmError) return `vmpager: ${escapeName(e.message)}`;
  if (e instanceof UsageError) return `vmpager: ${escapeName(e.message)}`;
  const msg = e instanceof Error ? e.message : String(e);
  return `vmpager: internal error: ${msg.split('\n')[0]}`;
}

/**
 * A name as `ls -b` prints it: control characters and backslashes as C
 * escapes, so each entry is one line, and each byte that is not UTF-8 (a
 * lone U+DC80-U+DCFF, api/names.ts) as its octal escape.
 */
export function escapeName(name: string): string {
  return name.replace(/[\x00-\x1f\x7f\\]|(?<![\ud800-\udbff])[\udc80-\udcff]/g, (c) => {
    const named: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\x07': '\\a' };
    const code = c.charCodeAt(0);
    return named[c] ?? `\\${(code >= 0xdc80 ? code - 0xdc00 : code).toString(8).padStart(3, '0')}`;
  });
}
