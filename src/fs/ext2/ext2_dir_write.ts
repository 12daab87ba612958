/*
 * Changing ext2 directories (cf. FreeBSD ext2_direnter, ext2_dirremove,
 * ext2_dirempty). Blocks are read and changed through the directory's VM
 * object, as FreeBSD's VMIO directories are: reads with IO_NODELOCKED (the
 * caller holds the lock a fault would take), writes through ext2WriteUser;
 * every directory operation ends with the directory's pages written. An
 * indexed directory keeps its index (ext2_htree.ts) where it can, else the
 * flag is cleared (a linear directory is valid); removal and rewrite find
 * the entry's block through the index (ext2_htree_lookup.ts), one walk, not
 * a scan. The dirhash follows every change.
 * An inline-data directory is made an ordinary one first (ext2_inline.ts).
 *   error = await ext2DirEnter(dvp, name, ino, ft); { error, ino } = await ext2DirRemove(dvp, name)
 * => dvp locked exclusively for every call; may sleep
 */

import { EAGAIN, EINTEGRITY, ENOENT } from '../../kern/errno.js';
import type { Vnode } from '../../vfs/vnode.js';
import { DIRENT_HEADER, EXT2_FT_DIR, EXT2_INDEX_FL, INCOMPAT_FILETYPE, direntRecLen, encodeRecLen } from './ext2_fs.js';
import { dirhashAdd, dirhashDrop, dirhashKey, dirhashRemove } from '../../vfs/vfs_dirhash.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import type { Ext2Fs } from './ext2_mount.js';
import { dirCsumSet, dirHasTail, dirTailInit, dxCountOffset } from './ext2_csum.js';
import { ext2HtreeEnter, ext2HtreeMake } from './ext2_htree.js';
import { ext2InlineConvert } from './ext2_inline.js';
import { ext2HtreeLookup } from './ext2_htree_lookup.js';
import { IO_NODELOCKED } from '../../vfs/vnode_if.js';
import {
  type DirRecord, allZero, checkBlock, dirBufGet, dirBufPut, dirChanged, parseBlock, putEntry, readBlock, recIno, recRecLen, usable, writeBlock,
} from './ext2_dir_block.js';


/** A new leaf block holding one entry spanning it (and the tail, with metadata_csum). */
function newLeaf(fs: Ext2Fs, buf: Uint8Array, ino: number, name: Uint8Array, ft: number): void {
  buf.fill(0);
  putEntry(fs, buf, 0, ino, usable(fs), name, ft);
  if (fs.metadataCsum) dirTailInit(buf);
}

/**
 * An indexed directory is about to change, and its index will not be kept:
 * with metadata_csum, every htree node becomes an empty leaf with a tail
 * (the root keeps "." and ".."), so that the directory is a valid linear one
 * once EXT2_INDEX_FL goes. Without checksums the nodes already read as empty
 * entries. => dvp locked exclusively; may sleep
 */
async function dropIndex(dvp: Vnode, ip: Inode): Promise<number> {
  const fs = ip.fs;
  if ((ip.din.flags & EXT2_INDEX_FL) === 0) return 0;
  if (fs.metadataCsum) {
    const bsize = fs.bsize;
    const buf = new Uint8Array(bsize);
    for (let lbn = 0; lbn < ip.size / bsize; lbn++) {
      const error = await readBlock(dvp, lbn, buf);
      if (error !== 0) return error;
      if (allZero(buf) || dirHasTail(buf)) continue;
      const co = dxCountOffset(buf);
      if (co < 0) return EINTEGRITY;
      const dv = new DataView(buf.buffer);
      if (co === 32) {
        dv.setUint16(12 + 4, encodeRecLen(usable(fs) - 12, bsize), true);
        buf.fill(0, 24);
      } else {
        dv.setUint32(0, 0, true);
        dv.setUint16(4, encodeRecLen(usable(fs), bsize), true);
        buf.fill(0, 6);
      }
      dirTailInit(buf);
      const w = await writeBlock(dvp, lbn, buf);
      if (w !== 0) return w;
    }
  }
  ip.din.flags &= ~EXT2_INDEX_FL;
  ip.modified = true;
  return 0;
}

/** An htree index node of an indexed directory (no leaf entries in it). */
function isIndexNode(ip: Inode, buf: Uint8Array): boolean {
  return (ip.din.flags & EXT2_INDEX_FL) !== 0 && !dirHasTail(buf) && dxCountOffset(buf) >= 0;
}

/**
 * Adds the entry name -> ino (file type ft) to directory dvp (cf.
 * ext2_direnter). The caller has made sure the name is not there.
 */
export async function ext2DirEnter(dvp: Vnode, name: Uint8Array, ino: number, ft: number): Promise<number> {
  const ip = ext2Inode(dvp);
  const c = await ext2InlineConvert(dvp);
  if (c !== 0) return c;
  const error = await enter(dvp, ip, name, ino, ft);
  if (error === 0) dirhashAdd(ip, dirhashKey(name, 0, name.length), ino);
  else dirhashDrop(ip);
  return error;
}

/** ext2DirEnter without the dirhash. */
async function enter(dvp: Vnode, ip: Inode, name: Uint8Array, ino: number, ft: number): Promise<number> {
  const fs = ip.fs;
  const bsize = fs.bsize;
  if (ip.size % bsize !== 0) return EINTEGRITY;
  if ((ip.din.flags & EXT2_INDEX_FL) !== 0) {
    const h = await ext2HtreeEnter(dvp, ip, name, ino, ft);
    if (h !== EAGAIN) return h;
  }
  const dropped = (ip.din.flags & EXT2_INDEX_FL) !== 0 ? await dropIndex(dvp, ip) : 0;
  if (dropped !== 0) return dropped;
  const buf = dirBufGet(bsize);
  try {
    return await enterLinear(dvp, ip, buf, name, ino, ft);
  } finally {
    dirBufPut(buf);
  }
}

/** enter in a linear directory: the first block from diroff with room, else a new block (or an index). */
async function enterLinear(dvp: Vnode, ip: Inode, buf: Uint8Array, name: Uint8Array, ino: number, ft: number): Promise<number> {
  const fs = ip.fs;
  const bsize = fs.bsize;
  const need = direntRecLen(name.length);
  const nblocks = ip.size / bsize;
  const top = usable(fs);
  for (let lbn = Math.min(ip.diroff, nblocks); lbn < nblocks; lbn++) {
    const error = await readBlock(dvp, lbn, buf);
    if (error !== 0) return error;
    ip.diroff = lbn;
    if (allZero(buf)) {
      // A hole (or a zeroed block): it becomes a block holding only this entry.
      newLeaf(fs, buf, ino, name, ft);
      dirChanged(ip);
      return writeBlock(dvp, lbn, buf);
    }
    const leaf = buf.subarray(0, top);
    const perr = checkBlock(fs, leaf);
    if (perr !== 0) return perr;
    for (let off = 0; off < top;) {
      const recLen = recRecLen(leaf, off);
      const used = recIno(leaf, off) === 0 ? 0 : direntRecLen(leaf[off + 6]);
      if (recLen - used < need) {
        off += recLen;
        continue;
      }
      if (used === 0) {
        putEntry(fs, buf, off, ino, recLen, name, ft);
      } else {
        new DataView(buf.buffer, buf.byteOffset, bsize).setUint16(off + 4, encodeRecLen(used, bsize), true);
        putEntry(fs, buf, off + used, ino, recLen - used, name, ft);
      }
      dirChanged(ip);
      return writeBlock(dvp, lbn, buf);
    }
  }
  if (nblocks === 1 && (await ext2HtreeMake(dvp, ip)) === 0) {
    // One full block: the directory becomes indexed, and the name goes in by its hash.
    return ext2HtreeEnter(dvp, ip, name, ino, ft);
  }
  newLeaf(fs, buf, ino, name, ft);
  dirChanged(ip);
  ip.diroff = nblocks;
  return writeBlock(dvp, nblocks, buf);
}

/**
 * The directory blocks [lo, hi) that can hold the entry `name`: the one its
 * index names in an indexed directory (none when absent), else all of them.
 */
async function entryBlocks(dvp: Vnode, ip: Inode, name: Uint8Array): Promise<{ error: number; lo: number; hi: number }> {
  const all = ip.size / ip.fs.bsize;
  const x = await ext2HtreeLookup(dvp, ip, name, IO_NODELOCKED);
  if (x.error !== 0 || !x.indexed) return { error: x.error, lo: 0, hi: all };
  return x.lbn < 0 ? { error: 0, lo: 0, hi: 0 } : { error: 0, lo: x.lbn, hi: x.lbn + 1 };
}

function nameIs(buf: Uint8Array, r: DirRecord, name: Uint8Array): boolean {
  if (r.nameLen !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[r.off + DIRENT_HEADER + i] !== name[i]) return false;
  return true;
}

/**
 * Removes the entry `name` from directory dvp (cf. ext2_dirremove); answers
 * the inode number it named. ENOENT when absent.
 */
export async function ext2DirRemove(dvp: Vnode, name: Uint8Array): Promise<{ error: number; ino: number }> {
  const ip = ext2Inode(dvp);
  const c = await ext2InlineConvert(dvp);
  if (c !== 0) return { error: c, ino: 0 };
  const fs = ip.fs;
  const bsize = fs.bsize;
  if (ip.size % bsize !== 0) return { error: EINTEGRITY, ino: 0 };
  // An entry leaving its leaf leaves the index valid: it is kept.
  const where = await entryBlocks(dvp, ip, name);
  if (where.error !== 0) return { error: where.error, ino: 0 };
  const buf = new Uint8Array(bsize);
  const dv = new DataView(buf.buffer);
  for (let lbn = where.lo; lbn < where.hi; lbn++) {
    const error = await readBlock(dvp, lbn, buf);
    if (error !== 0) return { error, ino: 0 };
    if (allZero(buf) || isIndexNode(ip, buf)) continue;
    const { error: perr, recs } = parseBlock(fs, buf.subarray(0, usable(fs)));
    if (perr !== 0) return { error: perr, ino: 0 };
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i];
      if (r.ino === 0 || !nameIs(buf, r, name)) continue;
      if (i > 0) {
        const prev = recs[i - 1];
        dv.setUint16(prev.off + 4, encodeRecLen(prev.recLen + r.recLen, bsize), true);
      } else {
        dv.setUint32(r.off, 0, true);
      }
      const w = await writeBlock(dvp, lbn, buf);
      dirChanged(ip);
      ip.diroff = Math.min(ip.diroff, lbn);
      if (w === 0) dirhashRemove(ip, dirhashKey(name, 0, name.length));
      else dirhashDrop(ip);
      return { error: w, ino: w === 0 ? r.ino : 0 };
    }
  }
  return { error: ENOENT, ino: 0 };
}

/**
 * Is directory vp empty: no live entry but "." and ".."? (cf. ext2_dirempty)
 * Also answers the inode ".." names (0 when absent).
 */
export async function ext2DirEmpty(vp: Vnode): Promise<{ error: number; empty: boolean; parent: number }> {
  const ip = ext2Inode(vp);
  const c = await ext2InlineConvert(vp); // asked before rmdir or rename, which change it
  if (c !== 0) return { error: c, empty: false, parent: 0 };
  const fs = ip.fs;
  const bsize = fs.bsize;
  if (ip.size % bsize !== 0) return { error: EINTEGRITY, empty: false, parent: 0 };
  const buf = new Uint8Array(bsize);
  let parent = 0;
  for (let lbn = 0; lbn < ip.size / bsize; lbn++) {
    const error = await readBlock(vp, lbn, buf);
    if (error !== 0) return { error, empty: false, parent };
    if (allZero(buf)) continue;
    const { error: perr, recs } = parseBlock(fs, buf);
    if (perr !== 0) return { error: perr, empty: false, parent };
    for (const r of recs) {
      if (r.ino === 0) continue;
      const dot = r.nameLen === 1 && buf[r.off + DIRENT_HEADER] === 0x2e;
      const dotdot = r.nameLen === 2 && buf[r.off + DIRENT_HEADER] === 0x2e && buf[r.off + DIRENT_HEADER + 1] === 0x2e;
      if (dotdot) parent = r.ino;
      if (!dot && !dotdot) return { error: 0, empty: false, parent };
    }
  }
  return { error: 0, empty: true, parent };
}

/** The first block of a new directory (inode ino, generation gen): "." and "..", the latter spanning the rest. */
export function ext2DirTemplate(fs: Ext2Fs, ino: number, gen: number, parent: number): Uint8Array {
  const buf = new Uint8Array(fs.bsize);
  const dot = new Uint8Array([0x2e]);
  const dotdot = new Uint8Array([0x2e, 0x2e]);
  putEntry(fs, buf, 0, ino, direntRecLen(1), dot, EXT2_FT_DIR);
  putEntry(fs, buf, direntRecLen(1), parent, usable(fs) - direntRecLen(1), dotdot, EXT2_FT_DIR);
  if (fs.metadataCsum) {
    dirTailInit(buf);
    dirCsumSet(fs, ino, gen, buf);
  }
  return buf;
}

/**
 * Points the existing entry `name` of directory dvp at inode ino, file type
 * ft (cf. ext2_dirrewrite): one record rewritten in place, so the name names
 * the old inode or the new one at every instant. ENOENT when absent.
 */
export async function ext2DirRewrite(dvp: Vnode, name: Uint8Array, ino: number, ft: number): Promise<number> {
  const ip = ext2Inode(dvp);
  const c = await ext2InlineConvert(dvp);
  if (c !== 0) return c;
  const fs = ip.fs;
  const bsize = fs.bsize;
  if (ip.size % bsize !== 0) return EINTEGRITY;
  const where = await entryBlocks(dvp, ip, name);
  if (where.error !== 0) return where.error;
  const buf = new Uint8Array(bsize);
  const dv = new DataView(buf.buffer);
  for (let lbn = where.lo; lbn < where.hi; lbn++) {
    const error = await readBlock(dvp, lbn, buf);
    if (error !== 0) return error;
    if (allZero(buf)) continue;
    if (isIndexNode(ip, buf)) {
      // The htree root keeps "." and ".." (at 12) before its index.
      if (lbn !== 0 || dxCountOffset(buf) !== 32 || name.length !== 2 || name[0] !== 0x2e || name[1] !== 0x2e) continue;
      dv.setUint32(12, ino, true);
      if (fs.hasFeature(INCOMPAT_FILETYPE)) buf[12 + 7] = ft;
      const w = await writeBlock(dvp, lbn, buf);
      dirChanged(ip);
      return w;
    }
    const { error: perr, recs } = parseBlock(fs, buf.subarray(0, usable(fs)));
    if (perr !== 0) return perr;
    for (const r of recs) {
      if (r.ino === 0 || !nameIs(buf, r, name)) continue;
      dv.setUint32(r.off, ino, true);
      if (fs.hasFeature(INCOMPAT_FILETYPE)) buf[r.off + 7] = ft;
      // The whole block goes out: its checksum (metadata_csum) covers the record.
      const w = await writeBlock(dvp, lbn, buf);
      dirChanged(ip);
      const key = dirhashKey(name, 0, name.length);
      dirhashRemove(ip, key);
      if (w === 0) dirhashAdd(ip, key, ino);
      else dirhashDrop(ip);
      return w;
    }
  }
  return ENOENT;
}
