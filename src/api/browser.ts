/*
 * vmpager in the browser: the library's entry for `vmpager/browser`
 * (bundled by scripts/bundle.mjs into dist/browser/vmpager.js). The same
 * Vm, MountedFs and File as the Node entry, mounting a File or Blob (the
 * user's disk, read by slices) or an http(s) URL (read by range requests),
 * read-only, or an OPFS file (OpfsDevice, in a dedicated worker) read-write,
 * in the page frames the Vm was given. Nothing here, nor below it, touches
 * a Node built-in: the bundle's build fails if anything does.
 *   const vm = new Vm({ memory: 16 * 2 ** 20 });
 *   const fs = await vm.mount(fileFromInput);  // or 'https://host/disk.img'
 *   const f = await fs.open('/etc/hostname'); await f.read(0, f.size); await f.close()
 */

import { EINVAL, EROFS } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { BlobDevice } from '../dev/blob.js';
import { HttpDevice, isHttpUrl, type HttpOpenOptions } from '../dev/http.js';
import { check, VmError } from './errors.js';
import type { MountedFs } from './mounted_fs.js';
import type { Partitions } from './partitions.js';
import { VmBase, type DeviceMountOptions } from './vm_core.js';

export { DEFAULT_MEMORY, MIN_FRAMES, type VmOptions, type VmStats, type DeviceMountOptions } from './vm_core.js';
export { MountedFs, type DirEntry, type FileStat, type FileType, type BlockRun } from './mounted_fs.js';
export { File } from './file.js';
export type { FrameSink } from '../vm/vm_sendfile.js';
export { Mapping, type Advice } from './mapping.js';
export { VmError } from './errors.js';
export type { PartitionInfo, Partitions } from './partitions.js';
export type { BlockDevice, DeviceStats } from '../dev/device.js';
export { MemDisk } from '../dev/memdisk.js';
export { BlobDevice } from '../dev/blob.js';
export { HttpDevice, type HttpOpenOptions } from '../dev/http.js';
export { OpfsDevice, type SyncAccessHandle } from '../dev/opfs.js';
export { parseSize } from './size.js';

export interface BrowserMountOptions extends DeviceMountOptions {
  /** A URL's requests: milliseconds each may take (default 60 s), the fetch to use. */
  http?: HttpOpenOptions;
}

/** An image: a File or Blob, an http(s) URL, or a device already open. */
export type ImageSource = Blob | string | BlockDevice;

/** Opens what `source` names as a read-only device; the reason in one line on failure. */
export async function openImage(source: Blob | string, http: HttpOpenOptions = {}): Promise<BlobDevice | HttpDevice> {
  if (typeof source !== 'string') return new BlobDevice(source, (source as { name?: string }).name ?? 'blob');
  if (!isHttpUrl(source) && !source.startsWith('/')) throw new VmError(EINVAL, 'mount', source, null, 'not an http(s) URL');
  const here = (globalThis as { location?: { href: string } }).location;
  const url = here === undefined ? source : new URL(source, here.href).href;
  const r = await HttpDevice.open(url, http);
  check(r.error, 'mount', source, null, r.reason);
  return r.dev!;
}

export class Vm extends VmBase {
  /** Mounts the file system on a File/Blob or at a URL (read-only), or on a device (read-write when asked and the device can be written). */
  async mount(source: ImageSource, opts: BrowserMountOptions = {}): Promise<MountedFs> {
    const name = typeof source === 'string' ? source : 'name' in source && typeof source.name === 'string' ? source.name : 'blob';
    // Read-write only on a writable device the caller opened (an OPFS file: OpfsDevice); files and URLs are read-only.
    if (opts.readOnly === false && (!isDevice(source) || source.readOnly)) {
      throw new VmError(EROFS, 'mount', name, null, 'the browser entry writes only to a writable device (an OPFS file: OpfsDevice)');
    }
    const owned = isDevice(source) ? null : await openImage(source, opts.http);
    const dev = owned ?? (source as BlockDevice);
    return this.mountDevice(dev, { ...opts, readOnly: opts.readOnly !== false }, { undo: owned === null ? null : async () => void (await owned.close()), unlock: () => {} });
  }

  /** The partitions of a whole disk (as the Node entry's Vm.partitions). */
  async partitions(source: ImageSource, opts: { http?: HttpOpenOptions } = {}): Promise<Partitions> {
    const owned = isDevice(source) ? null : await openImage(source, opts.http);
    try {
      return await this.partitionsOf(owned ?? (source as BlockDevice));
    } finally {
      await owned?.close();
    }
  }
}

function isDevice(s: ImageSource): s is BlockDevice {
  return typeof s === 'object' && typeof (s as BlockDevice).readv === 'function';
}
