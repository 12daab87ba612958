/*
 * The on-disk form of ext2/3/4 extended attributes (cf. e2fsprogs
 * ext2_ext_attr.h): a list of entries (16-byte header, name padded to 4)
 * ended by four zero bytes, values packed down from the end of the region,
 * each padded to 4. Two regions hold them: the inode body after
 * i_extra_isize (magic, then entries; value offsets from the first entry)
 * and one attribute block (32-byte header: magic, h_refcount, h_blocks,
 * h_hash, h_checksum; value offsets from the block's start).
 *   { index, suffix } = xattrNameSplit('user.x')  ...  xattrNameJoin(index, suffix)
 *   { error, attrs } = xattrDecode(buf, first, end, base)
 *   xattrEncode(buf, first, end, base, attrs)      => room checked with xattrSpace
 */

import { nameDecode, nameEncode } from '../../kern/namebytes.js';
import { EINTEGRITY, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';

export const XATTR_MAGIC = 0xea020000;
/** Bytes of an attribute block's header; its entries start there. */
export const XATTR_BLOCK_HEADER = 32;
const ENTRY_HEADER = 16;

/** One attribute: its name index, the name past the prefix, the value (null: kept in an ea_inode, unread). */
export interface Xattr {
  index: number;
  suffix: Uint8Array;
  value: Uint8Array | null;
  /** Where value is null: the inode holding the value (e_value_inum) and its length (e_value_size). */
  valueInum?: number;
  valueSize?: number;
}

/**
 * Name prefixes and their indexes (cf. e2fsprogs ea_names); the POSIX ACL
 * names are whole names with an empty suffix. Most specific first.
 */
const PREFIXES: readonly { prefix: string; index: number; whole: boolean }[] = [
  { prefix: 'system.posix_acl_access', index: 2, whole: true },
  { prefix: 'system.posix_acl_default', index: 3, whole: true },
  { prefix: 'system.richacl', index: 8, whole: true },
  { prefix: 'user.', index: 1, whole: false },
  { prefix: 'trusted.', index: 4, whole: false },
  { prefix: 'security.', index: 6, whole: false },
  { prefix: 'gnu.', index: 10, whole: false },
  { prefix: 'system.', index: 7, whole: false },
];

export const XATTR_INDEX_USER = 1;
export const XATTR_INDEX_POSIX_ACL_ACCESS = 2;
export const XATTR_INDEX_POSIX_ACL_DEFAULT = 3;
export const XATTR_INDEX_SYSTEM = 7;
/** The longest name Linux accepts (XATTR_NAME_MAX), and an entry's e_name_len limit. */
export const XATTR_NAME_MAX = 255;

/**
 * The index and suffix of a full attribute name. EOPNOTSUPP: no known
 * prefix (as Linux answers); EINVAL: a prefix with nothing after it.
 */
export function xattrNameSplit(name: string): { error: number; index: number; suffix: Uint8Array } {
  for (const p of PREFIXES) {
    if (p.whole ? name !== p.prefix : !name.startsWith(p.prefix)) continue;
    const rest = name.slice(p.prefix.length);
    if (!p.whole && rest === '') return { error: EINVAL, index: 0, suffix: new Uint8Array(0) };
    return { error: 0, index: p.index, suffix: nameEncode(rest) }; // (a byte that is not UTF-8 kept: kern/namebytes.ts)
  }
  return { error: EOPNOTSUPP, index: 0, suffix: new Uint8Array(0) };
}

/** The full name of an entry; null for an index this code does not know. */
export function xattrNameJoin(index: number, suffix: Uint8Array): string | null {
  const p = PREFIXES.find((q) => q.index === index);
  if (p === undefined) return null;
  return p.prefix + nameDecode(suffix, 0, suffix.length);
}

/** Bytes an entry with a name of n bytes takes in the entry list. */
export function xattrEntryLen(n: number): number {
  return (ENTRY_HEADER + n + 3) & ~3;
}

/** Bytes a value of n bytes takes (padded to 4). */
export function xattrValueLen(n: number): number {
  return (n + 3) & ~3;
}

/** Bytes attrs take in a region (entries and values, not the terminator). */
export function xattrSpace(attrs: readonly Xattr[]): number {
  let n = 0;
  for (const a of attrs) n += xattrEntryLen(a.suffix.length) + xattrValueLen(a.value?.length ?? 0);
  return n;
}

/**
 * An entry's e_hash: the name's bytes (as signed chars, as e2fsprogs and
 * the kernel have always hashed them on x86), then the padded value's
 * little-endian words (cf. ext2fs_ext_attr_hash_entry).
 */
export function xattrEntryHash(suffix: Uint8Array, value: Uint8Array): number {
  let h = 0;
  for (const c of suffix) h = ((h << 5) ^ (h >>> 27) ^ ((c << 24) >> 24)) >>> 0;
  const words = xattrValueLen(value.length) / 4;
  for (let i = 0; i < words; i++) {
    let w = 0;
    for (let k = 3; k >= 0; k--) w = w * 256 + (value[i * 4 + k] ?? 0);
    h = ((h << 16) ^ (h >>> 16) ^ w) >>> 0;
  }
  return h;
}

/** The block's h_hash from its entries' hashes; 0 when one entry has none (cf. ext2fs_ext_attr_block_rehash). */
export function xattrBlockHash(hashes: readonly number[]): number {
  let h = 0;
  for (const e of hashes) {
    if (e === 0) return 0;
    h = ((h << 16) ^ (h >>> 16) ^ e) >>> 0;
  }
  return h;
}

/**
 * The entries of the region buf[first, end), values at base + e_value_offs.
 * Every length and offset is checked: EINTEGRITY for a damaged region.
 */
export function xattrDecode(buf: Uint8Array, first: number, end: number, base: number): { error: number; attrs: Xattr[] } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const attrs: Xattr[] = [];
  let o = first;
  for (; o + 4 <= end && dv.getUint32(o, true) !== 0; ) {
    if (o + ENTRY_HEADER > end) return { error: EINTEGRITY, attrs };
    const nameLen = buf[o];
    const next = o + xattrEntryLen(nameLen);
    if (next > end) return { error: EINTEGRITY, attrs };
    const offs = dv.getUint16(o + 2, true);
    const inum = dv.getUint32(o + 4, true);
    const size = dv.getUint32(o + 8, true);
    let value: Uint8Array | null = null;
    if (inum === 0) {
      const v = base + offs;
      if (size > 0 && (v < first || v + size > end)) return { error: EINTEGRITY, attrs };
      value = buf.slice(v, v + size);
    }
    const a: Xattr = { index: buf[o + 1], suffix: buf.slice(o + ENTRY_HEADER, o + ENTRY_HEADER + nameLen), value };
    if (value === null) {
      a.valueInum = inum;
      a.valueSize = size;
    }
    attrs.push(a);
    o = next;
  }
  if (o + 4 > end && o !== end) return { error: EINTEGRITY, attrs };
  return { error: 0, attrs };
}

/**
 * Writes attrs into buf[first, end) (zeroed first): the entries in order,
 * each with its e_hash, the terminator, the values from the end down.
 * Answers the entries' hashes. => xattrSpace(attrs) + 4 <= end - first; no value is null
 */
export function xattrEncode(buf: Uint8Array, first: number, end: number, base: number, attrs: readonly Xattr[]): number[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  buf.fill(0, first, end);
  const hashes: number[] = [];
  let o = first;
  let top = end;
  for (const a of attrs) {
    const value = a.value!;
    top -= xattrValueLen(value.length);
    buf.set(value, top);
    buf[o] = a.suffix.length;
    buf[o + 1] = a.index;
    dv.setUint16(o + 2, value.length === 0 ? 0 : top - base, true);
    dv.setUint32(o + 8, value.length, true);
    const h = xattrEntryHash(a.suffix, value);
    dv.setUint32(o + 12, h, true);
    buf.set(a.suffix, o + ENTRY_HEADER);
    hashes.push(h);
    o += xattrEntryLen(a.suffix.length);
  }
  return hashes;
}

/** The order of entries in an attribute block: index, name length, name bytes (as the kernel searches them). */
export function xattrCompare(a: Xattr, b: Xattr): number {
  if (a.index !== b.index) return a.index - b.index;
  if (a.suffix.length !== b.suffix.length) return a.suffix.length - b.suffix.length;
  for (let i = 0; i < a.suffix.length; i++) if (a.suffix[i] !== b.suffix[i]) return a.suffix[i] - b.suffix[i];
  return 0;
}

/** Same index and suffix. */
export function xattrSameName(a: Xattr, index: number, suffix: Uint8Array): boolean {
  if (a.index !== index || a.suffix.length !== suffix.length) return false;
  for (let i = 0; i < suffix.length; i++) if (a.suffix[i] !== suffix[i]) return false;
  return true;
}
