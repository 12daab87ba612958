/*
 * UFS test images built by the real tool at run time: a tree is generated in
 * a temporary folder, then `makefs -t ffs` (NetBSD's, Debian package makefs)
 * makes a UFS1 or UFS2 image of it, in either byte order. With no fsck_ffs
 * or fsdb on Linux, the oracles are the generated tree itself and the
 * cylinder groups' free-fragment maps that makefs wrote: cgFreeMap() reads
 * those with its own small decoder, independent of src/fs/ufs.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeTree, type TreeFile } from './images.js';

export interface UfsOptions {
  version: 1 | 2;
  bsize: number;
  fsize: number;
  /** Byte order of the image: 'le' (the default) or 'be'. */
  endian?: 'le' | 'be';
  /** Image size in bytes. */
  size: number;
  /** The sector size makefs is told (-S; 512 when absent): fs_fsbtodb counts these. */
  sectorSize?: number;
  /**
   * An mtree specification given to makefs with -F: it sets the listed
   * entries' types, modes, owners and times, and makes device nodes and
   * FIFOs the tree does not hold (no root needed).
   */
  spec?: string;
}

/** Modification time makefs copies for the i-th file of the tree (seconds). */
export const treeMtime = (i: number) => 1_500_000_000 + i * 7;

/** Makes a UFS image of `files` with makefs; every file's mtime is treeMtime(its index). */
export function mkufs(image: string, files: readonly TreeFile[], opts: UfsOptions): string {
  const { dir: tree, cleanup } = tempDir('vmpager-ufstree-');
  try {
    writeTree(tree, files);
    files.forEach((f, i) => {
      if (f.symlink === undefined) utimesSync(join(tree, f.path), treeMtime(i), treeMtime(i));
    });
    const args = ['-t', 'ffs', '-B', opts.endian ?? 'le', '-o', `version=${opts.version},bsize=${opts.bsize},fsize=${opts.fsize}`, '-s', String(opts.size)];
    if (opts.sectorSize !== undefined) args.push('-S', String(opts.sectorSize));
    if (opts.spec !== undefined) {
      writeFileSync(`${tree}.mtree`, opts.spec);
      args.push('-F', `${tree}.mtree`);
    }
    args.push(image, tree);
    execFileSync('makefs', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return image;
  } finally {
    cleanup();
    rmSync(`${tree}.mtree`, { force: true });
  }
}

export interface CgMaps {
  fsize: number;
  frag: number;
  /** Fragments in the file system. */
  size: number;
  /** True when fragment f is free in its cylinder group's map. */
  isFree(f: number): boolean;
}

/** The free-fragment maps of every cylinder group of a UFS image (makefs's record of what it allocated). */
export function cgFreeMap(image: string): CgMaps {
  const img = readFileSync(image);
  for (const sbOff of [65536, 8192, 0, 262144]) {
    for (const le of [true, false]) {
      const i32 = (o: number) => (le ? img.readInt32LE(o) : img.readInt32BE(o));
      const magic = i32(sbOff + 1372);
      if (magic !== 0x011954 && magic !== 0x19540119) continue;
      const ufs2 = magic === 0x19540119;
      const cblkno = i32(sbOff + 12);
      const cgoffset = i32(sbOff + 24);
      const cgmask = i32(sbOff + 28);
      const ncg = i32(sbOff + 44);
      const fsize = i32(sbOff + 52);
      const frag = i32(sbOff + 56);
      const fpg = i32(sbOff + 188);
      const size = ufs2 ? Number(le ? img.readBigInt64LE(sbOff + 1080) : img.readBigInt64BE(sbOff + 1080)) : i32(sbOff + 36);
      const maps: Buffer[] = [];
      for (let c = 0; c < ncg; c++) {
        const start = fpg * c + (ufs2 ? 0 : cgoffset * (c & ~cgmask));
        const cg = (start + cblkno) * fsize;
        if (i32(cg + 4) !== 0x090255) throw new Error(`cylinder group ${c}: bad magic`);
        const freeoff = i32(cg + 96);
        maps.push(img.subarray(cg + freeoff, cg + freeoff + Math.ceil(fpg / 8)));
      }
      return {
        fsize,
        frag,
        size,
        isFree: (f: number) => {
          const c = Math.floor(f / fpg);
          const d = f % fpg;
          return (maps[c][d >> 3] & (1 << (d & 7))) !== 0;
        },
      };
    }
  }
  throw new Error(`${image}: no UFS superblock`);
}

/** The byte offset of inode ino in a little-endian UFS image (cf. ino_to_fsba), by the same small decoder. */
export function inodeOffset(image: string, ino: number): { offset: number; ufs2: boolean } {
  const img = readFileSync(image);
  for (const sbOff of [65536, 8192]) {
    const magic = img.readInt32LE(sbOff + 1372);
    if (magic !== 0x011954 && magic !== 0x19540119) continue;
    const ufs2 = magic === 0x19540119;
    const i32 = (o: number) => img.readInt32LE(sbOff + o);
    const [iblkno, cgoffset, cgmask, fsize, frag, inopb, ipg, fpg] = [i32(16), i32(24), i32(28), i32(52), i32(56), i32(120), i32(184), i32(188)];
    const c = Math.floor(ino / ipg);
    const start = fpg * c + (ufs2 ? 0 : cgoffset * (c & ~cgmask));
    const block = start + iblkno + Math.floor((ino % ipg) / inopb) * frag;
    return { offset: block * fsize + (ino % inopb) * (ufs2 ? 256 : 128), ufs2 };
  }
  throw new Error(`${image}: no little-endian UFS superblock`);
}
