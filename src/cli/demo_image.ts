/*
 * The demo's sample file system, made in memory by vmpager itself: mkfs
 * formats a 16 MiB memory disk as ext2 (4 KiB blocks), then the files are
 * written through the pager and the disk is unmounted clean. No tools and
 * no files on the host are needed.
 *   const disk = await buildSampleImage()
 */

import { MemDisk } from '../api/devices.js';
import { mkfs } from '../api/mkfs.js';
import { Vm } from '../api/vm.js';

const words = ['page', 'fault', 'cluster', 'vnode', 'object', 'pager', 'block', 'map', 'frame', 'queue',
  'inactive', 'active', 'free', 'busy', 'wanted', 'valid', 'dirty', 'read-ahead', 'strategy', 'bmap'];

/** 2 MiB of numbered lines of pager words (seeded, so every demo reads the same bytes). */
function sampleText(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const enc = new TextEncoder();
  let x = 2463534242;
  const rnd = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
  let at = 0;
  for (let i = 0; at < size; i++) {
    const n = 4 + (rnd() % 8);
    const line = enc.encode(`${String(i).padStart(7, '0')} ${Array.from({ length: n }, () => words[rnd() % words.length]).join(' ')}\n`);
    out.set(line.subarray(0, size - at), at);
    at += line.length;
  }
  return out;
}

export async function buildSampleImage(): Promise<MemDisk> {
  const disk = new MemDisk(new Uint8Array(16 << 20), { name: 'sample.img' });
  await mkfs(disk, disk.size, { blockSize: 4096, label: 'vmpager-demo' });
  const vm = new Vm({ memory: 4 << 20 });
  const fs = await vm.mount(disk, { readOnly: false });
  const put = async (path: string, data: Uint8Array, size = data.length) => {
    const f = await fs.open(path, { create: true });
    if (data.length > 0) await f.write(0, data);
    if (size !== data.length) await f.truncate(size);
    await f.close();
  };
  await fs.mkdir('/books');
  await fs.mkdir('/small');
  await put('/README.txt', new TextEncoder().encode('The sample file system of `vmpager demo`, made by vmpager mkfs.\n'));
  await put('/books/pager.txt', sampleText(2 << 20));
  // 8 MiB with data only at the start, the middle and the end: the rest are holes.
  const sparse = await fs.open('/books/sparse.bin', { create: true });
  for (const at of [0, 4 << 20, (8 << 20) - 4096]) await sparse.write(at, new Uint8Array(4096).fill(0x5a));
  await sparse.close();
  for (const size of [0, 1, 511, 512, 4095, 4096, 4097]) await put(`/small/size-${size}`, new Uint8Array(size).fill(0x41 + (size % 26)));
  await fs.unmount();
  return new MemDisk(disk.data, { name: 'sample.img', readOnly: true });
}
