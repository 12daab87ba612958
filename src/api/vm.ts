/*
 * Vm: one virtual-memory system with its own page frames, the entry point
 * of the library. It mounts file systems from image files (or any block
 * device, or an NBD export named nbd://host[:port]/export) and reports the
 * kernel's counters. What does not touch Node is VmBase (vm_core.ts), which
 * the browser entry shares.
 *   const vm = new Vm({ memory: 64 * 2 ** 20 }); const fs = await vm.mount('disk.img')
 */

import { EINVAL, EROFS } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { ImageDevice } from '../dev/image.js';
import type { ImageLock } from '../dev/image_lock.js';
import { holdImage } from './image_hold.js';
import { isNbdUrl } from '../dev/nbd_url.js';
import { HttpDevice, isHttpUrl } from '../dev/http.js';
import type { Partitions } from './partitions.js';
import { check, VmError } from './errors.js';
import type { MountedFs } from './mounted_fs.js';
import { FsPromises } from './promises.js';
import { VmBase, type DeviceMountOptions } from './vm_core.js';

export { DEFAULT_MEMORY, MIN_FRAMES, type VmOptions, type VmStats, type DeviceMountOptions } from './vm_core.js';

export interface MountOptions extends DeviceMountOptions {
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
   * exports, URLs and BlockDevice objects are not locked (the server, or
   * the caller, arbitrates).
   */
  lock?: boolean;
  /**
   * NBD: seconds a transfer may wait for the server's reply (default: no
   * limit). Past it the connection is given up and every transfer fails
   * EIO, so a stalled server cannot hang the program. HTTP: seconds each
   * range request may take (default 60).
   */
  timeout?: number;
  /**
   * NBD only: connections to open when the server offers
   * NBD_FLAG_CAN_MULTI_CONN, 1 to 4 (default 2); requests are spread over
   * them. A server without the flag always gets one.
   */
  connections?: number;
}

export class Vm extends VmBase {
  /**
   * Mounts an image file (path), an NBD export ('nbd://host[:port]/export',
   * 'nbd+unix:///export?socket=PATH'), an image on a web server that answers
   * range requests ('http(s)://...', read-only) or a block device, found by
   * its superblock.
   */
  async mount(source: string | BlockDevice, opts: MountOptions = {}): Promise<MountedFs> {
    const readOnly = opts.readOnly ?? true;
    const { dev, lock } = typeof source === 'string' ? await openSource(source, readOnly, opts) : { dev: source, lock: null };
    // What mount() opened it closes again on failure; a device handed in stays the caller's.
    return this.mountDevice(dev, opts, {
      undo: typeof source === 'string' ? async () => void (await dev.close()) : null,
      unlock: () => lock?.release(),
      promises: (fs) => new FsPromises(fs),
    });
  }

  /**
   * The partitions of a whole disk (image path, NBD or http(s) URL, or
   * device), nested disklabels included, with the file system each holds;
   * empty when it has no partition table. `.warnings` has what the tables'
   * checks found. timeout: as mount()'s, for a URL.
   */
  async partitions(source: string | BlockDevice, opts: { timeout?: number; connections?: number; lock?: boolean } = {}): Promise<Partitions> {
    // A reader like any other: it shares the image, and waits for no writer's half-written table.
    const { dev, lock } = typeof source === 'string' ? await openSource(source, true, opts) : { dev: source, lock: null };
    try {
      return await this.partitionsOf(dev);
    } finally {
      if (typeof source === 'string') await dev.close();
      lock?.release();
    }
  }
}

/**
 * Opens what `source` names: an NBD export, an image on a web server
 * (read-only), or an image file with its lock (unless `lock` is false).
 */
async function openSource(
  source: string, readOnly: boolean, opts: { io?: 'sync' | 'async'; timeout?: number; connections?: number; lock?: boolean },
): Promise<{ dev: BlockDevice; lock: ImageLock | null }> {
  if (isNbdUrl(source)) return { dev: await openNbd(source, readOnly, opts.timeout, opts.connections), lock: null };
  if (isHttpUrl(source)) {
    if (!readOnly) throw new VmError(EROFS, 'mount', source, null, 'an image on a web server is read-only');
    return { dev: await openHttp(source, opts.timeout), lock: null };
  }
  const dev = await openImage(source, readOnly, opts.io ?? 'async');
  return { dev, lock: (opts.lock ?? true) ? await lockImage(dev, source, readOnly) : null };
}

/** A URL's timeout in milliseconds (0: none given), checked. */
function timeoutMs(url: string, timeout: number | undefined): number {
  if (timeout === undefined) return 0;
  if (!(timeout > 0 && Number.isFinite(timeout))) throw new VmError(EINVAL, 'mount', url, null, `timeout must be a positive number of seconds, not ${timeout}`);
  return timeout * 1000;
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

/** An image on a web server, read with range requests (the browser entry's HTTP device; Node has fetch too). */
async function openHttp(url: string, timeout: number | undefined): Promise<BlockDevice> {
  const ms = timeoutMs(url, timeout);
  const r = await HttpDevice.open(url, ms === 0 ? {} : { timeoutMs: ms });
  check(r.error, 'mount', url, null, r.reason);
  return r.dev!;
}

/** Connects to the export; a read-only export asked for writing is refused here, naming the server's choice. */
async function openNbd(url: string, readOnly: boolean, timeout: number | undefined, connections: number | undefined): Promise<BlockDevice> {
  const requestTimeoutMs = timeoutMs(url, timeout);
  const { NbdDevice } = await import('../dev/nbd.js'); // node:net, loaded for NBD exports only
  const r = await NbdDevice.open(url, readOnly, { requestTimeoutMs, connections });
  check(r.error, 'mount', url, null, r.reason);
  const dev = r.dev!;
  if (!readOnly && dev.exportReadOnly) {
    await dev.close();
    throw new VmError(EROFS, 'mount', url, null, 'the server exports it read-only');
  }
  return dev;
}
