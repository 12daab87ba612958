/*
 * MountedFs: a file system mounted by a Vm. Paths are absolute inside it.
 *   const fs = await vm.mount('disk.img'); const f = await fs.open('/a'); ...; await fs.unmount()
 * Unmount uncaches every object (cf. vnode_pager_umount), so their pages go,
 * then closes the device.
 */

import { EBUSY, EEXIST, EINTEGRITY, EINVAL, EISDIR, ELOOP, ENOATTR, ENOENT, ENOTDIR, ENOTEMPTY, EOPNOTSUPP, EPERM, EROFS } from '../kern/errno.js';
import { LK_EXCLUSIVE } from '../kern/lock.js';
import { DEV_BSIZE, MAXPHYS } from '../kern/param.js';
import type { BlockDevice } from '../dev/device.js';
import { MNT_ASYNC, MNT_NOACLINHERIT, type Mount } from '../vfs/mount.js';
import { namei } from '../vfs/vfs_lookup.js';
import { cachePurgeMount } from '../vfs/vfs_cache.js';
import { vgone, vref, vrele } from '../vfs/vfs_subr.js';
import { VType, type Vnode } from '../vfs/vnode.js';
import { MNT_NOWAIT, type LookupResult, type SetattrArgs, type Vattr, XATTR_CREATE, XATTR_REPLACE } from '../vfs/vnode_if.js';

export type { SetattrArgs };
import type { PopulateResult, TreeNode, TreeSource } from '../vfs/vfs_tree.js';
export type { TreeNode, TreeNodeType, TreeSource } from '../vfs/vfs_tree.js';
import { vnodePagerAlloc, vnodePagerUmount } from '../vm/pager/vnode_pager.js';
import type { VmSystem } from '../vm/vm.js';
import type { VmMap } from '../vm/vm_map.js';
import { check, reportDamage, VmError } from './errors.js';
import { File } from './file.js';
import type { PartitionInfo } from './partitions.js';
import type { FsPromises } from './promises.js';

export type FileType = 'file' | 'dir' | 'symlink' | 'other';

export interface DirEntry {
  name: string;
  type: FileType;
  size: number;
  /** The file number (inode), to tell hard links and loops apart. */
  ino: number;
  /** What an 'other' is (absent for the rest). */
  kind?: SpecialKind;
}

export type SpecialKind = 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** The kind of a device node, FIFO or socket; undefined for the other types. */
export function specialKind(t: VType): SpecialKind | undefined {
  switch (t) {
    case VType.VCHR:
      return 'chardev';
    case VType.VBLK:
      return 'blockdev';
    case VType.VFIFO:
      return 'fifo';
    case VType.VSOCK:
      return 'socket';
    default:
      return undefined;
  }
}

export interface BlockRun {
  /** First logical block (file-system blocks) of the run. */
  logical: number;
  /** First physical address (in units of FileStat.addressSize), or null for a hole. */
  physical: number | null;
  count: number;
}

/** A time for utimes: seconds since the epoch, a Date, or bigint nanoseconds since the epoch. */
export type TimeArg = number | Date | bigint;

/** A time as whole seconds and nanoseconds. */
function splitTime(t: TimeArg): { sec: number; nsec: number } {
  if (typeof t === 'bigint') {
    const sec = t >= 0n ? t / 1_000_000_000n : -((-t + 999_999_999n) / 1_000_000_000n);
    return { sec: Number(sec), nsec: Number(t - sec * 1_000_000_000n) };
  }
  // Seconds as a double, cut as libuv cuts them for Node's utimes (to the microsecond, toward zero, then
  // borrowed up before 1970): a time set here reads as the same time set through node:fs on Linux.
  const s = t instanceof Date ? t.getTime() / 1000 : t;
  let sec = Math.trunc(s);
  let nsec = Math.trunc((s - sec) * 1e9);
  nsec -= nsec % 1000;
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  }
  return { sec, nsec };
}

function timesArgs(atime: TimeArg, mtime: TimeArg): SetattrArgs {
  const a = splitTime(atime);
  const m = splitTime(mtime);
  return { atime: a.sec, atimeNsec: a.nsec, mtime: m.sec, mtimeNsec: m.nsec };
}

export interface FileStat extends Omit<Vattr, 'type'> {
  type: FileType;
  /** The file system's block size: the unit of blockMap's logical blocks and counts. */
  blockSize: number;
  /** The unit of blockMap's physical addresses: the block size, or a UFS fragment. */
  addressSize: number;
  /** Runs of logical blocks over the file, holes included; empty for fast symlinks and inline data. */
  blockMap: BlockRun[];
  /** True when the block map was cut short (more than MAX_MAP_LOOKUPS lookups). */
  blockMapTruncated: boolean;
}

/**
 * A FileStat from getattr's Vattr, built field by field: one object of one
 * shape (a spread of the Vattr cost several microseconds and most of a
 * stat's garbage).
 */
export function fileStat(va: Vattr, blockSize: number, addressSize: number, blockMap: BlockRun[], blockMapTruncated: boolean): FileStat {
  return {
    type: fileType(va.type), mode: va.mode, nlink: va.nlink, uid: va.uid, gid: va.gid, size: va.size, bytes: va.bytes,
    atime: va.atime, mtime: va.mtime, ctime: va.ctime, birthtime: va.birthtime,
    atimeNsec: va.atimeNsec, mtimeNsec: va.mtimeNsec, ctimeNsec: va.ctimeNsec, birthtimeNsec: va.birthtimeNsec,
    ino: va.ino, gen: va.gen, flags: va.flags, blksize: va.blksize, rdev: va.rdev, extra: va.extra,
    blockSize, addressSize, blockMap, blockMapTruncated,
  };
}

/** Block-map lookups `stat` makes at most for one file. */
export const MAX_MAP_LOOKUPS = 1 << 20;

export function fileType(t: VType): FileType {
  switch (t) {
    case VType.VREG:
      return 'file';
    case VType.VDIR:
      return 'dir';
    case VType.VLNK:
      return 'symlink';
    default:
      return 'other';
  }
}

/** Makes a MountedFs's node:fs/promises view (the Node entry passes FsPromises's constructor). */
export type PromisesMaker = (fs: MountedFs) => FsPromises;

export class MountedFs {
  private readonly files = new Set<File>();
  private unmounted = false;

  /** @internal made by Vm.mount */
  constructor(
    readonly sys: VmSystem,
    /** @internal the Vm's address space */
    readonly vmMap: VmMap,
    readonly mp: Mount,
    private readonly root: Vnode,
    /** The image path or URL, for messages. */
    readonly image: string,
    private readonly dev: BlockDevice,
    /** Lets the image's lock go once the device is closed. */
    private readonly releaseLock: () => void = () => {},
    /** The partition mounted (start and size in bytes of the whole disk), or null for a bare file system. */
    readonly partition: PartitionInfo | null = null,
    /** Warnings from the partition tables. */
    private readonly tableWarnings: readonly string[] = [],
    /** Makes the node:fs/promises view; null where there is no Node (the browser entry). */
    private readonly promisesMaker: PromisesMaker | null = null,
  ) {
    if (!mp.readOnly) mountedForWriting.add(this);
    reportDamage(image, mp.stat, mp.dev);
  }

  /** `await using fs = await vm.mount(...)`: unmounts at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.unmount();
  }

  /** A node:fs/promises-shaped view of this file system (readFile, writeFile, readdir, stat, open, streams ...). */
  get promises(): FsPromises {
    if (this.promisesMaker === null) throw new VmError(EOPNOTSUPP, 'promises', this.image, null, 'the node:fs/promises view needs Node (its Buffers); use open/read/readdir/stat');
    return (this.fsPromises ??= this.promisesMaker(this));
  }

  private fsPromises: FsPromises | undefined;

  /** 'ext2' | 'ext3' | 'ext4' ... */
  get type(): string {
    return this.mp.stat.fstype;
  }

  get blockSize(): number {
    return this.mp.stat.iosize;
  }

  get readOnly(): boolean {
    return this.mp.readOnly;
  }

  /** Notes from mounting (e.g. a journal left unreplayed). */
  get warnings(): readonly string[] {
    return this.tableWarnings.length === 0 ? this.mp.stat.warnings : [...this.tableWarnings, ...this.mp.stat.warnings];
  }

  /**
   * Opens a file (or directory); symlinks are followed. `create`: a missing
   * regular file is created (empty) in its existing parent directory.
   */
  async open(path: string, opts: { create?: boolean } = {}): Promise<File> {
    return (await this.openOrCreate(path, opts)).file;
  }

  /**
   * @internal open(), also saying whether this call made the file. Without
   * `exclusive`, a name another caller made between the lookup and the
   * create is opened as it is now (O_CREAT's way); with it, that is EEXIST,
   * as is a name already there (O_EXCL).
   */
  async openOrCreate(path: string, opts: { create?: boolean; exclusive?: boolean; mode?: number } = {}): Promise<{ file: File; created: boolean }> {
    let vp: Vnode;
    let created = false;
    if (opts.create) {
      // A missing file is the usual case here (a tree copy makes thousands): no error made for it.
      if (this.unmounted) throw new VmError(EINVAL, 'open', this.image, path, 'file system is unmounted');
      if (!path.startsWith('/')) throw new VmError(ENOENT, 'open', this.image, path, 'path must be absolute');
      const r = await namei(this.root, path, true);
      if (r.error === 0 && opts.exclusive) {
        await vrele(r.vp!);
        throw new VmError(EEXIST, 'open', this.image, path);
      }
      if (r.error === ENOENT) {
        // Through a dangling symlink, O_CREAT makes what it names (O_EXCL refuses any name there).
        const at = opts.exclusive ? path : await this.createTarget(path);
        const made = await this.createFile(at, opts.mode).catch((e: unknown) => {
          if (opts.exclusive || !(e instanceof VmError && e.errno === EEXIST)) throw e;
          return null; // made meanwhile by another caller
        });
        created = made !== null;
        vp = made ?? (await this.lookup(at, true, 'open'));
      } else {
        check(r.error, 'open', this.image, path);
        vp = r.vp!;
      }
    } else {
      vp = await this.lookup(path, true, 'open');
    }
    if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) {
      await vrele(vp);
      throw new VmError(EINVAL, 'open', this.image, path, 'not a regular file or directory');
    }
    const { error, obj } = await vnodePagerAlloc(this.sys, vp);
    if (error !== 0 || obj === null) {
      await vrele(vp);
      check(error || EINVAL, 'open', this.image, path);
    }
    const f = new File(this, vp, obj!, path);
    this.files.add(f);
    return { file: f, created };
  }

  /**
   * Where a create through path (which does not resolve) lands: path, or
   * where path's last name is a symlink, the path it names, followed again
   * (as open(2) with O_CREAT does), up to Linux's 40 links (ELOOP past them).
   */
  private async createTarget(path: string): Promise<string> {
    let p = path;
    for (let links = 0; links <= MAXSYMLINKS; links++) {
      const st = await this.stat(p, { follow: false, blockMap: false }).catch(() => null);
      if (st === null || st.type !== 'symlink') return p;
      if (links === MAXSYMLINKS) break;
      const t = await this.readlink(p);
      p = t.startsWith('/') ? t : joinPath(p.slice(0, p.lastIndexOf('/')) || '/', t);
    }
    throw new VmError(ELOOP, 'open', this.image, path);
  }

  /** Creates a directory in an existing parent. */
  async mkdir(path: string, opts: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    if (opts.recursive) {
      // mkdir -p: each missing component made; an existing directory (or a symlink to one) is fine, anything else there is not.
      const parts = path.split('/').filter((p) => p !== '');
      for (let i = 1; i <= parts.length; i++) {
        const p = '/' + parts.slice(0, i).join('/');
        const st = await this.stat(p, { follow: true, blockMap: false }).catch((e: unknown) => {
          if (e instanceof VmError && e.errno === ENOENT) return null;
          throw e;
        });
        if (st === null) await this.mkdir(p, { mode: opts.mode });
        else if (st.type !== 'dir') throw new VmError(i === parts.length ? EEXIST : ENOTDIR, 'mkdir', this.image, p);
      }
      return;
    }
    // (mkdir(2) keeps of a mode the permissions and the sticky bit: set-ID bits come from the parent alone.)
    const vp = await this.inParent(path, 'mkdir', (dvp, name) => dvp.op.mkdir(dvp, name, (opts.mode ?? 0o755) & 0o1777));
    await vrele(vp);
  }

  /** Creates a symbolic link at `path` pointing to `target`. */
  async symlink(target: string, path: string): Promise<void> {
    if (target === '') throw new VmError(ENOENT, 'symlink', this.image, path); // (as symlink(2) refuses an empty target)
    const vp = await this.inParent(path, 'symlink', (dvp, name) => dvp.op.symlink(dvp, name, target));
    await vrele(vp);
  }

  /** Removes a file or symlink (not a directory). */
  async unlink(path: string): Promise<void> {
    try {
      await this.inParent(path, 'unlink', async (dvp, name) => ({ error: await dvp.op.remove(dvp, name), vp: null }));
    } finally {
      cachePurgeMount(this.mp);
    }
  }

  /** Removes an empty directory. */
  async rmdir(path: string): Promise<void> {
    try {
      await this.inParent(path, 'rmdir', async (dvp, name) => ({ error: await dvp.op.rmdir(dvp, name), vp: null }));
    } finally {
      cachePurgeMount(this.mp);
    }
  }

  /**
   * Creates a special file (mknod(2)): `type` 'chardev' or 'blockdev' with
   * its major and minor numbers, 'fifo' or 'socket'; `mode` the permission bits.
   */
  async mknod(path: string, type: 'chardev' | 'blockdev' | 'fifo' | 'socket', mode = 0o644, major = 0, minor = 0): Promise<void> {
    const ifmt = { chardev: 0o020000, blockdev: 0o060000, fifo: 0o010000, socket: 0o140000 }[type];
    if (ifmt === undefined) throw new VmError(EINVAL, 'mknod', this.image, path, `not a special file type: ${String(type)}`);
    const vp = await this.inParent(path, 'mknod', (dvp, name) => dvp.op.mknod(dvp, name, ifmt | (mode & 0o7777), major, minor));
    await vrele(vp);
  }

  /**
   * Makes `nodes` (names the directory `dir` does not hold) and the trees
   * below them in `dir` at once, from `source` (VOP_POPULATE). False, with
   * nothing made, where the file system makes files one at a time only (the
   * caller copies them so). An error throws: what was made up to it stays,
   * named, but a file left partly written is removed first; what the
   * source threw is thrown as it was.
   */
  async populate(dir: string, nodes: readonly TreeNode[], source: TreeSource): Promise<boolean> {
    if (this.mp.readOnly) throw new VmError(EROFS, 'put', this.image, dir);
    const dvp = await this.lookup(dir, true, 'put');
    let r: PopulateResult;
    try {
      if (dvp.type !== VType.VDIR) throw new VmError(ENOTDIR, 'put', this.image, dir);
      await dvp.lock.lock(LK_EXCLUSIVE);
      try {
        r = await dvp.op.populate(dvp, nodes, source);
      } finally {
        dvp.lock.unlock();
      }
    } finally {
      await vrele(dvp);
    }
    if (r.error === EOPNOTSUPP && r.partial === null && r.cause === undefined) return false;
    if (r.error === 0) return true;
    const partial = r.partial === null ? null : joinPath(dir, r.partial);
    if (partial !== null) await this.unlink(partial).catch(() => {});
    if (r.cause !== undefined) throw r.cause;
    check(r.error, 'put', this.image, partial ?? (r.at != null ? joinPath(dir, r.at) : dir));
    return true;
  }

  /** Makes `path` another name (hard link) of the file at `existing` (link(2)). */
  async link(existing: string, path: string): Promise<void> {
    const vp = await this.lookup(existing, false, 'link');
    try {
      await this.inParent(path, 'link', async (dvp, name) => ({ error: await dvp.op.link(vp, dvp, name), vp: null }));
    } finally {
      await vrele(vp);
    }
  }

  /**
   * Renames `from` to `to` (rename(2)); a file at `to` is replaced. The
   * replacement is safe against a crash at any point: the replaced file
   * (or symlink, or special file) is first given a hidden second name, so
   * that when `to` names the new file the old one is still named somewhere;
   * a regular file nobody holds open is emptied, then that name goes (the
   * last name of a file on ext2 goes after its inode is on the orphan list).
   * A crash leaves `to` naming the old file or the new one, whole, and at
   * worst what e2fsck -p mends (and a hidden `.vmpager-old-*`). A directory
   * may be renamed anywhere but into itself or below it (EINVAL).
   */
  async rename(from: string, to: string): Promise<void> {
    // As Linux's rename(2): both parents walked first (each must be a directory), then a last name
    // '.' or '..' on either side is EBUSY.
    for (const p of [from, to]) {
      const parent = p.split('/').filter((c) => c !== '').slice(0, -1);
      const dvp = await this.lookup('/' + parent.join('/'), true, 'rename');
      const isDir = dvp.type === VType.VDIR;
      await vrele(dvp);
      if (!isDir) throw new VmError(ENOTDIR, 'rename', this.image, p);
    }
    for (const p of [from, to]) if (/(^|\/)\.\.?\/*$/.test(p)) throw new VmError(EBUSY, 'rename', this.image, p);
    const [fdir, fname] = this.splitPath(from, 'rename');
    const [tdir, tname] = this.splitPath(to, 'rename');
    const fdvp = await this.lookup(fdir, true, 'rename');
    let tdvp: Vnode | null = null;
    let victim: Vnode | null = null;
    try {
      tdvp = await this.lookup(tdir, true, 'rename');
      const source = await this.lookup(from, false, 'rename');
      try {
        // A trailing slash on either name: what moves must be a directory (a symlink to one is not).
        if ((slashed(from) || slashed(to)) && source.type !== VType.VDIR) throw new VmError(ENOTDIR, 'rename', this.image, from);
        if (source.type === VType.VDIR && (await this.isBelow(tdvp, source))) throw new VmError(EINVAL, 'rename', this.image, to, 'a directory cannot move into itself');
      } finally {
        await vrele(source);
      }
      victim = await this.lookupQuiet(to);
      let hidden: string | null = null;
      if (victim !== null && victim !== source && victim.type !== VType.VDIR && (await this.linksOf(victim)) === 1) {
        hidden = hiddenName('old');
        const v = victim;
        try {
          await this.withLocked([tdvp], () => tdvp!.op.link(v, tdvp!, hidden!), 'rename', to);
          await this.barrier();
        } catch (e) {
          // A file system without hard links (FAT) replaces the file in its own rename.
          if (!(e instanceof VmError && (e.errno === EPERM || e.errno === EOPNOTSUPP))) throw e;
          hidden = null;
        }
      }
      try {
        await this.withLocked([fdvp, tdvp], () => fdvp.op.rename(fdvp, fname, tdvp!, tname), 'rename', from);
      } catch (e) {
        if (hidden !== null) await this.withLocked([tdvp], () => tdvp!.op.remove(tdvp!, hidden!), 'rename', to).catch(() => {});
        throw e;
      }
      await this.barrier();
      if (hidden !== null && victim !== null) {
        const v = victim;
        if (v.type === VType.VREG && !this.inUse(v)) {
          await this.withLocked([v], async () => (await v.op.setsize(v, 0)) || (await v.op.fsync(v)), 'rename', to);
          await this.barrier();
        }
        await this.withLocked([tdvp], () => tdvp!.op.remove(tdvp!, hidden!), 'rename', to);
      }
    } finally {
      cachePurgeMount(this.mp);
      await vrele(fdvp);
      if (tdvp !== null) await vrele(tdvp);
      if (victim !== null) await vrele(victim);
    }
  }

  /** Whether directory dvp is dir or lies below it (walking "..", at most 4096 levels). */
  private async isBelow(dvp: Vnode, dir: Vnode): Promise<boolean> {
    let cur = dvp;
    vref(cur);
    try {
      for (let hops = 0; hops < 4096; hops++) {
        if (cur.ino === dir.ino) return true;
        if (cur === this.root || cur.ino === this.root.ino) return false;
        const r = await cur.op.lookup(cur, '..');
        if (r.error !== 0 || r.vp === null) throw new VmError(r.error || EINVAL, 'rename', this.image, null);
        await vrele(cur);
        cur = r.vp;
      }
      throw new VmError(EINVAL, 'rename', this.image, null, 'directory tree too deep');
    } finally {
      await vrele(cur);
    }
  }

  /** Sets the permission bits (07777) of path (symlinks followed). */
  async chmod(path: string, mode: number): Promise<void> {
    await this.setattr(path, 'chmod', { mode });
  }

  /**
   * Sets the owner and group of path (symlinks followed), as chown(2) does
   * on Linux: a file that is not a directory loses its set-user-ID bit, its
   * set-group-ID bit where group execution is allowed (without it the bit
   * marks mandatory locking), and its capabilities (security.capability),
   * whoever the new owner. -1 leaves the owner or the group as it is.
   */
  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.chownAs(path, 'chown', ownerArgs(uid, gid, this.image, path, 'chown'), true);
  }

  /**
   * Sets the access and modification times of path (symlinks followed): in
   * seconds (the fraction cut to the microsecond, as Node's utimes cuts it), as Dates, or as bigint
   * nanoseconds since the epoch (kept whole where the file system has room).
   */
  async utimes(path: string, atime: TimeArg, mtime: TimeArg): Promise<void> {
    await this.setattr(path, 'utimes', timesArgs(atime, mtime));
  }

  /** chown of a symbolic link itself (lchown(2)); a path that is no symlink is changed as chown changes it. */
  async lchown(path: string, uid: number, gid: number): Promise<void> {
    await this.chownAs(path, 'lchown', ownerArgs(uid, gid, this.image, path, 'lchown'), false);
  }

  /** @internal chown or lchown (follow) with the owners as VOP_SETATTR takes them (absent: unchanged), under syscall's name. */
  async chownAs(path: string, syscall: string, owners: { uid?: number; gid?: number }, follow: boolean): Promise<void> {
    if (this.mp.readOnly) throw new VmError(EROFS, syscall, this.image, path);
    const vp = await this.lookup(path, follow, syscall);
    try {
      await this.chownVnode(vp, syscall, path, owners);
    } finally {
      await vrele(vp);
    }
  }

  /** @internal fchown: chownAs of an open file, whatever its name is now (renamed, unlinked). */
  async fchown(f: File, owners: { uid?: number; gid?: number }): Promise<void> {
    if (this.mp.readOnly) throw new VmError(EROFS, 'fchown', this.image, f.path);
    await this.chownVnode(f.vp, 'fchown', f.path, owners);
  }

  /** @internal fchmod, futimes: VOP_SETATTR of an open file, whatever its name is now. */
  async fsetattr(f: File, syscall: string, va: { mode?: number; atime?: TimeArg; mtime?: TimeArg }): Promise<void> {
    if (this.mp.readOnly) throw new VmError(EROFS, syscall, this.image, f.path);
    const args: SetattrArgs = { ...(va.mode !== undefined ? { mode: va.mode } : {}), ...(va.atime !== undefined && va.mtime !== undefined ? timesArgs(va.atime, va.mtime) : {}) };
    await this.withLocked([f.vp], () => f.vp.op.setattr(f.vp, args), syscall, f.path);
  }

  private async chownVnode(vp: Vnode, syscall: string, path: string, owners: { uid?: number; gid?: number }): Promise<void> {
    await this.withLocked([vp], async () => {
      const va: SetattrArgs = { ...owners };
      if (vp.type !== VType.VDIR) {
        const { error, va: now } = await vp.op.getattr(vp);
        if (error !== 0 || now === null) return error;
        const kill = S_ISUID | ((now.mode & 0o010) !== 0 ? S_ISGID : 0);
        if ((now.mode & kill) !== 0) va.mode = now.mode & 0o7777 & ~kill;
      }
      const error = await vp.op.setattr(vp, va);
      if (error !== 0 || vp.type === VType.VDIR) return error;
      // (None there, or no attributes at all here: nothing to drop.)
      const e = await vp.op.deleteextattr(vp, 'security.capability');
      return e === ENOATTR || e === EOPNOTSUPP ? 0 : e;
    }, syscall, path);
  }

  /** utimes of a symbolic link itself (lutimes(3)). */
  async lutimes(path: string, atime: TimeArg, mtime: TimeArg): Promise<void> {
    await this.setattr(path, 'lutimes', timesArgs(atime, mtime), false);
  }

  /**
   * The value of extended attribute `name` of path (getxattr(2); `follow:
   * false` is lgetxattr). ENODATA when absent; ENOTSUP on FAT and UFS.
   * POSIX ACLs (system.posix_acl_access/default) come in the attribute form.
   */
  async getxattr(path: string, name: string, opts: { follow?: boolean } = {}): Promise<Uint8Array> {
    const vp = await this.lookup(path, opts.follow ?? true, 'getxattr');
    try {
      const { error, value } = await vp.op.getextattr(vp, name);
      check(error, 'getxattr', this.image, path);
      return value!;
    } finally {
      await vrele(vp);
    }
  }

  /** The names of path's extended attributes, in on-disk order (listxattr(2)). */
  async listxattr(path: string, opts: { follow?: boolean } = {}): Promise<string[]> {
    const vp = await this.lookup(path, opts.follow ?? true, 'listxattr');
    try {
      const { error, names } = await vp.op.listextattr(vp);
      check(error, 'listxattr', this.image, path);
      return names;
    } finally {
      await vrele(vp);
    }
  }

  /**
   * Sets extended attribute `name` (user., trusted., security.,
   * system.posix_acl_access/default, ...) of path to value (a string is
   * UTF-8). `flag: 'create'` fails with EEXIST when it exists, 'replace'
   * with ENODATA when it does not (setxattr(2)'s flags).
   */
  async setxattr(path: string, name: string, value: Uint8Array | string, opts: { flag?: 'create' | 'replace'; follow?: boolean } = {}): Promise<void> {
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    const flag = opts.flag === 'create' ? XATTR_CREATE : opts.flag === 'replace' ? XATTR_REPLACE : 0;
    await this.onVnode(path, 'setxattr', opts.follow ?? true, (vp) => vp.op.setextattr(vp, name, bytes, flag));
  }

  /** Removes extended attribute `name` of path (removexattr(2)); ENODATA when absent. */
  async removexattr(path: string, name: string, opts: { follow?: boolean } = {}): Promise<void> {
    await this.onVnode(path, 'removexattr', opts.follow ?? true, (vp) => vp.op.deleteextattr(vp, name));
  }

  /**
   * @internal Gives `to` every extended attribute of `from` (a file replaced
   * by a new one renamed over it keeps them, as a file rewritten in place
   * would); nothing where the file system keeps none.
   */
  async copyXattrs(from: string, to: string): Promise<void> {
    let names: string[];
    try {
      names = await this.listxattr(from, { follow: false });
    } catch (e) {
      if (e instanceof VmError && e.errno === EOPNOTSUPP) return;
      throw e;
    }
    for (const n of names) await this.setxattr(to, n, await this.getxattr(from, n, { follow: false }), { follow: false });
  }

  /** Runs a changing op on path's vnode, locked; EROFS on a read-only mount. */
  private async onVnode(path: string, syscall: string, follow: boolean, op: (vp: Vnode) => Promise<number>): Promise<void> {
    if (this.mp.readOnly) throw new VmError(EROFS, syscall, this.image, path);
    const vp = await this.lookup(path, follow, syscall);
    try {
      await this.withLocked([vp], () => op(vp), syscall, path);
    } finally {
      await vrele(vp);
    }
  }

  /**
   * @internal For filling a new image (mkfs --from): metadata is written at
   * sync and unmount only, none of it in order (MNT_ASYNC); a crash before
   * the unmount leaves an image to be made again.
   */
  setAsync(on: boolean): void {
    if (on) this.mp.flag |= MNT_ASYNC;
    else this.mp.flag &= ~MNT_ASYNC;
  }

  /** @internal A tree copied in: what it makes gets no ACL from its directories' default ACLs (MNT_NOACLINHERIT). */
  setAclInherit(on: boolean): void {
    if (on) this.mp.flag &= ~MNT_NOACLINHERIT;
    else this.mp.flag |= MNT_NOACLINHERIT;
  }

  /** @internal Mode, owner and times of path in one VOP_SETATTR (a tree copy's chmod + chown + utimes). */
  async setAttributes(path: string, va: SetattrArgs, follow: boolean): Promise<void> {
    await this.setattr(path, follow ? 'setattr' : 'lsetattr', va, follow);
  }

  private async setattr(path: string, syscall: string, va: SetattrArgs, follow = true): Promise<void> {
    if (this.mp.readOnly) throw new VmError(EROFS, syscall, this.image, path);
    const vp = await this.lookup(path, follow, syscall);
    try {
      await this.withLocked([vp], () => vp.op.setattr(vp, va), syscall, path);
    } finally {
      await vrele(vp);
    }
  }

  /** Runs op with the vnodes locked exclusively (each once, in inode order), and throws its error. */
  private async withLocked(vps: readonly Vnode[], op: () => Promise<number>, syscall: string, path: string): Promise<void> {
    const set = [...new Set(vps)].sort((a, b) => a.ino - b.ino);
    for (const vp of set) await vp.lock.lock(LK_EXCLUSIVE);
    let error: number;
    try {
      error = await op();
    } finally {
      for (const vp of set) vp.lock.unlock();
    }
    check(error, syscall, this.image, path);
  }

  /** Makes what is written so far durable before the next step (VFS_SYNC ends with the device's flush). */
  private async barrier(): Promise<void> {
    check(await this.mp.op.sync(this.mp), 'sync', this.image, null);
  }

  private async linksOf(vp: Vnode): Promise<number> {
    const { error, va } = await vp.op.getattr(vp);
    return error === 0 && va !== null ? va.nlink : 0;
  }

  /** Does anything but our lookup and a cached VM object hold vp (an open file, a mapping)? */
  private inUse(vp: Vnode): boolean {
    return vp.usecount > 1 + (vp.object !== null ? 1 : 0);
  }

  /** path's vnode (symlinks not followed), or null when there is nothing there. */
  private async lookupQuiet(path: string): Promise<Vnode | null> {
    try {
      return await this.lookup(path, false, 'lookup');
    } catch (e) {
      if (e instanceof VmError && e.errno === ENOENT) return null;
      throw e;
    }
  }

  /**
   * A trailing slash names a directory: nothing else is made or removed
   * through one. Throws what Linux gives: creating a file there EISDIR,
   * making a link, symlink or special file ENOENT (EEXIST where the name is
   * taken), unlinking ENOTDIR (EISDIR for a directory).
   */
  private async refuseSlashed(path: string, syscall: string): Promise<never> {
    const vp = await this.lookupQuiet(path.replace(/\/+$/, ''));
    const type = vp?.type ?? null;
    if (vp !== null) await vrele(vp);
    let errno: number;
    if (syscall === 'open') errno = type === null || type === VType.VDIR ? EISDIR : ENOTDIR;
    else if (syscall === 'unlink') errno = type === null ? ENOENT : type === VType.VDIR ? EISDIR : ENOTDIR;
    else errno = type === null ? ENOENT : EEXIST;
    throw new VmError(errno, syscall, this.image, path);
  }

  /** A path's parent directory and last name. */
  private splitPath(path: string, syscall: string): [string, string] {
    if (this.mp.readOnly) throw new VmError(EROFS, syscall, this.image, path);
    const parts = path.split('/').filter((p) => p !== '');
    const name = parts.pop();
    if (name === undefined || name === '.' || name === '..') {
      throw new VmError(namelessErrno(syscall, name), syscall, this.image, path, name === undefined ? 'the root directory cannot be renamed' : undefined);
    }
    return ['/' + parts.join('/'), name];
  }

  /**
   * Removes a file, symlink or empty directory (rm -d); `recursive`: a
   * directory with all below it (rm -r). The root, and a path ending in '.'
   * or '..', are refused before anything is removed (rm(1)'s
   * --preserve-root: such a directory cannot be removed itself, and its
   * contents would have gone before that was found).
   */
  async rm(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    refuseRemovingDot(path, 'rm', this.image);
    return this.rmBelow(path, opts.recursive === true, new Set());
  }

  /** rm, with the directories being removed above path: one met again is a loop (damage), refused. */
  private async rmBelow(path: string, recursive: boolean, above: Set<number>): Promise<void> {
    const st = await this.stat(path, { follow: false });
    if (st.type !== 'dir') return this.unlink(path);
    if (recursive) {
      if (above.has(st.ino)) throw new VmError(EINTEGRITY, 'rm', this.image, path, `directory inode ${st.ino} is its own ancestor (the image links it twice: run e2fsck)`);
      above.add(st.ino);
      for (const e of await this.readdir(path)) await this.rmBelow(joinPath(path, e.name), true, above);
      above.delete(st.ino);
    }
    await this.rmdir(path);
  }

  /**
   * Writes every dirty page, inode and metadata block to the disk. On an
   * error (EIO) the pages stay dirty and a later sync tries them again.
   * Each file's fsync leaves the device's flush to VFS_SYNC at the end:
   * one flush for the whole file system, not one per file (cf. sync(2)).
   */
  async sync(): Promise<void> {
    if (this.mp.readOnly) return;
    let first = 0;
    for (const vp of [...this.mp.vnodelist]) {
      if (vp.object === null) continue;
      await vp.lock.lock(LK_EXCLUSIVE);
      try {
        const e1 = await this.mp.vm!.clean(vp, true);
        const e2 = await vp.op.fsync(vp, MNT_NOWAIT);
        first ||= e1 || e2;
      } finally {
        vp.lock.unlock();
      }
    }
    first ||= await this.mp.op.sync(this.mp);
    check(first, 'sync', this.image, null);
  }

  /** Creates the regular file `path` (its parent must exist); returns it referenced. */
  private async createFile(path: string, mode = 0o644): Promise<Vnode> {
    if (this.mp.readOnly) throw new VmError(EROFS, 'open', this.image, path);
    // (The mode is given to the create, as open(2)'s: a directory's default ACL is cut to it, not to a chmod after.)
    return this.inParent(path, 'open', (dvp, name) => dvp.op.create(dvp, name, mode & 0o7777));
  }

  /** Runs op on the parent directory of path, locked, with the last component. */
  private async inParent(path: string, syscall: string, op: (dvp: Vnode, name: string) => Promise<LookupResult>): Promise<Vnode> {
    if (this.mp.readOnly) throw new VmError(EROFS, syscall, this.image, path);
    if (slashed(path) && syscall !== 'mkdir' && syscall !== 'rmdir') await this.refuseSlashed(path, syscall);
    const parts = path.split('/').filter((p) => p !== '');
    const name = parts.pop();
    const dvp = await this.lookup('/' + parts.join('/'), true, syscall);
    try {
      if (dvp.type !== VType.VDIR) throw new VmError(ENOTDIR, syscall, this.image, path);
      // (The path up to it is walked first, as the kernel does: a missing directory is ENOENT.)
      if (name === undefined || name === '.' || name === '..') throw new VmError(namelessErrno(syscall, name), syscall, this.image, path);
      await dvp.lock.lock(LK_EXCLUSIVE);
      let r: LookupResult;
      try {
        r = await op(dvp, name);
      } finally {
        dvp.lock.unlock();
      }
      check(r.error, syscall, this.image, path);
      return r.vp!;
    } finally {
      await vrele(dvp);
    }
  }

  /** The entries of a directory, without "." and "..". */
  async readdir(path: string): Promise<DirEntry[]> {
    const dvp = await this.lookup(path, true, 'readdir');
    try {
      return await this.entries(dvp, path);
    } finally {
      await vrele(dvp);
    }
  }

  /**
   * Visits every entry below directory `path`, depth first, parents before
   * children; each directory is entered once, however often it is linked (a
   * damaged image can make directories loop). Directories are entered by
   * file number, so a deep or wide tree costs no lookups by name. Entries
   * are visited as each directory is read: what is held is the directories
   * still to enter (their numbers and paths), never the tree. The order: a
   * directory's entries as stored, then its subdirectories' trees in turn;
   * `sorted`: each entry by name (its bytes), followed at once by its tree
   * when it is a directory (the order of `ls -R`), holding one directory's
   * entries per level of the path being walked.
   */
  async walk(path: string, visit: (path: string, e: DirEntry) => void, opts: { maxDepth?: number; sorted?: boolean } = {}): Promise<void> {
    const maxDepth = opts.maxDepth ?? 512;
    if (opts.sorted === true) return this.walkSorted(path, visit, maxDepth);
    const root = await this.lookup(path, true, 'readdir');
    const seen = new Set<number>([root.ino]);
    const stack: Array<{ vp: Vnode | null; ino: number; path: string; depth: number }> = [{ vp: root, ino: root.ino, path, depth: 0 }];
    try {
      while (stack.length > 0) {
        const d = stack.pop()!;
        let dvp = d.vp;
        if (dvp === null) {
          const r = await this.mp.op.vget(this.mp, d.ino);
          check(r.error, 'readdir', this.image, d.path);
          dvp = r.vp!;
        }
        let ents: DirEntry[];
        try {
          ents = await this.entries(dvp, d.path);
        } finally {
          await vrele(dvp);
        }
        const subdirs: typeof stack = [];
        for (const e of ents) {
          const p = joinPath(d.path, e.name);
          visit(p, e);
          if (e.type === 'dir' && !seen.has(e.ino) && d.depth < maxDepth) {
            seen.add(e.ino);
            subdirs.push({ vp: null, ino: e.ino, path: p, depth: d.depth + 1 });
          }
        }
        for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]);
      }
    } finally {
      for (const d of stack) if (d.vp !== null) await vrele(d.vp);
    }
  }

  /** walk's `sorted` order: pre-order, each directory's entries by name. */
  private async walkSorted(path: string, visit: (path: string, e: DirEntry) => void, maxDepth: number): Promise<void> {
    const root = await this.lookup(path, true, 'readdir');
    const seen = new Set<number>([root.ino]);
    let ents: DirEntry[];
    try {
      ents = await this.entries(root, path);
    } finally {
      await vrele(root);
    }
    const frames = [{ path, depth: 0, ents: sortByName(ents), i: 0 }];
    while (frames.length > 0) {
      const f = frames[frames.length - 1];
      if (f.i >= f.ents.length) {
        frames.pop();
        continue;
      }
      const e = f.ents[f.i++];
      const p = joinPath(f.path, e.name);
      visit(p, e);
      if (e.type !== 'dir' || seen.has(e.ino) || f.depth >= maxDepth) continue;
      seen.add(e.ino);
      const r = await this.mp.op.vget(this.mp, e.ino);
      check(r.error, 'readdir', this.image, p);
      try {
        ents = await this.entries(r.vp!, p);
      } finally {
        await vrele(r.vp!);
      }
      frames.push({ path: p, depth: f.depth + 1, ents: sortByName(ents), i: 0 });
    }
  }

  /** The entries of directory dvp, each looked at by file number (no lookup by name). */
  private async entries(dvp: Vnode, path: string): Promise<DirEntry[]> {
    if (dvp.type !== VType.VDIR) throw new VmError(ENOTDIR, 'readdir', this.image, path);
    const ents: Array<{ name: string; ino: number }> = [];
    check(await dvp.op.readdir(dvp, (d) => (d.name !== '.' && d.name !== '..' && ents.push({ name: d.name, ino: d.ino }), true)), 'readdir', this.image, path);
    const out: DirEntry[] = [];
    for (const { name, ino } of ents) {
      const child = joinPath(path, name);
      const { error, vp } = await this.mp.op.vget(this.mp, ino);
      check(error, 'readdir', this.image, child);
      try {
        const { error: e2, va } = await vp!.op.getattr(vp!);
        check(e2, 'stat', this.image, child);
        const kind = specialKind(va!.type);
        out.push(kind === undefined ? { name, type: fileType(va!.type), size: va!.size, ino } : { name, type: 'other', size: va!.size, ino, kind });
      } finally {
        await vrele(vp!);
      }
    }
    return out;
  }

  /** Inode fields and the block map; `follow` resolves a final symlink; `blockMap: false` skips the map (left empty). */
  async stat(path: string, opts: { follow?: boolean; blockMap?: boolean } = {}): Promise<FileStat> {
    const vp = await this.lookup(path, opts.follow ?? false, 'stat');
    try {
      const { error, va } = await vp.op.getattr(vp);
      check(error, 'stat', this.image, path);
      const { runs, truncated } = opts.blockMap === false ? { runs: [], truncated: false } : await this.blockMap(vp, va!);
      return fileStat(va!, this.blockSize, this.mp.stat.fsize, runs, truncated);
    } finally {
      await vrele(vp);
    }
  }

  /** The target of a symbolic link. */
  async readlink(path: string): Promise<string> {
    const vp = await this.lookup(path, false, 'readlink');
    try {
      const { error, target } = await vp.op.readlink(vp);
      check(error, 'readlink', this.image, path);
      return target;
    } finally {
      await vrele(vp);
    }
  }

  /**
   * Writes everything back (sync), then forgets every cached page of this
   * file system, closes open files and the device. A write error throws with
   * the file system still mounted and its dirty pages kept: unmount again
   * once the device is healed.
   */
  async unmount(): Promise<void> {
    if (this.unmounted) return;
    await this.sync(); // (the device's account of a failure stays registered till the end: the error says what the host said)
    for (const e of [...this.vmMap.entries]) if (e.vobject.handle?.mount === this.mp) await this.vmMap.remove(e);
    for (const f of [...this.files]) await f.close();
    this.mp.unmounting = true;
    await vnodePagerUmount(this.mp);
    await vrele(this.root);
    for (const vp of [...this.mp.vnodelist]) await vgone(vp);
    const e1 = await this.mp.op.sync(this.mp);
    const e2 = await this.mp.op.unmount(this.mp);
    const e3 = await this.dev.flush();
    const e4 = await this.dev.close();
    this.unmounted = true;
    mountedForWriting.delete(this);
    this.releaseLock();
    try {
      check(e1 || e2 || e3 || e4, 'unmount', this.image, null);
    } finally {
      reportDamage(this.image, null);
    }
    if (this.mp.vnodelist.size > 0) throw new VmError(EBUSY, 'unmount', this.image, null);
  }

  /**
   * @internal Gives the mount up without writing anything more: the device
   * closed, the image's lock released, no sync at exit. For the command
   * line, after a failure whose unmount failed too (the image's device full,
   * a failing disk): what was written stays as the write order left it.
   */
  async abandon(): Promise<void> {
    if (this.unmounted) return;
    this.unmounted = true;
    mountedForWriting.delete(this);
    reportDamage(this.image, null);
    await this.dev.close().catch(() => 0);
    this.releaseLock();
  }

  /** @internal files written through a File since their last close-time write-back */
  readonly written = new Set<Vnode>();

  /**
   * @internal Is the file at path (symlinks not followed) held by an open
   * File or a mapping? (The facade's writeFile then writes it in place, as
   * Node's does, so that the holder sees the new bytes.)
   */
  async heldOpen(path: string): Promise<boolean> {
    const vp = await this.lookupQuiet(path);
    if (vp === null) return false;
    try {
      return this.inUse(vp);
    } finally {
      await vrele(vp);
    }
  }

  /** @internal whether an open File still has vp */
  isOpen(vp: Vnode): boolean {
    for (const f of this.files) if (f.vp === vp) return true;
    return false;
  }

  /** @internal */
  forget(f: File): void {
    this.files.delete(f);
  }

  /**
   * @internal path's vnode, referenced (the caller vreles it); a final
   * symlink is not followed. For walks that go on by file number (tree_read).
   */
  async vnodeOf(path: string, syscall: string): Promise<Vnode> {
    return this.lookup(path, false, syscall);
  }

  /** Resolves path to a referenced vnode or throws. */
  private async lookup(path: string, follow: boolean, syscall: string): Promise<Vnode> {
    if (this.unmounted) throw new VmError(EINVAL, syscall, this.image, path, 'file system is unmounted');
    if (!path.startsWith('/')) throw new VmError(ENOENT, syscall, this.image, path, 'path must be absolute');
    const { error, vp } = await namei(this.root, path, follow);
    check(error, syscall, this.image, path);
    return vp!;
  }

  /** Walks VOP_BMAP over the file's blocks, joining contiguous runs. */
  private async blockMap(vp: Vnode, va: Vattr): Promise<{ runs: BlockRun[]; truncated: boolean }> {
    const runs: BlockRun[] = [];
    const bsize = this.blockSize;
    if (vp.type !== VType.VREG && vp.type !== VType.VDIR && vp.type !== VType.VLNK) return { runs, truncated: false };
    const nblocks = Math.ceil(va.size / bsize);
    let lookups = 0;
    for (let lbn = 0; lbn < nblocks; ) {
      if (++lookups > MAX_MAP_LOOKUPS) return { runs, truncated: true };
      const r = await vp.op.bmap(vp, lbn);
      if (r.error !== 0) {
        // No block map at all (fast symlink, inline data) is an empty map; damage is an error.
        if (lbn === 0 && r.error === EOPNOTSUPP) return { runs, truncated: false };
        check(r.error, 'bmap', this.image, null);
      }
      const physical = r.bn === -1 ? null : (r.bn * DEV_BSIZE) / this.mp.stat.fsize;
      const count = Math.min(r.runp + 1, nblocks - lbn, MAXPHYS); // a hole's run too
      const last = runs[runs.length - 1];
      const perBlock = bsize / this.mp.stat.fsize;
      if (last !== undefined && (physical === null ? last.physical === null : last.physical !== null && last.physical + last.count * perBlock === physical) && last.logical + last.count === lbn) {
        last.count += count;
      } else {
        runs.push({ logical: lbn, physical, count });
      }
      lbn += count;
    }
    return { runs, truncated: false };
  }
}

/** A trailing slash: the path must name a directory (or a symlink to one), as the kernel's lookup says. */
export function slashed(p: string): boolean {
  return p.length > 1 && p.endsWith('/');
}

/** Refuses, naming path, where its last name is the root, '.' or '..' (no directory there can be removed), with rmdir's errno. */
export function refuseRemovingDot(path: string, syscall: string, image: string): void {
  const last = path.split('/').filter((p) => p !== '').pop();
  if (last === undefined || last === '.' || last === '..') {
    throw new VmError(namelessErrno('rmdir', last), syscall, image, path, last === undefined ? 'the root directory cannot be removed' : `'${last}' cannot be removed`);
  }
}

/**
 * The errno of `syscall` on a path whose last name is no entry of a parent
 * of its own (`last`: undefined for the root, or '.' or '..'), as Linux
 * gives it: the name is taken (EEXIST) to make one, a directory (EISDIR)
 * to open or unlink one, busy (EBUSY) at either end of a rename or to
 * remove the root; rmdir's '.' is EINVAL and its '..' a directory not empty.
 */
function namelessErrno(syscall: string, last: string | undefined): number {
  switch (syscall) {
    case 'open':
    case 'unlink':
      return EISDIR;
    case 'rename':
      return EBUSY;
    case 'rmdir':
      return last === undefined ? EBUSY : last === '.' ? EINVAL : ENOTEMPTY;
    default: // mkdir, symlink, link, mknod
      return EEXIST;
  }
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/**
 * File systems mounted read-write and not yet unmounted. When the program
 * runs out of work with some still mounted, they are synced and unmounted
 * (cf. the kernel's sync at shutdown), so data written and never unmounted
 * is on disk all the same; a failure there is one line on stderr and exit
 * status 2. Not when the process is ended by process.exit() or a signal:
 * nothing asynchronous runs then.
 */
const mountedForWriting = new Set<MountedFs>();

globalThis.process?.on?.('beforeExit', () => {
  const left = [...mountedForWriting];
  mountedForWriting.clear(); // tried once each: a failure must not bring beforeExit back forever
  for (const fs of left) {
    fs.unmount().catch((e: unknown) => {
      process.stderr.write(`vmpager: ${e instanceof Error ? e.message : String(e)} (unmounting at exit)\n`);
      process.exitCode = 2;
    });
  }
});

/** A name for a file vmpager keeps out of sight while it replaces another: `.vmpager-new-` or `.vmpager-old-` and 16 hex digits. */
export function hiddenName(kind: 'new' | 'old'): string {
  let hex = '';
  for (let i = 0; i < 16; i++) hex += Math.floor(Math.random() * 16).toString(16);
  return `.vmpager-${kind}-${hex}`;
}

/** Whether name is one hiddenName() makes. */
export function isHiddenName(name: string): boolean {
  return /^\.vmpager-(new|old)-[0-9a-f]{16}$/.test(name);
}

/** Entries ordered by their names' bytes (UTF-8), as `ls` sorts them; stable for equal names. */
function sortByName(ents: DirEntry[]): DirEntry[] {
  return ents.sort((a, b) => compareUtf8(a.name, b.name));
}

/**
 * Two names in the order of their UTF-8 bytes, without encoding them: that
 * is code point order, which is UTF-16 code unit order except that a
 * surrogate (half of a code point past U+FFFF) sorts after U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Symlinks a path may pass through (Linux's MAXSYMLINKS). */
const MAXSYMLINKS = 40;

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

/** chown's owners as VOP_SETATTR takes them: -1 leaves one as it is (as chown(2)); anything but an id is EINVAL. */
function ownerArgs(uid: number, gid: number, image: string, path: string, syscall: string): { uid?: number; gid?: number } {
  const ok = (n: number) => n === -1 || (Number.isInteger(n) && n >= 0 && n <= 0xfffffffe);
  if (!ok(uid) || !ok(gid)) throw new VmError(EINVAL, syscall, image, path, 'an owner is a number from 0 to 4294967294, or -1 for unchanged');
  return { ...(uid !== -1 ? { uid } : {}), ...(gid !== -1 ? { gid } : {}) };
}
