/*
 * ext2/3/4 images for tests: built by mke2fs -d from a generated tree
 * (sparse files included), mounted on a MemDisk or the image device, and
 * the debugfs oracle's answers (block map, listing, contents) parsed.
 */

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockDevice } from '../../src/dev/device.js';
import { ImageDevice } from '../../src/dev/image.js';
import { MemDisk } from '../../src/dev/memdisk.js';
import { ext2Mount } from '../../src/fs/ext2/ext2_vfsops.js';
import type { Mount } from '../../src/vfs/mount.js';
import { UIO_READ, Uio } from '../../src/vfs/uio.js';
import { namei } from '../../src/vfs/vfs_lookup.js';
import { vrele } from '../../src/vfs/vfs_subr.js';
import type { Vnode } from '../../src/vfs/vnode.js';
import { IO_DIRECT } from '../../src/vfs/vnode_if.js';
import { type TreeFile, debugfsScript, tempDir, writeTree } from './images.js';

export interface SparseFile {
  path: string;
  size: number;
  /** Data written at byte offsets; everything else is a hole. */
  writes: Array<[number, Uint8Array]>;
}

export interface ImageSpec {
  type: 'ext2' | 'ext3' | 'ext4';
  blockSize: number;
  /** Bytes. */
  size: number;
  files: TreeFile[];
  sparse?: SparseFile[];
  extra?: string[];
}

/** Builds the image at `image` with mke2fs -d. */
export function buildImage(image: string, spec: ImageSpec): string {
  const { dir: tree, cleanup } = tempDir('vmpager-ext2tree-');
  try {
    writeTree(tree, spec.files);
    for (const s of spec.sparse ?? []) {
      const fd = openSync(join(tree, s.path), 'w');
      ftruncateSync(fd, s.size);
      for (const [off, data] of s.writes) writeSync(fd, data, 0, data.length, off);
      closeSync(fd);
    }
    const args = ['-q', '-F', '-t', spec.type, '-b', String(spec.blockSize), '-d', tree, ...(spec.extra ?? [])];
    args.push(image, `${Math.ceil(spec.size / 1024)}k`);
    execFileSync('mke2fs', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return image;
  } finally {
    cleanup();
  }
}

/**
 * Mounts image read-only from memory, or with `file` from the image file
 * itself (the image device, synchronous I/O); throws with the reason on failure.
 */
export async function mountImage(image: string, opts: { readOnly?: boolean; file?: boolean } = {}): Promise<Mount> {
  const dev: BlockDevice = opts.file ? await openImageDevice(image, opts.readOnly ?? true) : new MemDisk(new Uint8Array(readFileSync(image)));
  const r = await ext2Mount(dev, { readOnly: opts.readOnly ?? true });
  if (r.error !== 0 || r.mp === null) throw new Error(`mount ${image}: ${r.error} ${r.reason}`);
  return r.mp;
}

async function openImageDevice(image: string, readOnly: boolean): Promise<BlockDevice> {
  const r = await ImageDevice.open(image, readOnly, 'sync');
  if (r.error !== 0 || r.dev === null) throw new Error(`open ${image}: ${r.error}`);
  return r.dev;
}

/** The vnode of path (not following a final symlink); throws on error. */
export async function lookupPath(mp: Mount, path: string): Promise<Vnode> {
  const root = await mp.op.root(mp);
  if (root.vp === null) throw new Error(`root: ${root.error}`);
  const r = await namei(root.vp, path, false);
  await vrele(root.vp);
  if (r.vp === null) throw new Error(`namei ${path}: ${r.error}`);
  return r.vp;
}

/** The whole file read with VOP_READ (IO_DIRECT unless ioflag says otherwise), in chunks of `chunk`. */
export async function readWhole(vp: Vnode, size: number, chunk = 1 << 20, ioflag = IO_DIRECT): Promise<{ error: number; data: Uint8Array }> {
  const data = new Uint8Array(size);
  for (let off = 0; off < size; off += chunk) {
    const uio = Uio.of(data.subarray(off, Math.min(size, off + chunk)), off, UIO_READ);
    const error = await vp.op.read(vp, uio, ioflag);
    if (error !== 0) return { error, data };
    if (uio.resid !== 0) return { error: -1, data };
  }
  return { error: 0, data };
}

/** debugfs's physical block of each [path, lbn] (0 for a hole or an unwritten block), one debugfs run. */
export function debugfsBmap(image: string, queries: ReadonlyArray<readonly [string, number]>): number[] {
  if (queries.length === 0) return [];
  const out = debugfsScript(image, queries.map(([p, l]) => `bmap ${p} ${l}`));
  const res: number[] = [];
  const lines = out.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('debugfs: bmap ')) continue;
    const ans = lines[i + 1] ?? '';
    const m = /^(\d+)/.exec(ans);
    res.push(m === null || ans.includes('uninit') ? 0 : Number(m[1]));
  }
  if (res.length !== queries.length) throw new Error(`debugfs bmap: ${res.length} answers for ${queries.length}`);
  return res;
}

/**
 * Checks the runs bmap gave for a hole at lbn against the oracle's map
 * (`phys(l)`: 0 for a hole, blocks 0..last): every block they count is a
 * hole, at most maxrun each way; `exact` (an extent tree held in the inode):
 * they reach the nearest data block, maxrun or the file's ends.
 */
export function checkHoleRuns(phys: (l: number) => number | undefined, lbn: number, runp: number, runb: number, last: number, maxrun: number, exact: boolean, what: string): void {
  if (runp > maxrun || runb > maxrun || lbn + runp > Math.max(last, lbn) || lbn - runb < 0) throw new Error(`${what}: hole runs ${runp}/${runb} out of bounds`);
  for (let l = lbn - runb; l <= lbn + runp; l++) if (l <= last && phys(l) !== 0) throw new Error(`${what}: hole runs ${runp}/${runb} cover data block ${l}`);
  if (!exact) return;
  let p = 0;
  while (p < maxrun && lbn + p + 1 <= last && phys(lbn + p + 1) === 0) p++;
  let b = 0;
  while (b < maxrun && lbn - b - 1 >= 0 && lbn - b - 1 <= last && phys(lbn - b - 1) === 0) b++;
  if (lbn <= last && (p !== runp || b !== runb)) throw new Error(`${what}: hole runs ${runp}/${runb}, want ${p}/${b}`);
}

/**
 * debugfs ls -p: [ino, mode, name, size] of each entry, in on-disk order.
 * Records with inode 0 are left out: they are unused space, not names (the
 * first record of a block keeps its place, inode 0, when its entry goes),
 * but debugfs lists them.
 */
export function debugfsLs(image: string, path: string): Array<{ ino: number; mode: number; name: string }> {
  const out = debugfsScript(image, [`ls -p ${path}`]);
  const res: Array<{ ino: number; mode: number; name: string }> = [];
  for (const line of out.split('\n')) {
    const m = /^\/(\d+)\/(\d+)\/\d+\/\d+\/(.*)\/[^/]*\/$/.exec(line);
    if (m !== null && Number(m[1]) !== 0) res.push({ ino: Number(m[1]), mode: parseInt(m[2], 8), name: m[3] });
  }
  return res;
}

/** Byte offset of path's on-disk inode inside the image (from debugfs imap). */
export function inodeOffset(image: string, path: string, bsize: number): number {
  const out = debugfsScript(image, [`imap ${path}`]);
  const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(out);
  if (m === null) throw new Error(`imap ${path}: ${out}`);
  return Number(m[1]) * bsize + parseInt(m[2], 16);
}

/** A copy of the image bytes with `patch` applied. */
export function patched(bytes: Uint8Array, patch: (dv: DataView, b: Uint8Array) => void): Uint8Array {
  const b = bytes.slice();
  patch(new DataView(b.buffer), b);
  return b;
}

/** Mounts an image held in memory; returns the whole result (errors included). */
export function mountBytes(bytes: Uint8Array, readOnly = true) {
  return ext2Mount(new MemDisk(bytes), { readOnly });
}
