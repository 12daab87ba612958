/*
 * Vm: one virtual-memory system with its own page frames, the entry point
 * of the library. It mounts file systems from image files (or any block
 * device, or an NBD export named nbd://host[:port]/export) and reports the
 * kernel's counters.
 *   const vm = new Vm({ memory: 64 * 2 ** 20 }); const fs = await vm.mount('disk.img')
 */

import { EINVAL, EROFS } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { ImageDevice } from '../dev/image.js';
import type { ImageLock } from '../dev/image_lock.js';
import { holdImage } from './image_hold.js';
import { NbdDevice } from '../dev/nbd.js';
import { isNbdUrl } from '../dev/nbd_url.js';
import { mountFileSystem } from './fs_probe.js';
import { choosePartition, listPartitions, type Partitions } from './partitions.js';
import { MIN_FRAMES, VmSystem } from '../vm/vm.js';
import { vmMountAttach } from '../vm/vm_vnode.js';
import { dirhashSetLimit } from '../vfs/vfs_dirhash.js';
import { type VfsLimits, vfsLimits } from '../vfs/vfs_limits.js';
import { VmMap } from '../vm/vm_map.js';
import { isValidPageSize } from '../vm/vm_param.js';
import { check, VmError } from './errors.js';
import { MountedFs } from './mounted_fs.js';

export interface VmOptions {
  /** Bytes of page frames (default 64 MiB). */
  memory?: number;
  /** Page size: a power of two from 4 KiB to 64 KiB (default 4096). */
  pageSize?: number;
  /** @internal the most bytes one arena of frames holds (tests make it small so transfers cross arenas) */
  arenaBytes?: number;
}

export interface MountOptions {
  /** Open the image read-only (default true). */
  readOnly?: boolean;
  /**
   * 'async' (default): image I/O runs on the thread pool and never blocks the
   * event loop. 'sync': system calls on the calling thread, several times
   * cheaper per transfer for an image in the host's page cache (the CLI's choice).
   * Image files only: an NBD device's transfers are always asynchronous.
   */
  io?: 'sync' | 'async';
  /**
   * Lock the image file against other vmpager mounts (default true): a
   * read-write mount holds it exclusively, a read-only one shares it with
   * readers; a conflict fails at once with EBUSY naming the holder. NBD
   * exports and BlockDevice objects are not locked (the server, or the
   * caller, arbitrates).
   */
  lock?: boolean;
  /**
   * NBD only: seconds a transfer may wait for the server's reply (default:
   * no limit). Past it the connection is given up and every transfer fails
   * EIO, so a stalled server cannot hang the program.
   */
  timeout?: number;
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

export class Vm {
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
    this.sys = new VmSystem({ memory, pageSize, arenaBytes: opts.arenaBytes, objectCacheMax: this.limits.objectCacheMax });
    this.map = new VmMap(this.sys);
  }

  /**
   * Mounts an image file (path), an NBD export ('nbd://host[:port]/export',
   * 'nbd+unix:///export?socket=PATH') or a block device, found by its superblock.
   */
  async mount(source: string | BlockDevice, opts: MountOptions = {}): Promise<MountedFs> {
    const readOnly = opts.readOnly ?? true;
    let dev: BlockDevice;
    let lock: ImageLock | null = null;
    if (typeof source === 'string') {
      if (isNbdUrl(source)) {
        dev = await openNbd(source, readOnly, opts.timeout);
      } else {
        dev = await openImage(source, readOnly, opts.io ?? 'async');
        if (opts.lock ?? true) lock = await lockImage(dev, source, readOnly);
      }
    } else {
      dev = source;
    }
    const name = dev.name;
    // What mount() opened it closes again on failure; a device handed in stays the caller's.
    const undo = async (): Promise<void> => {
      if (typeof source === 'string') await dev.close();
      lock?.release();
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
    return new MountedFs(sys, this.map, mp, r.vp, name, dev, () => lock?.release(), partition, part.warnings);
  }

  /**
   * The partitions of a whole disk (image path, NBD URL or device), nested
   * disklabels included, with the file system each holds; empty when it has
   * no partition table. `.warnings` has what the tables' checks found.
   * timeout: as mount()'s, for an NBD export.
   */
  async partitions(source: string | BlockDevice, opts: { timeout?: number; lock?: boolean } = {}): Promise<Partitions> {
    const dev = typeof source !== 'string' ? source : isNbdUrl(source) ? await openNbd(source, true, opts.timeout) : await openImage(source, true, 'async');
    // A reader like any other: it shares the image, and waits for no writer's half-written table.
    const lock = typeof source === 'string' && !isNbdUrl(source) && (opts.lock ?? true) ? await lockImage(dev, source, true) : null;
    try {
      const r = await listPartitions(dev);
      check(r.error, 'partitions', dev.name, null, r.reason || undefined);
      return Object.assign(r.parts, { warnings: r.warnings });
    } finally {
      if (typeof source === 'string') await dev.close();
      lock?.release();
    }
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

/** Takes the image's lock for this mount, or closes dev and throws EBUSY naming who holds it. */
async function lockImage(dev: BlockDevice, path: string, readOnly: boolean): Promise<ImageLock> {
  try {
    return holdImage(path, readOnly ? 'read' : 'write');
  } catch (e) {
    await dev.close();
    throw e;
  }
}

async function openImage(path: string, readOnly: boolean, io: 'sync' | 'async'): Promise<BlockDevice> {
  const r = await ImageDevice.open(path, readOnly, io);
  check(r.error, 'mount', path, null);
  return r.dev!;
}

/** Connects to the export; a read-only export asked for writing is refused here, naming the server's choice. */
async function openNbd(url: string, readOnly: boolean, timeout: number | undefined): Promise<BlockDevice> {
  if (timeout !== undefined && !(timeout > 0 && Number.isFinite(timeout))) throw new VmError(EINVAL, 'mount', url, null, `timeout must be a positive number of seconds, not ${timeout}`);
  const r = await NbdDevice.open(url, readOnly, { requestTimeoutMs: timeout === undefined ? 0 : timeout * 1000 });
  check(r.error, 'mount', url, null, r.reason);
  const dev = r.dev!;
  if (!readOnly && dev.exportReadOnly) {
    await dev.close();
    throw new VmError(EROFS, 'mount', url, null, 'the server exports it read-only');
  }
  return dev;
}
