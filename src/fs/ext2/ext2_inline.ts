/*
 * Inline data turned into blocks before it changes (cf. ext4's
 * ext4_convert_inline_data): a regular file's bytes, or an inline
 * directory's entries laid out as a block ("." and ".." first), are taken
 * from i_block and the system.data attribute; the attribute goes, the
 * inline flag goes, the inode gets an empty extent root (or block map). A
 * file's bytes go straight to its new blocks, its pages untouched (so the
 * pager's own write-back may convert); a directory's blocks are written as
 * any directory block is, its pages (the inline layout) dropped first.
 * Blocks are counted first: a file system without room answers ENOSPC with
 * the file still inline and whole.
 *   error = await ext2InlineConvert(vp)      => vp locked exclusively; read-write mount; may sleep
 */

import { EINTEGRITY, ENOSPC, EOPNOTSUPP } from '../../kern/errno.js';
import { devWrite } from '../../vfs/vfs_physwrite.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { dirhashDrop } from '../../vfs/vfs_dirhash.js';
import { dirBlockEntries, putEntry, usable, writeBlock } from './ext2_dir_block.js';
import { dirTailInit } from './ext2_csum.js';
import { inlineData } from './ext2_extattr.js';
import { ext4ExtEmptyRoot } from './ext2_extents_write.js';
import { EXT2_FT_DIR, EXT2_IBLOCK_BYTES, EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL, INCOMPAT_EXTENTS, direntRecLen, encodeRecLen } from './ext2_fs.js';
import { ext2Inode } from './ext2_inode.js';
import { ext2Update } from './ext2_inode_write.js';
import type { Ext2Fs } from './ext2_mount.js';
import { ext2AllocRange } from './ext2_balloc.js';
import { ext2XattrDropInlineData } from './ext2_xattr_vnops.js';

/** An inline directory's bytes as directory blocks: ".", "..", then every live entry, packed. */
function dirBlocks(fs: Ext2Fs, ino: number, data: Uint8Array): { error: number; blocks: Uint8Array[] } {
  if (data.length < 4) return { error: EINTEGRITY, blocks: [] };
  const parent = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
  if (parent === 0 || parent > fs.sb.inodesCount) return { error: EINTEGRITY, blocks: [] };
  const entries: { name: Uint8Array; ino: number; ft: number }[] = [
    { name: new Uint8Array([0x2e]), ino, ft: EXT2_FT_DIR },
    { name: new Uint8Array([0x2e, 0x2e]), ino: parent, ft: EXT2_FT_DIR },
  ];
  for (const [start, end] of [[4, Math.min(EXT2_IBLOCK_BYTES, data.length)], [EXT2_IBLOCK_BYTES, data.length]]) {
    if (end <= start) continue;
    const region = data.slice(start, end);
    if (region.every((b) => b === 0)) continue;
    const live = dirBlockEntries(fs, region);
    if (live === null) return { error: EINTEGRITY, blocks: [] };
    entries.push(...live);
  }
  const blocks: Uint8Array[] = [];
  const room = usable(fs);
  let buf = new Uint8Array(fs.bsize);
  let off = 0;
  let last = -1;
  const close = () => {
    const dv = new DataView(buf.buffer);
    dv.setUint16(last + 4, encodeRecLen(room - last, fs.bsize), true); // the last entry spans the rest
    if (fs.metadataCsum) dirTailInit(buf);
    blocks.push(buf);
  };
  for (const e of entries) {
    const len = direntRecLen(e.name.length);
    if (off + len > room) {
      close();
      buf = new Uint8Array(fs.bsize);
      off = 0;
    }
    putEntry(fs, buf, off, e.ino, len, e.name, e.ft);
    last = off;
    off += len;
  }
  close();
  return { error: 0, blocks };
}

const DONE: Promise<number> = Promise.resolve(0);

/**
 * Makes an inline-data file or directory an ordinary one holding the same
 * bytes or entries; an ordinary one (every directory operation asks) answers
 * at once, without an async call.
 */
export function ext2InlineConvert(vp: Vnode): Promise<number> {
  return ext2Inode(vp).inlineData ? convert(vp) : DONE;
}

async function convert(vp: Vnode): Promise<number> {
  const ip = ext2Inode(vp);
  if (vp.type !== VType.VREG && vp.type !== VType.VDIR) return EOPNOTSUPP; // an inline symlink never changes in place
  const mp = vp.mount!;
  const fs = ip.fs;
  const r = inlineData(ip);
  if (r.error !== 0) return r.error;
  const data = r.data!.slice();
  let blocks: Uint8Array[] = [];
  if (vp.type === VType.VDIR) {
    const d = dirBlocks(fs, vp.ino, data);
    if (d.error !== 0) return d.error;
    blocks = d.blocks;
  }
  const need = vp.type === VType.VDIR ? blocks.length : Math.ceil(data.length / fs.bsize);
  if (fs.sb.freeBlocksCount < need + 1) return ENOSPC; // + 1: a map block, should one be needed
  if (vp.type === VType.VDIR) {
    await mp.vm?.setsize(vp, 0); // the pages hold the inline layout
    dirhashDrop(ip);
  }
  const e = await ext2XattrDropInlineData(mp, ip);
  if (e !== 0) return e;
  ip.din.flags &= ~EXT4_INLINE_DATA_FL;
  if (fs.hasFeature(INCOMPAT_EXTENTS)) {
    ip.din.flags |= EXT4_EXTENTS_FL;
    ext4ExtEmptyRoot(ip.iblock32);
  } else {
    ip.iblock32.fill(0);
  }
  ip.flushCaches();
  ip.extMap = null;
  ip.modified = true;
  if (vp.type === VType.VDIR) {
    ip.size = 0;
    for (let lbn = 0; lbn < blocks.length; lbn++) {
      const w = await writeBlock(vp, lbn, blocks[lbn]);
      if (w !== 0) return w;
    }
  } else if (need > 0) {
    const placed: [number, number][] = [];
    const a = await ext2AllocRange(mp, ip, 0, need, (lbn, pblk) => placed.push([lbn, pblk]));
    if (a.error !== 0) return a.error;
    for (const [lbn, pblk] of placed) {
      const blk = new Uint8Array(fs.bsize);
      blk.set(data.subarray(lbn * fs.bsize, (lbn + 1) * fs.bsize));
      const w = await devWrite(mp.dev, pblk * fs.bsize, [blk]);
      if (w !== 0) return w;
    }
  }
  return ext2Update(mp, ip, false);
}
