/*
 * vmpager mkfs [--type ext2] [--block-size N] [--from DIR] [--force] IMAGE SIZE:
 * formats IMAGE (one that holds a file system or partition table only with --force), then with --from copies a directory tree into it through
 * the pager (like mke2fs -d): directories, regular files (holes kept as
 * holes where the source has them in whole 4 KiB runs of zeros), symlinks.
 */

import { lstatSync, openSync, readSync, closeSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ioBuffer } from '../api/io_buffer.js';
import { mkfs } from '../api/mkfs.js';
import type { MountedFs } from '../api/mounted_fs.js';
import { type CommandContext, UsageError } from './context.js';

const CHUNK = 1 << 20;

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Copies host file src into the image at path, skipping zero runs of 4 KiB (they read back as holes). */
async function copyFile(fs: MountedFs, src: string, path: string): Promise<void> {
  const f = await fs.open(path, { create: true });
  const fd = openSync(src, 'r');
  try {
    const buf = ioBuffer(CHUNK);
    let off = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, off);
      if (n === 0) break;
      for (let p = 0; p < n; p += 4096) {
        const piece = buf.subarray(p, Math.min(n, p + 4096));
        if (!isZero(piece)) await f.write(off + p, piece);
      }
      off += n;
    }
    if (f.size !== off) await f.truncate(off);
  } finally {
    closeSync(fd);
    await f.close();
  }
}

async function copyTree(fs: MountedFs, dir: string, to: string): Promise<void> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const src = join(dir, e.name);
    const dst = to === '/' ? `/${e.name}` : `${to}/${e.name}`;
    if (e.isDirectory()) {
      await fs.mkdir(dst);
      await copyTree(fs, src, dst);
    } else if (e.isFile()) {
      await copyFile(fs, src, dst);
    } else if (e.isSymbolicLink()) {
      await fs.symlink(readlinkSync(src), dst);
    } else {
      process.stderr.write(`vmpager: ${src}: not a file, directory or symlink: skipped\n`);
    }
  }
}

export async function mkfsCommand(
  ctx: CommandContext,
  image: string,
  size: number,
  opts: { type?: string; blockSize?: string; from?: string; force: boolean },
): Promise<void> {
  if (opts.type !== undefined && opts.type !== 'ext2') throw new UsageError(`mkfs: --type: only ext2 is supported, not ${opts.type}`);
  let blockSize: 1024 | 2048 | 4096 | undefined;
  if (opts.blockSize !== undefined) {
    const n = Number(opts.blockSize);
    if (n !== 1024 && n !== 2048 && n !== 4096) throw new UsageError(`mkfs: --block-size must be 1024, 2048 or 4096, not ${opts.blockSize}`);
    blockSize = n;
  }
  if (opts.from !== undefined && !lstatSync(opts.from, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`mkfs: --from: not a directory: ${opts.from}`);
  }
  await mkfs(image, size, { blockSize, force: opts.force, lock: ctx.g.lock });
  const from = opts.from;
  if (from !== undefined) await ctx.withMount(image, 'write', (fs) => copyTree(fs, from, '/'));
}
