/*
 * Dir: what the node:fs/promises facade's opendir returns, Node's Dir over
 * the entries of one directory (read once, when opened).
 *   for await (const d of await fsp.opendir('/etc')) d.name
 *   const dir = await fsp.opendir('/etc'); await dir.read(); await dir.close()
 * Iterating to the end closes it; a closed Dir throws Node's ERR_DIR_CLOSED.
 */

import type { Dirent } from './stats.js';

function dirClosed(): Error {
  return Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' });
}

export class Dir {
  private next = 0;
  private closed = false;

  /** @internal made by the facade's opendir */
  constructor(
    /** The path given to opendir. */
    readonly path: string,
    private readonly entries: readonly Dirent[],
  ) {}

  /** The next entry, or null after the last. */
  async read(): Promise<Dirent | null> {
    if (this.closed) throw dirClosed();
    return this.next < this.entries.length ? this.entries[this.next++] : null;
  }

  async close(): Promise<void> {
    if (this.closed) throw dirClosed();
    this.closed = true;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Dirent> {
    try {
      for (let d = await this.read(); d !== null; d = await this.read()) yield d;
    } finally {
      if (!this.closed) await this.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.closed) await this.close();
  }
}
