/*
 * mkfs: formats an image file (made or resized to `size` bytes) or a block
 * device as ext2.
 *   await mkfs('new.img', 64 * 2 ** 20, { blockSize: 4096, label: 'data' })
 */

import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { EINVAL } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { errnoOf } from '../dev/host_errno.js';
import { ImageDevice } from '../dev/image.js';
import { ext2Mkfs } from '../fs/ext2/ext2_mkfs.js';
import { check, VmError } from './errors.js';

export interface MkfsOptions {
  /** Only 'ext2' for now. */
  type?: 'ext2';
  blockSize?: 1024 | 2048 | 4096;
  label?: string;
}

/** Formats `target`: an image path (created, or cut or grown to `size`) or a device (its whole size). */
export async function mkfs(target: string | BlockDevice, size: number, opts: MkfsOptions = {}): Promise<void> {
  const name = typeof target === 'string' ? target : target.name;
  if ((opts.type ?? 'ext2') !== 'ext2') throw new VmError(EINVAL, 'mkfs', name, null, `unsupported file system type: ${String(opts.type)}`);
  let dev: BlockDevice;
  if (typeof target === 'string') {
    if (!Number.isSafeInteger(size) || size <= 0) throw new VmError(EINVAL, 'mkfs', name, null, `bad size ${size}`);
    try {
      const fd = openSync(target, 'w');
      try {
        ftruncateSync(fd, size);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw new VmError(errnoOf(e), 'mkfs', name, null);
    }
    const r = await ImageDevice.open(target, false, 'sync');
    check(r.error, 'mkfs', name, null);
    dev = r.dev!;
  } else {
    dev = target;
  }
  try {
    const { error, reason } = await ext2Mkfs(dev, { blockSize: opts.blockSize, label: opts.label });
    check(error, 'mkfs', name, null, reason || undefined);
    check(await dev.flush(), 'mkfs', name, null);
  } finally {
    if (typeof target === 'string') await dev.close();
  }
}
