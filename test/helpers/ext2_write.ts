/*
 * Helpers of the ext2 writer's tests: an image mounted read-write under a
 * real VM, the VOPs called as the kernel would (the vnode locked around
 * VOP_WRITE and VOP_SETSIZE, the directory around the name operations), and
 * the real tools' verdicts (e2fsck -fn, debugfs cat, dumpe2fs).
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Vm, type MountedFs } from '../../src/api/index.js';
import type { BlockDevice } from '../../src/dev/device.js';
import type { Mount } from '../../src/vfs/mount.js';
import { UIO_READ, UIO_WRITE, Uio } from '../../src/vfs/uio.js';
import { vrele } from '../../src/vfs/vfs_subr.js';
import type { Vnode } from '../../src/vfs/vnode.js';
import { debugfsCat, e2fsck } from './images.js';
import { lookupPath } from './ext2_images.js';

export interface RwMount {
  vm: Vm;
  fs: MountedFs;
  mp: Mount;
}

/** Mounts image (a path or a device) read-write under a VM of `memory` bytes of frames. */
export async function mountRw(image: string | BlockDevice, memory = 256 << 10, pageSize = 4096): Promise<RwMount> {
  const vm = new Vm({ memory, pageSize });
  const fs = await vm.mount(image, { readOnly: false });
  return { vm, fs, mp: fs.mp };
}

/** Runs op on the directory `dir`, locked exclusively, then releases it. */
export async function inDir<T>(mp: Mount, dir: string, op: (dvp: Vnode) => Promise<T>): Promise<T> {
  const dvp = await lookupPath(mp, dir);
  await dvp.lock.lock();
  try {
    return await op(dvp);
  } finally {
    dvp.lock.unlock();
    await vrele(dvp);
  }
}

/** VOP_LOOKUP of dir/name, the directory not locked (VOP_LOOKUP locks it itself where it must): the vnode (referenced) or the errno. */
export async function lookupIn(mp: Mount, dir: string, name: string): Promise<{ error: number; vp: Vnode | null }> {
  const dvp = await lookupPath(mp, dir);
  try {
    return await dvp.op.lookup(dvp, name);
  } finally {
    await vrele(dvp);
  }
}

/** VOP_CREATE of dir/name: the new vnode (referenced) or the errno. */
export async function create(mp: Mount, dir: string, name: string): Promise<{ error: number; vp: Vnode | null }> {
  return inDir(mp, dir, (dvp) => dvp.op.create(dvp, name, 0o644));
}

/** VOP_MKDIR of dir/name; the new vnode released. */
export async function mkdir(mp: Mount, dir: string, name: string): Promise<number> {
  const r = await inDir(mp, dir, (dvp) => dvp.op.mkdir(dvp, name, 0o755));
  if (r.vp !== null) await vrele(r.vp);
  return r.error;
}

export function remove(mp: Mount, dir: string, name: string): Promise<number> {
  return inDir(mp, dir, (dvp) => dvp.op.remove(dvp, name));
}

export function rmdir(mp: Mount, dir: string, name: string): Promise<number> {
  return inDir(mp, dir, (dvp) => dvp.op.rmdir(dvp, name));
}

/** VOP_WRITE of bytes at off, vp locked; { error, resid }. */
export async function write(vp: Vnode, off: number, bytes: Uint8Array, ioflag = 0): Promise<{ error: number; resid: number }> {
  await vp.lock.lock();
  try {
    const uio = Uio.of(bytes, off, UIO_WRITE);
    const error = await vp.op.write(vp, uio, ioflag);
    return { error, resid: uio.resid };
  } finally {
    vp.lock.unlock();
  }
}

/** Writes bytes in chunks of `chunk`, as a program copying a file would; asserts success. */
export async function writeAll(vp: Vnode, bytes: Uint8Array, chunk = 64 << 10): Promise<void> {
  for (let off = 0; off < bytes.length; off += chunk) {
    const r = await write(vp, off, bytes.subarray(off, Math.min(bytes.length, off + chunk)));
    assert.equal(r.error, 0, `write at ${off}`);
    assert.equal(r.resid, 0);
  }
}

/** VOP_SETSIZE, vp locked. */
export async function setsize(vp: Vnode, size: number): Promise<number> {
  await vp.lock.lock();
  try {
    return await vp.op.setsize(vp, size);
  } finally {
    vp.lock.unlock();
  }
}

/** VOP_READ of [off, off + n) through the VM; asserts success. */
export async function read(vp: Vnode, off: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  const uio = Uio.of(buf, off, UIO_READ);
  assert.equal(await vp.op.read(vp, uio, 0), 0);
  return buf.subarray(0, n - uio.resid);
}

/** Creates dir/name holding bytes; the vnode released. */
export async function putFile(mp: Mount, dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const { error, vp } = await create(mp, dir, name);
  assert.equal(error, 0, `create ${dir}/${name}`);
  await writeAll(vp!, bytes);
  await vrele(vp!);
}

/** e2fsck -fn finds image clean (its output in the message otherwise). */
export function assertClean(image: string): void {
  const r = e2fsck(image);
  assert.ok(r.clean, r.output);
}

/** debugfs reads exactly `bytes` at path. */
export function assertContents(image: string, path: string, bytes: Uint8Array): void {
  const got = debugfsCat(image, path);
  assert.equal(got.length, bytes.length, `${path}: length`);
  assert.ok(got.equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)), `${path}: contents`);
}

/** A field of dumpe2fs -h, e.g. 'Filesystem state'. */
export function dumpe2fsField(image: string, field: string): string {
  const r = spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' });
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(r.stdout);
  return m === null ? '' : m[1].trim();
}

/** Fills a new file of `size` bytes with `byte`, so that data the file system never wrote shows. */
export function garbageFile(path: string, size: number, byte = 0xee): void {
  writeFileSync(path, new Uint8Array(size).fill(byte));
}
