/*
 * vmpager put IMAGE PATH [--from FILE]: create or replace PATH with the bytes
 * of FILE (or stdin), written through the file's pages in 1 MiB chunks; the
 * unmount that follows writes them back. A terminal shows a progress bar
 * for inputs of 8 MiB or more.
 */

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ioBuffer } from '../api/io_buffer.js';
import type { MountedFs } from '../api/mounted_fs.js';

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
 * A file's bytes in CHUNK pieces, read synchronously into one reused
 * buffer placed as the frames are (see api/io_buffer.ts; the image's I/O
 * is synchronous too).
 */
function* fileChunks(path: string): Generator<Uint8Array> {
  const fd = openSync(path, 'r');
  try {
    const buf = ioBuffer(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

export async function put(fs: MountedFs, path: string, from: string | null): Promise<void> {
  const input: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = from === null ? (process.stdin as AsyncIterable<Buffer>) : fileChunks(from);
  const total = from === null ? 0 : statSync(from).size;
  const bar = process.stderr.isTTY && total >= BAR_MIN ? new Progress(total, path) : null;
  const f = await fs.open(path, { create: true });
  try {
    await f.truncate(0);
    let off = 0;
    for await (const chunk of input) {
      await f.write(off, chunk);
      off += chunk.length;
      bar?.update(off);
    }
    await f.sync();
  } finally {
    bar?.end();
    await f.close();
  }
}
