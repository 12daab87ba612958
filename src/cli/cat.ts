/*
 * vmpager cat IMAGE PATH...: file bytes to stdout, concatenated, symlinks
 * followed. The bytes go to stdout straight from the page frames, one
 * vectored write per cluster (File.sendfile): nothing is copied in between.
 */

import { fstatSync, writevSync } from 'node:fs';
import type { MountedFs } from '../api/mounted_fs.js';
import { type FrameSink, iovAfter } from '../api/frames.js';
import { hostError } from '../api/errors.js';

/**
 * A sink for stdout. A file or a device such as /dev/null takes each batch
 * in one writev on the spot; a pipe, socket or terminal goes through
 * process.stdout (which queues what the reader has not taken yet), and the
 * batch counts as done once the stream has written its last piece. A
 * terminal is told by process.stdout itself (made at start, main.ts), not
 * node:tty's isatty: node:tty loads node:net.
 */
export function stdoutSink(): FrameSink {
  const st = fstatSync(1);
  if ((st.isFile() || st.isCharacterDevice()) && process.stdout.isTTY !== true) {
    return (frames) => {
      try {
        writeAllSync(1, frames);
      } catch (e) {
        throw stdoutFailure(e);
      }
    };
  }
  const out = process.stdout;
  return (frames) =>
    new Promise<void>((resolve, reject) => {
      if (frames.length === 0) return resolve();
      out.cork();
      for (let i = 0; i < frames.length - 1; i++) out.write(frames[i]);
      out.write(frames[frames.length - 1], (e) => (e ? reject(stdoutFailure(e)) : resolve()));
      out.uncork();
    });
}

/**
 * A failure to write standard output (a full disk, /dev/full) as the one
 * line that names it; EPIPE (the reader went away) as it is: not a failure.
 */
function stdoutFailure(e: unknown): unknown {
  return (e as NodeJS.ErrnoException)?.code === 'EPIPE' ? e : hostError(e, 'write', 'standard output', null);
}

/**
 * A sink for a host device or FIFO opened at fd (get's DEST /dev/null, a
 * named pipe): each batch in one writev, a failure in one line naming path.
 */
export function fdSink(fd: number, path: string): FrameSink {
  return (frames) => {
    try {
      writeAllSync(fd, frames);
    } catch (e) {
      throw hostError(e, 'write', path, null);
    }
  };
}

/** Writes every byte of bufs to fd, going on after short writes. */
function writeAllSync(fd: number, bufs: readonly Uint8Array[]): void {
  let rest = bufs as Uint8Array[];
  let total = 0;
  for (const b of bufs) total += b.length;
  while (total > 0) {
    const n = writevSync(fd, rest);
    total -= n;
    if (total > 0) rest = iovAfter(rest, n);
  }
}

/**
 * Sends each path's bytes to sink in turn. Like cat(1), a path that fails
 * is reported and the rest go on; resolves to the number that failed.
 * A failure of the sink itself (stdout) ends it at once.
 */
export async function cat(fs: MountedFs, paths: readonly string[], sink: FrameSink, report: (e: unknown) => void): Promise<number> {
  let failed = 0;
  let sinkError: unknown = null;
  const guarded: FrameSink = async (frames) => {
    try {
      await sink(frames);
    } catch (e) {
      sinkError ??= e;
      throw e;
    }
  };
  for (const path of paths) {
    try {
      const f = await fs.open(path);
      f.advise('noreuse'); // read once, in order: full read-ahead, and each batch's frames free for the next
      try {
        await f.sendfile(guarded);
      } finally {
        await f.close();
      }
    } catch (e) {
      if (sinkError !== null) throw sinkError;
      report(e);
      failed++;
    }
  }
  return failed;
}
