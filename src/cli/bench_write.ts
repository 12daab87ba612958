/*
 * Bench case 5: `vmpager put --from SRC` (a sequential write and its sync)
 * in a fresh process beside `debugfs -w -R "write SRC /new"`, each on a
 * fresh copy of one empty ext2 image with 4 KiB blocks (or one ext4 image of
 * mke2fs's defaults, metadata_csum included); and on ext4 beside the
 * `ext2fs` npm package's write (writeExt2fsRows).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXT2FS_PEER_SIZE, writeRandomFile } from './bench_images.js';
import { CAT_MEMORY, MAIN, MiB, alternate, failure, median, rate, runTimed, statsOf, type Row } from './bench_run.js';

/** Case 5: `vmpager put --from SRC` in a fresh process beside `debugfs -w -R "write SRC /new"`, each on a fresh copy of an empty ext2 or ext4 (4 KiB) image. */
export async function writeCase(size: number, runs: number, useTime: boolean, scratch: string, type: 'ext2' | 'ext4' = 'ext2'): Promise<Row> {
  const src = join(scratch, 'src');
  writeRandomFile(src, size);
  const empty = join(scratch, 'empty.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', type, '-b', '4096', empty, `${Math.ceil((size * 1.1 + 16 * MiB) / 1024)}k`], { stdio: 'ignore' });
  const target = join(scratch, 'target.img');
  const vm: number[] = [];
  const peer: number[] = [];
  let vmRss: number | null = null;
  let peerRss: number | null = null;
  let writes: number | null = null;
  const notes: string[] = [];
  const once = async (which: 'vmpager' | 'debugfs'): Promise<void> => {
    execFileSync('cp', ['--sparse=always', empty, target]);
    const t =
      which === 'vmpager'
        ? await runTimed(process.execPath, [MAIN, '--memory', CAT_MEMORY, '--stats', 'put', target, '/new', '--from', src], useTime, scratch)
        : await runTimed('debugfs', ['-w', '-R', `write ${src} /new`, target], useTime, scratch);
    if (t.code !== 0) {
      notes.push(failure(which, t));
      return;
    }
    if (which === 'vmpager') {
      vm.push(rate(size, t.ms));
      if (t.rssKiB !== null) vmRss = Math.max(vmRss ?? 0, t.rssKiB);
      writes = (statsOf(t.stderr) as { device?: { writes?: number } } | null)?.device?.writes ?? null;
      // The first run is also checked: the image must be clean and hold the bytes.
      if (vm.length === 1) {
        const ck = spawnSync('e2fsck', ['-fn', target], { encoding: 'utf8' });
        if (ck.status !== 0) notes.push('e2fsck found the image vmpager wrote damaged');
      }
    } else {
      peer.push(rate(size, t.ms));
      if (t.rssKiB !== null) peerRss = Math.max(peerRss ?? 0, t.rssKiB);
    }
  };
  await alternate(runs, 'debugfs', once);
  const vmMed = vm.length > 0 ? median(vm) : null;
  const peerMed = peer.length > 0 ? median(peer) : null;
  return {
    case: `5 seq write + sync --memory ${CAT_MEMORY}`,
    image: `${type}-4k`,
    vmpager: vmMed === null ? null : { value: vmMed, unit: 'MiB/s' },
    peer: peerMed === null ? null : { name: 'debugfs -w', value: peerMed, unit: 'MiB/s' },
    ratio: vmMed !== null && peerMed !== null ? vmMed / peerMed : null,
    rssKiB: { vmpager: vmRss, peer: peerRss },
    deviceReads: null,
    extra: writes === null ? { fileBytes: size } : { fileBytes: size, deviceWrites: writes },
    note: [...new Set(notes)].join('; ') || undefined,
  };
}

/** The ext2fs npm peer's script (see bench_ext2fs.ts): beside this module, or under dist/src/cli from the bundle. */
const EXT2FS_PEER_PLACES = ['./bench_ext2fs.js', './src/cli/bench_ext2fs.js'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
/** The target ratio vmpager / ext2fs npm for case 5. */
const EXT2FS_WRITE_TARGET = 20;

/**
 * Case 5 beside the `ext2fs` npm package: `vmpager put` of a 64 MiB file and
 * the package's write of it (bench_ext2fs.ts --writer, its unmount's flush
 * an fdatasync), each in a fresh process on a fresh copy of one empty ext4
 * image (4 KiB blocks); and case 5's 512 MiB ext4 rate (row `ext4Row`)
 * beside the package's rate on 64 MiB, as case 1 does for reads: the
 * package would take minutes over 512 MiB.
 */
export async function writeExt2fsRows(runs: number, scratch: string, ext4Row: Row | null): Promise<Row[]> {
  const peerScript = EXT2FS_PEER_PLACES.find((p) => existsSync(p)) ?? EXT2FS_PEER_PLACES[0];
  let missing: string | null = null;
  try {
    createRequire(import.meta.url).resolve('ext2fs');
  } catch {
    missing = 'the ext2fs npm package is not installed (a dev dependency of vmpager)';
  }
  const size = EXT2FS_PEER_SIZE;
  const src = join(scratch, 'src64');
  writeRandomFile(src, size);
  const empty = join(scratch, 'empty64.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', empty, `${Math.ceil((size * 1.2 + 16 * MiB) / 1024)}k`], { stdio: 'ignore' });
  const target = join(scratch, 'target64.img');
  const vm: number[] = [];
  const peer: number[] = [];
  /* The write alone, mount to unmount, start-up excluded: each tool's library in a process of its own. */
  const vmAlone: number[] = [];
  const peerAlone: number[] = [];
  const notes: string[] = [];
  const wroteMs = (stderr: string): number | null => {
    const m = new RegExp(`^ext2fs-peer: wrote ${size} bytes in ([\\d.]+) ms$`, 'm').exec(stderr);
    return m === null ? null : Number(m[1]);
  };
  const once = async (which: 'vmpager' | 'ext2fs'): Promise<void> => {
    if (which === 'ext2fs' && missing !== null) return;
    execFileSync('cp', ['--sparse=always', empty, target]);
    const t = which === 'vmpager'
      ? await runTimed(process.execPath, [MAIN, '--memory', CAT_MEMORY, 'put', target, '/new', '--from', src], false, scratch)
      : await runTimed(process.execPath, [peerScript, '--writer', target, src, '/new'], false, scratch);
    if (t.code !== 0) {
      notes.push(failure(which, t));
      return;
    }
    if (which === 'ext2fs' && !new RegExp(`^ext2fs-peer: wrote ${size} bytes`, 'm').test(t.stderr)) {
      notes.push('ext2fs did not say it wrote the whole file: run not counted');
      return;
    }
    // Each tool's first image is judged.
    if ((which === 'vmpager' ? vm : peer).length === 0 && spawnSync('e2fsck', ['-fn', target], { encoding: 'utf8' }).status !== 0) {
      notes.push(`e2fsck found the image ${which} wrote damaged`);
    }
    (which === 'vmpager' ? vm : peer).push(rate(size, t.ms));
    if (which === 'ext2fs') {
      const ms = wroteMs(t.stderr);
      if (ms !== null) peerAlone.push(rate(size, ms));
      return;
    }
    execFileSync('cp', ['--sparse=always', empty, target]);
    const a = await runTimed(process.execPath, [peerScript, '--writer', 'vmpager', target, src, '/new'], false, scratch);
    const ms = a.code === 0 ? wroteMs(a.stderr) : null;
    if (ms === null) notes.push(failure('vmpager library write', a));
    else vmAlone.push(rate(size, ms));
  };
  await alternate(runs, 'ext2fs', once);
  if (missing !== null) notes.push(`ext2fs n/a: ${missing}`);
  const v = vm.length > 0 ? median(vm) : null;
  const p = peer.length > 0 ? median(peer) : null;
  const target20 = (r: number | null): string[] => (r === null ? [] : [`target vmpager >= ${EXT2FS_WRITE_TARGET}x ext2fs: ${r >= EXT2FS_WRITE_TARGET ? 'met' : 'not met'}`]);
  const ratio = v !== null && p !== null ? v / p : null;
  const rows: Row[] = [{
    case: `5 write of a ${size / MiB} MiB file + sync, whole processes`,
    image: 'ext4-4k',
    vmpager: v === null ? null : { value: v, unit: 'MiB/s' },
    peer: p === null ? null : { name: 'ext2fs npm', value: p, unit: 'MiB/s' },
    ratio,
    rssKiB: null,
    deviceReads: null,
    extra: { fileBytes: size, targetRatio: EXT2FS_WRITE_TARGET },
    note: [...new Set(notes), ...target20(ratio)].join('; ') || undefined,
  }];
  const va = vmAlone.length > 0 ? median(vmAlone) : null;
  const pa = peerAlone.length > 0 ? median(peerAlone) : null;
  const aloneRatio = va !== null && pa !== null ? va / pa : null;
  rows.push({
    case: `5 that ${size / MiB} MiB write alone, each library from its mount to its unmount (start-up excluded)`,
    image: 'ext4-4k',
    vmpager: va === null ? null : { value: va, unit: 'MiB/s' },
    peer: pa === null ? null : { name: 'ext2fs npm', value: pa, unit: 'MiB/s' },
    ratio: aloneRatio,
    rssKiB: null,
    deviceReads: null,
    extra: { fileBytes: size, targetRatio: EXT2FS_WRITE_TARGET },
    note: target20(aloneRatio).join('; ') || undefined,
  });
  if (ext4Row?.vmpager != null && p !== null && ext4Row.extra?.fileBytes !== size) {
    const cross = ext4Row.vmpager.value / p;
    rows.push({
      case: `5 write + sync of ${ext4Row.extra?.fileBytes !== undefined ? ext4Row.extra.fileBytes / MiB : '?'} MiB (above) vs the package's write rate on ${size / MiB} MiB`,
      image: 'ext4-4k',
      vmpager: ext4Row.vmpager,
      peer: { name: 'ext2fs npm', value: p, unit: 'MiB/s' },
      ratio: cross,
      rssKiB: null,
      deviceReads: null,
      extra: { targetRatio: EXT2FS_WRITE_TARGET },
      note: [...target20(cross), 'rates of different sizes'].join('; '),
    });
  }
  return rows;
}
