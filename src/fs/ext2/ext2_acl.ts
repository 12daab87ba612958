/*
 * POSIX ACLs as ext2/3/4 store them (cf. ext4's acl.h): callers see the
 * attribute format of system.posix_acl_access/default (version 2, 8-byte
 * entries: tag, perm, id), the disk holds the compact one (version 1, the
 * id only for ACL_USER and ACL_GROUP entries).
 *   { error, disk } = aclToDisk(xattrValue)     { error, value } = aclFromDisk(diskValue)
 * An access ACL and the mode agree, as Linux keeps them: setting one sets
 * the permission bits (aclMode), a chmod rewrites its entries (aclChmod).
 *   const e = aclEntries(value); const { mode, equiv } = aclMode(e, din.mode); aclEncode(aclChmod(e, mode))
 * A new file takes its directory's default ACL, cut to its mode (aclCreateMasq).
 */

import { EINTEGRITY, EINVAL } from '../../kern/errno.js';

const ACL_XATTR_VERSION = 2;
const ACL_DISK_VERSION = 1;
const ACL_USER_OBJ = 0x01;
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_GROUP = 0x08;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;

function hasId(tag: number): boolean | null {
  switch (tag) {
    case ACL_USER_OBJ: case ACL_GROUP_OBJ: case ACL_MASK: case ACL_OTHER: return false;
    case ACL_USER: case ACL_GROUP: return true;
    default: return null;
  }
}

/** The disk form of an ACL given in attribute form; EINVAL when it is not one. */
export function aclToDisk(v: Uint8Array): { error: number; disk: Uint8Array | null } {
  const dv = new DataView(v.buffer, v.byteOffset, v.length);
  if (v.length < 4 || (v.length - 4) % 8 !== 0 || dv.getUint32(0, true) !== ACL_XATTR_VERSION) return { error: EINVAL, disk: null };
  const out: number[] = [];
  const put16 = (x: number) => out.push(x & 0xff, x >>> 8);
  put16(ACL_DISK_VERSION);
  put16(0);
  for (let o = 4; o < v.length; o += 8) {
    const tag = dv.getUint16(o, true);
    const id = hasId(tag);
    if (id === null) return { error: EINVAL, disk: null };
    put16(tag);
    put16(dv.getUint16(o + 2, true));
    if (id) for (let k = 0; k < 4; k++) out.push(v[o + 4 + k]);
  }
  return { error: 0, disk: Uint8Array.from(out) };
}

/** Is v an ACL in the attribute form with no entries (its header alone)? */
export function aclIsEmpty(v: Uint8Array): boolean {
  return v.length === 4 && new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true) === ACL_XATTR_VERSION;
}

/** The attribute form of an ACL read from disk; EINTEGRITY when the disk's is damaged. */
export function aclFromDisk(d: Uint8Array): { error: number; value: Uint8Array | null } {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  if (d.length < 4 || dv.getUint32(0, true) !== ACL_DISK_VERSION) return { error: EINTEGRITY, value: null };
  const entries: AclEntry[] = [];
  for (let o = 4; o < d.length; ) {
    if (o + 4 > d.length) return { error: EINTEGRITY, value: null };
    const tag = dv.getUint16(o, true);
    const id = hasId(tag);
    if (id === null || (id && o + 8 > d.length)) return { error: EINTEGRITY, value: null };
    entries.push({ tag, perm: dv.getUint16(o + 2, true), id: id ? dv.getUint32(o + 4, true) : 0xffffffff });
    o += id ? 8 : 4;
  }
  return { error: 0, value: aclEncode(entries) };
}

/** An ACL entry in attribute form. */
export interface AclEntry {
  tag: number;
  perm: number;
  id: number;
}

/** The entries of an ACL in attribute form (aclToDisk has checked its layout), or null when they make no valid ACL (cf. posix_acl_valid). */
export function aclEntries(v: Uint8Array): AclEntry[] | null {
  const dv = new DataView(v.buffer, v.byteOffset, v.length);
  const out: AclEntry[] = [];
  for (let o = 4; o + 8 <= v.length; o += 8) out.push({ tag: dv.getUint16(o, true), perm: dv.getUint16(o + 2, true), id: dv.getUint32(o + 4, true) });
  // In tag order: the owner, named users, the owning group, named groups, the mask (needed by any named entry), others.
  const ORDER = [ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER];
  let at = 0;
  const count = new Map<number, number>();
  for (const e of out) {
    if ((e.perm & ~7) !== 0) return null;
    const k = ORDER.indexOf(e.tag);
    if (k < at) return null;
    at = k;
    count.set(e.tag, (count.get(e.tag) ?? 0) + 1);
  }
  const one = (t: number) => count.get(t) === 1;
  const named = (count.get(ACL_USER) ?? 0) + (count.get(ACL_GROUP) ?? 0) > 0;
  if (!one(ACL_USER_OBJ) || !one(ACL_GROUP_OBJ) || !one(ACL_OTHER) || (count.get(ACL_MASK) ?? 0) > 1 || (named && !one(ACL_MASK))) return null;
  return out;
}

/**
 * The permission bits an access ACL gives a file whose mode is `mode` (its
 * other bits kept), and whether the ACL says no more than they do (only the
 * owner, owning group and other entries: then no ACL is kept, as Linux's
 * posix_acl_update_mode drops it). The group bits are the mask's, if any.
 */
export function aclMode(entries: readonly AclEntry[], mode: number): { mode: number; equiv: boolean } {
  let bits = 0;
  let equiv = true;
  for (const e of entries) {
    if (e.tag === ACL_USER_OBJ) bits |= e.perm << 6;
    else if (e.tag === ACL_GROUP_OBJ) bits |= e.perm << 3;
    else if (e.tag === ACL_OTHER) bits |= e.perm;
    else if (e.tag === ACL_MASK) {
      bits = (bits & ~0o070) | (e.perm << 3);
      equiv = false;
    } else equiv = false;
  }
  return { mode: (mode & ~0o777) | bits, equiv };
}

/** The access ACL after a chmod to `mode` (cf. posix_acl_chmod): the owner's, the mask's (else the owning group's) and others' permissions become the mode's. */
export function aclChmod(entries: readonly AclEntry[], mode: number): AclEntry[] {
  const hasMask = entries.some((e) => e.tag === ACL_MASK);
  return entries.map((e) => {
    if (e.tag === ACL_USER_OBJ) return { ...e, perm: (mode >> 6) & 7 };
    if (e.tag === ACL_OTHER) return { ...e, perm: mode & 7 };
    if (e.tag === (hasMask ? ACL_MASK : ACL_GROUP_OBJ)) return { ...e, perm: (mode >> 3) & 7 };
    return e;
  });
}

/** Entries in attribute form (version 2; the id 0xffffffff where the tag has none). */
export function aclEncode(entries: readonly AclEntry[]): Uint8Array {
  const out = new Uint8Array(4 + entries.length * 8);
  const ov = new DataView(out.buffer);
  ov.setUint32(0, ACL_XATTR_VERSION, true);
  entries.forEach((e, i) => {
    ov.setUint16(4 + i * 8, e.tag, true);
    ov.setUint16(6 + i * 8, e.perm, true);
    ov.setUint32(8 + i * 8, hasId(e.tag) ? e.id : 0xffffffff, true);
  });
  return out;
}

/**
 * A new file's access ACL from its directory's default ACL and the mode
 * it is made with (cf. posix_acl_create_masq): the owner's, others' and the
 * mask's (else the owning group's) permissions cut to the mode's.
 */
export function aclCreateMasq(entries: readonly AclEntry[], mode: number): AclEntry[] {
  const hasMask = entries.some((e) => e.tag === ACL_MASK);
  return entries.map((e) => {
    if (e.tag === ACL_USER_OBJ) return { ...e, perm: e.perm & ((mode >> 6) & 7) };
    if (e.tag === ACL_OTHER) return { ...e, perm: e.perm & mode & 7 };
    if (e.tag === (hasMask ? ACL_MASK : ACL_GROUP_OBJ)) return { ...e, perm: e.perm & ((mode >> 3) & 7) };
    return e;
  });
}
