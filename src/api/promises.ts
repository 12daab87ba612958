/*
 * FsPromises: a node:fs/promises-shaped facade over a MountedFs, so code
 * written for node:fs/promises runs on an image: `const fsp = root.promises`.
 * Errors are FsErrors (Node's code, errno, syscall, path, dest); mkdir -p and
 * rm -r are loops over MountedFs calls. Paths are inside the image; a
 * relative path is taken from its root. Methods are bound (destructuring works).
 */

import { Buffer } from 'node:buffer';
import { constants } from 'node:fs';
import { posix } from 'node:path';
import { EACCES, EBADF, EEXIST, EINVAL, EISDIR, ELOOP, ENOENT, ENOTDIR, EROFS } from '../kern/errno.js';
import { cp as copyTree, type CpOptions } from './cp.js';
import { Dir } from './dir.js';
import { VmError } from './errors.js';
import { nameDecode, nameEncode } from './names.js';
import type { File } from './file.js';
import { FileHandle, badTime, bytesOf, checkData, chunksOf, encodingOf, owners, parseFlags, toTime, type OpenFlags, type WriteData } from './file_handle.js';
import { FsError, argTypeError, checkAborted, fileMode, fsError, nodeCall } from './fs_error.js';
import { fileType, hiddenName, joinPath, refuseRemovingDot, slashed, type DirEntry, type FileStat, type MountedFs } from './mounted_fs.js';
import { BigIntStats, Dirent, Stats } from './stats.js';
import { VmReadStream, VmWriteStream, fileTarget, type ReadStreamOptions, type WriteStreamOptions } from './streams.js';

export type PathLike = string | Buffer | URL;
type Encoding = BufferEncoding | null | undefined;

/** The control characters util.inspect names (the others are \\xNN). */
const NAMED_ESCAPES: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/** An image path from what Node's calls take ('' stays '': it names nothing, as Node's ENOENT says). */
function pathOf(p: PathLike, name = 'path'): string {
  // Node's checks, before anything is touched: a string, bytes or a file: URL, without NUL bytes.
  if (typeof p !== 'string' && !(p instanceof Uint8Array) && !(p instanceof URL)) throw argTypeError(name, 'of type string or an instance of Buffer or URL', p);
  if (p instanceof URL && p.protocol !== 'file:') throw Object.assign(new TypeError('The URL must be of scheme file'), { code: 'ERR_INVALID_URL_SCHEME' });
  // Bytes are a name's own bytes (one that is not UTF-8 kept: kern/namebytes.ts).
  const s = typeof p === 'string' ? p : p instanceof URL ? decodeURIComponent(p.pathname) : nameDecode(p, 0, p.length);
  if (s.includes('\0')) {
    const shown = s.replace(/[\x00-\x1f\x7f]/g, (c) => NAMED_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
    throw Object.assign(new TypeError(`The argument '${name}' must be a string, Uint8Array, or URL without null bytes. Received '${shown}'`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return s.startsWith('/') || s === '' ? s : '/' + s;
}

/**
 * A name or path as an `encoding` option asks for it: the string itself
 * (utf8, or none), its bytes ('buffer'), or its bytes in that encoding
 * ('latin1', 'hex', ...), as Node gives a name read from the kernel.
 */
function encodedName(name: string, encoding: string | undefined): string | Buffer {
  if (encoding === undefined || encoding === 'utf8' || encoding === 'utf-8') return name;
  const bytes = Buffer.from(nameEncode(name));
  return encoding === 'buffer' ? bytes : bytes.toString(encoding as BufferEncoding);
}

/** Symlinks followed in one path before realpath gives up (Linux's MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/** Whether p's last name is '.' or '..' (rename's EBUSY, as Linux's). */
function dotLast(p: string): boolean {
  return /(^|\/)\.\.?\/*$/.test(p);
}

/** Writes data into f from offset at on, or each chunk at the end as it then is ('append', O_APPEND's way). */
async function writeAll(f: File, at: number | 'append', data: WriteData, enc: BufferEncoding): Promise<void> {
  for await (const b of chunksOf(data, enc)) {
    if (at === 'append') await f.append(b);
    else {
      await f.write(at, b);
      at += b.length;
    }
  }
}

function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof VmError && codes.includes(e.code);
}

export class FsPromises {
  /** node:fs's constants (F_OK, O_*, S_IF*, COPYFILE_EXCL ...). */
  readonly constants = constants;

  constructor(private readonly fs: MountedFs) {
    for (const name of Object.getOwnPropertyNames(FsPromises.prototype)) {
      const v = (this as unknown as Record<string, unknown>)[name];
      if (name !== 'constructor' && typeof v === 'function') Object.defineProperty(this, name, { value: v.bind(this) });
    }
  }

  /** stat(2): symlinks followed; `bigint` gives BigIntStats. */
  stat(path: PathLike, opts?: { bigint?: false }): Promise<Stats>;
  stat(path: PathLike, opts: { bigint: true }): Promise<BigIntStats>;
  async stat(path: PathLike, opts?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    const p = pathOf(path);
    const st = await nodeCall('stat', p, async () => this.dirIfSlashed(p, await this.fs.stat(p, { follow: true, blockMap: false })));
    return opts?.bigint ? new BigIntStats(st) : new Stats(st);
  }

  /** lstat(2): a final symlink is described itself. */
  lstat(path: PathLike, opts?: { bigint?: false }): Promise<Stats>;
  lstat(path: PathLike, opts: { bigint: true }): Promise<BigIntStats>;
  async lstat(path: PathLike, opts?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    const p = pathOf(path);
    const st = await nodeCall('lstat', p, async () => this.dirIfSlashed(p, await this.fs.stat(p, { follow: slashed(p), blockMap: false })));
    return opts?.bigint ? new BigIntStats(st) : new Stats(st);
  }

  /**
   * Existence (F_OK), judged as root would be: the image's owners are not this
   * process's, so R_OK and W_OK pass (W_OK on a read-only mount is EROFS), and
   * X_OK needs an x bit on anything but a directory (EACCES), except on FAT.
   */
  async access(path: PathLike, mode: number = constants.F_OK): Promise<void> {
    const p = pathOf(path);
    // (Node 20's words for these two; a fraction is cut, as its int32 is.)
    if (mode !== null && typeof mode !== 'number') throw Object.assign(new TypeError('mode must be int32 or null/undefined'), { code: 'ERR_INVALID_ARG_TYPE' });
    const bits = Math.trunc(mode ?? 0);
    if (bits < 0 || bits > 7) throw Object.assign(new RangeError('mode is out of range: >= 0 && <= 7'), { code: 'ERR_OUT_OF_RANGE' });
    const st = await nodeCall('access', p, async () => this.dirIfSlashed(p, await this.fs.stat(p, { follow: true, blockMap: false })));
    if ((mode & constants.W_OK) !== 0 && this.fs.readOnly) throw new FsError('EROFS', EROFS, 'access', this.fs.image, p, 'read-only file system');
    // FAT keeps no x bits (Linux's vfat shows its mask's), so there X_OK is not judged either.
    const xBits = !this.fs.type.startsWith('fat');
    if ((mode & constants.X_OK) !== 0 && xBits && st.type !== 'dir' && (st.mode & 0o111) === 0) throw fsError(new VmError(EACCES, 'access', this.fs.image, p), 'access', p);
  }

  /** Whether path names something (symlinks followed); not in node:fs/promises, but cheap. */
  async exists(path: PathLike): Promise<boolean> {
    try {
      await this.access(path);
      return true;
    } catch (e) {
      if (e instanceof FsError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return false;
      throw e;
    }
  }

  /** Names, or Dirents with `withFileTypes`; `recursive` lists the whole tree (paths relative to path). */
  readdir(path: PathLike, opts: { withFileTypes: true; recursive?: boolean }): Promise<Dirent[]>;
  readdir(path: PathLike, opts: 'buffer' | { withFileTypes?: false; recursive?: boolean; encoding: 'buffer' }): Promise<Buffer[]>;
  readdir(path: PathLike, opts?: Encoding | { withFileTypes?: false; recursive?: boolean; encoding?: Encoding }): Promise<string[]>;
  async readdir(
    path: PathLike,
    opts?: Encoding | 'buffer' | { withFileTypes?: boolean; recursive?: boolean; encoding?: Encoding | 'buffer' },
  ): Promise<string[] | Buffer[] | Dirent[]> {
    const encoding = encodingOf(opts) as string | undefined; // (Node's option check comes first)
    const p = pathOf(path);
    const o = typeof opts === 'object' && opts !== null ? opts : {};
    const found: Array<{ dir: string; e: DirEntry }> = [];
    if (o.recursive) {
      await nodeCall('scandir', p, () => this.fs.walk(p, (child, e) => found.push({ dir: posix.dirname(child), e })));
    } else {
      for (const e of await nodeCall('scandir', p, () => this.fs.readdir(p))) found.push({ dir: p, e });
    }
    const shown = (dir: string): string => (typeof path === 'string' ? (dir === p ? path : joinPath(path, posix.relative(p, dir))) : dir);
    // encoding 'buffer' (or another): names as Node gives them, from their bytes.
    const named = (name: string): string => encodedName(name, encoding) as string;
    if (!o.withFileTypes) return found.map(({ dir, e }) => named(dir === p ? e.name : posix.join(posix.relative(p, dir), e.name)));
    const out: Dirent[] = [];
    for (const { dir, e } of found) {
      // A device, FIFO or socket: its kind is in the inode's mode.
      const mode = e.type === 'other' ? (await this.fs.stat(joinPath(dir, e.name), { blockMap: false })).mode : undefined;
      out.push(new Dirent({ ...e, name: named(e.name) }, shown(dir), mode));
    }
    return out;
  }

  /** A Dir over path's entries (Dirents; `recursive` as readdir's). */
  async opendir(path: PathLike, opts: { recursive?: boolean; bufferSize?: number; encoding?: Encoding } = {}): Promise<Dir> {
    const entries = await this.readdir(path, { withFileTypes: true, recursive: opts.recursive }).catch((e: unknown) => {
      throw e instanceof FsError && e.syscall === 'scandir' ? fsError(e.cause, 'opendir', e.path) : e;
    });
    return new Dir(typeof path === 'string' ? path : pathOf(path), entries);
  }

  /**
   * realpath(3): path with every symlink resolved and no '.', '..' or
   * repeated '/'; absolute links are taken from the image's root.
   */
  realpath(path: PathLike, opts?: Encoding | { encoding?: Encoding }): Promise<string>;
  realpath(path: PathLike, opts: 'buffer' | { encoding: 'buffer' }): Promise<Buffer>;
  async realpath(path: PathLike, opts?: Encoding | 'buffer' | { encoding?: Encoding | 'buffer' }): Promise<string | Buffer> {
    const encoding = encodingOf(opts) as string | undefined;
    const p = pathOf(path);
    const real = await nodeCall('realpath', p, () => this.resolve(p));
    return encodedName(real, encoding);
  }

  /** p resolved name by name, as realpath(3) walks it. */
  private async resolve(p: string): Promise<string> {
    if (p === '') throw new VmError(ENOENT, 'realpath', this.fs.image, p);
    const todo = p.split('/').filter((s) => s !== '');
    const done: string[] = [];
    let links = 0;
    let last: FileStat = await this.fs.stat('/', { follow: false, blockMap: false });
    while (todo.length > 0) {
      const name = todo.shift()!;
      if (last.type !== 'dir') throw new VmError(ENOTDIR, 'realpath', this.fs.image, p); // 'file/..' too
      if (name === '.') continue;
      if (name === '..') {
        done.pop();
        last = await this.fs.stat('/' + done.join('/'), { follow: false, blockMap: false });
        continue;
      }
      const here = '/' + [...done, name].join('/');
      last = await this.fs.stat(here, { follow: false, blockMap: false });
      if (last.type !== 'symlink') {
        done.push(name);
        continue;
      }
      if (++links > MAX_SYMLINKS) throw new VmError(ELOOP, 'realpath', this.fs.image, p);
      const target = await this.fs.readlink(here);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((s) => s !== ''));
      last = await this.fs.stat('/' + done.join('/'), { follow: false, blockMap: false });
    }
    if (slashed(p) && last.type !== 'dir') throw new VmError(ENOTDIR, 'realpath', this.fs.image, p);
    return '/' + done.join('/');
  }

  /**
   * mkdir(2); `recursive` makes the missing parents too and resolves to the
   * first directory it made (undefined if none). `mode`, when given, goes to
   * the mkdir as mkdir(2) takes it: its permissions and sticky bit (no umask:
   * the image is not this process's); a set-group-ID parent hands down its
   * group and that bit.
   */
  async mkdir(path: PathLike, opts?: number | string | { recursive?: boolean; mode?: number | string }): Promise<string | undefined> {
    const p = pathOf(path);
    const o = typeof opts === 'object' ? opts : { mode: opts };
    const mode = o.mode === undefined ? undefined : fileMode(o.mode);
    const made = async (dir: string): Promise<void> => {
      // The mode goes to the mkdir itself, as mkdir(2)'s (a default ACL is cut to it); FAT keeps none for a
      // directory, and (as Linux's vfat, whose masks decide) mkdir does not fail for it.
      await this.fs.mkdir(dir, { mode });
    };
    if (p === '') throw fsError(new VmError(ENOENT, 'mkdir', this.fs.image, p), 'mkdir', p);
    if (!o.recursive) {
      await nodeCall('mkdir', p, async () => {
        if (dotLast(p)) {
          // 'd/.' or 'd/..' names a directory that is there (or an error on the way to it).
          await this.fs.stat(p, { follow: true, blockMap: false });
          throw new VmError(EEXIST, 'mkdir', this.fs.image, p);
        }
        await made(p);
      });
      return undefined;
    }
    return nodeCall('mkdir', p, async () => {
      const parts = posix.normalize(p).split('/').filter((s) => s !== '');
      let first: string | undefined;
      for (let i = 0, dir = ''; i < parts.length; i++) {
        dir += '/' + parts[i];
        const st = await this.statQuiet(dir);
        if (st === null) {
          try {
            await made(dir);
            first ??= dir;
            continue;
          } catch (e) {
            if (!isCode(e, 'EEXIST')) throw e;
          }
        }
        if (st === null || st.type !== 'dir') {
          const now = st ?? (await this.statQuiet(dir)); // (made meanwhile, perhaps)
          if (now?.type === 'dir') continue;
          const last = i === parts.length - 1;
          // A dangling symlink, where Node's mkdir -p meets EEXIST and then a failing stat: ENOENT as
          // the last name, ENOTDIR above it, naming the link (the path it was making then).
          if (now === null) throw fsError(new VmError(last ? ENOENT : ENOTDIR, 'mkdir', this.fs.image, dir), 'mkdir', last ? p : dir);
          throw new VmError(last ? EEXIST : ENOTDIR, 'mkdir', this.fs.image, p);
        }
      }
      return first;
    });
  }

  /** Removes an empty directory; `recursive` is rm's (deprecated in Node, kept). */
  async rmdir(path: PathLike, opts?: { recursive?: boolean }): Promise<void> {
    if (opts?.recursive) return this.rm(path, { recursive: true, force: true });
    const p = pathOf(path);
    await nodeCall('rmdir', p, () => this.fs.rmdir(p));
  }

  /** rm: a file or symlink; a directory with `recursive` (its tree, depth first); `force`: a missing path is no error. */
  async rm(path: PathLike, opts: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    const p = pathOf(path);
    let st: FileStat;
    try {
      st = this.dirIfSlashed(p, await this.fs.stat(p, { follow: slashed(p), blockMap: false }));
    } catch (e) {
      if (opts.force && isCode(e, 'ENOENT')) return;
      throw fsError(e, 'lstat', p);
    }
    if (st.type !== 'dir') return nodeCall('unlink', p, () => this.fs.unlink(p));
    // (Before anything goes: the root, '.' and '..' cannot be removed, and their contents would have gone first.)
    if (opts.recursive) await nodeCall('rm', p, async () => refuseRemovingDot(p, 'rm', this.fs.image));
    if (!opts.recursive) {
      // Node's own check, before any syscall: a SystemError, its errno positive.
      const e = new FsError('ERR_FS_EISDIR', EISDIR, 'rm', this.fs.image, p, 'is a directory');
      Object.defineProperty(e, 'errno', { value: -e.errno });
      Object.defineProperty(e, 'name', { value: 'SystemError' });
      e.message = `Path is a directory: rm returned EISDIR (is a directory) ${p}`;
      throw e;
    }
    // A symlink to a directory named with a trailing slash: Node's rm removes nothing (its rmdir of the
    // link fails, and it stops there) and resolves; the directory's contents went here before.
    if (slashed(p) && (await nodeCall('lstat', p, () => this.fs.stat(p.replace(/\/+$/, ''), { follow: false, blockMap: false }))).type === 'symlink') return;
    await this.removeTree(p);
  }

  /** Removes directory dir and everything below it. */
  private async removeTree(dir: string): Promise<void> {
    for (const e of await nodeCall('scandir', dir, () => this.fs.readdir(dir))) {
      const child = joinPath(dir, e.name);
      if (e.type === 'dir') await this.removeTree(child);
      else await nodeCall('unlink', child, () => this.fs.unlink(child));
    }
    await nodeCall('rmdir', dir, () => this.fs.rmdir(dir));
  }

  async unlink(path: PathLike): Promise<void> {
    const p = pathOf(path);
    await nodeCall('unlink', p, async () => {
      if (slashed(p)) {
        // unlink never succeeds through a trailing slash: the last name itself (a symlink not followed) decides the error.
        const st = await this.fs.stat(p.replace(/\/+$/, ''), { follow: false, blockMap: false });
        throw new VmError(st.type === 'dir' ? EISDIR : ENOTDIR, 'unlink', this.fs.image, p);
      }
      await this.fs.unlink(p);
    });
  }

  /** rename(2): a file at newPath is replaced (crash-safely, see MountedFs.rename). */
  async rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
    const [a, b] = [pathOf(oldPath, 'oldPath'), pathOf(newPath, 'newPath')];
    await nodeCall('rename', a, async () => {
      if (slashed(a) || slashed(b)) {
        // A trailing slash on either name: what moves must be a directory (a symlink to one is not).
        const st = await this.fs.stat(a.replace(/\/+$/, ''), { follow: false, blockMap: false }).catch(() => null);
        if (st !== null && st.type !== 'dir') throw new VmError(ENOTDIR, 'rename', this.fs.image, a);
      }
      await this.fs.rename(a, b);
    }, b);
  }

  async link(existingPath: PathLike, newPath: PathLike): Promise<void> {
    const [a, b] = [pathOf(existingPath, 'existingPath'), pathOf(newPath, 'newPath')];
    await nodeCall('link', a, () => this.fs.link(a, b), b);
  }

  /** A symlink at path to target (stored as given); Windows' type argument is ignored. */
  async symlink(target: PathLike, path: PathLike, _type?: string | null): Promise<void> {
    const t = typeof target === 'string' ? target : target instanceof URL ? target.pathname : nameDecode(target, 0, target.length); // (bytes as given)
    const p = pathOf(path);
    await nodeCall('symlink', t, () => this.fs.symlink(t, p), p);
  }

  /** The link's target; a Buffer with encoding 'buffer'. */
  readlink(path: PathLike, opts?: Encoding | { encoding?: Encoding }): Promise<string>;
  readlink(path: PathLike, opts: 'buffer' | { encoding: 'buffer' }): Promise<Buffer>;
  async readlink(path: PathLike, opts?: Encoding | 'buffer' | { encoding?: Encoding | 'buffer' }): Promise<string | Buffer> {
    const encoding = encodingOf(opts) as string | undefined;
    const p = pathOf(path);
    const t = await nodeCall('readlink', p, async () => {
      // A trailing slash follows the link: a directory is no link (EINVAL), anything else ENOTDIR.
      if (slashed(p)) throw new VmError((await this.fs.stat(p, { follow: true, blockMap: false })).type === 'dir' ? EINVAL : ENOTDIR, 'readlink', this.fs.image, p);
      return this.fs.readlink(p);
    });
    return encodedName(t, encoding);
  }

  async chmod(path: PathLike, mode: number | string): Promise<void> {
    const p = pathOf(path);
    const m = fileMode(mode);
    await nodeCall('chmod', p, () => this.fs.chmod(p, m & 0o7777));
  }

  async chown(path: PathLike, uid: number, gid: number): Promise<void> {
    const p = pathOf(path);
    const o = owners(uid, gid);
    await nodeCall('chown', p, () => this.fs.chownAs(p, 'chown', o, true));
  }

  /** chown of a symlink itself. */
  async lchown(path: PathLike, uid: number, gid: number): Promise<void> {
    const p = pathOf(path);
    const o = owners(uid, gid);
    await nodeCall('lchown', p, () => this.fs.chownAs(p, 'lchown', o, false));
  }

  /** utimes of a symlink itself. */
  async lutimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    const p = pathOf(path);
    const [a, m] = [toTime(atime), toTime(mtime)];
    await nodeCall('lutime', p, async () => {
      if (badTime(a) || badTime(m)) throw new VmError(EINVAL, 'lutime', this.fs.image, p);
      await this.fs.lutimes(p, a, m);
    });
  }

  /** Times as Dates, or numbers (and numeric strings) of seconds, as Node's. */
  async utimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    const p = pathOf(path);
    const [a, m] = [toTime(atime), toTime(mtime)];
    await nodeCall('utime', p, async () => {
      if (badTime(a) || badTime(m)) throw new VmError(EINVAL, 'utime', this.fs.image, p); // an invalid Date, as the kernel sees its NaN
      await this.fs.utimes(p, a, m);
    });
  }

  /*
   * Extended attributes: node:fs has none, so these are named after the
   * system calls (getxattr(2) ...); symlinks are followed, a symlink's own
   * with `follow: false` (lgetxattr(2) ...). Errors as Node
   * would give them on Linux: ENODATA (absent), EOPNOTSUPP, ERANGE, E2BIG, ENOSPC.
   */

  /** The value of attribute `name`; a string with an encoding ('utf8', 'hex', ...), else a Buffer. */
  async getxattr(path: PathLike, name: string, opts?: Encoding | { encoding?: Encoding; follow?: boolean }): Promise<Buffer | string> {
    const enc = encodingOf(opts);
    const p = pathOf(path);
    const follow = typeof opts === 'object' && opts !== null ? opts.follow : undefined;
    const v = Buffer.from(await nodeCall('getxattr', p, () => this.fs.getxattr(p, name, { follow })));
    return enc === undefined ? v : v.toString(enc);
  }

  /** The attribute names of path. */
  async listxattr(path: PathLike, opts: { follow?: boolean } = {}): Promise<string[]> {
    const p = pathOf(path);
    return nodeCall('listxattr', p, () => this.fs.listxattr(p, { follow: opts.follow }));
  }

  /** Sets attribute `name` (a string value is UTF-8); flag 'create' or 'replace' as setxattr(2)'s flags. */
  async setxattr(path: PathLike, name: string, value: string | ArrayBufferView, opts: { flag?: 'create' | 'replace'; follow?: boolean } = {}): Promise<void> {
    const p = pathOf(path);
    await nodeCall('setxattr', p, () => this.fs.setxattr(p, name, bytesOf(value, 'utf8'), opts));
  }

  async removexattr(path: PathLike, name: string, opts: { follow?: boolean } = {}): Promise<void> {
    const p = pathOf(path);
    await nodeCall('removexattr', p, () => this.fs.removexattr(p, name, { follow: opts.follow }));
  }

  async truncate(path: PathLike, len = 0): Promise<void> {
    const h = await this.open(path, 'r+');
    try {
      await h.truncate(len); // Node's: a negative length is 0
    } finally {
      await h.close();
    }
  }

  /** A FileHandle; flags as Node's ('r' default, 'r+', 'w', 'wx', 'a', ...); `mode` for a file it creates. */
  async open(path: PathLike, flags: string | number = 'r', mode?: number | string): Promise<FileHandle> {
    const fl = parseFlags(flags);
    const file = await this.openFile(pathOf(path), fl, mode);
    return new FileHandle(this.fs, file, fl);
  }

  /** Opens (or creates) p as the flags say, with Node's errors; truncates for 'w'. */
  private async openFile(p: string, fl: OpenFlags, mode?: number | string): Promise<File> {
    const m = mode === undefined ? undefined : fileMode(mode); // (Node's error before anything is touched)
    return nodeCall('open', p, async () => {
      // O_CREAT with O_DIRECTORY asks for nothing that can be made: refused before the path is walked, as Linux (6.4 on) does.
      if (fl.create && fl.directory) throw new VmError(EINVAL, 'open', this.fs.image, p);
      if (fl.write && this.fs.readOnly) throw new VmError(EROFS, 'open', this.fs.image, p);
      if (slashed(p) && fl.create) {
        // Creating through a trailing slash is EISDIR once the parent is found (as Linux's open does).
        await this.fs.stat(posix.dirname(p), { follow: true, blockMap: false });
        throw new VmError(EISDIR, 'open', this.fs.image, p);
      }
      const there = fl.create && !slashed(p) ? await this.fs.stat(p, { follow: false, blockMap: false }).catch(() => null) : null;
      // O_EXCL: any name there is EEXIST, a symlink too (dangling, or a loop that a stat would call ELOOP).
      if (fl.create && fl.exclusive && there !== null) throw new VmError(EEXIST, 'open', this.fs.image, p);
      // A symlink whose target ends in '/' is a trailing slash too: creating through it is EISDIR.
      if (there?.type === 'symlink' && (await this.fs.readlink(p)).endsWith('/')) throw new VmError(EISDIR, 'open', this.fs.image, p);
      const st = await this.statQuiet(p);
      if (st !== null) this.dirIfSlashed(p, st);
      if (st !== null && fl.create && fl.exclusive) throw new VmError(EEXIST, 'open', this.fs.image, p);
      if (st !== null && fl.write && st.type === 'dir') throw new VmError(EISDIR, 'open', this.fs.image, p);
      // O_NOFOLLOW: a final symlink (not one a trailing slash asks to follow) is ELOOP, or ENOTDIR with O_DIRECTORY, as Linux's.
      if (fl.nofollow && !slashed(p) && (await this.fs.stat(p, { follow: false, blockMap: false }).catch(() => null))?.type === 'symlink') {
        throw new VmError(fl.directory ? ENOTDIR : ELOOP, 'open', this.fs.image, p);
      }
      if (fl.directory && st !== null && st.type !== 'dir') throw new VmError(ENOTDIR, 'open', this.fs.image, p);
      // (Creating through a dangling symlink makes its target, as open(2) with O_CREAT does: openOrCreate
      // follows it. Missing at the stat and made meanwhile by another caller: opened as it now is.)
      const { file: f, created } = await this.fs.openOrCreate(p, { create: fl.create, exclusive: fl.create && fl.exclusive, mode: m });
      try {
        if (!created && fl.write && fileType(f.vp.type) === 'dir') throw new VmError(EISDIR, 'open', this.fs.image, p);
        if (fl.truncate && f.size !== 0) await f.truncate(0);
      } catch (e) {
        await f.close();
        throw e;
      }
      return f;
    });
  }

  /** The whole file (from a path or a FileHandle's position); a string with an encoding. */
  readFile(path: PathLike | FileHandle, opts?: null | { encoding?: null; flag?: string }): Promise<Buffer>;
  readFile(path: PathLike | FileHandle, opts: BufferEncoding | { encoding: BufferEncoding; flag?: string }): Promise<string>;
  readFile(path: PathLike | FileHandle, opts?: Encoding | { encoding?: Encoding; flag?: string }): Promise<Buffer | string>;
  async readFile(path: PathLike | FileHandle, opts?: Encoding | { encoding?: Encoding; flag?: string; signal?: AbortSignal }): Promise<Buffer | string> {
    encodingOf(opts); // (an unknown encoding is refused before anything is opened, as Node's)
    checkAborted(opts);
    if (path instanceof FileHandle) return path.readFile(opts);
    const flag = typeof opts === 'object' && opts !== null ? (opts.flag ?? 'r') : 'r';
    const h = await this.open(path, flag);
    try {
      return await h.readFile(opts);
    } finally {
      await h.close();
    }
  }

  /**
   * Writes data as the whole file ('w'), or as flag says ('a', 'wx', ...);
   * data may also be an (async) iterable of chunks, e.g. a Readable.
   * An existing regular file with one name is replaced as `vmpager put` does:
   * the bytes go to a hidden new file, synced, given the old mode, owner and
   * extended attributes,
   * renamed over it (a crash or an error such as ENOSPC leaves the old file
   * whole); so it gets a new inode number. A file with other names, or
   * reached through a symlink, is rewritten in place, as Node does (the
   * other names see it).
   */
  async writeFile(path: PathLike | FileHandle, data: WriteData, opts?: Encoding | { encoding?: Encoding; mode?: number | string; flag?: string; signal?: AbortSignal }): Promise<void> {
    const enc = encodingOf(opts) ?? 'utf8';
    checkData(data);
    checkAborted(opts);
    const o = typeof opts === 'object' && opts !== null ? opts : {};
    if (path instanceof FileHandle) return path.writeFile(data, opts);
    const p = pathOf(path);
    const fl = parseFlags(o.flag ?? 'w');
    const plainW = fl.write && fl.create && fl.truncate && !fl.exclusive && !fl.append && !fl.directory;
    if (plainW && !this.fs.readOnly && !slashed(p)) {
      const old = await this.fs.stat(p, { follow: false, blockMap: false }).catch(() => null);
      // (A file open here, or mapped, is written in place, as Node writes it: its holders see the new bytes.)
      if (old !== null && old.type === 'file' && old.nlink === 1 && !(await this.fs.heldOpen(p))) return this.replace(p, old, data, enc);
    }
    const f = await this.openFile(p, fl, o.mode);
    try {
      await nodeCall('write', p, async () => {
        if (!fl.write) throw new VmError(EBADF, 'write', this.fs.image, p); // flag 'r': opened, then refused, as Node's
        await writeAll(f, fl.append ? 'append' : 0, data, enc);
      });
    } finally {
      await nodeCall('close', p, () => f.close());
    }
  }

  /** Replaces regular file p (stat old) by a new file holding data, crash-safely (cf. `vmpager put`). */
  private async replace(p: string, old: FileStat, data: WriteData, enc: BufferEncoding): Promise<void> {
    const tmp = joinPath(posix.dirname(p), hiddenName('new'));
    try {
      const f = await nodeCall('open', p, () => this.fs.open(tmp, { create: true }));
      try {
        await nodeCall('write', p, async () => {
          await writeAll(f, 0, data, enc);
          await f.sync();
        });
      } finally {
        await nodeCall('close', p, () => f.close());
      }
      await nodeCall('open', p, async () => {
        await this.fs.chown(tmp, old.uid, old.gid); // (before the mode: a chown drops set-ID bits)
        await this.fs.chmod(tmp, old.mode & 0o7777);
        await this.fs.copyXattrs(p, tmp);
      });
      // On FAT, p may be an alias or another case of the name: the rename keeps the file's own.
      await nodeCall('rename', p, () => this.fs.rename(tmp, p));
    } catch (e) {
      await this.fs.unlink(tmp).catch(() => {});
      throw e;
    }
  }

  /** Appends data, creating the file (with `mode`) if it is missing. */
  async appendFile(path: PathLike | FileHandle, data: WriteData, opts?: Encoding | { encoding?: Encoding; mode?: number | string; flag?: string; signal?: AbortSignal }): Promise<void> {
    const encoding = encodingOf(opts);
    checkData(data);
    checkAborted(opts);
    const o = typeof opts === 'object' && opts !== null ? opts : {};
    if (path instanceof FileHandle) return path.appendFile(data, opts);
    await this.writeFile(path, data, { encoding, mode: o.mode, flag: o.flag ?? 'a' });
  }

  /** Copies src's bytes and mode to dest ('w'; COPYFILE_EXCL: 'wx'), streaming src's pages with sendfile. */
  async copyFile(src: PathLike, dest: PathLike, mode = 0): Promise<void> {
    const [a, b] = [pathOf(src, 'src'), pathOf(dest, 'dest')];
    await nodeCall('copyfile', a, async () => {
      const st = await this.fs.stat(a, { follow: true, blockMap: false });
      if (st.type === 'dir') throw new VmError(EISDIR, 'copyfile', this.fs.image, a); // before dest is made
      const from = await this.fs.open(a);
      try {
        const same = await this.statQuiet(b);
        if (same !== null && same.ino === from.vp.ino && (mode & constants.COPYFILE_EXCL) === 0) return; // itself: nothing to do
        const to = await this.openFile(b, parseFlags((mode & constants.COPYFILE_EXCL) !== 0 ? 'wx' : 'w')).catch((e: unknown) => {
          throw e instanceof FsError && e.cause instanceof VmError ? e.cause : e;
        });
        try {
          let off = 0;
          // The sink writes another file, never `from`: sendfile's pages stay busy only for that.
          await from.sendfile(async (frames) => {
            for (const v of frames) {
              await to.write(off, v);
              off += v.length;
            }
          });
        } finally {
          await to.close();
        }
        await this.fs.chmod(b, st.mode & 0o7777); // as Node's: the source's mode
      } finally {
        await from.close();
      }
    }, b);
  }

  /** fsPromises.cp inside the image: a file, or with `recursive` a tree (see cp.ts for Node's rules it keeps). */
  async cp(src: PathLike, dest: PathLike, opts: CpOptions = {}): Promise<void> {
    await copyTree(this, pathOf(src, 'src'), pathOf(dest, 'dest'), opts);
  }

  /** A Readable of the file's bytes [start, end] (end inclusive, as Node's), fed by File.sendfile. */
  createReadStream(path: PathLike, opts?: BufferEncoding | ReadStreamOptions): VmReadStream {
    const p = pathOf(path);
    const o = typeof opts === 'string' ? { encoding: opts } : (opts ?? {});
    return new VmReadStream(() => this.openFile(p, parseFlags('r')), p, o);
  }

  /** A Writable into the file (flags 'w' by default: created or truncated); 'finish' once written back. */
  createWriteStream(path: PathLike, opts?: BufferEncoding | WriteStreamOptions): VmWriteStream {
    const p = pathOf(path);
    const o = typeof opts === 'string' ? { encoding: opts } : (opts ?? {});
    const fl = parseFlags(o.flags ?? 'w');
    return new VmWriteStream(async () => fileTarget(await this.openFile(p, fl, o.mode), fl.append), p, o);
  }

  /** Throws ENOTDIR when p ends in '/' and st is not a directory; returns st. */
  private dirIfSlashed(p: string, st: FileStat): FileStat {
    if (slashed(p) && st.type !== 'dir') throw new VmError(ENOTDIR, 'lookup', this.fs.image, p);
    return st;
  }

  /** p's attributes (symlinks followed), or null when nothing is there. */
  private async statQuiet(p: string): Promise<FileStat | null> {
    try {
      return await this.fs.stat(p, { follow: true, blockMap: false });
    } catch (e) {
      if (isCode(e, 'ENOENT')) return null;
      throw e;
    }
  }
}
