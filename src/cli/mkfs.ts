/*
 * vmpager mkfs [--type ext2|ext4|fat] [--fat 12|16|32] [--block-size N] [--label L] [--from DIR] [--force] IMAGE SIZE:
 * formats IMAGE (one that holds a file system or partition table only with --force), then with --from copies a directory tree into it through
 * the pager (like mke2fs -d): directories, regular files (holes kept as
 * holes where the source has them in whole 4 KiB runs of zeros), symlinks
 * (not on FAT, which has none: see copy_in.ts). On FAT, --block-size is the cluster size.
 */

import { hostName } from './host_names.js';
import { statSync } from 'node:fs';
import { mkfs } from '../api/mkfs.js';
import { copyIn } from './copy_in.js';
import { HostTreeReader } from './host_tree_reader.js';
import { holdImage } from '../api/image_hold.js';
import { type CommandContext, UsageError } from './context.js';

/** --fat and --block-size (the cluster size) of a FAT mkfs. */
function fatOptions(opts: { blockSize?: string; fat?: string }): { fat?: 12 | 16 | 32; clusterSize?: number } {
  let fat: 12 | 16 | 32 | undefined;
  if (opts.fat !== undefined) {
    const n = Number(opts.fat);
    if (n !== 12 && n !== 16 && n !== 32) throw new UsageError(`mkfs: --fat must be 12, 16 or 32, not ${opts.fat}`);
    fat = n;
  }
  let clusterSize: number | undefined;
  if (opts.blockSize !== undefined) {
    const n = Number(opts.blockSize);
    if (!Number.isInteger(n) || n < 512 || n > 32768 || (n & (n - 1)) !== 0) {
      throw new UsageError(`mkfs: --block-size (the FAT cluster size) must be a power of two from 512 to 32768, not ${opts.blockSize}`);
    }
    clusterSize = n;
  }
  return { fat, clusterSize };
}

export async function mkfsCommand(
  ctx: CommandContext,
  image: string,
  size: number,
  opts: {
    type?: string;
    blockSize?: string;
    from?: string;
    force: boolean;
    owner: { uid: number; gid: number } | null;
    fat?: string;
    label?: string;
  },
): Promise<void> {
  if (opts.type !== undefined && opts.type !== 'ext2' && opts.type !== 'ext4' && opts.type !== 'fat') {
    throw new UsageError(`mkfs: --type: ext2, ext4 or fat, not ${opts.type}`);
  }
  const isFat = opts.type === 'fat' || opts.fat !== undefined;
  let blockSize: 1024 | 2048 | 4096 | undefined;
  if (!isFat && opts.blockSize !== undefined) {
    const n = Number(opts.blockSize);
    if (n !== 1024 && n !== 2048 && n !== 4096) throw new UsageError(`mkfs: --block-size must be 1024, 2048 or 4096, not ${opts.blockSize}`);
    blockSize = n;
  }
  if (opts.from !== undefined && !statSync(hostName(opts.from), { throwIfNoEntry: false })?.isDirectory()) { // (a symlink to one followed, as mke2fs -d follows it)
    throw new UsageError(`mkfs: --from: not a directory: ${opts.from}`);
  }
  // A tree into ext2/3/4 is read ahead by a thread (host_tree_reader.ts): it starts beside the format.
  if (opts.from !== undefined && !isFat) HostTreeReader.prewarm();
  // Held from the format to the end of the copy: no other vmpager gets in between.
  const hold = ctx.g.lock ? holdImage(image, 'write') : null;
  try {
    const fat = isFat ? fatOptions(opts) : null;
    const common = { label: opts.label, force: opts.force, lock: false };
    await mkfs(image, size, fat !== null ? { type: 'fat', ...fat, ...common } : { blockSize, type: opts.type as 'ext2' | 'ext4' | undefined, ...common });
    const from = opts.from;
    if (from !== undefined) {
      await ctx.withMount(image, 'write', (fs) => {
        // A new image: nothing on it to keep safe, so no ordering writes (a kill leaves an image to make again).
        fs.setAsync(true);
        return copyIn(fs, '/', from, { owner: opts.owner });
      }, { lock: false });
    }
  } finally {
    hold?.release();
  }
}
