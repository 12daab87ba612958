/*
 * vmpager mkfs [--type ext2|ext4] [--block-size N] [--from DIR] [--force] IMAGE SIZE:
 * formats IMAGE (one that holds a file system or partition table only with --force), then with --from copies a directory tree into it through
 * the pager (like mke2fs -d): directories, regular files (holes kept as
 * holes where the source has them in whole 4 KiB runs of zeros), symlinks.
 */

import { lstatSync } from 'node:fs';
import { mkfs } from '../api/mkfs.js';
import { copyIn } from './copy_in.js';
import { holdImage } from '../api/image_hold.js';
import { type CommandContext, UsageError } from './context.js';

export async function mkfsCommand(
  ctx: CommandContext,
  image: string,
  size: number,
  opts: { type?: string; blockSize?: string; from?: string; force: boolean; owner: { uid: number; gid: number } | null },
): Promise<void> {
  if (opts.type !== undefined && opts.type !== 'ext2' && opts.type !== 'ext4') {
    throw new UsageError(`mkfs: --type: ext2 or ext4, not ${opts.type}`);
  }
  let blockSize: 1024 | 2048 | 4096 | undefined;
  if (opts.blockSize !== undefined) {
    const n = Number(opts.blockSize);
    if (n !== 1024 && n !== 2048 && n !== 4096) throw new UsageError(`mkfs: --block-size must be 1024, 2048 or 4096, not ${opts.blockSize}`);
    blockSize = n;
  }
  if (opts.from !== undefined && !lstatSync(opts.from, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`mkfs: --from: not a directory: ${opts.from}`);
  }
  // Held from the format to the end of the copy: no other vmpager gets in between.
  const hold = ctx.g.lock ? holdImage(image, 'write') : null;
  try {
    await mkfs(image, size, { blockSize, force: opts.force, lock: false, type: opts.type as 'ext2' | 'ext4' | undefined });
    const from = opts.from;
    if (from !== undefined) await ctx.withMount(image, 'write', (fs) => copyIn(fs, '/', from, { owner: opts.owner }), { lock: false });
  } finally {
    hold?.release();
  }
}
