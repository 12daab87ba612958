/*
 * The benchmark's images, built once into a cache folder: one file of random
 * (incompressible, seeded) bytes, `/file`, in ext2 with 4 KiB and with 1 KiB
 * blocks and in ext4, each by `mke2fs -d`. A manifest records what was built
 * so a later run with the same parameters reuses the images. Beside them, in
 * a folder of its own with its own manifest, one ext2 (4 KiB) image of a
 * 64 MiB file for the ext2fs npm peer, whatever the size of the others; and,
 * in another, the same file in UFS2 (32 KiB blocks) by `makefs -t ffs`.
 *   const images = await benchImages(cacheDir, size, log)
 *   const small = ext2fsPeerImages(cacheDir, log)   // ext2, 4 KiB and 1 KiB blocks
 *   const ufs = ufsBenchImages(cacheDir, size, log)  // [] without makefs
 *   const disk = diskBenchImage(images[0], log)       // the same file system as partition 1 of an MBR disk
 */

import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchImage {
  /** e.g. ext2-4k */
  name: string;
  type: 'ext2' | 'ext4' | 'ufs2';
  blockSize: number;
  path: string;
  /** Bytes of /file. */
  fileSize: number;
}

interface Manifest {
  version: number;
  seed: number;
  size: number;
  images: { name: string; type: string; blockSize: number; bytes: number }[];
}

/** One file system of the images: a name, mke2fs's -t and -b (or makefs's version and bsize). */
interface Kind {
  name: string;
  type: BenchImage['type'];
  blockSize: number;
}

const MANIFEST_VERSION = 1;
export const BENCH_SEED = 0x5eed_b5d1;
export const CHUNK = 2 ** 20;
/** Bytes of /file in the ext2fs peer's images, whatever --size is: the package is too slow for more. */
export const EXT2FS_PEER_SIZE = 64 * 2 ** 20;
const KINDS: readonly Kind[] = [
  { name: 'ext2-4k', type: 'ext2', blockSize: 4096 },
  { name: 'ext2-1k', type: 'ext2', blockSize: 1024 },
  { name: 'ext4-4k', type: 'ext4', blockSize: 4096 },
];
/** UFS2 as newfs makes it by default: 32 KiB blocks of 4 KiB fragments. */
const UFS_KIND: Kind = { name: 'ufs2-32k', type: 'ufs2', blockSize: 32768 };

/**
 * The seeded byte stream of /file (xorshift128, 32-bit words, little-endian):
 * next(buf) fills buf (a multiple of 4 bytes) with the next bytes.
 */
export class RandomStream {
  private x: number;
  private y = 362436069;
  private z = 521288629;
  private w = 88675123;

  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }

  next(buf: Uint8Array): void {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    let { x, y, z, w } = this;
    for (let i = 0; i < words.length; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
      words[i] = w;
    }
    this.x = x;
    this.y = y;
    this.z = z;
    this.w = w;
  }
}

/** Writes `size` bytes of the seeded stream to path, 1 MiB at a time. */
export function writeRandomFile(path: string, size: number): void {
  const buf = new Uint8Array(CHUNK);
  const rng = new RandomStream(BENCH_SEED);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < size; done += CHUNK) {
      rng.next(buf);
      const n = Math.min(CHUNK, size - done);
      writeSync(fd, buf, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function readManifest(path: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

/** True when the manifest describes images of these parameters that are all still there. */
function reusable(m: Manifest | null, dir: string, size: number, kinds: readonly Kind[]): boolean {
  if (m === null || m.version !== MANIFEST_VERSION || m.seed !== BENCH_SEED || m.size !== size) return false;
  return kinds.every((k) => {
    const e = m.images.find((i) => i.name === k.name);
    const p = join(dir, `${k.name}.img`);
    return e !== undefined && e.type === k.type && e.blockSize === k.blockSize && existsSync(p) && statSync(p).size === e.bytes;
  });
}

/** The images for a file of `size` bytes, built into dir unless already there. */
export function benchImages(dir: string, size: number, log: (msg: string) => void): BenchImage[] {
  return buildImages(dir, size, KINDS, log);
}

/** The ext2 (4 KiB) image of a 64 MiB /file for the ext2fs npm peer, in its own folder of the cache. */
export function ext2fsPeerImages(cacheDir: string, log: (msg: string) => void): BenchImage[] {
  return buildImages(join(cacheDir, `ext2fs-${mib(EXT2FS_PEER_SIZE)}MiB`), EXT2FS_PEER_SIZE, [KINDS[0], KINDS[1]], log);
}

/** The UFS2 image of the same file, in its own folder of the cache; [] when makefs is not installed. */
export function ufsBenchImages(cacheDir: string, size: number, log: (msg: string) => void): BenchImage[] {
  try {
    execFileSync('makefs', [], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  } catch (e) {
    // makefs without arguments prints its usage and exits 1; only a missing command matters.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
  }
  return buildImages(join(cacheDir, `ufs-${mib(size)}MiB`), size, [UFS_KIND], log);
}

/** One image of each kind for a file of `size` bytes, built into dir unless its manifest says they are there. */
function buildImages(dir: string, size: number, kinds: readonly Kind[], log: (msg: string) => void): BenchImage[] {
  if (!(size > 0)) throw new Error(`bench: file size must be positive, not ${size}`);
  mkdirSync(dir, { recursive: true });
  const manifestPath = join(dir, 'manifest.json');
  const images: BenchImage[] = kinds.map((k) => ({ ...k, path: join(dir, `${k.name}.img`), fileSize: size }));
  if (reusable(readManifest(manifestPath), dir, size, kinds)) {
    log(`bench: reusing the images in ${dir}`);
    return images;
  }
  rmSync(manifestPath, { force: true });
  const tree = mkdtempSync(join(dir, 'tree-'));
  try {
    log(`bench: writing a ${mib(size)} MiB random file`);
    writeRandomFile(join(tree, 'file'), size);
    const imageKiB = Math.ceil((size * 1.1 + 16 * 2 ** 20) / 1024);
    const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
    for (const im of images) {
      rmSync(im.path, { force: true });
      if (im.type === 'ufs2') {
        const opts = `version=2,bsize=${im.blockSize},fsize=${im.blockSize / 8}`;
        log(`bench: makefs -t ffs -o ${opts} ${im.path}`);
        execFileSync('makefs', ['-t', 'ffs', '-o', opts, '-M', `${imageKiB}k`, im.path, tree], { stdio: ['ignore', 'ignore', 'pipe'], env });
      } else {
        log(`bench: mke2fs -t ${im.type} -b ${im.blockSize} ${im.path}`);
        execFileSync('mke2fs', ['-q', '-F', '-t', im.type, '-b', String(im.blockSize), '-d', tree, im.path, `${imageKiB}k`], { stdio: ['ignore', 'ignore', 'pipe'], env });
      }
    }
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    seed: BENCH_SEED,
    size,
    images: images.map((im) => ({ name: im.name, type: im.type, blockSize: im.blockSize, bytes: statSync(im.path).size })),
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return images;
}

/**
 * A whole disk holding im: an MBR (sfdisk) whose partition 1 starts at 1 MiB
 * and is im's bytes copied in; built beside im unless there already.
 */
export function diskBenchImage(im: BenchImage, log: (msg: string) => void): BenchImage {
  const path = im.path.replace(/\.img$/, '-disk.img');
  const size = statSync(im.path).size;
  const want = 2 ** 20 + size;
  if (!existsSync(path) || statSync(path).size !== want) {
    log(`bench: sfdisk + dd: ${path}, ${im.name} as partition 1`);
    rmSync(path, { force: true });
    execFileSync('truncate', ['-s', String(want), path]);
    execFileSync('sfdisk', ['-q', path], { input: `label: dos\nstart=2048, size=${size / 512}, type=83\n`, stdio: ['pipe', 'ignore', 'pipe'] });
    execFileSync('dd', [`if=${im.path}`, `of=${path}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
  }
  return { ...im, name: `${im.name} as partition 1`, path };
}

export function mib(bytes: number): string {
  const v = bytes / 2 ** 20;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
