/*
 * Extended-attribute VOPs on ext2/3/4 (cf. FreeBSD ext2_extattr.c and
 * e2fsprogs ext2fs_xattr_set): every attribute of the inode is read (inode
 * body, then the attribute block), the list changed, and both regions
 * written again. A value goes into the inode body when it fits there, else
 * into the block, whose entries stay sorted; a block shared with other
 * inodes (h_refcount > 1) is copied first, and a block left empty is freed.
 *   { error, value } = await ext2Getextattr(vp, 'user.x')
 *   error = await ext2Setextattr(vp, 'user.x', value, 0)   => vp locked exclusively
 */

import { nameEncode } from '../../kern/namebytes.js';
import { E2BIG, EACCES, EEXIST, EINTEGRITY, EINVAL, ENOATTR, ENOSPC, EOPNOTSUPP, EPERM, ERANGE } from '../../kern/errno.js';
import { B_DONE } from '../../vfs/buf.js';
import type { Mount } from '../../vfs/mount.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { XATTR_CREATE, XATTR_REPLACE } from '../../vfs/vnode_if.js';
import { UIO_READ, Uio } from '../../vfs/uio.js';
import { vrele } from '../../vfs/vfs_subr.js';
import { ext2DirectRead } from './ext2_readwrite.js';
import { aclEntries, aclFromDisk, aclIsEmpty, aclMode, aclToDisk } from './ext2_acl.js';
import { EXT2_CTIME, ext2Stamp } from './ext2_itimes.js';
import { ext2AllocBlocks, ext2Blkpref } from './ext2_alloc.js';
import { xattrCsumOk, xattrCsumSet } from './ext2_csum.js';
import { ext2XattrBlockRelease } from './ext2_extattr.js';
import { type Ext2Dinode, EXT2_GOOD_OLD_INODE_SIZE, EXT4_EA_INODE_FL, INCOMPAT_EA_INODE } from './ext2_fs.js';
import { ext2SetFeatures } from './ext2_group.js';
import { type Inode, ext2Inode } from './ext2_inode.js';
import { ext2Update } from './ext2_inode_write.js';
import { ext2Writable } from './ext2_write.js';
import {
  XATTR_BLOCK_HEADER, XATTR_INDEX_POSIX_ACL_ACCESS, XATTR_INDEX_USER, XATTR_INDEX_POSIX_ACL_DEFAULT, XATTR_INDEX_SYSTEM, XATTR_MAGIC,
  XATTR_NAME_MAX, type Xattr, xattrBlockHash, xattrCompare, xattrDecode, xattrEncode, xattrEntryLen, xattrNameJoin,
  xattrNameSplit, xattrSameName, xattrSpace, xattrValueLen,
} from './ext2_xattr.js';

/** The largest value Linux takes (XATTR_SIZE_MAX); more is E2BIG. */
const XATTR_SIZE_MAX = 65536;
const COMPAT_EXT_ATTR = 0x8;

/** An inode's attributes as found: the inode body's, the block's, and what room each has. */
interface XattrState {
  ibody: Xattr[];
  block: Xattr[];
  /** Bytes for entries and values in the inode body (0: none). */
  ibodyRoom: number;
  /** h_refcount of the block (0: no block). */
  refcount: number;
}

/** Where the inode body's attribute area starts (its magic), or -1 when the inode has none. */
function ibodyStart(ip: Inode): number {
  return ibodyStartIn(ip.raw, ip.din);
}

function ibodyStartIn(raw: Uint8Array, din: Ext2Dinode): number {
  const extra = din.extraIsize;
  if (raw.length <= EXT2_GOOD_OLD_INODE_SIZE || extra <= 0) return -1;
  const start = EXT2_GOOD_OLD_INODE_SIZE + extra;
  return start + 8 <= raw.length ? start : -1;
}

/** Reads every attribute of ip. => may sleep */
async function xattrRead(mp: Mount, ip: Inode): Promise<{ error: number; st: XattrState | null }> {
  const fs = ip.fs;
  if (ip.din.extraIsize < 0) return { error: EINTEGRITY, st: null };
  const st: XattrState = { ibody: [], block: [], ibodyRoom: 0, refcount: 0 };
  const start = ibodyStart(ip);
  if (start >= 0) {
    const raw = ip.raw;
    st.ibodyRoom = raw.length - start - 8;
    if (new DataView(raw.buffer, raw.byteOffset, raw.length).getUint32(start, true) === XATTR_MAGIC) {
      const r = xattrDecode(raw, start + 4, raw.length, start + 4);
      if (r.error !== 0) return { error: r.error, st: null };
      st.ibody = r.attrs;
    }
  }
  const b = ip.din.fileAcl;
  if (b !== 0) {
    if (!fs.blockOk(b)) return { error: EINTEGRITY, st: null };
    const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(b), fs.bsize);
    if (error !== 0 || bp === null) return { error: error || EINTEGRITY, st: null };
    try {
      const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
      if (dv.getUint32(0, true) !== XATTR_MAGIC || dv.getUint32(8, true) !== 1 || dv.getUint32(4, true) === 0) {
        return { error: EINTEGRITY, st: null };
      }
      if (fs.metadataCsum && !xattrCsumOk(fs, b, bp.data)) {
        const e = fs.csumFailed(`extended attribute block ${b}`);
        if (e !== 0) return { error: e, st: null };
      }
      const r = xattrDecode(bp.data, XATTR_BLOCK_HEADER, fs.bsize, 0);
      if (r.error !== 0) return { error: r.error, st: null };
      st.block = r.attrs;
      st.refcount = dv.getUint32(4, true);
    } finally {
      mp.bufcache.brelse(bp);
    }
  }
  return { error: 0, st };
}

/** The attribute block's room for entries and values. */
function blockRoom(ip: Inode): number {
  return ip.fs.bsize - XATTR_BLOCK_HEADER - 4;
}

function isInlineData(a: Xattr): boolean {
  return a.index === XATTR_INDEX_SYSTEM && a.suffix.length === 4 && new TextDecoder().decode(a.suffix) === 'data';
}

/**
 * May user.* attributes of vp be set or removed? Only on a regular file or a
 * directory, as Linux allows (xattr_permission: a symlink's, a device's, a
 * FIFO's or a socket's are EPERM). Those read as they are.
 */
function userAttrsAllowed(vp: Vnode, index: number): boolean {
  return index !== XATTR_INDEX_USER || vp.type === VType.VREG || vp.type === VType.VDIR;
}

function isAcl(index: number): boolean {
  return index === XATTR_INDEX_POSIX_ACL_ACCESS || index === XATTR_INDEX_POSIX_ACL_DEFAULT;
}

/** VOP_GETEXTATTR. => may sleep */
export async function ext2Getextattr(vp: Vnode, name: string): Promise<{ error: number; value: Uint8Array | null }> {
  const mp = vp.mount;
  if (mp === null) return { error: EOPNOTSUPP, value: null };
  const n = xattrNameSplit(name);
  if (n.error !== 0) return { error: n.error, value: null };
  const { error, st } = await xattrRead(mp, ext2Inode(vp));
  if (error !== 0) return { error, value: null };
  const a = [...st!.ibody, ...st!.block].find((x) => xattrSameName(x, n.index, n.suffix));
  if (a === undefined) return { error: ENOATTR, value: null };
  let value = a.value;
  if (value === null) {
    const r = await eaInodeValue(mp, ext2Inode(vp), a);
    if (r.value === null) return r;
    value = r.value;
  }
  if (isAcl(a.index)) return aclFromDisk(value);
  return { error: 0, value };
}

/**
 * The value an entry keeps in an inode of its own (ea_inode: e_value_inum),
 * read whole (cf. ext4_xattr_inode_get): a regular file flagged
 * EXT4_EA_INODE_FL, as long as the entry's e_value_size says and no longer
 * than a value can be; anything else is damage (EINTEGRITY).
 */
async function eaInodeValue(mp: Mount, ip: Inode, a: Xattr): Promise<{ error: number; value: Uint8Array | null }> {
  const inum = a.valueInum ?? 0;
  const size = a.valueSize ?? -1;
  if (!ip.fs.hasFeature(INCOMPAT_EA_INODE) || inum === ip.ino || size < 0 || size > XATTR_SIZE_MAX) return { error: EINTEGRITY, value: null };
  const r = await mp.op.vget(mp, inum);
  if (r.vp === null) return { error: r.error === EINVAL ? EINTEGRITY : r.error || EINTEGRITY, value: null };
  try {
    const ea = ext2Inode(r.vp);
    if (r.vp.type !== VType.VREG || (ea.din.flags & EXT4_EA_INODE_FL) === 0 || ea.size !== size) return { error: EINTEGRITY, value: null };
    const value = new Uint8Array(size);
    const uio = Uio.of(value, 0, UIO_READ);
    const error = await ext2DirectRead(r.vp, uio);
    if (error !== 0) return { error, value: null };
    return uio.resid === 0 ? { error: 0, value } : { error: EINTEGRITY, value: null };
  } finally {
    await vrele(r.vp);
  }
}

/** VOP_LISTEXTATTR: every attribute with a known name but system.data (the inline data). => may sleep */
export function ext2Listextattr(vp: Vnode): Promise<{ error: number; names: string[] }> {
  const mp = vp.mount;
  if (mp === null) return Promise.resolve({ error: EOPNOTSUPP, names: [] });
  const ip = ext2Inode(vp);
  return ext2XattrsNone(ip.raw, ip.din) ? Promise.resolve({ error: 0, names: [] }) : listSlow(mp, ip);
}

/**
 * Has an inode (raw as read, din decoded) no extended attribute at all, as
 * the inode alone tells (most
 * files): no attribute block, and in the inode body no magic, or the magic
 * followed at once by the end of the entries (as an inode whose last
 * attribute went, or any inode of a file system with inline data, has).
 * False where it may have some (read them to know).
 */
export function ext2XattrsNone(r: Uint8Array, din: Ext2Dinode): boolean {
  if (din.fileAcl !== 0 || din.extraIsize < 0) return false;
  const start = ibodyStartIn(r, din); // (start + 8 <= the inode's size)
  const le32 = (o: number) => (r[o] | (r[o + 1] << 8) | (r[o + 2] << 16) | (r[o + 3] << 24)) >>> 0;
  return start < 0 || le32(start) !== XATTR_MAGIC || le32(start + 4) === 0;
}

async function listSlow(mp: Mount, ip: Inode): Promise<{ error: number; names: string[] }> {
  const { error, st } = await xattrRead(mp, ip);
  if (error !== 0) return { error, names: [] };
  const names: string[] = [];
  for (const a of [...st!.ibody, ...st!.block]) {
    const s = isInlineData(a) ? null : xattrNameJoin(a.index, a.suffix);
    if (s !== null) names.push(s);
  }
  return { error: 0, names };
}

/** VOP_SETEXTATTR. => vp locked exclusively; may sleep */
export async function ext2Setextattr(vp: Vnode, name: string, value: Uint8Array, flag: number): Promise<number> {
  const w = ext2Writable(vp);
  if (w.error !== 0) return w.error;
  const n = xattrNameSplit(name);
  if (n.error !== 0) return n.error;
  if (nameEncode(name).length > XATTR_NAME_MAX) return ERANGE;
  if (value.length > XATTR_SIZE_MAX) return E2BIG;
  const a: Xattr = { index: n.index, suffix: n.suffix, value };
  if (isInlineData(a) || !userAttrsAllowed(vp, n.index)) return EPERM;
  // An ACL of no entries (its header alone) removes the ACL, as Linux reads one (posix_acl_from_xattr: none).
  if (isAcl(n.index) && aclIsEmpty(value)) {
    if (n.index === XATTR_INDEX_POSIX_ACL_DEFAULT && vp.type !== VType.VDIR) return 0;
    const e = await ext2Deleteextattr(vp, name);
    return e === ENOATTR ? 0 : e;
  }
  const ip = ext2Inode(vp);
  // An access ACL sets the permission bits, and one the bits say in full is not kept (as Linux's ext4_set_acl).
  let keep = true;
  let mode = ip.din.mode;
  if (isAcl(n.index)) {
    const r = aclToDisk(value);
    if (r.error !== 0) return r.error;
    const entries = aclEntries(value);
    if (entries === null) return EINVAL;
    if (n.index === XATTR_INDEX_POSIX_ACL_DEFAULT && vp.type !== VType.VDIR) return EACCES; // (only a directory has one)
    if (n.index === XATTR_INDEX_POSIX_ACL_ACCESS) {
      const m = aclMode(entries, ip.din.mode);
      mode = m.mode;
      keep = !m.equiv;
    }
    a.value = r.disk;
  }
  const { error, st } = await xattrRead(w.mp!, ip);
  if (error !== 0) return error;
  const s = st!;
  const inBody = s.ibody.findIndex((x) => xattrSameName(x, n.index, n.suffix));
  const inBlock = inBody >= 0 ? -1 : s.block.findIndex((x) => xattrSameName(x, n.index, n.suffix));
  const old = inBody >= 0 ? s.ibody[inBody] : inBlock >= 0 ? s.block[inBlock] : null;
  if (old !== null && flag === XATTR_CREATE) return EEXIST;
  if (old === null && flag === XATTR_REPLACE) return ENOATTR;
  if (old !== null && old.value === null) return EOPNOTSUPP;
  const need = xattrEntryLen(a.suffix.length) + xattrValueLen(a.value!.length);
  const ibody = s.ibody.filter((_, i) => i !== inBody);
  const block = s.block.filter((_, i) => i !== inBlock);
  if (mode !== ip.din.mode) {
    ip.din.mode = mode;
    ext2Stamp(ip.din, EXT2_CTIME);
    ip.modified = true;
  }
  if (!keep) return xattrWrite(w.mp!, ip, s, ibody, block);
  if (s.ibodyRoom > 0 && xattrSpace(ibody) + need <= s.ibodyRoom) {
    if (inBody >= 0) ibody.splice(inBody, 0, a);
    else ibody.push(a);
  } else {
    if (xattrSpace(block) + need > blockRoom(ip)) return ENOSPC; // as Linux answers without ea_inode
    block.push(a);
    block.sort(xattrCompare);
  }
  return xattrWrite(w.mp!, ip, s, ibody, block);
}

/** VOP_DELETEEXTATTR. => vp locked exclusively; may sleep */
export async function ext2Deleteextattr(vp: Vnode, name: string): Promise<number> {
  const w = ext2Writable(vp);
  if (w.error !== 0) return w.error;
  const n = xattrNameSplit(name);
  if (n.error !== 0) return n.error;
  if (isInlineData({ index: n.index, suffix: n.suffix, value: null }) || !userAttrsAllowed(vp, n.index)) return EPERM;
  const ip = ext2Inode(vp);
  const { error, st } = await xattrRead(w.mp!, ip);
  if (error !== 0) return error;
  const s = st!;
  const ibody = s.ibody.filter((x) => !xattrSameName(x, n.index, n.suffix));
  const block = s.block.filter((x) => !xattrSameName(x, n.index, n.suffix));
  if (ibody.length === s.ibody.length && block.length === s.block.length) return ENOATTR;
  return xattrWrite(w.mp!, ip, s, ibody, block);
}

/**
 * Removes the inline-data attribute (system.data) of ip, as the conversion
 * of an inline file to blocks does; absent is fine. => vp locked exclusively; may sleep
 */
export async function ext2XattrDropInlineData(mp: Mount, ip: Inode): Promise<number> {
  const { error, st } = await xattrRead(mp, ip);
  if (error !== 0) return error;
  const s = st!;
  const ibody = s.ibody.filter((x) => !isInlineData(x));
  if (ibody.length === s.ibody.length) return 0;
  return xattrWrite(mp, ip, s, ibody, s.block);
}

/**
 * Writes the new lists: the block first (rewritten in place when ip owns it
 * alone, else a new one; released when empty), then the inode body and
 * the inode. Nothing changes when no block can be had (ENOSPC).
 * => vp locked exclusively; may sleep
 */
async function xattrWrite(mp: Mount, ip: Inode, st: XattrState, ibody: Xattr[], block: Xattr[]): Promise<number> {
  const fs = ip.fs;
  const blockSame = block.length === st.block.length && block.every((x, i) => x === st.block[i]);
  let unshared = 0;
  let sync = false;
  if (!blockSame) {
    if (block.length === 0) {
      const e = await ext2XattrBlockRelease(mp, ip);
      if (e !== 0) return e;
    } else {
      const r = await xattrBlockWrite(mp, ip, st, block);
      if (r.error !== 0) return r.error;
      unshared = r.unshared;
      sync = r.fresh && !mp.async;
    }
  }
  const start = ibodyStart(ip);
  if (start >= 0) {
    const raw = ip.raw;
    raw.fill(0, start, raw.length);
    if (ibody.length > 0) {
      new DataView(raw.buffer, raw.byteOffset, raw.length).setUint32(start, XATTR_MAGIC, true);
      xattrEncode(raw, start + 4, raw.length, start + 4, ibody);
    }
  }
  ext2SetFeatures(fs, COMPAT_EXT_ATTR, 0);
  ext2Stamp(ip.din, EXT2_CTIME);
  ip.modified = true;
  // A new block (the first, or a copy of a shared one) is on disk before the inode points at it, and the inode
  // points at it before the shared block's count falls: a kill between leaves that count one too high (e2fsck
  // asks to lower it), never a pointer to a block never written, nor a count too low.
  const e = await ext2Update(mp, ip, sync);
  if (e !== 0) return e;
  return unshared !== 0 ? xattrUnshare(mp, ip, unshared) : 0;
}

/**
 * Writes block's entries into ip's own attribute block, allocating one (or
 * a copy of a shared one: its reference is then the caller's to drop,
 * `unshared`, once the inode no longer points at it). A new block (`fresh`)
 * is written at once, unless MNT_ASYNC. => may sleep
 */
async function xattrBlockWrite(mp: Mount, ip: Inode, st: XattrState, block: Xattr[]): Promise<{ error: number; fresh: boolean; unshared: number }> {
  const fs = ip.fs;
  let b = ip.din.fileAcl;
  let fresh = false;
  let unshared = 0;
  if (b === 0 || st.refcount > 1) {
    const r = await ext2AllocBlocks(mp, ext2Blkpref(ip, 0), 1);
    if (r.error !== 0) return { error: r.error, fresh: false, unshared: 0 };
    if (b !== 0) unshared = b;
    else ip.blocks512 += fs.spb;
    b = r.blk;
    fresh = true;
    ip.din.fileAcl = b;
    ip.modified = true;
  }
  const bp = await mp.bufcache.getblk(fs.fsbtodb(b), fs.bsize);
  const data = bp.data;
  const dv = new DataView(data.buffer, data.byteOffset, fs.bsize);
  data.fill(0, 0, XATTR_BLOCK_HEADER);
  dv.setUint32(0, XATTR_MAGIC, true);
  dv.setUint32(4, 1, true);
  dv.setUint32(8, 1, true);
  const hashes = xattrEncode(data, XATTR_BLOCK_HEADER, fs.bsize, 0, block);
  dv.setUint32(12, xattrBlockHash(hashes), true);
  if (fs.metadataCsum) xattrCsumSet(fs, b, data);
  bp.flags |= B_DONE;
  if (fresh && !mp.async) {
    const e = await mp.bufcache.bwrite(bp);
    if (e !== 0) return { error: e, fresh: false, unshared: 0 };
  } else {
    mp.bufcache.bdwrite(bp);
  }
  return { error: 0, fresh, unshared };
}

/** Drops ip's reference to the shared block b (its h_refcount falls by one). => may sleep */
async function xattrUnshare(mp: Mount, ip: Inode, b: number): Promise<number> {
  const fs = ip.fs;
  const { error, bp } = await mp.bufcache.bread(fs.fsbtodb(b), fs.bsize);
  if (error !== 0 || bp === null) return error || EINTEGRITY;
  const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bsize);
  dv.setUint32(4, dv.getUint32(4, true) - 1, true);
  if (fs.metadataCsum) xattrCsumSet(fs, b, bp.data);
  mp.bufcache.bdwrite(bp);
  return 0;
}
