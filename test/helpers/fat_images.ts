/*
 * FAT test images built by the real tools at run time: `mkfs.fat` formats,
 * `mcopy -s` copies a generated tree in; `mdir -/ -b` lists what the image
 * holds, `mcopy` reads a file back, `fsck.fat -n` judges an image (the
 * oracles). mtools runs with MTOOLS_SKIP_CHECK=1 on images of any geometry.
 */

import { spawnSync } from 'node:child_process';
import { tempDir, writeTree, type TreeFile } from './images.js';

export interface FatOptions {
  fat: 12 | 16 | 32;
  /** Image size in KiB. */
  kib: number;
  /** Bytes per cluster (a power of two, 512 to 32 KiB); mkfs.fat's choice if absent. */
  cluster?: number;
  label?: string;
  /** Root directory entries of FAT12/16 (mkfs.fat -r). */
  rootEntries?: number;
}

const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

function run(cmd: string, args: string[], input?: Uint8Array): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { env: MTOOLS_ENV, maxBuffer: 1 << 30, input });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Formats `image` with mkfs.fat (created afresh). */
export function mkfsFat(image: string, opts: FatOptions): void {
  const args = ['-C', '-F', String(opts.fat)];
  if (opts.cluster !== undefined) args.push('-S', '512', '-s', String(opts.cluster / 512));
  if (opts.label !== undefined) args.push('-n', opts.label);
  if (opts.rootEntries !== undefined) args.push('-r', String(opts.rootEntries));
  spawnSync('rm', ['-f', image]);
  const r = run('mkfs.fat', [...args, image, String(opts.kib)]);
  if (r.status !== 0) throw new Error(`mkfs.fat ${args.join(' ')}: ${r.stderr}`);
}

/** Copies `files` into the image's directory `to` (default the root) with mcopy -s. */
export function mcopyTree(image: string, files: readonly TreeFile[], to = '::/'): void {
  const { dir, cleanup } = tempDir('vmpager-fattree-');
  try {
    writeTree(dir, files);
    const tops = [...new Set(files.map((f) => f.path.split('/')[0]))].map((t) => `${dir}/${t}`);
    const r = run('mcopy', ['-s', '-i', image, ...tops, to]);
    if (r.status !== 0) throw new Error(`mcopy -s: ${r.stderr}`);
  } finally {
    cleanup();
  }
}

/** Makes a FAT image of `files`; returns its path. */
export function mkfat(image: string, files: readonly TreeFile[], opts: FatOptions): string {
  mkfsFat(image, opts);
  if (files.length > 0) mcopyTree(image, files);
  return image;
}

/** Every path mdir lists (`mdir -/ -b -a`: hidden ones too), as /a/b, directories without their trailing slash. */
export function mdirPaths(image: string): string[] {
  const r = run('mdir', ['-/', '-b', '-a', '-i', image, '::/']);
  if (r.status !== 0) throw new Error(`mdir: ${r.stderr}`);
  return r.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l.startsWith('::/'))
    .map((l) => l.slice(2).replace(/\/$/, ''));
}

/** The bytes of a file as mcopy reads them. */
export function mcopyRead(image: string, path: string): Buffer {
  const r = run('mcopy', ['-n', '-i', image, `::${path}`, '-']);
  if (r.status !== 0) throw new Error(`mcopy ${path}: ${r.stderr}`);
  return r.stdout;
}

/** Runs an mtools command (mdel, mattrib, mmd ...) on the image. */
export function mtool(cmd: string, image: string, ...args: string[]): void {
  const r = run(cmd, ['-i', image, ...args]);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** fsck.fat -n: { clean, output }; clean means it found nothing to fix. */
export function fsckFat(image: string): { clean: boolean; output: string } {
  const r = run('fsck.fat', ['-n', image]);
  const output = r.stdout.toString() + r.stderr;
  return { clean: r.status === 0 && !/Leaving filesystem unchanged|differ|[Dd]irty|wrong/.test(output), output };
}

/** The free bytes mdir reports. */
export function freeBytes(image: string): number {
  const r = run('mdir', ['-i', image, '::/']);
  const m = /([\d ]+) bytes free/.exec(r.stdout.toString());
  if (m === null) throw new Error(`mdir: no free count: ${r.stdout.toString()}`);
  return Number(m[1].replace(/ /g, ''));
}
