/*
 * The peer of bench case 1's and case 5's ext2fs rows, run in a process of its own:
 *   node dist/src/cli/bench_ext2fs.js [--reader vmpager] IMAGE PATH
 *   node dist/src/cli/bench_ext2fs.js --writer IMAGE SRC PATH
 * mounts IMAGE with the `ext2fs` npm package (libext2fs built to WASM; a dev
 * dependency of vmpager, so an installed vmpager may lack it), reads PATH in
 * 1 MiB reads and drops the bytes. It writes nothing to stdout or to the
 * image; on stderr it says `ext2fs-peer: read N bytes in T ms`, T the time
 * from open to the last read (the mount excluded), for the bench to check
 * and to rate the read itself. `--reader vmpager` does the same through
 * vmpager's library (64 MiB of frames, synchronous image reads, as `cat`).
 * `--writer` writes the host file SRC to a new PATH in 1 MiB writes, closes
 * it and unmounts (libext2fs then flushes, and the disk's flush is an
 * fdatasync, as vmpager's sync is): `ext2fs-peer: wrote N bytes in T ms`,
 * T from the mount to the end of the unmount. `--writer vmpager` does the
 * same through vmpager's library (the unmount's sync an fdatasync too).
 * Exit 0 when done, 1 on an I/O error, 2 on bad arguments, 3 when the package
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
  open(path: string, flags: number, mode?: number): Promise<Ext2fsFileHandle & { write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> }>;
  constants: { O_RDONLY: number; O_WRONLY: number; O_CREAT: number; O_EXCL: number; O_NOATIME?: number };
}

interface Ext2fsModule {
  withMountedDisk<T>(disk: ImageDisk, offset: number, fn: (fs: { promises: Ext2fsPromises }) => Promise<T>): Promise<T>;
}

/**
 * The disk the package mounts: reads at byte offsets of an image, each to its
 * full length; writes are refused unless the image was opened for writing,
 * and its flush is then an fdatasync.
 */
class ImageDisk {
  constructor(private readonly handle: FileHandle, private readonly writable = false) {}

  async read(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, bufferOffset + done, length - done, fileOffset + done);
      if (bytesRead === 0) throw new Error(`short read of the image at byte ${fileOffset + done}`);
      done += bytesRead;
    }
    return { bytesRead: done, buffer };
  }

  async write(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesWritten: number; buffer: Buffer }> {
    if (!this.writable) throw new Error('the bench opens the image read-only');
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await this.handle.write(buffer, bufferOffset + done, length - done, fileOffset + done);
      done += bytesWritten;
    }
    return { bytesWritten: done, buffer };
  }

  async flush(): Promise<void> {
    if (this.writable) await this.handle.datasync();
  }

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

/** Writes host file src to a new path through vmpager's library, timed from the mount to the end of the unmount. */
async function writeThroughVmpager(image: string, src: string, path: string): Promise<{ bytes: number; ms: number }> {
  const { Vm } = await import('../api/index.js');
  const input = await open(src, 'r');
  try {
    const t0 = performance.now();
    const vm = new Vm({ memory: 64 * 2 ** 20 });
    const fs = await vm.mount(image, { readOnly: false, io: 'sync' });
    let total = 0;
    try {
      const f = await fs.open(path, { create: true });
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, CHUNK, total);
        if (bytesRead === 0) break;
        await f.write(total, buf.subarray(0, bytesRead));
        total += bytesRead;
      }
      await f.close();
    } finally {
      await fs.unmount();
    }
    return { bytes: total, ms: performance.now() - t0 };
  } finally {
    await input.close();
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

/** Writes host file src to a new path in the image through the package; the unmount flushes. */
async function writeThrough(ext2fs: Ext2fsModule, image: string, src: string, path: string): Promise<{ bytes: number; ms: number }> {
  const input = await open(src, 'r');
  const handle = await open(image, 'r+');
  try {
    const t0 = performance.now();
    const bytes = await ext2fs.withMountedDisk(new ImageDisk(handle, true), 0, async ({ promises: fs }) => {
      const c = fs.constants;
      const f = await fs.open(path, c.O_WRONLY | c.O_CREAT | c.O_EXCL, 0o644);
      const buf = Buffer.allocUnsafe(CHUNK);
      let total = 0;
      try {
        for (;;) {
          const { bytesRead } = await input.read(buf, 0, CHUNK, total);
          if (bytesRead === 0) return total;
          for (let done = 0; done < bytesRead; ) done += (await f.write(buf, done, bytesRead - done, total + done)).bytesWritten;
          total += bytesRead;
        }
      } finally {
        await f.close();
      }
    });
    return { bytes, ms: performance.now() - t0 };
  } finally {
    await handle.close();
    await input.close();
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
  if (args[0] === '--writer' && args[1] === 'vmpager') {
    if (args.length !== 5) {
      process.stderr.write('usage: node bench_ext2fs.js --writer vmpager IMAGE SRC PATH\n');
      return 2;
    }
    try {
      const r = await writeThroughVmpager(args[2], args[3], args[4]);
      process.stderr.write(`ext2fs-peer: wrote ${r.bytes} bytes in ${r.ms.toFixed(1)} ms\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`ext2fs-peer: ${(e as Error).message.split('\n')[0]}\n`);
      return 1;
    }
  }
  if (args[0] === '--writer') {
    if (args.length !== 4) {
      process.stderr.write('usage: node bench_ext2fs.js --writer IMAGE SRC PATH\n');
      return 2;
    }
    const ext2fs = loadExt2fs();
    if (typeof ext2fs === 'string') {
      process.stderr.write(`ext2fs-peer: cannot load the ext2fs package: ${ext2fs}\n`);
      return 3;
    }
    try {
      const r = await writeThrough(ext2fs, args[1], args[2], args[3]);
      process.stderr.write(`ext2fs-peer: wrote ${r.bytes} bytes in ${r.ms.toFixed(1)} ms\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`ext2fs-peer: ${(e as Error).message.split('\n')[0]}\n`);
      return 1;
    }
  }
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
