/*
 * The benchmark's host tree of many small files, a Debian-like root made
 * from a seed (the same tree every time): ~2 000 directories nested up to
 * five deep, `files` regular files mostly of 0-16 KiB (a few of 1-4 MiB),
 * about one in a hundred a symlink and one in two hundred a second name of
 * an earlier file (a hard link). File bytes are seeded random words, so no
 * file is a hole. Times are fixed so that two builds compare equal.
 *   const stats = writeBenchTree(dir, 20000)   // dir must not exist
 */

import { linkSync, mkdirSync, openSync, closeSync, symlinkSync, utimesSync, writeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { RandomStream } from './bench_images.js';

export const TREE_SEED = 0x7ee5_eed5;
/** What writeBenchTree made. */
export interface TreeStats {
  dirs: number;
  files: number;
  symlinks: number;
  hardLinks: number;
  bytes: number;
}

/** A small seeded generator of integers (mulberry32). */
class Rng {
  constructor(private s: number) {}

  /** An integer in [0, n). */
  below(n: number): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  }
}

const TOP = ['bin', 'etc', 'lib', 'usr', 'var', 'opt', 'srv', 'home'];
const WORDS = ['share', 'doc', 'lib', 'python3', 'perl', 'locale', 'man', 'include', 'systemd', 'apt', 'x86_64', 'icons', 'fonts', 'zoneinfo', 'terminfo', 'dist-packages', 'site', 'modules', 'firmware', 'examples'];
const EXTS = ['', '.so', '.py', '.conf', '.gz', '.h', '.pm', '.txt', '.json', '.mo'];
const TIME = 1_600_000_000;

/** Writes the tree under dir (made here) and says what it holds. */
export function writeBenchTree(dir: string, files: number): TreeStats {
  const rng = new Rng(TREE_SEED);
  const bytes = new RandomStream(TREE_SEED);
  const buf = new Uint8Array(4 * 2 ** 20);
  const stats: TreeStats = { dirs: 1, files: 0, symlinks: 0, hardLinks: 0, bytes: 0 };
  mkdirSync(dir);
  // Directories: the top ones, then each new one under a random earlier one no deeper than 4.
  const dirs: { path: string; depth: number }[] = [];
  for (const t of TOP) {
    mkdirSync(join(dir, t));
    dirs.push({ path: t, depth: 1 });
  }
  const wantDirs = Math.max(TOP.length, Math.round(files / 10));
  const seen = new Set(TOP);
  while (dirs.length < wantDirs) {
    const parent = dirs[rng.below(dirs.length)];
    if (parent.depth >= 5) continue;
    const path = `${parent.path}/${WORDS[rng.below(WORDS.length)]}${rng.below(1000)}`;
    if (seen.has(path)) continue;
    seen.add(path);
    mkdirSync(join(dir, path));
    dirs.push({ path, depth: parent.depth + 1 });
  }
  stats.dirs += dirs.length;
  const made: string[] = [];
  for (let i = 0; i < files; i++) {
    const d = dirs[rng.below(dirs.length)].path;
    const name = `${d}/f${i}${EXTS[rng.below(EXTS.length)]}`;
    const roll = rng.below(1000);
    if (roll < 10 && made.length > 0) {
      symlinkSync(`/${made[rng.below(made.length)]}`, join(dir, name));
      stats.symlinks++;
      continue;
    }
    if (roll < 15 && made.length > 0) {
      linkSync(join(dir, made[rng.below(made.length)]), join(dir, name));
      stats.hardLinks++;
      continue;
    }
    // Sizes: a quarter under 512 bytes, most up to 16 KiB, one in 500 of 1-4 MiB.
    const size = roll >= 998 ? 2 ** 20 + rng.below(3 * 2 ** 20) : roll < 250 ? rng.below(512) : rng.below(16 * 1024 + 1);
    const fd = openSync(join(dir, name), 'wx');
    try {
      bytes.next(buf.subarray(0, (size + 3) & ~3));
      writeSync(fd, buf, 0, size);
    } finally {
      closeSync(fd);
    }
    if (roll % 7 === 0) chmodSync(join(dir, name), 0o755);
    utimesSync(join(dir, name), TIME + i, TIME + i);
    made.push(name);
    stats.files++;
    stats.bytes += size;
  }
  for (const d of dirs) utimesSync(join(dir, d.path), TIME, TIME);
  utimesSync(dir, TIME, TIME);
  return stats;
}
