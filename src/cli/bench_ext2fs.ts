/*
 * The peer of bench case 1's ext2fs rows, run in a process of its own:
 *   node dist/src/cli/bench_ext2fs.js [--reader vmpager] IMAGE PATH
 * mounts IMAGE with the `ext2fs` npm package (libext2fs built to WASM; a dev
 * dependency of vmpager, so an installed vmpager may lack it), reads PATH in
 * 1 MiB reads and drops the bytes. It writes nothing to stdout or to the
 * image; on stderr it says `ext2fs-peer: read N bytes in T ms`, T the time
 * from open to the last read (the mount excluded), for the bench to check
 * and to rate the read itself. `--reader vmpager` does the same through
 * vmpager's library (64 MiB of frames, synchronous image reads, as `cat`).
 * Exit 0 when read, 1 on a read error, 2 on bad arguments, 3 when the package
 * cannot be loaded.
 */

import { createRequire } from 'node:module';
import { open, type FileHandle } from 'node:fs/promises';

const CHUNK = 2 ** 20;

/** The little of the package's `fs.promises` this reads with. */
interface Ext2fsFileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

interface Ext2fsPromises {
  open(path: string, flags: number): Promise<Ext2fsFileHandle>;
  constants: { O_RDONLY: number; O_NOATIME?: number };
}

interface Ext2fsModule {
  withMountedDisk<T>(disk: ImageDisk, offset: number, fn: (fs: { promises: Ext2fsPromises }) => Promise<T>): Promise<T>;
}

/**
 * The disk the package mounts: reads at byte offsets of an image opened read
 * only, each to its full length; writes are refused, so the image is never changed.
 */
class ImageDisk {
  constructor(private readonly handle: FileHandle) {}

  async read(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, bufferOffset + done, length - done, fileOffset + done);
      if (bytesRead === 0) throw new Error(`short read of the image at byte ${fileOffset + done}`);
      done += bytesRead;
    }
    return { bytesRead: done, buffer };
  }

  async write(): Promise<never> {
    throw new Error('the bench opens the image read-only');
  }

  async flush(): Promise<void> {}

  async discard(): Promise<void> {}
}

/** Bytes read, and milliseconds from open to the last read. */
interface ReadResult {
  bytes: number;
  ms: number;
}

/** Reads all of path from the image through vmpager's library, as the ext2fs reader does. */
async function readThroughVmpager(image: string, path: string): Promise<ReadResult> {
  const { Vm } = await import('../api/index.js');
  const vm = new Vm({ memory: 64 * 2 ** 20 });
  const fs = await vm.mount(image, { io: 'sync' });
  try {
    const t0 = performance.now();
    const f = await fs.open(path);
    f.advise('sequential');
    const buf = Buffer.allocUnsafe(CHUNK);
    let total = 0;
    for (;;) {
      const n = await f.readInto(buf, total);
      if (n === 0) break;
      total += n;
    }
    await f.close();
    return { bytes: total, ms: performance.now() - t0 };
  } finally {
    await fs.unmount();
  }
}

/** Reads all of path from the image through the package. */
async function readThrough(ext2fs: Ext2fsModule, image: string, path: string): Promise<ReadResult> {
  const handle = await open(image, 'r');
  try {
    return await ext2fs.withMountedDisk(new ImageDisk(handle), 0, async ({ promises: fs }) => {
      // O_NOATIME, else each read stores the inode's new atime in the image.
      const t0 = performance.now();
      const f = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NOATIME ?? 0));
      const buf = Buffer.allocUnsafe(CHUNK);
      let total = 0;
      try {
        for (;;) {
          const { bytesRead } = await f.read(buf, 0, CHUNK, total);
          if (bytesRead === 0) return { bytes: total, ms: performance.now() - t0 };
          total += bytesRead;
        }
      } finally {
        await f.close();
      }
    });
  } finally {
    await handle.close();
  }
}

/** The package, or the reason it cannot be loaded. */
function loadExt2fs(): Ext2fsModule | string {
  try {
    return createRequire(import.meta.url)('ext2fs') as Ext2fsModule;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** The script: arguments, the read, the byte count and time on stderr. */
async function main(args: string[]): Promise<number> {
  const vmpager = args[0] === '--reader' && args[1] === 'vmpager';
  if (args[0] === '--reader' && !vmpager && args[1] !== 'ext2fs') args = [];
  if (args[0] === '--reader') args = args.slice(2);
  if (args.length !== 2) {
    process.stderr.write('usage: node bench_ext2fs.js [--reader ext2fs|vmpager] IMAGE PATH\n');
    return 2;
  }
  let read: () => Promise<ReadResult>;
  if (vmpager) {
    read = () => readThroughVmpager(args[0], args[1]);
  } else {
    const ext2fs = loadExt2fs();
    if (typeof ext2fs === 'string') {
      process.stderr.write(`ext2fs-peer: cannot load the ext2fs package: ${ext2fs}\n`);
      return 3;
    }
    read = () => readThrough(ext2fs, args[0], args[1]);
  }
  try {
    const r = await read();
    process.stderr.write(`ext2fs-peer: read ${r.bytes} bytes in ${r.ms.toFixed(1)} ms\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`ext2fs-peer: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
