/*
 * The peer of bench case 1's ext2fs row, run in a process of its own:
 *   node dist/src/cli/bench_ext2fs.js IMAGE PATH
 * mounts IMAGE with the `ext2fs` npm package (libext2fs built to WASM; a dev
 * dependency of vmpager, so an installed vmpager may lack it), reads PATH in
 * 1 MiB reads and drops the bytes. It writes nothing to stdout or to the
 * image; on stderr it says `ext2fs-peer: read N bytes`, for the bench to check.
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

/** Reads all of path from the image through the package; returns the bytes read. */
async function readThrough(ext2fs: Ext2fsModule, image: string, path: string): Promise<number> {
  const handle = await open(image, 'r');
  try {
    return await ext2fs.withMountedDisk(new ImageDisk(handle), 0, async ({ promises: fs }) => {
      // O_NOATIME, else each read stores the inode's new atime in the image.
      const f = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NOATIME ?? 0));
      const buf = Buffer.allocUnsafe(CHUNK);
      let total = 0;
      try {
        for (;;) {
          const { bytesRead } = await f.read(buf, 0, CHUNK, total);
          if (bytesRead === 0) return total;
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

/** The script: arguments, the read, the byte count on stderr. */
async function main(args: string[]): Promise<number> {
  if (args.length !== 2) {
    process.stderr.write('usage: node bench_ext2fs.js IMAGE PATH\n');
    return 2;
  }
  const ext2fs = loadExt2fs();
  if (typeof ext2fs === 'string') {
    process.stderr.write(`ext2fs-peer: cannot load the ext2fs package: ${ext2fs}\n`);
    return 3;
  }
  try {
    const n = await readThrough(ext2fs, args[0], args[1]);
    process.stderr.write(`ext2fs-peer: read ${n} bytes\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`ext2fs-peer: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
