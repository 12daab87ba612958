/*
 * ext4's multi-mount protection (MMP), read side: a file system with the mmp
 * feature keeps a block whose sequence number a node that has it mounted
 * keeps changing, and e2fsck sets to a mark of its own while it checks.
 * vmpager does not take part in the protocol, so it refuses such a file
 * system for writing (the feature check) and, reading, warns when the block
 * says someone else has it. Values follow ext2_fs.h's struct mmp_struct.
 *   const warning = await ext2MmpWarning(dev, rawSuperblock, blockSize, blocksCount)   // '' or a sentence
 */

import type { BlockDevice } from '../../dev/device.js';

const MMP_MAGIC = 0x004d4d50;
const MMP_SEQ_CLEAN = 0xff4d4d50;
const MMP_SEQ_FSCK = 0xe24d4d50;
const MMP_SEQ_MAX = 0xe24d4d4f;
/** Superblock offsets of s_mmp_update_interval (u16) and s_mmp_block (u64). */
const SB_MMP_BLOCK = 0x168;
/** mmp_struct: magic, seq, time (u64), nodename[64], bdevname[32]. */
const MMP_NODENAME = 16;
const MMP_NODENAME_LEN = 64;

/** A warning for an MMP block that says the file system is in use (or cannot be read), '' when it is clean. */
export async function ext2MmpWarning(dev: BlockDevice, sb: Uint8Array, bsize: number, blocksCount: number): Promise<string> {
  const dv = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
  const blk = dv.getUint32(SB_MMP_BLOCK, true) + dv.getUint32(SB_MMP_BLOCK + 4, true) * 2 ** 32;
  if (blk === 0 || blk >= blocksCount || (blk + 1) * bsize > dev.size) return `multi-mount protection block ${blk} is out of range`;
  const b = new Uint8Array(bsize);
  if ((await dev.readv([b], blk * bsize)) !== 0) return `cannot read the multi-mount protection block ${blk}`;
  const bv = new DataView(b.buffer);
  if (bv.getUint32(0, true) !== MMP_MAGIC) return `multi-mount protection block ${blk} is damaged (bad magic)`;
  const seq = bv.getUint32(4, true);
  if (seq === MMP_SEQ_CLEAN) return '';
  const node = new TextDecoder().decode(b.subarray(MMP_NODENAME, MMP_NODENAME + MMP_NODENAME_LEN)).replace(/\0.*$/s, '');
  if (seq === MMP_SEQ_FSCK) return `e2fsck is checking this file system${node ? ` (on ${node})` : ''}: what is read may change`;
  if (seq <= MMP_SEQ_MAX) return `multi-mount protection says the file system is in use${node ? ` by ${node}` : ''}: what is read may change`;
  return `multi-mount protection block ${blk} has an unknown sequence 0x${seq.toString(16)}`;
}
