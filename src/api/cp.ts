/*
 * cp for the node:fs/promises facade: Node's fsPromises.cp over the facade's
 * own calls (lstat, copyFile, mkdir, readdir, readlink, symlink, chmod,
 * utimes), inside one image.
 *   await fsp.cp('/etc/skel', '/home/pi', { recursive: true })
 * As Node's: a file is copied with copyFile (its mode kept); a directory is
 * made (if missing), filled, then given its source's mode; a symlink is made
 * anew, a relative target made absolute unless verbatimSymlinks; FIFOs,
 * sockets and devices are refused; errors are Node's ERR_FS_CP_* SystemErrors.
 */

import { constants } from 'node:os';
import { posix } from 'node:path';
import type { Stats } from './stats.js';

export interface CpOptions {
  /** Copy directories and what they hold (without it a directory is ERR_FS_EISDIR). */
  recursive?: boolean;
  /** Overwrite what is at the destination (default true). */
  force?: boolean;
  /** With force false, an existing destination is an error rather than skipped. */
  errorOnExist?: boolean;
  /** Follow symlinks in src. */
  dereference?: boolean;
  /** Give each copy its source's access and modification times. */
  preserveTimestamps?: boolean;
  /** Keep symlink targets as they are (else a relative one is made absolute). */
  verbatimSymlinks?: boolean;
  /** copyFile's mode (COPYFILE_EXCL ...). */
  mode?: number;
  /** Copies only what it answers true for (and, for a directory, nothing below it otherwise). */
  filter?: (src: string, dest: string) => boolean | Promise<boolean>;
}

/** The facade calls cp uses (FsPromises has them all). */
export interface CpCalls {
  stat(p: string): Promise<Stats>;
  lstat(p: string): Promise<Stats>;
  copyFile(src: string, dest: string, mode?: number): Promise<void>;
  mkdir(p: string, opts?: { recursive?: boolean }): Promise<string | undefined>;
  readdir(p: string): Promise<string[]>;
  readlink(p: string): Promise<string>;
  symlink(target: string, p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  utimes(p: string, atime: Date, mtime: Date): Promise<void>;
}

/** Node's SystemError for cp: `code`, errno positive, syscall 'cp', the path named last. */
function cpError(code: string, errnoName: string, summary: string, detail: string, path: string): Error {
  const errno = (constants.errno as Record<string, number>)[errnoName];
  const e = new Error(`${summary}: cp returned ${errnoName} (${detail}) ${path}`);
  Object.defineProperty(e, 'name', { value: 'SystemError' });
  return Object.assign(e, { code, errno, syscall: 'cp', path });
}

async function statOrNull(calls: CpCalls, p: string, follow: boolean): Promise<Stats | null> {
  try {
    return await (follow ? calls.stat(p) : calls.lstat(p));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Copies src to dest as Node's fsPromises.cp does. */
export async function cp(calls: CpCalls, src: string, dest: string, opts: CpOptions): Promise<void> {
  const o = { ...opts, force: opts.force ?? true };
  const srcStat = await (o.dereference ? calls.stat(src) : calls.lstat(src));
  const destStat = await statOrNull(calls, dest, o.dereference ?? false);
  if (destStat !== null && destStat.ino === srcStat.ino) {
    throw cpError('ERR_FS_CP_EINVAL', 'EINVAL', 'Invalid src or dest', 'src and dest cannot be the same', dest);
  }
  if (srcStat.isDirectory() && dest.startsWith(src.replace(/\/+$/, '') + '/')) {
    throw cpError('ERR_FS_CP_EINVAL', 'EINVAL', 'Invalid src or dest', `cannot copy ${src} to a subdirectory of self ${dest}`, dest);
  }
  if (o.filter !== undefined && !(await o.filter(src, dest))) return;
  // The destination's parent is made first, as Node's checkParentDir does.
  await calls.mkdir(posix.dirname(dest), { recursive: true });
  await copyOne(calls, src, dest, srcStat, destStat, o);
}

/** Copies one thing (a directory with what it holds). */
async function copyOne(calls: CpCalls, src: string, dest: string, srcStat: Stats, destStat: Stats | null, o: CpOptions): Promise<void> {
  if (srcStat.isDirectory()) {
    if (!o.recursive) throw cpError('ERR_FS_EISDIR', 'EISDIR', 'Path is a directory', `${src} is a directory (not copied)`, src);
    if (destStat !== null && !destStat.isDirectory()) {
      throw cpError('ERR_FS_CP_DIR_TO_NON_DIR', 'EISDIR', 'Cannot overwrite non-directory with directory', `cannot overwrite non-directory ${dest} with directory ${src}`, dest);
    }
    if (destStat === null) await calls.mkdir(dest);
    for (const name of await calls.readdir(src)) {
      const [s, d] = [posix.join(src, name), posix.join(dest, name)];
      if (o.filter !== undefined && !(await o.filter(s, d))) continue;
      const st = await (o.dereference ? calls.stat(s) : calls.lstat(s));
      await copyOne(calls, s, d, st, await statOrNull(calls, d, o.dereference ?? false), o);
    }
    // The new directory's mode, as mkdir's: dropped where the file system keeps none (FAT).
    if (destStat === null) {
      await calls.chmod(dest, srcStat.mode & 0o7777).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EOPNOTSUPP') throw e;
      });
    }
    return;
  }
  if (destStat?.isDirectory() && !srcStat.isSymbolicLink()) {
    throw cpError('ERR_FS_CP_NON_DIR_TO_DIR', 'ENOTDIR', 'Cannot overwrite directory with non-directory', `cannot overwrite directory ${dest} with non-directory ${src}`, dest);
  }
  if (srcStat.isFIFO()) throw cpError('ERR_FS_CP_FIFO_PIPE', 'EINVAL', 'Cannot copy a FIFO pipe', `cannot copy a FIFO pipe: ${dest}`, dest);
  if (srcStat.isSocket()) throw cpError('ERR_FS_CP_SOCKET', 'EINVAL', 'Cannot copy a socket file', `cannot copy a socket file: ${dest}`, dest);
  if (!srcStat.isFile() && !srcStat.isSymbolicLink()) {
    throw cpError('ERR_FS_CP_UNKNOWN', 'EINVAL', 'Cannot copy an unknown file type', `cannot copy an unknown file type: ${dest}`, dest);
  }
  if (destStat !== null) {
    if (!o.force) {
      if (o.errorOnExist) throw cpError('ERR_FS_CP_EEXIST', 'EEXIST', 'Target already exists', `${dest} already exists`, dest);
      return;
    }
    await calls.unlink(dest); // as Node's: the old name goes, a new file takes it (other hard links keep theirs)
  }
  if (srcStat.isSymbolicLink()) {
    const target = await calls.readlink(src);
    await calls.symlink(o.verbatimSymlinks || posix.isAbsolute(target) ? target : posix.resolve(posix.dirname(src), target), dest);
    return;
  }
  await calls.copyFile(src, dest, o.mode);
  if (o.preserveTimestamps) await calls.utimes(dest, srcStat.atime, srcStat.mtime);
}
