/*
 * vmpager get IMAGE PATH [DEST]: a file or a whole tree out of an image onto
 * the host, like `cp -a` (and `debugfs rdump`): modes, access and
 * modification times, symlinks, hard links as links, owners when run as
 * root, holes kept (4 KiB runs of zeros are not written). A new DEST becomes
 * the copy; an existing directory DEST receives it inside (the root's
 * entries go straight into DEST); '-' writes a file to stdout (commands.ts).
 * Extended attributes follow with one `setfattr --restore` at the end where
 * the attr tools are installed. Device nodes, FIFOs and sockets are reported
 * and skipped: Node cannot make them.
 */

import {
  closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, chmodSync,
  chownSync, mkdirSync, openSync, symlinkSync, utimesSync, writevSync,
} from 'node:fs';
import { iovAfter } from '../api/index.js';
import { basename, join } from 'node:path';
import { EOPNOTSUPP, VmError, hostError } from '../api/errors.js';
import { joinPath, type FileStat, type MountedFs } from '../api/mounted_fs.js';
import { type HostXattrs, hostXattrsRestore } from './host_xattr.js';

const HOLE = 4096;
/** Owners are given only by root (asked once: a system call each time). */
const asRoot = process.getuid?.() === 0;

/** Copies PATH out to the host path dest. */
export async function get(fs: MountedFs, path: string, dest: string, warn: (msg: string) => void): Promise<void> {
  const st = await fs.stat(path, { follow: false, blockMap: false });
  // Into an existing directory DEST, as cp does; the root's entries go straight into DEST.
  const root = path.split('/').every((p) => p === '');
  const target = !root && lstatSync(dest, { throwIfNoEntry: false })?.isDirectory() === true ? join(dest, basename(path)) : dest;
  const links = new Map<number, string>();
  const xattrs: { path: string; attrs: HostXattrs }[] = [];
  await copyOut(fs, path, target, st, links, warn, xattrs);
  await hostXattrsRestore(xattrs, warn); // last: a read-only copy still takes them as root
}

async function copyOut(
  fs: MountedFs, path: string, to: string, st: FileStat, links: Map<number, string>, warn: (msg: string) => void,
  xattrs: { path: string; attrs: HostXattrs }[],
): Promise<void> {
  if (st.type === 'dir' || st.type === 'file' || st.type === 'symlink') {
    const first = st.type === 'file' && st.nlink > 1 && links.has(st.ino);
    const attrs: HostXattrs = [];
    if (!first) for (const n of await imageXattrNames(fs, path)) attrs.push([n, await fs.getxattr(path, n, { follow: false })]);
    if (attrs.length > 0) xattrs.push({ path: to, attrs });
  }
  switch (st.type) {
    case 'dir': {
      host(to, () => mkdirSync(to, { recursive: true }));
      for (const e of await fs.readdir(path)) {
        const p = joinPath(path, e.name);
        await copyOut(fs, p, join(to, e.name), await fs.stat(p, { follow: false, blockMap: false }), links, warn, xattrs);
      }
      break;
    }
    case 'symlink': {
      const target = await fs.readlink(path);
      host(to, () => symlinkSync(target, to));
      if (asRoot) host(to, () => lchownSync(to, st.uid, st.gid));
      host(to, () => lutimesSync(to, hostTime(st.atime), hostTime(st.mtime)));
      return;
    }
    case 'file': {
      const first = st.nlink > 1 ? links.get(st.ino) : undefined;
      if (first !== undefined) {
        host(to, () => linkSync(first, to));
        return;
      }
      await copyFile(fs, path, to, st);
      if (st.nlink > 1) links.set(st.ino, to);
      return;
    }
    default:
      warn(`${path}: a device node, FIFO or socket: skipped (Node cannot make one)`);
      return;
  }
  if (asRoot) host(to, () => chownSync(to, st.uid, st.gid));
  host(to, () => chmodSync(to, st.mode & 0o7777));
  host(to, () => utimesSync(to, hostTime(st.atime), hostTime(st.mtime)));
}

/**
 * A time in seconds as Node's utimes takes it: a negative number means "now"
 * to Node, so a time before 1970 goes as a Date.
 */
function hostTime(sec: number): number | Date {
  return sec >= 0 ? sec : new Date(sec * 1000);
}

/** path's attribute names; none on a file system that keeps none (FAT, UFS). */
async function imageXattrNames(fs: MountedFs, path: string): Promise<string[]> {
  try {
    return await fs.listxattr(path, { follow: false });
  } catch (e) {
    if (e instanceof VmError && e.errno === EOPNOTSUPP) return [];
    throw e;
  }
}

/**
 * A file's bytes straight from the page frames into the host file; zero runs
 * become holes (the size set at the end only when the file ends in one). Owner,
 * mode and times go through the open descriptor, before it closes.
 */
async function copyFile(fs: MountedFs, path: string, to: string, st: FileStat): Promise<void> {
  const fd = host(to, () => openSync(to, 'wx'));
  try {
    const f = await fs.open(path);
    f.advise('noreuse');
    try {
      let pos = 0;
      let end = 0;
      // Each run of 4 KiB pieces with data is one vectored write.
      const run: Uint8Array[] = [];
      let runAt = 0;
      let runLen = 0;
      const flush = (): void => {
        if (runLen === 0) return;
        writeAll(fd, run, runAt, runLen, to);
        end = runAt + runLen;
        run.length = 0;
        runLen = 0;
      };
      await f.sendfile((frames) => {
        for (const b of frames) {
          for (let p = 0; p < b.length; p += HOLE) {
            const piece = b.subarray(p, Math.min(b.length, p + HOLE));
            if (isZero(piece)) {
              flush();
              continue;
            }
            if (runLen === 0) runAt = pos + p;
            run.push(piece);
            runLen += piece.length;
          }
          pos += b.length;
        }
        flush(); // the frames are the pager's again once this returns
      });
      if (end !== f.size) host(to, () => ftruncateSync(fd, f.size));
    } finally {
      await f.close();
    }
    if (asRoot) host(to, () => fchownSync(fd, st.uid, st.gid));
    host(to, () => fchmodSync(fd, st.mode & 0o7777));
    host(to, () => futimesSync(fd, hostTime(st.atime), hostTime(st.mtime)));
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bufs: Uint8Array[], pos: number, total: number, to: string): void {
  for (let done = 0; done < total; ) {
    const rest = done === 0 ? bufs : iovAfter(bufs, done);
    done += host(to, () => writevSync(fd, rest, pos + done));
  }
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function host<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw hostError(e, 'write', path, null);
  }
}
