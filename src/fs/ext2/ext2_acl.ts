/*
 * POSIX ACLs as ext2/3/4 store them (cf. ext4's acl.h): callers see the
 * attribute format of system.posix_acl_access/default (version 2, 8-byte
 * entries: tag, perm, id), the disk holds the compact one (version 1, the
 * id only for ACL_USER and ACL_GROUP entries).
 *   { error, disk } = aclToDisk(xattrValue)     { error, value } = aclFromDisk(diskValue)
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

/** The attribute form of an ACL read from disk; EINTEGRITY when the disk's is damaged. */
export function aclFromDisk(d: Uint8Array): { error: number; value: Uint8Array | null } {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  if (d.length < 4 || dv.getUint32(0, true) !== ACL_DISK_VERSION) return { error: EINTEGRITY, value: null };
  const entries: { tag: number; perm: number; id: number }[] = [];
  for (let o = 4; o < d.length; ) {
    if (o + 4 > d.length) return { error: EINTEGRITY, value: null };
    const tag = dv.getUint16(o, true);
    const id = hasId(tag);
    if (id === null || (id && o + 8 > d.length)) return { error: EINTEGRITY, value: null };
    entries.push({ tag, perm: dv.getUint16(o + 2, true), id: id ? dv.getUint32(o + 4, true) : 0xffffffff });
    o += id ? 8 : 4;
  }
  const out = new Uint8Array(4 + entries.length * 8);
  const ov = new DataView(out.buffer);
  ov.setUint32(0, ACL_XATTR_VERSION, true);
  entries.forEach((e, i) => {
    ov.setUint16(4 + i * 8, e.tag, true);
    ov.setUint16(6 + i * 8, e.perm, true);
    ov.setUint32(8 + i * 8, e.id, true);
  });
  return { error: 0, value: out };
}
