/*
 * vmpager put IMAGE PATH [--from FILE]: create or replace PATH with the bytes
 * of FILE, read straight into the file's pages (File.writeFrom), or of stdin,
 * written as it comes; the sync that follows writes them back. A terminal
 * shows a progress bar for inputs of 8 MiB or more. FILE is opened before
 * the image is touched: one that cannot be read changes nothing.
 */

import { closeSync, fstatSync, openSync, readvSync } from 'node:fs';
import { EISDIR } from '../kern/errno.js';
import { errnoOf } from '../dev/host_errno.js';
import { VmError } from '../api/errors.js';
import type { FrameSource } from '../api/index.js';
import type { MountedFs } from '../api/mounted_fs.js';
import { iovAfter } from './iov.js';

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
    fd = openSync(path, 'r');
  } catch (e) {
    throw new VmError(errnoOf(e), 'open', path, null);
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
        throw new VmError(errnoOf(e), 'read', src.path, null);
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

/** put with src (or stdin when null); src is closed here. */
export async function put(fs: MountedFs, path: string, src: PutSource | null): Promise<void> {
  const total = src === null ? 0 : src.size;
  const bar = process.stderr.isTTY && total >= BAR_MIN ? new Progress(total, path) : null;
  try {
    const f = await fs.open(path, { create: true });
    try {
      await f.truncate(0);
      if (src !== null) {
        // Until the source ends: the size stat gave, then as long as the file goes on growing.
        const source = fileSource(src, (n) => bar?.update(Math.min(n, total)));
        f.advise('noreuse'); // written once: each batch goes out at once and its frames are reused
        for (let off = 0; ; ) {
          const want = Math.max(total - off, CHUNK);
          const n = await f.writeFrom(source, off, want);
          off += n;
          if (n < want) break;
        }
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
  } finally {
    bar?.end();
    src?.close();
  }
}
