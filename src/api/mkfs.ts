/*
 * mkfs: formats an image file, a host block device, an NBD export or a
 * BlockDevice as ext2, ext4 or FAT12/16/32. Like mke2fs, it refuses a target that already holds a
 * partition table or a file system (saying which) unless `force`; it never
 * shrinks an existing file (a larger one is formatted in its first `size`
 * bytes) and never resizes a block device or an export. An image file is
 * held exclusively while it is formatted.
 *   await mkfs('new.img', 64 * 2 ** 20, { blockSize: 4096, label: 'data' })
 */

import { closeSync, ftruncateSync, openSync, rmSync, statSync } from 'node:fs';
import { EEXIST, EINVAL, EIO, EISDIR } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { errnoOf } from '../dev/host_errno.js';
import { ImageDevice } from '../dev/image.js';
import type { ImageLock } from '../dev/image_lock.js';
import { holdImage } from './image_hold.js';
import { isNbdUrl } from '../dev/nbd_url.js';
import { ext2Mkfs } from '../fs/ext2/ext2_mkfs.js';
import { msdosfsMkfs } from '../fs/msdosfs/msdosfs_mkfs.js';
import { check, VmError } from './errors.js';
import { describeContents } from './signature.js';

export interface MkfsOptions {
  /** 'ext2' (default), 'ext4' (mke2fs's default features less the journal and resize_inode) or 'fat'. */
  type?: 'ext2' | 'ext4' | 'fat';
  blockSize?: 1024 | 2048 | 4096;
  /** FAT: 12, 16 or 32 (default: by size, as mkfs.fat chooses). */
  fat?: 12 | 16 | 32;
  /** FAT: bytes per cluster, 512 to 32768 (default: by size). */
  clusterSize?: number;
  label?: string;
  /** Format even a target that holds a partition table or a file system. */
  force?: boolean;
  /** Lock an image file while formatting it (default true), as Vm.mount does. */
  lock?: boolean;
}

/**
 * Formats `target`: an image path (created at `size` bytes, or an existing
 * file grown to it), an NBD URL or a device (its first `size` bytes; all of
 * it when `size` is 0).
 */
export async function mkfs(target: string | BlockDevice, size: number, opts: MkfsOptions = {}): Promise<void> {
  const name = typeof target === 'string' ? target : target.name;
  const type = opts.type ?? 'ext2';
  if (type !== 'ext2' && type !== 'ext4' && type !== 'fat') throw new VmError(EINVAL, 'mkfs', name, null, `unsupported file system type: ${String(opts.type)}`);
  if (!Number.isSafeInteger(size) || size < 0) throw new VmError(EINVAL, 'mkfs', name, null, `bad size ${size}`);
  let dev: BlockDevice | null = null;
  let lock: ImageLock | null = null;
  let made = false;
  const owned = typeof target === 'string';
  try {
    if (typeof target !== 'string') dev = target;
    else if (isNbdUrl(target)) dev = await openNbd(target);
    else ({ dev, lock, made } = await openImageFile(target, size, opts.lock ?? true));
    if (!opts.force) {
      const what = await describeContents(dev);
      if (what !== null) throw new VmError(EEXIST, 'mkfs', name, null, `holds ${what}; not formatted (--force formats it anyway)`);
    }
    if (typeof target === 'string' && !isNbdUrl(target) && size > dev.size) dev = await grow(dev, target, size);
    if (size > dev.size) throw new VmError(EINVAL, 'mkfs', name, null, `${size} bytes asked for, but it holds ${dev.size}`);
    const fsSize = size === 0 ? dev.size : size;
    const { error, reason } = type === 'fat'
      ? await msdosfsMkfs(dev, { fat: opts.fat, clusterBytes: opts.clusterSize, label: opts.label, size: fsSize })
      : await ext2Mkfs(dev, { blockSize: opts.blockSize, label: opts.label, size: fsSize, ext4: type === 'ext4' });
    // A write the host refused says what the host said (the device keeps it).
    const why = error === EIO && reason && dev.failure ? `${reason} (${dev.failure})` : reason;
    check(error, 'mkfs', name, null, why || undefined);
    check(await dev.flush(), 'mkfs', name, null);
  } catch (e) {
    // An image file this call made and could not format goes again (a size too small for any file system).
    if (made) {
      await dev?.close();
      dev = null;
      rmSync(name, { force: true });
    }
    throw e;
  } finally {
    if (owned) await dev?.close();
    lock?.release();
  }
}

async function openNbd(url: string): Promise<BlockDevice> {
  const { NbdDevice } = await import('../dev/nbd.js');
  const r = await NbdDevice.open(url, false);
  check(r.error, 'mkfs', url, null, r.reason);
  return r.dev!;
}

/** Opens an image file for formatting, made at `size` when it does not exist, and locked. */
async function openImageFile(path: string, size: number, locking: boolean): Promise<{ dev: BlockDevice; lock: ImageLock | null; made: boolean }> {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw new VmError(errnoOf(e), 'mkfs', path, null);
  }
  if (st?.isDirectory()) throw new VmError(EISDIR, 'mkfs', path, null);
  if (st === undefined) {
    if (size === 0) throw new VmError(EINVAL, 'mkfs', path, null, 'a new image needs a size');
    setFileSize(path, 'wx', size);
  }
  const lock = locking ? holdImage(path, 'write') : null;
  const r = await ImageDevice.open(path, false, 'sync');
  if (r.error !== 0) lock?.release();
  check(r.error, 'mkfs', path, null);
  return { dev: r.dev!, lock, made: st === undefined };
}

/** Grows a regular image file to `size` (never cuts it) and reopens it; a block device keeps its size. */
async function grow(dev: BlockDevice, path: string, size: number): Promise<BlockDevice> {
  if (!statSync(path).isFile()) return dev;
  await dev.close();
  setFileSize(path, 'r+', size);
  const r = await ImageDevice.open(path, false, 'sync');
  check(r.error, 'mkfs', path, null);
  return r.dev!;
}

/** Opens path with flags ('wx': made new, and removed again if it cannot have that size) and sets its size. */
function setFileSize(path: string, flags: 'wx' | 'r+', size: number): void {
  let made = false;
  try {
    const fd = openSync(path, flags);
    made = flags === 'wx';
    try {
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (made) rmSync(path, { force: true }); // (a size the host refuses: EFBIG, ENOSPC)
    throw new VmError(errnoOf(e), 'mkfs', path, null);
  }
}
