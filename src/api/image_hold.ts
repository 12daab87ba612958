/*
 * holdImage: takes an image file's lock for longer than one mount, so that
 * work of several steps (mkfs, then copying a tree in) keeps other vmpager
 * processes out from the first step to the last. Vm.mount and mkfs are then
 * told { lock: false }, since the caller holds it already.
 *   const hold = holdImage('disk.img', 'write'); try { ... } finally { hold.release() }
 */

import { EBUSY } from '../kern/errno.js';
import { acquireImageLock, type ImageLock } from '../dev/image_lock.js';

export { lockDirOf as imageLockDir, releaseAllImageLocks } from '../dev/image_lock.js';
import { isNbdUrl } from '../dev/nbd_url.js';
import { isHttpUrl } from '../dev/http.js';
import { VmError } from './errors.js';

/** The lock of the image file at path ('read': shared, 'write': exclusive), or EBUSY naming its holder. An NBD or HTTP URL is not locked. */
export function holdImage(path: string, mode: 'read' | 'write'): ImageLock {
  if (isNbdUrl(path) || isHttpUrl(path)) return { mode, release: () => {} };
  const r = acquireImageLock(path, mode);
  if (r.lock === null) throw new VmError(EBUSY, 'lock', path, null, r.holder);
  return r.lock;
}
