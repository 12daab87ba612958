/*
 * A host tree copied into an image with what its files carry, as `mke2fs -d`
 * and `cp -a` do: modes (setuid, setgid, sticky too), owners (or one given
 * owner for all), access and modification times, hard links as links (by
 * the source's device and inode), symlinks, device nodes, FIFOs and sockets,
 * holes (4 KiB runs of zeros are left unwritten), and extended attributes
 * where getfattr can read them (host_xattr.ts). Into an existing
 * directory the tree merges: a file there is replaced whole (written beside
 * it and renamed over), a symlink or special file is replaced. A directory
 * of the tree merges into a symlink to a directory (a merged /usr's /lib ->
 * usr/lib), whose directory keeps its own mode, owner and times; anything
 * else in a directory's way (a file, a dangling symlink) is refused, kept
 * as it is, as cp -a refuses it.
 *   await copyIn(fs, '/srv', hostDir, { owner: null })   // used by mkfs --from and put -r
 */

import { closeSync, lstatSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { imageLockDir } from '../api/image_hold.js';
import { hostName, hostReaddir, hostReadlink } from './host_names.js';
import { escapeName } from './context.js';
import { join, resolve, sep } from 'node:path';
import { ioBuffer } from '../api/io_buffer.js';
import { hiddenName, joinPath, type MountedFs, type SetattrArgs } from '../api/mounted_fs.js';
import { EEXIST, EISDIR, ENOENT, ENOTDIR, EOPNOTSUPP, VmError } from '../api/errors.js';
import { type HostXattrs, hostXattrsOf } from './host_xattr.js';
import { compileLess } from './heap_flags.js';
import { HostTree, hostCall, major, minor, openTreeFile, shrank, splitNs } from './host_tree.js';

export interface CopyInOptions {
  /** Every file's owner and group instead of the source's (mke2fs -d's root:root). */
  owner: { uid: number; gid: number } | null;
}

const CHUNK = 1 << 20;
const HOLE = 4096;

/** Copies the host directory `from` into the image directory `to` (which must exist). */
export async function copyIn(fs: MountedFs, to: string, from: string, opts: CopyInOptions): Promise<void> {
  const buf = ioBuffer(CHUNK); // one for the whole copy: a fresh 1 MiB per file cost more than a small file's copy
  const leave = leftOut(fs.image, from);
  // Its entries keep their sources' attributes, ACLs too: none from the directories' default ACLs (as mke2fs -d, cp -a).
  fs.setAclInherit(false);
  try {
    return await copyTree(fs, to, from, opts, buf, leave);
  } finally {
    fs.setAclInherit(true);
  }
}

async function copyTree(fs: MountedFs, to: string, from: string, opts: CopyInOptions, buf: Uint8Array, leave: ReadonlySet<string>): Promise<void> {
  if (fs.type.startsWith('fat')) return copyInFat(fs, to, from, buf, leave);
  compileLess(); // the walk is short and its hot functions few (heap_flags.ts)
  // getfattr reads the source's attributes beside the copy (on the other core);
  // they are set once the tree is in (setting one changes a ctime, never an mtime).
  const xattrs = hostXattrsOf(from);
  const tree = new HostTree(opts.owner, from, to, leave, warnOf(fs));
  try {
    await copyDir(fs, to, from, opts, buf, tree);
    await setAttrs(fs, to, hostStat(from), from, opts);
  } catch (e) {
    await xattrs; // its process ended before the error is told
    throw e;
  }
  const root = resolve(from);
  const under = root.endsWith(sep) ? root : root + sep;
  for (const [src, attrs] of await xattrs) {
    if (src !== root && !src.startsWith(under)) continue;
    const dst = src === root ? to : joinPath(to, src.slice(under.length).split(sep).join('/'));
    await setXattrs(fs, dst, attrs);
  }
}

/**
 * The entries of `from` into `to`: those `to` does not hold made at once
 * where the file system can (MountedFs.populate), the rest (and all of them
 * where it cannot) one by one, a directory already there merged into.
 */
async function copyDir(fs: MountedFs, to: string, from: string, opts: CopyInOptions, buf: Uint8Array, tree: HostTree): Promise<void> {
  const names = kept(from, hostCall(from, () => hostReaddir(from)).sort(), tree.leave);
  const existing = new Map<string, string>((await fs.readdir(to)).map((e) => [e.name, e.type]));
  const fresh = names.filter((n) => !existing.has(n));
  let made = false;
  if (fresh.length > 0) {
    const nodes = tree.nodes(from, fresh);
    tree.prepare(nodes);
    try {
      made = await fs.populate(to, nodes, tree);
    } finally {
      await tree.stop();
    }
  }
  for await (const { src, dst, st, there } of hostEntries(fs, to, from, made ? names.filter((n) => existing.has(n)) : names, existing)) {
    if (st.isDirectory()) {
      await copyDir(fs, dst, src, opts, buf, tree);
      // After its entries: adding them set its times. (Not through a symlink: that directory is the image's own.)
      if (there !== 'symlink') await setAttrs(fs, dst, st, src, opts);
      continue;
    }
    if (there === 'dir') throw new VmError(EISDIR, 'put', fs.image, dst, 'a directory is in the way of a file');
    const key = HostTree.linkKey(st);
    const first = key !== null ? tree.links.get(key) : undefined;
    if (first !== undefined) {
      if (there !== undefined) await fs.unlink(dst);
      await fs.link(first.path, dst);
      continue;
    }
    if (st.isFile()) {
      // Whatever is there (a file, a symlink, a special file) is replaced by a rename over it: left as it was if the copy fails.
      await copyFile(fs, dst, src, st, there !== undefined, buf, attrsOf(st, src, opts));
    } else {
      if (there !== undefined) await fs.unlink(dst);
      if (st.isSymbolicLink()) await fs.symlink(hostCall(src, () => hostReadlink(src)), dst);
      else await fs.mknod(dst, specialType(st), st.mode & 0o7777, major(st.rdev), minor(st.rdev));
      await setAttrs(fs, dst, st, src, opts);
    }
    if (key !== null) tree.links.set(key, { path: dst, ino: (await fs.stat(dst)).ino });
  }
}

/**
 * A regular file's bytes, holes kept, and its attributes (set through the
 * open file before it is closed); an existing file is replaced by a new one
 * renamed over it. With attributes (ext2/3/4) the close leaves the inode and its metadata to the sync
 * that ends the copy (unmount, or the rename's own); FAT's close writes them.
 */
async function copyFile(fs: MountedFs, dst: string, src: string, st: Stats, replace: boolean, buf: Uint8Array, attrs: SetattrArgs | null): Promise<void> {
  const path = replace ? joinPath(dst.slice(0, dst.lastIndexOf('/')) || '/', hiddenName('new')) : dst;
  const fd = openTreeFile(src);
  try {
    const f = await fs.open(path, { create: true });
    try {
      let off = 0;
      for (;;) {
        // Up to the size lstat gave plus one byte, so a small file takes one read and its EOF one more.
        const want = Math.min(buf.length, Math.max(st.size - off + 1, 1));
        const n = hostCall(src, () => readSync(fd, buf, 0, want, off));
        if (n === 0) break;
        // Each run of pieces with data is one write; a 4 KiB piece of zeros is left a hole.
        for (let p = 0; p < n;) {
          while (p < n && isZero(buf, p, Math.min(n, p + HOLE))) p += HOLE;
          let q = p;
          while (q < n && !isZero(buf, q, Math.min(n, q + HOLE))) q += HOLE;
          if (q > p) await f.write(off + p, buf.subarray(p, Math.min(n, q)));
          p = q;
        }
        off += n;
      }
      if (f.size !== off) await f.truncate(off);
      if (off < st.size) warnOf(fs)(shrank(src, st.size, off));
      if (attrs !== null) await f.setattr(attrs);
    } finally {
      await f.close({ lazy: attrs !== null });
    }
  } catch (e) {
    await fs.unlink(path).catch(() => {}); // no partial file left behind
    throw replace ? asTarget(e, fs, path, dst) : e;
  } finally {
    closeSync(fd);
  }
  if (!replace) return;
  try {
    await fs.rename(path, dst);
  } catch (e) {
    await fs.unlink(path).catch(() => {});
    throw asTarget(e, fs, path, dst);
  }
}

/** An image error of the hidden new file, told as the target's: it is what the user named, and it is as it was. */
function asTarget(e: unknown, fs: MountedFs, hidden: string, dst: string): unknown {
  if (!(e instanceof VmError) || e.image !== fs.image || (e.path !== hidden && e.path !== dst)) return e;
  return new VmError(e.errno, 'put', fs.image, dst, `${e.reason} (${dst} is unchanged)`);
}

/**
 * What setattr is given for a copied file or directory: permission bits,
 * owner, and times to the nanosecond (src's, read again in bigint
 * nanoseconds: lstat's milliseconds are a double).
 */
function attrsOf(st: Stats, src: string, opts: CopyInOptions): SetattrArgs {
  // The times to the nanosecond, as the tree's entries have them (a double of milliseconds keeps microseconds).
  const ns = hostCall(src, () => lstatSync(hostName(src), { bigint: true }));
  const a = splitNs(ns.atimeNs);
  const m = splitNs(ns.mtimeNs);
  return { mode: st.mode & 0o7777, uid: opts.owner?.uid ?? st.uid, gid: opts.owner?.gid ?? st.gid, atime: a.sec, atimeNsec: a.nsec, mtime: m.sec, mtimeNsec: m.nsec };
}

/**
 * Extended attributes (a name the image's file system has no place for is
 * skipped), all of a file's or none: where one fails (no room left for it),
 * those it added before it are taken off again, and the error says so. Half of
 * them (a binary with its security.* but not its user.*) would pass for a
 * whole copy.
 */
async function setXattrs(fs: MountedFs, path: string, xattrs: HostXattrs | undefined): Promise<void> {
  if (xattrs === undefined || xattrs.length === 0) return;
  const had = new Set(await fs.listxattr(path, { follow: false })); // (a merge's file may have had some: those stay)
  const set: string[] = [];
  for (const [name, value] of xattrs) {
    try {
      await fs.setxattr(path, name, value, { follow: false });
      set.push(name);
    } catch (e) {
      // A name the file system has no place for is skipped, as is a file made in the source after its directory was read.
      if (e instanceof VmError && (e.errno === EOPNOTSUPP || e.errno === ENOENT)) continue;
      for (const n of set) if (!had.has(n)) await fs.removexattr(path, n, { follow: false }).catch(() => {});
      if (!(e instanceof VmError)) throw e;
      throw new VmError(e.errno, 'put', fs.image, path, `${e.reason} (setting its extended attributes: none of them set)`);
    }
  }
}

/** Mode, owner and times in one setattr. */
async function setAttrs(fs: MountedFs, path: string, st: Stats, src: string, opts: CopyInOptions): Promise<void> {
  const va = attrsOf(st, src, opts);
  if (st.isSymbolicLink()) delete va.mode;
  await fs.setAttributes(path, va, !st.isSymbolicLink());
}

/**
 * The device:inode keys of the host files a copy of the tree at `from` into
 * `image` leaves out: the image itself, under any name (copied, the image
 * would grow as it is read), and where the image lies inside the tree
 * (`mkfs --from . new.img`) its lock folder too (the running command's own);
 * said once, as a warning, where the image is inside by its path or has
 * other names (hard links) that may be. None for an image that is no host file.
 */
function leftOut(image: string, from: string): Set<string> {
  const keys = new Set<string>();
  try {
    const st = statSync(hostName(image), { throwIfNoEntry: false }); // (the file a symlink given as IMAGE names)
    if (st === undefined || !st.isFile()) return keys;
    keys.add(`${st.dev}:${st.ino}`);
    const top = realpathSync(hostName(from));
    if (realpathSync(hostName(image)).startsWith(top.endsWith(sep) ? top : top + sep)) {
      const lock = statSync(hostName(imageLockDir(image)), { throwIfNoEntry: false });
      if (lock !== undefined) keys.add(`${lock.dev}:${lock.ino}`);
      process.stderr.write(`vmpager: ${escapeName(image)}: warning: the image is inside ${escapeName(from)}: it (and its lock folder) are left out of the copy\n`);
    } else if (st.nlink > 1) {
      process.stderr.write(`vmpager: ${escapeName(image)}: warning: the image has ${st.nlink} names (hard links): one inside ${escapeName(from)} is left out of the copy\n`);
    }
  } catch {
    // (an image that is no host file: nothing to leave out)
  }
  return keys;
}

/** Where a tree copy's warnings go: a line each on stderr, naming the image. */
function warnOf(fs: MountedFs): (msg: string) => void {
  return (msg) => process.stderr.write(`vmpager: ${escapeName(fs.image)}: warning: ${escapeName(msg)}\n`);
}

/** names (entries of host directory dir) but those `leave` holds. */
function kept(dir: string, names: string[], leave: ReadonlySet<string>): string[] {
  if (leave.size === 0) return names;
  return names.filter((n) => {
    const st = lstatSync(hostName(join(dir, n)), { throwIfNoEntry: false });
    return st === undefined || !leave.has(`${st.dev}:${st.ino}`);
  });
}

/**
 * FAT keeps no owners, links or special files: its copy takes directories
 * and regular files (each hard link a copy of its own), a file's write bits
 * (its read-only attribute) and times, and skips the rest with a line each.
 */
async function copyInFat(fs: MountedFs, to: string, from: string, buf: Uint8Array, leave: ReadonlySet<string>): Promise<void> {
  const names = kept(from, hostCall(from, () => hostReaddir(from)).sort(), leave);
  // FAT finds names without regard to case: two of the tree's that differ only so would be one file, the other lost.
  const folded = new Map<string, string>();
  for (const n of names) {
    const other = folded.get(n.toUpperCase());
    if (other !== undefined) throw new VmError(EEXIST, 'put', fs.image, joinPath(to, n), `FAT cannot hold both it and ${other}: names that differ only in case`);
    folded.set(n.toUpperCase(), n);
  }
  const existing = new Map<string, string>((await fs.readdir(to)).map((e) => [e.name, e.type]));
  for await (const { src, dst, st, there } of hostEntries(fs, to, from, names, existing)) {
    if (st.isDirectory()) {
      await copyInFat(fs, dst, src, buf, leave);
    } else if (st.isFile()) {
      if (there === 'dir') throw new VmError(EISDIR, 'put', fs.image, dst, 'a directory is in the way of a file');
      await copyFile(fs, dst, src, st, there === 'file', buf, null);
      await fs.chmod(dst, (st.mode & 0o222) !== 0 ? 0o644 : 0o444); // (what FAT keeps of a mode: writable or read-only)
      await fs.utimes(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
    } else {
      process.stderr.write(`vmpager: ${escapeName(fs.image)}: warning: ${escapeName(src)}: FAT has no ${st.isSymbolicLink() ? 'symbolic links' : 'special files'}: skipped\n`);
    }
  }
}

/**
 * The host directory `from`'s entries `names`, each with its image path
 * under `to`, its lstat, and the type of what the image already has there
 * (`existing`); a directory entry's image directory is made first (a
 * symlink to a directory is merged into; anything else in its way refused).
 */
async function* hostEntries(
  fs: MountedFs, to: string, from: string, names: readonly string[], existing: ReadonlyMap<string, string>,
): AsyncGenerator<{ src: string; dst: string; st: Stats; there: string | undefined }> {
  // (FAT: the names it holds, in upper case: one in another case is found by a lookup)
  const folded = fs.type.startsWith('fat') ? new Set([...existing.keys()].map((n) => n.toUpperCase())) : null;
  for (const name of names) {
    const src = join(from, name);
    const dst = joinPath(to, name);
    const st = hostStat(src);
    const there = existing.get(name) ?? (folded !== null ? await fatThere(fs, dst, name, folded) : undefined);
    if (st.isDirectory() && there !== 'dir') {
      if (there === 'symlink' && (await dirBehind(fs, dst))) {
        // merged into the directory it names
      } else if (there !== undefined) {
        throw new VmError(ENOTDIR, 'put', fs.image, dst, `${there === 'symlink' ? 'a symlink' : there === 'file' ? 'a file' : 'a special file'} is in the way of a directory (kept)`);
      } else {
        await fs.mkdir(dst);
      }
    }
    yield { src, dst, st, there };
  }
}

/**
 * What a FAT directory holds under a name its listing does not hold as
 * spelled: FAT finds a name in any case, or by its 8.3 alias. Only a name
 * the listing has in another case, or one that can be an alias (a '~' in
 * it), is looked up.
 */
async function fatThere(fs: MountedFs, dst: string, name: string, folded: ReadonlySet<string>): Promise<string | undefined> {
  if (!name.includes('~') && !folded.has(name.toUpperCase())) return undefined;
  return (await fs.stat(dst, { blockMap: false }).catch(() => null))?.type;
}

/** Whether the symlink at path names a directory (a dangling one, a loop: no). */
async function dirBehind(fs: MountedFs, path: string): Promise<boolean> {
  try {
    return (await fs.stat(path, { follow: true, blockMap: false })).type === 'dir';
  } catch (e) {
    if (e instanceof VmError) return false;
    throw e;
  }
}

function specialType(st: Stats): 'chardev' | 'blockdev' | 'fifo' | 'socket' {
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Whether b[from, to) is all zeros. */
function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

function hostStat(path: string): Stats {
  return hostCall(path, () => lstatSync(hostName(path)));
}
