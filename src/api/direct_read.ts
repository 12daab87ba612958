/*
 * Regular files' bytes read straight from the device by their block maps,
 * for copying a tree out of a read-only mount (vmpager get): no VM object,
 * no page, no fault per file; data that lies end to end on the device, in
 * one file or across consecutive files, is one device read.
 *   const runs = await fileRuns(fs, vp, size)      // null: read it through the VM (File.sendfile)
 *   const runs = fileRunsNow(fs, bulkstat)         // the same without a vnode (VFS_BULKSTAT)
 *   await readDirect(fs, [{ runs, path }, ...], buf, { start(i), data(i, pos, bytes), end(i), buffer?(n, pieces) })
 * Coherent only where nothing can change the file under the read: a
 * read-only mount (no page of any file is ever dirty there, no block map
 * changes, and what a page would hold is what the device holds), so
 * fileRuns answers null on any other mount. Every check of the block map
 * holds as for a page-in, since it is the same VOP_BMAP: a block outside
 * the file system, or any other error of the map, answers null too, and
 * the VM's path then reports it as a page-in would; a hole or an unwritten
 * extent is no run (zeros); a file with no block map (inline data) is null.
 */

import { DEV_BSIZE, MAXPHYS } from '../kern/param.js';
import type { HostFile } from '../dev/device.js';
import { B_READ, physio } from '../vfs/buf.js';
import { type Bulkstat, runAppend } from '../vfs/mount.js';
import { VType, type Vnode } from '../vfs/vnode.js';
import { check } from './errors.js';
import type { MountedFs } from './mounted_fs.js';

export type { HostFile } from '../dev/device.js';

/**
 * Where the mount's device's bytes lie in a host file, for a reader on
 * another thread (BlockDevice.hostFile: a raw image, a partition of one);
 * null: none.
 */
export function hostFileOf(fs: MountedFs): HostFile | null {
  return fs.mp.dev.hostFile?.() ?? null;
}

/** Counts in the device's stats a read of n bytes made on its behalf by another thread (from its hostFile). */
export function countHostRead(fs: MountedFs, n: number): void {
  const st = fs.mp.dev.stats;
  st.reads++;
  st.bytesRead += n;
}

/** A size for readDirect's buffer: the largest single transfer. */
export const DIRECT_BYTES = MAXPHYS;

/** A file's data on the device: its size and its runs, three numbers each (file offset, bytes, device byte address), in file order. */
export interface FileRuns {
  size: number;
  /** The block size of the map: a run's last block is read whole. */
  bsize: number;
  runs: number[];
}

/**
 * The runs of regular file vp's data (size bytes) by its block map, joined
 * where both the file and the device go on; holes and unwritten extents
 * are left out. Null where the device may not hold the file's bytes as a
 * read through the VM would see them (a mount not read-only), where the
 * file has no block map, and on any error of the map (the VM's read
 * reports it).
 */
export async function fileRuns(fs: MountedFs, vp: Vnode, size: number): Promise<FileRuns | null> {
  const mp = fs.mp;
  if (!mp.readOnly || vp.type !== VType.VREG || vp.mount !== mp) return null;
  const bsize = mp.stat.iosize;
  const blocks = Math.ceil(size / bsize);
  const runs: number[] = [];
  for (let lbn = 0; lbn < blocks; ) {
    const r = await vp.op.bmap(vp, lbn);
    if (r.error !== 0) return null;
    const n = Math.min(blocks - lbn, r.runp + 1);
    if (r.bn >= 0) {
      const pos = lbn * bsize;
      runAppend(runs, pos, Math.min(size, (lbn + n) * bsize) - pos, r.bn * DEV_BSIZE);
    }
    lbn += n;
  }
  return { size, bsize, runs };
}

/** fileRuns of a regular file as VFS_BULKSTAT told of it. */
export function fileRunsNow(fs: MountedFs, b: Bulkstat): FileRuns {
  return { size: b.va.size, bsize: fs.mp.stat.iosize, runs: b.runs };
}

/** What readDirect hands each file's bytes to, in file order; each call's promise is waited for. */
export interface DirectSink {
  /** File i begins (before any of its bytes). */
  start(file: number): Promise<void> | void;
  /** Bytes of file i at pos: a view of the reader's buffer, valid until the call returns or its promise resolves. */
  data(file: number, pos: number, bytes: Uint8Array): Promise<void> | void;
  /** File i is done: every byte of its runs was handed over. */
  end(file: number): Promise<void> | void;
  /**
   * Where the next read of `bytes` bytes, handed over in `pieces` pieces,
   * goes: a buffer of that many bytes, kept until the pieces were handed;
   * null (or no method): readDirect's own buffer.
   */
  buffer?(bytes: number, pieces: number): Uint8Array | Promise<Uint8Array> | null;
  /**
   * Has the device's bytes [from, from + into.length) put into `into` (a
   * buffer() it gave) by whoever carries out the sink's work, before that
   * work uses the pieces handed next: true, and the views data() is then
   * given hold nothing yet. False (or no method): readDirect reads them.
   */
  fetch?(into: Uint8Array, from: number): boolean;
}

/**
 * Reads the files' runs in order into buf (a multiple of their block size),
 * one device read for each stretch of runs that follow each other on the
 * device and fit in buf, and hands the bytes to sink: start(i), the data
 * of file i, end(i), for each file in order. A read that fails is done
 * again run by run, so that the error names the file it belongs to (every
 * file before it was handed over whole); it is thrown as a VmError.
 */
export async function readDirect(fs: MountedFs, files: readonly { runs: FileRuns; path: string }[], buf: Uint8Array, sink: DirectSink): Promise<void> {
  const dev = fs.mp.dev;
  // The pieces of the read being gathered: file, file offset, bytes, device address.
  const pf: number[] = [];
  const pp: number[] = [];
  const pl: number[] = [];
  const pd: number[] = [];
  let from = 0; // the read's first device byte
  let to = 0; // its end
  let open = -1; // the last file started
  let ended = false; // and whether it was ended
  // Ends the open file and starts the next, up to file f; a promise only where a sink's call returned one (no
  // task, no microtask and their garbage per file where the sink is done at once).
  const reach = (f: number): Promise<void> | void => {
    while (open < f) {
      if (open >= 0 && !ended) {
        ended = true;
        const e = sink.end(open);
        if (e !== undefined) return e.then(() => reach(f));
      }
      open++;
      ended = false;
      const s = open < files.length ? sink.start(open) : undefined;
      if (s !== undefined) return s.then(() => reach(f));
    }
  };
  const hand = (k: number, bytes: Uint8Array): Promise<void> | void => sink.data(pf[k], pp[k], bytes);
  const flush = async (): Promise<void> => {
    const n = pf.length;
    if (n === 0) return;
    const b = sink.buffer?.(to - from, n) ?? null;
    const into = (b instanceof Promise ? await b : b) ?? buf;
    const view = into.subarray(0, to - from);
    let error = sink.fetch?.(view, from) === true ? 0 : await physio(dev, B_READ, from / DEV_BSIZE, [view]);
    if (error === 0) {
      for (let k = 0; k < n; k++) {
        const r = open < pf[k] ? reach(pf[k]) : undefined;
        if (r !== undefined) await r;
        const p = hand(k, into.subarray(pd[k] - from, pd[k] - from + pl[k]));
        if (p !== undefined) await p;
      }
    } else {
      // Once more piece by piece: the error belongs to the first piece that fails.
      for (let k = 0; k < n; k++) {
        error = await physio(dev, B_READ, pd[k] / DEV_BSIZE, [buf.subarray(0, Math.ceil(pl[k] / DEV_BSIZE) * DEV_BSIZE)]);
        await reach(pf[k]);
        check(error, 'read', fs.image, files[pf[k]].path);
        await hand(k, buf.subarray(0, pl[k]));
      }
    }
    pf.length = pp.length = pl.length = pd.length = 0;
  };
  for (let f = 0; f < files.length; f++) {
    const { runs, bsize } = files[f].runs;
    for (let r = 0; r < runs.length; r += 3) {
      for (let done = 0; done < runs[r + 1]; ) {
        const d = runs[r + 2] + done;
        if (pf.length > 0 && (d !== to || to - from === buf.length)) await flush();
        if (pf.length === 0) from = d;
        const len = Math.min(runs[r + 1] - done, buf.length - (d - from));
        pf.push(f);
        pp.push(runs[r] + done);
        pl.push(len);
        pd.push(d);
        // (whole blocks: a run's last block is read to its end, the next file's may follow it)
        to = d + Math.ceil(len / bsize) * bsize;
        done += len;
      }
    }
  }
  await flush();
  await reach(files.length);
}
