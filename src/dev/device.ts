/*
 * The block-device contract: what strategy() reaches at the bottom of the
 * stack. Byte offsets; a transfer is one positioned vectored call, so a
 * cluster of page frames is filled or written with no bounce copy.
 * Errors are errno values; a short transfer is EIO.
 * Implementations: dev/image.ts (a host file), dev/memdisk.ts (memory, for
 * tests), dev/faulty.ts (fault injection), dev/nbd.ts (network block device).
 */

export interface DeviceStats {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface BlockDevice {
  /** For messages: the image path or URL. */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  readonly stats: DeviceStats;
  /** Fills bufs, in order, from byte `offset`. => resolves to 0 or an errno. */
  readv(bufs: readonly Uint8Array[], offset: number): Promise<number>;
  /** Writes bufs, in order, at byte `offset`. EROFS on a read-only device. */
  writev(bufs: readonly Uint8Array[], offset: number): Promise<number>;
  /** Makes every completed write durable. */
  flush(): Promise<number>;
  /**
   * Optional hint: start making completed writes durable without waiting,
   * so that a long run of writes is mostly on the medium by its flush (a
   * whole tree written at once). Errors are left to flush().
   */
  writeback?(): void;
  close(): Promise<number>;
  /**
   * Why a transfer failed, in words ('writing 1048576 bytes at 4194304: no
   * space left on device'), for the message of the EIO it became; the first
   * failure is kept. Absent or null: none, or the device does not say.
   */
  readonly failure?: string | null;
  /**
   * Read-ahead windows a sequential reader should keep in flight on this
   * device (absent: the VM's READAHEAD_DEPTH). A device whose transfers
   * overlap well asks for more (HTTP: several requests over the browser's
   * connections).
   */
  readonly readAheadDepth?: number;
  /**
   * The host file this device's bytes lie in, plainly, from `offset` on for
   * `size` bytes, for a reader on another thread of this process (pread on
   * fd): a file read out of a read-only mount is read there by the thread
   * that writes it out (vmpager get). Absent or null: none (a device of
   * another kind, or one that transforms its bytes); valid until close().
   */
  hostFile?(): HostFile | null;
}

/** Where a device's bytes lie in a host file (BlockDevice.hostFile). */
export interface HostFile {
  fd: number;
  offset: number;
  size: number;
}

/** Bytes in a transfer's buffers: kern/iovec.ts's, named here too for devices written against this module. */
export { byteLength } from '../kern/iovec.js';

export function newDeviceStats(): DeviceStats {
  return { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0 };
}

/** A read of `total` bytes done: counted in stats, and in a histogram of transfer sizes. */
export function countRead(stats: DeviceStats, sizes: Map<number, number>, total: number): void {
  stats.reads++;
  stats.bytesRead += total;
  sizes.set(total, (sizes.get(total) ?? 0) + 1);
}
