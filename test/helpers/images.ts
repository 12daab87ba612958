/*
 * Test images built by the real tools at run time: a tree is generated in a
 * temporary folder, then `mke2fs -d` makes the image. `debugfs` answers what
 * the file system really holds (the oracle).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface TreeFile {
  /** Path inside the image, without a leading slash. */
  path: string;
  data?: Uint8Array;
  /** A symbolic link to this target instead of a file. */
  symlink?: string;
  /** A directory. */
  dir?: boolean;
}

export interface MkfsOptions {
  type?: 'ext2' | 'ext3' | 'ext4';
  blockSize?: number;
  /** Image size in bytes. */
  size: number;
  /** Extra mke2fs options, e.g. ['-O', '^has_journal']. */
  extra?: string[];
}

/** A temporary folder removed by cleanup(). */
export function tempDir(prefix = 'vmpager-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `files` under root (directories made as needed). */
export function writeTree(root: string, files: readonly TreeFile[]): void {
  for (const f of files) {
    const p = join(root, f.path);
    if (f.dir) {
      mkdirSync(p, { recursive: true });
      continue;
    }
    mkdirSync(dirname(p), { recursive: true });
    if (f.symlink !== undefined) symlinkSync(f.symlink, p);
    else writeFileSync(p, f.data ?? new Uint8Array(0));
  }
}

/** Makes an ext2/3/4 image of `files` with mke2fs -d; returns its path. */
export function mkext2(image: string, files: readonly TreeFile[], opts: MkfsOptions): string {
  const { dir: tree, cleanup } = tempDir('vmpager-tree-');
  try {
    writeTree(tree, files);
    const args = ['-q', '-F', '-t', opts.type ?? 'ext2', '-d', tree];
    if (opts.blockSize !== undefined) args.push('-b', String(opts.blockSize));
    args.push(...(opts.extra ?? []));
    args.push(image, `${Math.ceil(opts.size / 1024)}k`);
    execFileSync('mke2fs', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, E2FSPROGS_FAKE_TIME: '' } });
    return image;
  } finally {
    cleanup();
  }
}

/** Runs one debugfs request on image (read-only unless write); returns stdout. */
export function debugfs(image: string, request: string, write = false): string {
  const args = write ? ['-w', '-R', request, image] : ['-R', request, image];
  const r = spawnSync('debugfs', args, { encoding: 'latin1', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`debugfs ${request}: ${r.stderr}`);
  return r.stdout;
}

/** Runs several debugfs requests in one process (-f). */
export function debugfsScript(image: string, requests: readonly string[], write = false): string {
  const { dir, cleanup } = tempDir('vmpager-dbg-');
  try {
    const cmd = join(dir, 'cmds');
    writeFileSync(cmd, requests.join('\n') + '\n');
    const args = write ? ['-w', '-f', cmd, image] : ['-f', cmd, image];
    const r = spawnSync('debugfs', args, { encoding: 'latin1', maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`debugfs -f: ${r.stderr}`);
    return r.stdout;
  } finally {
    cleanup();
  }
}

/** The bytes of a file as debugfs dumps them. */
export function debugfsCat(image: string, path: string): Buffer {
  const r = spawnSync('debugfs', ['-R', `cat ${path}`, image], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`debugfs cat ${path}: ${r.stderr}`);
  return r.stdout;
}

/** e2fsck -fn: { clean, output }. */
export function e2fsck(image: string): { clean: boolean; output: string } {
  const r = spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8' });
  return { clean: r.status === 0, output: r.stdout + r.stderr };
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
