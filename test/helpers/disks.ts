/*
 * Whole-disk test images built by the real tools at run time: a sparse file
 * partitioned by sfdisk (MBR, GPT), sgdisk (GPT names and type codes) or
 * fdisk -b 4096 (4096-byte sectors); file systems made apart by mke2fs or
 * makefs and written into their partition (dd conv=notrunc), or by mke2fs
 * -E offset=. A BSD disklabel has no tool here: bsdLabel() writes its bytes
 * and checksum as <sys/disklabel.h> lays them out. The oracles read the
 * tables back: sfdisk --json, sgdisk -p, fdisk -l, mmls.
 *   const d = newDisk(dir, 'pi.img', 64 * MiB); sfdisk(d, script); putFs(d, startBytes, fsImage)
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** A zero-filled (sparse) file of size bytes. */
export function newDisk(dir: string, name: string, size: number): string {
  const p = join(dir, name);
  writeFileSync(p, '');
  execFileSync('truncate', ['-s', String(size), p]);
  return p;
}

/** sfdisk with a script on stdin. */
export function sfdisk(disk: string, script: string): void {
  execFileSync('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', disk], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
}

/** sgdisk with these arguments. */
export function sgdisk(disk: string, args: string[]): string {
  return execFileSync('sgdisk', [...args, disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** fdisk with 4096-byte sectors fed a command script (sfdisk and sgdisk cannot set the sector size of a file). */
export function fdisk4k(disk: string, commands: string): void {
  const r = spawnSync('fdisk', ['-b', '4096', disk], { input: commands, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fdisk: ${r.stderr}`);
}

export interface SfdiskPart {
  node: string;
  start: number;
  size: number;
  type: string;
  name?: string;
}

/** sfdisk --json's partitions (sectors). */
export function sfdiskJson(disk: string): { label: string; sectorsize: number; partitions: SfdiskPart[] } {
  const out = execFileSync('sfdisk', ['--json', disk], { encoding: 'utf8' });
  return (JSON.parse(out) as { partitiontable: { label: string; sectorsize: number; partitions: SfdiskPart[] } }).partitiontable;
}

/** sgdisk -p's rows: number, first and last sector, code, name. */
export function sgdiskRows(disk: string): Array<{ number: number; first: number; last: number; code: string; name: string }> {
  const out = sgdisk(disk, ['-p']);
  const rows = [];
  for (const m of out.matchAll(/^[ \t]+(\d+)[ \t]+(\d+)[ \t]+(\d+)[ \t]+[\d.]+ \S+[ \t]+([0-9A-F]{4})[ \t]*(.*)$/gm)) {
    rows.push({ number: Number(m[1]), first: Number(m[2]), last: Number(m[3]), code: m[4], name: m[5].trim() });
  }
  return rows;
}

/** mmls's allocated rows (-t type, -o offset, -b sector size): start and length in sectors, description. */
export function mmlsRows(disk: string, args: string[] = []): Array<{ slot: string; start: number; length: number; desc: string }> {
  const out = execFileSync('mmls', [...args, disk], { encoding: 'utf8' });
  const rows = [];
  for (const m of out.matchAll(/^\d+:[ \t]+(\d+|\d+:\d+)[ \t]+(\d+)[ \t]+(\d+)[ \t]+(\d+)[ \t]*(.*)$/gm)) {
    rows.push({ slot: m[1], start: Number(m[2]), length: Number(m[4]), desc: m[5].trim() });
  }
  return rows;
}

/** Writes the file `fsImage` into disk at byte offset start (dd conv=notrunc). */
export function putFs(disk: string, start: number, fsImage: string): void {
  execFileSync('dd', [`if=${fsImage}`, `of=${disk}`, 'bs=64K', `seek=${start}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);
}

/** Cuts [start, start + size) of disk out into a file of its own (dd), for e2fsck and debugfs. */
export function cutOut(disk: string, start: number, size: number, out: string): string {
  execFileSync('dd', [`if=${disk}`, `of=${out}`, 'bs=64K', `skip=${start}`, `count=${size}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
  return out;
}

/** SHA-256 of disk's bytes outside [start, start + size). */
export function outsideHash(disk: string, start: number, size: number): string {
  const h = createHash('sha256');
  const fd = openSync(disk, 'r');
  try {
    const buf = Buffer.alloc(MiB);
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      const lo = Math.max(pos, start);
      const hi = Math.min(pos + n, start + size);
      if (hi <= lo) h.update(buf.subarray(0, n));
      else {
        h.update(buf.subarray(0, lo - pos));
        h.update(buf.subarray(hi - pos, n));
      }
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

export interface LabelPart {
  /** 0 for a, 1 for b, ...; 2 (c) is the raw partition and written by bsdLabel itself. */
  slot: number;
  /** Sectors, relative to the slice. */
  offset: number;
  size: number;
  /** 7 4.2BSD, 1 swap, ... */
  fstype: number;
}

/**
 * Writes a BSD disklabel into the second sector of the slice at sliceStart
 * (bytes) of sliceSectors sectors: d_magic, d_secsize 512, geometry, the raw
 * partition c over the whole slice, parts, d_magic2, d_npartitions 8, and
 * the XOR checksum. absolute: offsets counted from the disk's start (as old
 * FreeBSD wrote them), else from the slice's.
 */
export function bsdLabel(disk: string, sliceStart: number, sliceSectors: number, parts: readonly LabelPart[], opts: { absolute?: boolean; npartitions?: number } = {}): Buffer {
  const npart = opts.npartitions ?? 8;
  const b = Buffer.alloc(512);
  const base = opts.absolute ? sliceStart / 512 : 0;
  b.writeUInt32LE(0x82564557, 0); // d_magic
  b.writeUInt16LE(4, 4); // d_type: SCSI
  b.write('vmpager-test', 8, 'latin1'); // d_typename
  b.writeUInt32LE(512, 40); // d_secsize
  b.writeUInt32LE(63, 44); // d_nsectors
  b.writeUInt32LE(255, 48); // d_ntracks
  b.writeUInt32LE(Math.ceil(sliceSectors / (63 * 255)), 52); // d_ncylinders
  b.writeUInt32LE(63 * 255, 56); // d_secpercyl
  b.writeUInt32LE(sliceSectors, 60); // d_secperunit
  b.writeUInt16LE(3600, 72); // d_rpm
  b.writeUInt16LE(1, 74); // d_interleave
  b.writeUInt32LE(0x82564557, 132); // d_magic2
  b.writeUInt16LE(npart, 138); // d_npartitions
  b.writeUInt32LE(8192, 140); // d_bbsize
  b.writeUInt32LE(0, 144); // d_sbsize
  const entry = (slot: number, size: number, offset: number, fstype: number) => {
    const o = 148 + 16 * slot;
    b.writeUInt32LE(size, o);
    b.writeUInt32LE(offset, o + 4);
    b[o + 12] = fstype;
  };
  entry(2, sliceSectors, base, 0);
  for (const p of parts) entry(p.slot, p.size, base + p.offset, p.fstype);
  let sum = 0;
  for (let o = 0; o < 148 + 16 * npart; o += 2) sum ^= b.readUInt16LE(o);
  b.writeUInt16LE(sum, 136); // d_checksum
  const fd = openSync(disk, 'r+');
  try {
    writeSync(fd, b, 0, 512, sliceStart + 512);
  } finally {
    closeSync(fd);
  }
  return b;
}
