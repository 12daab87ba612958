/*
 * VmBase: one virtual-memory system with its own page frames, mounting file
 * systems from block devices and reporting the kernel's counters: what the
 * Node entry (vm.ts: image paths, NBD URLs) and the browser entry
 * (browser.ts: File, Blob, HTTP URLs) share. It touches no Node built-in.
 *   mountDevice(dev, opts, owned) => MountedFs; partitionsOf(dev); stats()
 */

import { EINVAL } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { mountFileSystem } from './fs_probe.js';
import { choosePartition, listPartitions, type Partitions } from './partitions.js';
import { MIN_FRAMES, VmSystem } from '../vm/vm.js';
import { vmMountAttach } from '../vm/vm_vnode.js';
import { dirhashSetLimit } from '../vfs/vfs_dirhash.js';
import { type VfsLimits, vfsLimits } from '../vfs/vfs_limits.js';
import { VmMap } from '../vm/vm_map.js';
import { isValidPageSize } from '../vm/vm_param.js';
import { check, VmError } from './errors.js';
import { MountedFs, type PromisesMaker } from './mounted_fs.js';

export interface VmOptions {
  /** Bytes of page frames (default 64 MiB). */
  memory?: number;
  /** Page size: a power of two from 4 KiB to 64 KiB (default 4096). */
  pageSize?: number;
  /** @internal the most bytes one arena of frames holds (tests make it small so transfers cross arenas) */
  arenaBytes?: number;
  /** @internal closed files' objects kept cached (default: from memory, see vfs_limits; tests make it small) */
  objectCacheMax?: number;
}

/** The mount options every entry takes. */
export interface DeviceMountOptions {
  /** Open the image read-only (default true). */
  readOnly?: boolean;
  /**
   * On a whole disk: the partition to mount, as `partitions()` gives its
   * index ('2', '5', '1a') or its GPT name / file-system label. Without it, a
   * disk with a partition table mounts the one partition holding a file
   * system vmpager reads.
   */
  partition?: string;
  /**
   * Verify metadata checksums on read (default true): a mismatch is an
   * EINTEGRITY naming the block. false reads past it with a warning (fs.warnings).
   */
  verify?: boolean;
  /** FAT: the code page of 8.3 names' bytes above 0x7F, 437 (default) or 850 (what mtools writes). */
  codepage?: 437 | 850;
}

export interface VmStats {
  faults: number;
  vnodein: number;
  vnodepgsin: number;
  vnodeout: number;
  vnodepgsout: number;
  hits: number;
  misses: number;
  zfod: number;
  /** Pages of holes sendfile (and cat) gave from the shared zero region, with no page allocated. */
  zeroSent: number;
  readahead: number;
  readaheadWasted: number;
  reactivated: number;
  pagesFreedByDaemon: number;
  busyWaits: number;
  freeWaits: number;
  pageSize: number;
  pages: { total: number; free: number; active: number; inactive: number };
  device: { reads: number; writes: number; bytesRead: number; bytesWritten: number };
}

export const DEFAULT_MEMORY = 64 * 2 ** 20;
/** The fewest page frames a Vm runs with. */
export { MIN_FRAMES };

export class VmBase {
  /** @internal the machine under the API (counters, queues, frames) */
  readonly sys: VmSystem;
  /** @internal the address space mappings live in */
  readonly map: VmMap;
  private readonly devices = new Set<BlockDevice>();
  /** @internal what each mount's metadata may hold, from `memory` (vnodes, cached objects, buffers, dirhash) */
  readonly limits: VfsLimits;

  constructor(opts: VmOptions = {}) {
    const pageSize = opts.pageSize ?? 4096;
    const memory = opts.memory ?? DEFAULT_MEMORY;
    if (!isValidPageSize(pageSize)) throw new VmError(EINVAL, 'vm', 'vm', null, `page size must be a power of two from 4096 to 65536, not ${pageSize}`);
    if (!Number.isSafeInteger(memory) || memory < MIN_FRAMES * pageSize) {
      throw new VmError(EINVAL, 'vm', 'vm', null, `memory must be at least ${MIN_FRAMES} pages (${MIN_FRAMES * pageSize} bytes)`);
    }
    this.limits = vfsLimits(memory);
    this.sys = new VmSystem({ memory, pageSize, arenaBytes: opts.arenaBytes, objectCacheMax: opts.objectCacheMax ?? this.limits.objectCacheMax });
    this.map = new VmMap(this.sys);
  }

  /**
   * Mounts the file system on dev (or on the partition of it opts names).
   * `release` runs on failure when the caller handed dev over (it closes
   * what the caller opened and lets its lock go), and after unmount's close.
   * => dev is open
   */
  protected async mountDevice(
    dev: BlockDevice,
    opts: DeviceMountOptions,
    release: { undo: (() => Promise<void>) | null; unlock: () => void; promises?: PromisesMaker },
  ): Promise<MountedFs> {
    const readOnly = opts.readOnly ?? true;
    const name = dev.name;
    const undo = async (): Promise<void> => {
      await release.undo?.();
      release.unlock();
    };
    const part = await choosePartition(dev, opts.partition);
    if (part.error !== 0 || part.dev === null) {
      await undo();
      throw new VmError(part.error || EINVAL, 'mount', name, null, part.reason || undefined);
    }
    const disk = dev; // the device counted in stats(): every transfer, the tables' reads too
    dev = part.dev;
    const lim = this.limits;
    const { error, mp, reason } = await mountFileSystem(dev, { readOnly, verify: opts.verify ?? true, codepage: opts.codepage, bufcacheBytes: lim.bufcacheBytes });
    if (error !== 0 || mp === null) {
      await undo();
      const where = part.partition !== null ? `partition ${part.partition.index}: ` : '';
      throw new VmError(error || EINVAL, 'mount', name, null, where + (reason || 'cannot mount'));
    }
    const partition = part.partition === null ? null : { ...part.partition, fs: mp.stat.fstype, name: part.partition.name ?? (mp.stat.label || null) };
    mp.maxVnodes = lim.maxVnodes;
    dirhashSetLimit(mp.data as object, lim.dirhashMaxEntries);
    const sys = this.sys;
    vmMountAttach(sys, mp);
    const r = await mp.op.root(mp);
    if (r.error !== 0 || r.vp === null) {
      await mp.op.unmount(mp);
      await undo();
      throw new VmError(r.error || EINVAL, 'mount', name, null, 'cannot read the root directory');
    }
    this.devices.add(disk);
    return new MountedFs(sys, this.map, mp, r.vp, name, dev, release.unlock, partition, part.warnings, release.promises ?? null);
  }

  /** The partitions on dev (see Vm.partitions). => dev is open; it stays open */
  protected async partitionsOf(dev: BlockDevice): Promise<Partitions> {
    const r = await listPartitions(dev);
    check(r.error, 'partitions', dev.name, null, r.reason || undefined);
    return Object.assign(r.parts, { warnings: r.warnings });
  }

  /** The kernel's counters (cf. vmstat -s) and the page queues. */
  stats(): VmStats {
    const m = this.sys.meter;
    const device = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0 };
    for (const d of this.devices) {
      device.reads += d.stats.reads;
      device.writes += d.stats.writes;
      device.bytesRead += d.stats.bytesRead;
      device.bytesWritten += d.stats.bytesWritten;
    }
    return {
      faults: m.v_vm_faults,
      vnodein: m.v_vnodein,
      vnodepgsin: m.v_vnodepgsin,
      vnodeout: m.v_vnodeout,
      vnodepgsout: m.v_vnodepgsout,
      hits: m.hits,
      misses: m.misses,
      zfod: m.v_zfod,
      zeroSent: m.v_zerosend,
      readahead: m.v_readahead,
      readaheadWasted: m.v_readahead_wasted,
      reactivated: m.v_reactivated,
      pagesFreedByDaemon: m.v_dfree,
      busyWaits: m.v_busywait,
      freeWaits: m.v_freewait,
      pageSize: this.sys.param.pageSize,
      pages: {
        total: this.sys.pageCount,
        free: this.sys.freeCount,
        active: this.sys.activeq.count,
        inactive: this.sys.inactiveq.count,
      },
      device,
    };
  }
}
