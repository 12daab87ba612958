/*
 * UFS directories: VOP_LOOKUP and VOP_READDIR by a linear scan of the
 * directory's contents, read with VOP_READ (through the VM object) one block
 * at a time. Entries (struct direct) never cross a DIRBLKSIZ (512-byte)
 * chunk; each is checked before use (cf. ufs_dirbadentry): record length,
 * name length, the name's terminating NUL, the inode number. Lookups in
 * large directories go through dirhash after one scan.
 *   { error, vp } = await ufsLookup(dvp, name);  error = await ufsReaddir(vp, fn)
 */

import { EINTEGRITY, ENAMETOOLONG, ENOENT, ENOTDIR } from '../../kern/errno.js';
import { nameDecode, nameEncode } from '../../kern/namebytes.js';
import { UIO_READ, Uio } from '../../vfs/uio.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import type { Dirent, LookupResult } from '../../vfs/vnode_if.js';
import { dirhashResolve } from '../../vfs/vfs_dirhash.js';
import { nameEquals } from '../../vfs/vfs_lookup.js';
import {
  DIRBLKSIZ, DIRECT_HEADER, DT_BLK, DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK, DT_WHT, UFS_MAXNAMLEN,
} from './ffs_fs.js';
import type { FfsFs } from './ffs_mount.js';
import { ufsInode } from './ufs_inode.js';

function dtToVType(dt: number): VType {
  switch (dt) {
    case DT_REG: return VType.VREG;
    case DT_DIR: return VType.VDIR;
    case DT_LNK: return VType.VLNK;
    case DT_CHR: return VType.VCHR;
    case DT_BLK: return VType.VBLK;
    case DT_FIFO: return VType.VFIFO;
    case DT_SOCK: return VType.VSOCK;
    default: return VType.VNON; // DT_UNKNOWN
  }
}

/** The smallest record holding a name of namlen bytes (cf. DIRSIZ): header, name, NUL, to 4 bytes. */
const direntSize = (namlen: number) => (DIRECT_HEADER + namlen + 1 + 3) & ~3;

/** One live entry: the name is buf[nameOff, nameOff + nameLen). Answer false to stop. */
type EntryFn = (ino: number, type: VType, buf: Uint8Array, nameOff: number, nameLen: number) => boolean;

/** Calls fn for each live entry of one DIRBLKSIZ chunk. */
function scanChunk(fs: FfsFs, buf: Uint8Array, start: number, fn: EntryFn): { error: number; stop: boolean } {
  const dv = new DataView(buf.buffer, buf.byteOffset + start, DIRBLKSIZ);
  const le = fs.sb.le;
  for (let off = 0; off < DIRBLKSIZ;) {
    if (off + DIRECT_HEADER > DIRBLKSIZ) return { error: EINTEGRITY, stop: true };
    const ino = dv.getUint32(off, le);
    const reclen = dv.getUint16(off + 4, le);
    const dt = buf[start + off + 6];
    const namlen = buf[start + off + 7];
    if (reclen === 0 || reclen % 4 !== 0 || off + reclen > DIRBLKSIZ) return { error: EINTEGRITY, stop: true };
    // A whiteout (cf. union mounts) names no file: skipped, like an empty record.
    if (ino !== 0 && dt !== DT_WHT) {
      if (reclen < direntSize(namlen) || namlen === 0 || namlen > UFS_MAXNAMLEN) return { error: EINTEGRITY, stop: true };
      if (ino >= fs.maxIno) return { error: EINTEGRITY, stop: true };
      const nameOff = start + off + DIRECT_HEADER;
      if (buf[nameOff + namlen] !== 0 || buf.subarray(nameOff, nameOff + namlen).includes(0)) return { error: EINTEGRITY, stop: true };
      if (!fn(ino, dtToVType(dt), buf, nameOff, namlen)) return { error: 0, stop: true };
    }
    off += reclen;
  }
  return { error: 0, stop: false };
}

/** Walks every live entry of directory vp in on-disk order until fn answers false. => vp is VDIR; may sleep */
async function scanDir(vp: Vnode, fn: EntryFn): Promise<number> {
  const ip = ufsInode(vp);
  const fs = ip.fs;
  if (ip.size % DIRBLKSIZ !== 0 || ip.size > fs.sb.size * fs.fsize) return EINTEGRITY;
  const bsize = fs.bsize;
  const buf = new Uint8Array(bsize);
  for (let off = 0; off < ip.size; off += bsize) {
    const uio = Uio.of(buf, off, UIO_READ);
    const error = await vp.op.read(vp, uio, 0);
    if (error !== 0) return error;
    const got = bsize - uio.resid;
    if (got === 0) break;
    for (let c = 0; c + DIRBLKSIZ <= got; c += DIRBLKSIZ) {
      const r = scanChunk(fs, buf, c, fn);
      if (r.error !== 0 || r.stop) return r.error;
    }
  }
  return 0;
}

/** VOP_LOOKUP: the entry `name` of directory dvp, referenced. => may sleep */
export async function ufsLookup(dvp: Vnode, name: string): Promise<LookupResult> {
  const mp = dvp.mount;
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, vp: null };
  if (mp === null) return { error: ENOENT, vp: null };
  const want = nameEncode(name);
  if (want.length === 0) return { error: ENOENT, vp: null };
  if (want.length > UFS_MAXNAMLEN) return { error: ENAMETOOLONG, vp: null };
  const ip = ufsInode(dvp);
  const h = await dirhashResolve(ip, want, (fn) => scanDir(dvp, (ino, _type, buf, off, len) => fn(ino, buf, off, len)));
  if (h.error !== 0) return { error: h.error, vp: null };
  if (h.ino !== undefined) return h.ino === 0 ? { error: ENOENT, vp: null } : mp.op.vget(mp, h.ino);
  let found = 0;
  const error = await scanDir(dvp, (ino, _type, buf, off, len) => {
    const hit = nameEquals(want, buf, off, len);
    if (hit) found = ino;
    return !hit;
  });
  if (error !== 0) return { error, vp: null };
  if (found === 0) return { error: ENOENT, vp: null };
  return mp.op.vget(mp, found);
}

/** VOP_READDIR: fn for each entry of vp in on-disk order until it answers false. => may sleep */
export async function ufsReaddir(vp: Vnode, fn: (d: Dirent) => boolean): Promise<number> {
  if (vp.type !== VType.VDIR) return ENOTDIR;
  return scanDir(vp, (ino, type, buf, off, len) => fn({ name: nameDecode(buf, off, len), ino, type }));
}
