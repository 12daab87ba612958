/*
 * Extended attributes stored in the inode body (after i_extra_isize), as far
 * as reading needs them: the system.data attribute that continues the inline
 * data of an EXT4_INLINE_DATA_FL file past i_block. For writing, only the
 * release of an attribute block when its inode goes.
 *   { error, data } = inlineData(ip)     (i_block ++ system.data, cut to i_size; a file may go on in zeros)
 *   error = await ext2XattrBlockRelease(mp, ip)
 */

import { nameEncode } from '../../kern/namebytes.js';
import { EINTEGRITY } from '../../kern/errno.js';
import { EXT2_GOOD_OLD_INODE_SIZE, EXT2_IBLOCK_BYTES } from './ext2_fs.js';
import type { Inode } from './ext2_inode.js';
import { VType } from '../../vfs/vnode.js';
import type { Mount } from '../../vfs/mount.js';
import type { Buf } from '../../vfs/buf.js';
import { ext2BufInvalidate, ext2FreeBlocks } from './ext2_alloc.js';
import { xattrCsumOk, xattrCsumSet } from './ext2_csum.js';

export const EXT2_XATTR_MAGIC = 0xea020000;
export const EXT2_XATTR_INDEX_SYSTEM = 7;
const ENTRY_HEADER = 16;

/**
 * The value of in-inode attribute index.name; null when absent, EINTEGRITY
 * when the attribute area is damaged.
 */
export function inodeXattr(ip: Inode, index: number, name: string): { error: number; value: Uint8Array | null } {
  const raw = ip.raw;
  const extra = ip.din.extraIsize;
  if (extra < 0) return { error: EINTEGRITY, value: null };
  const start = EXT2_GOOD_OLD_INODE_SIZE + extra;
  if (extra === 0 || start + 4 > raw.length) return { error: 0, value: null };
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  if (dv.getUint32(start, true) !== EXT2_XATTR_MAGIC) return { error: 0, value: null };
  const first = start + 4;
  const want = nameEncode(name);
  for (let o = first; o + 4 <= raw.length && dv.getUint32(o, true) !== 0;) {
    if (o + ENTRY_HEADER > raw.length) return { error: EINTEGRITY, value: null };
    const nameLen = raw[o];
    const next = o + ((ENTRY_HEADER + nameLen + 3) & ~3);
    if (next > raw.length) return { error: EINTEGRITY, value: null };
    if (raw[o + 1] === index && nameLen === want.length && equal(raw, o + ENTRY_HEADER, want)) {
      const voff = dv.getUint16(o + 2, true);
      const inum = dv.getUint32(o + 4, true);
      const vsize = dv.getUint32(o + 8, true);
      if (inum !== 0) return { error: EINTEGRITY, value: null }; // not for system.* values
      if (vsize === 0) return { error: 0, value: new Uint8Array(0) };
      const v = first + voff;
      if (v < first || v + vsize > raw.length) return { error: EINTEGRITY, value: null };
      return { error: 0, value: raw.slice(v, v + vsize) };
    }
    o = next;
  }
  return { error: 0, value: null };
}

function equal(b: Uint8Array, off: number, s: Uint8Array): boolean {
  for (let i = 0; i < s.length; i++) if (b[off + i] !== s[i]) return false;
  return true;
}

/**
 * The bytes an inline-data file holds: i_block, then system.data, cut to
 * i_size. A regular file may be longer than they are (mke2fs -d stores a
 * file of holes so: 60 bytes inline, i_size past them; e2fsck accepts it):
 * its bytes past them read as zeros, as the kernel reads them (cf. ext4's
 * ext4_read_inline_folio). A directory or symlink must hold all its bytes
 * (e2fsck requires it). => ip.inlineData
 */
export function inlineData(ip: Inode): { error: number; data: Uint8Array | null } {
  if (ip.inline !== null) return { error: 0, data: ip.inline };
  let data = ip.din.iblock;
  if (ip.size > EXT2_IBLOCK_BYTES) {
    const { error, value } = inodeXattr(ip, EXT2_XATTR_INDEX_SYSTEM, 'data');
    if (error !== 0) return { error, data: null };
    if (value === null) return { error: EINTEGRITY, data: null };
    if (EXT2_IBLOCK_BYTES + value.length < ip.size && ip.type !== VType.VREG) return { error: EINTEGRITY, data: null };
    data = new Uint8Array(EXT2_IBLOCK_BYTES + value.length);
    data.set(ip.din.iblock, 0);
    data.set(value, EXT2_IBLOCK_BYTES);
  }
  ip.inline = data.subarray(0, Math.min(ip.size, data.length));
  return { error: 0, data: ip.inline };
}

/**
 * ip's extended-attribute block (i_file_acl, not 0), read and checked as
 * ext2XattrBlockRelease takes it: in range, an attribute block with a
 * reference, its checksum good; busy. Else the errno, nothing held.
 */
async function xattrBlockChecked(mp: Mount, ip: Inode): Promise<{ error: number; bp: Buf | null }> {
  const fs = ip.fs;
  const b = ip.din.fileAcl;
  if (!fs.blockOk(b)) return { error: EINTEGRITY, bp: null };
  const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(b), fs.bsize);
  if (error !== 0 || bp === null) return { error, bp: null };
  const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
  let e = dv.getUint32(0, true) !== EXT2_XATTR_MAGIC || dv.getUint32(4, true) === 0 ? EINTEGRITY : 0;
  if (e === 0 && fs.metadataCsum && !xattrCsumOk(fs, b, bp.data)) e = fs.csumFailed(`extended attribute block ${b}`);
  if (e !== 0) {
    mp.bufcache.brelse(bp);
    return { error: e, bp: null };
  }
  return { error: 0, bp };
}

/** Whether ext2XattrBlockRelease would take ip's attribute block: 0, or the errno it would meet (nothing changed). */
export async function ext2XattrBlockCheck(mp: Mount, ip: Inode): Promise<number> {
  if (ip.din.fileAcl === 0) return 0;
  const { error, bp } = await xattrBlockChecked(mp, ip);
  if (bp !== null) mp.bufcache.brelse(bp);
  return error;
}

/**
 * Drops ip's reference to its extended-attribute block (i_file_acl), when
 * the inode goes: the block's h_refcount falls by one, and the block is
 * freed with its last reference. A block that is not an attribute block is
 * damage: EINTEGRITY, left alone. => read-write mount; may sleep
 */
export async function ext2XattrBlockRelease(mp: Mount, ip: Inode): Promise<number> {
  const fs = ip.fs;
  const b = ip.din.fileAcl;
  if (b === 0) return 0;
  const { error, bp } = await xattrBlockChecked(mp, ip);
  if (error !== 0 || bp === null) return error;
  const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
  const refs = dv.getUint32(4, true) - 1;
  ip.din.fileAcl = 0;
  ip.blocks512 = Math.max(0, ip.blocks512 - fs.spb);
  ip.modified = true;
  if (refs > 0) {
    dv.setUint32(4, refs, true);
    if (fs.metadataCsum) xattrCsumSet(fs, b, bp.data);
    mp.bufcache.bdwrite(bp);
    return 0;
  }
  mp.bufcache.brelse(bp);
  await ext2BufInvalidate(mp, b);
  return ext2FreeBlocks(mp, [b]);
}
