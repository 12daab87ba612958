/*
 * vmpager put IMAGE PATH [--from FILE]: create or replace PATH with the bytes
 * of FILE, read straight into the file's pages (File.writeFrom), or of stdin,
 * written as it comes; the sync that follows writes them back. A terminal
 * shows a progress bar for inputs of 8 MiB or more. FILE is opened before
 * the image is touched: one that cannot be read changes nothing.
 */

import { hostName } from './host_names.js';
import { closeSync, fstatSync, openSync, readSync, readvSync } from 'node:fs';

import { EFBIG, EISDIR, ELOOP, ENOSPC, ENOTDIR, VmError, hostError } from '../api/errors.js';
import type { File } from '../api/file.js';
import type { FrameSource } from '../api/frames.js';
import { hiddenName, isHiddenName, joinPath, slashed, type MountedFs } from '../api/mounted_fs.js';
import { iovAfter } from '../api/frames.js';
import { nameError } from '../api/names.js';

/** An input file, open, with its size at the start. */
export interface PutSource {
  path: string;
  fd: number;
  size: number;
  /** Closes fd (once). */
  close(): void;
}

/** Opens FILE for put; a failure is a VmError naming it ("FILE: no such file or directory"). */
export function openPutSource(path: string): PutSource {
  let fd: number;
  try {
    fd = openSync(hostName(path), 'r');
  } catch (e) {
    throw hostError(e, 'open', path, null);
  }
  const st = fstatSync(fd);
  if (st.isDirectory()) {
    closeSync(fd);
    throw new VmError(EISDIR, 'read', path, null);
  }
  let open = true;
  return {
    path,
    fd,
    size: st.size,
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

const CHUNK = 1 << 20;
const FAT_FILESIZE_MAX = 0xffffffff;
const BAR_MIN = 8 << 20;

/** A one-line progress bar on stderr, redrawn in place. */
class Progress {
  private last = -1;

  constructor(private readonly total: number, private readonly label: string) {}

  update(done: number): void {
    const pct = Math.floor((100 * done) / this.total);
    if (pct === this.last) return;
    this.last = pct;
    const width = 30;
    const fill = Math.round((width * done) / this.total);
    process.stderr.write(`\r${this.label} [${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${String(pct).padStart(3)}% ${(done / 2 ** 20).toFixed(0)}/${(this.total / 2 ** 20).toFixed(0)} MiB`);
  }

  end(): void {
    process.stderr.write('\n');
  }
}

/**
 * A frame source reading a host file from where it stands: each batch of
 * frames is filled by readv(2) straight from the host's page cache, with no
 * copy of our own; short only at the file's end.
 */
function fileSource(src: PutSource, progress: (n: number) => void): FrameSource {
  const fd = src.fd;
  let done = 0;
  return (frames) => {
    let want = 0;
    for (const v of frames) want += v.length;
    let got = 0;
    let iov = frames;
    for (;;) {
      let n: number;
      try {
        n = readvSync(fd, iov as Uint8Array[]);
      } catch (e) {
        throw hostError(e, 'read', src.path, null);
      }
      got += n;
      if (n === 0 || got === want) break;
      iov = iovAfter(iov, n); // a short read that is not the end: go on after it
    }
    done += got;
    progress(done);
    return got;
  };
}

/**
 * put with src (or stdin when null), atomically: the bytes go to a new,
 * hidden file beside PATH, which is synced, given the old file's mode and
 * owner (owner: the one given instead), and renamed over PATH (MountedFs.rename keeps the old file named
 * until the new one is). A failure or a crash leaves PATH whole, old or new.
 * A symlink at PATH is followed: its target is what is replaced.
 */
export async function put(fs: MountedFs, path: string, src: PutSource | null, owner: { uid: number; gid: number } | null = null): Promise<void> {
  const total = src === null ? 0 : src.size;
  if (slashed(path)) {
    // A trailing slash names a directory, which put never writes (open(2) of "x/" to create: EISDIR, ENOTDIR on a file).
    const st = await fs.stat(path.replace(/\/+$/, ''), { follow: true, blockMap: false }).catch(() => null);
    throw new VmError(st !== null && st.type !== 'dir' ? ENOTDIR : EISDIR, 'put', fs.image, path);
  }
  const target = await finalTarget(fs, path);
  const slash = target.lastIndexOf('/');
  const dir = target.slice(0, slash) || '/';
  await removeLeftovers(fs, dir);
  const old = await fs.stat(target, { follow: false }).catch((e: unknown) => {
    if (e instanceof VmError && e.code === 'ENOENT') return null;
    throw e;
  });
  if (old !== null && old.type === 'dir') throw new VmError(EISDIR, 'put', fs.image, path);
  // FAT cannot describe a file of 4 GiB, nor hold every name: refused before anything changes.
  if (fs.type.startsWith('fat') && total > FAT_FILESIZE_MAX) throw new VmError(EFBIG, 'put', fs.image, path);
  const bad = nameError(fs.type, target.slice(slash + 1));
  if (bad !== 0) throw new VmError(bad, 'put', fs.image, path);
  const tmp = joinPath(dir, hiddenName('new'));
  const bar = process.stderr.isTTY && total >= BAR_MIN ? new Progress(total, path) : null;
  try {
    const f = await fs.open(tmp, { create: true }).catch((e: unknown) => {
      // No slot for the hidden new name: on FAT12/16 a full root directory (its size fixed), which Linux's vfat
      // would write over in place; put does not (a failure midway would leave a mix), and says why.
      if (e instanceof VmError && e.errno === ENOSPC && old !== null && fs.type.startsWith('fat')) {
        throw new VmError(ENOSPC, 'put', fs.image, tmp, `no free entry in ${dir} for put's hidden new file`);
      }
      throw e;
    });
    try {
      if (src !== null) {
        // The size stat gave, straight into the frames; then whatever the source still holds (a
        // file that grew, a pipe, a /proc file whose size reads 0), read first and written as it
        // comes, so that no room is asked for past the source's end (a put that fills the image
        // exactly must not fail on blocks it would not have used).
        const source = fileSource(src, (n) => bar?.update(Math.min(n, total)));
        f.advise('noreuse'); // written once: each batch goes out at once and its frames are reused
        let off = 0;
        while (off < total) {
          const n = await f.writeFrom(source, off, total - off);
          off += n;
          if (n === 0) break;
        }
        if (off >= total) await copyRest(f, src, off);
      } else {
        let off = 0;
        for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
          await f.write(off, chunk);
          off += chunk.length;
        }
      }
      await f.sync();
    } finally {
      await f.close();
    }
    if (old !== null && old.type === 'file') {
      await fs.chown(tmp, owner?.uid ?? old.uid, owner?.gid ?? old.gid); // (before the mode: a chown drops set-ID bits)
      await fs.chmod(tmp, old.mode & 0o7777);
      await fs.copyXattrs(target, tmp);
    } else if (owner !== null) {
      await fs.chown(tmp, owner.uid, owner.gid);
    }
  } catch (e) {
    // The hidden file is ours, not the user's: a failure on it is PATH's (the source's own errors name the source).
    await failed(e, e instanceof VmError && e.image === fs.image && e.path === tmp);
  } finally {
    bar?.end();
    src?.close();
  }
  // The new name may not fit (a full directory): that failure is PATH's too.
  await fs.rename(tmp, target).catch((e: unknown) => failed(e, true));

  /** The hidden file goes; an error of the image's (every one when PATH had a file, or `ours`) names PATH. */
  async function failed(e: unknown, ours: boolean): Promise<never> {
    await fs.unlink(tmp).catch(() => {});
    if (e instanceof VmError && (old !== null || ours)) {
      throw new VmError(e.errno, 'put', fs.image, path, old !== null ? `${e.reason} (${path} is unchanged)` : e.reason);
    }
    throw e;
  }
}

/** Copies what src holds past `off` (where its position stands) into f, a CHUNK at a time. */
async function copyRest(f: File, src: PutSource, off: number): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  for (;;) {
    let n: number;
    try {
      n = readSync(src.fd, buf);
    } catch (e) {
      throw hostError(e, 'read', src.path, null);
    }
    if (n === 0) return;
    await f.write(off, buf.subarray(0, n));
    off += n;
  }
}

/** Where writing `path` lands: the path itself, or, through symlinks, the name they lead to. */
async function finalTarget(fs: MountedFs, path: string): Promise<string> {
  let p = normalize(path);
  for (let hops = 0; hops < 40; hops++) {
    const st = await fs.stat(p, { follow: false }).catch(() => null);
    if (st === null || st.type !== 'symlink') return p;
    const t = await fs.readlink(p);
    p = normalize(t.startsWith('/') ? t : `${p.slice(0, p.lastIndexOf('/'))}/${t}`);
  }
  throw new VmError(ELOOP, 'put', fs.image, path);
}

/** An absolute path with '.', '..' and empty parts resolved. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/**
 * Removes what an interrupted put or mv left in dir: hidden new files never
 * renamed, and old files (or symlinks) already replaced. The image is held
 * exclusively, so no other vmpager is using them.
 */
export async function removeLeftovers(fs: MountedFs, dir: string): Promise<void> {
  for (const e of await fs.readdir(dir)) {
    if (e.type !== 'dir' && isHiddenName(e.name)) await fs.unlink(joinPath(dir, e.name));
  }
}
