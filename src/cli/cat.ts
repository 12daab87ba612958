/*
 * vmpager cat IMAGE PATH...: file bytes to stdout, concatenated, symlinks
 * followed. Two buffers alternate: while one is written to stdout the next
 * chunk is already being read (the device reads run off the main thread).
 */

import type { MountedFs } from '../api/mounted_fs.js';

export type Sink = (chunk: Uint8Array) => Promise<void>;

/** Writes to stdout; resolves once the chunk is handed to the OS, so its buffer may be reused. */
export const stdoutSink: Sink = (chunk) =>
  new Promise((resolve, reject) => process.stdout.write(chunk, (e) => (e ? reject(e) : resolve())));

/** Chunk size for `memory` bytes of page frames: a quarter of it, 64 KiB to 1 MiB. */
export function chunkSize(memory: number): number {
  return Math.max(64 * 1024, Math.min(1 << 20, Math.floor(memory / 4)));
}

export async function cat(fs: MountedFs, paths: readonly string[], chunk: number, sink: Sink): Promise<void> {
  let cur = new Uint8Array(chunk);
  let next = new Uint8Array(chunk);
  for (const path of paths) {
    const f = await fs.open(path);
    f.advise('sequential'); // as cat(1) does: read-ahead at full size, and drop-behind
    try {
      let off = 0;
      let n = await f.readInto(cur, off);
      while (n > 0) {
        off += n;
        const ahead = f.readInto(next, off);
        // A failed write (EPIPE) must not leave the read ahead unhandled.
        ahead.catch(() => undefined);
        await sink(n === cur.length ? cur : cur.subarray(0, n));
        n = await ahead;
        [cur, next] = [next, cur];
      }
    } finally {
      await f.close();
    }
  }
}
