/*
 * Bench case 10, holes: a cold `vmpager cat` of sparse files in fresh
 * processes, each beside its peer, alternated, medians:
 *   10a a 1 GiB file with one byte of data (ext4, 1 KiB and 4 KiB blocks)
 *       vs `debugfs -R "cat"`
 *   10b a 16 GiB file with no data, in an 8 MiB ext4 image, piped into
 *       `dd of=/dev/null bs=1M`, vs the pipe itself (`dd if=/dev/zero | dd`)
 * The images are built once by `mke2fs -d` into the cache folder.
 * Case 11, a walk: `vmpager ls -R` of e2fsprogs' f_many_subdirs image (from
 * ../shared/corpus/e2fsprogs, or VMPAGER_CORPUS) beside the Sleuth Kit's
 *   11a `fls -r -p` of the image
 *   11b `find` on a fresh read-only loop mount (cold: mounted for each run),
 *       when the bench runs as root and `mount -o loop` works
 *   const rows = await holeRows(cacheDir, runs, useTime, scratch, log)
 *   const rows = await walkRows(cacheDir, runs, useTime, scratch, log)
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MAIN, MiB, alternate, failure, median, rate, runTimed, type Row } from './bench_run.js';

const GiB = 2 ** 30;
/** The targets of the issue: 10a vmpager >= 3x debugfs; 10b within 2.5x of the pipe (ratio >= 0.4). */
const TARGET_DEBUGFS = 3;
const TARGET_PIPE = 1 / 2.5;

interface SparseImage {
  path: string;
  fileSize: number;
}

/** An ext4 image (blockSize-byte blocks, imageBytes) holding /sparse: fileSize bytes, data only at `dataAt` (one byte) if given. */
function sparseImage(dir: string, name: string, blockSize: number, imageBytes: number, fileSize: number, dataAt: number | null, log: (m: string) => void): SparseImage {
  const path = join(dir, `${name}.img`);
  if (existsSync(path)) return { path, fileSize };
  log(`bench: building ${path} (mke2fs -d of a ${fileSize / GiB} GiB sparse file)`);
  mkdirSync(dir, { recursive: true });
  const tree = mkdtempSync(join(dir, 'tree-'));
  try {
    const fd = openSync(join(tree, 'sparse'), 'w');
    try {
      if (dataAt !== null) writeSync(fd, new Uint8Array([0x5a]), 0, 1, dataAt);
      ftruncateSync(fd, fileSize);
    } finally {
      closeSync(fd);
    }
    const tmp = `${path}.tmp`;
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', String(blockSize), '-d', tree, tmp, `${imageBytes / 1024}K`], { stdio: 'ignore' });
    renameSync(tmp, path);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
  return { path, fileSize };
}

/** Runs `vmpager` and its peer alternately; the medians of their rates over `bytes`. */
async function timedPair(
  runs: number, useTime: boolean, scratch: string, bytes: number, peerName: string,
  vm: [string, string[]], peer: [string, string[]],
): Promise<{ vm: number | null; peer: number | null; rss: { vmpager: number | null; peer: number | null }; notes: string[] }> {
  const rates: Record<'vmpager' | 'peer', number[]> = { vmpager: [], peer: [] };
  const rss: { vmpager: number | null; peer: number | null } = { vmpager: null, peer: null };
  const notes: string[] = [];
  await alternate(runs, 'peer', async (which) => {
    const [cmd, args] = which === 'vmpager' ? vm : peer;
    const t = await runTimed(cmd, args, useTime, scratch);
    if (t.code !== 0) {
      notes.push(failure(which === 'vmpager' ? 'vmpager' : peerName, t));
      return;
    }
    rates[which].push(rate(bytes, t.ms));
    if (t.rssKiB !== null) rss[which] = Math.max(rss[which] ?? 0, t.rssKiB);
  });
  const med = (xs: number[]) => (xs.length > 0 ? median(xs) : null);
  return { vm: med(rates.vmpager), peer: med(rates.peer), rss, notes };
}

function targetNote(ratio: number | null, target: number, what: string): string {
  if (ratio === null) return `target ${what}: not measured`;
  return `target ${what}: ${ratio >= target ? 'met' : 'not met'}`;
}

/** Case 10's rows. */
export async function holeRows(cache: string, runs: number, useTime: boolean, scratch: string, log: (m: string) => void): Promise<Row[]> {
  const dir = join(cache, 'holes');
  const big = sparseImage(dir, 'sparse-16g', 4096, 8 * MiB, 16 * GiB, null, log);
  const rows: Row[] = [];
  // 1 KiB blocks are what mke2fs gives a small image by default; 4 KiB what a large one gets.
  for (const bs of [1024, 4096]) {
    const one = sparseImage(dir, `sparse-1g-${bs >> 10}k`, bs, 64 * MiB, GiB, 500_000_000, log);
    const a = await timedPair(runs, useTime, scratch, one.fileSize, 'debugfs',
      [process.execPath, [MAIN, 'cat', one.path, '/sparse']],
      ['debugfs', ['-R', 'cat /sparse', one.path]]);
    const ra = a.vm !== null && a.peer !== null ? a.vm / a.peer : null;
    rows.push({
      case: '10a cold cat of a 1 GiB sparse file (1 byte of data)',
      image: `ext4-${bs >> 10}k, 64 MiB`,
      vmpager: a.vm === null ? null : { value: a.vm, unit: 'MiB/s' },
      peer: a.peer === null ? null : { name: 'debugfs', value: a.peer, unit: 'MiB/s' },
      ratio: ra,
      rssKiB: a.rss,
      deviceReads: null,
      note: [...new Set([...a.notes, targetNote(ra, TARGET_DEBUGFS, `vmpager >= ${TARGET_DEBUGFS}x debugfs`), 'whole processes (Node start-up included), stdout /dev/null'])].join('; '),
    });
  }

  const count = big.fileSize / MiB;
  const b = await timedPair(runs, useTime, scratch, big.fileSize, 'dd',
    ['sh', ['-c', `"$0" "$1" cat "$2" /sparse | dd of=/dev/null bs=1M 2>/dev/null`, process.execPath, MAIN, big.path]],
    ['sh', ['-c', `dd if=/dev/zero bs=1M count=${count} 2>/dev/null | dd of=/dev/null bs=1M 2>/dev/null`]]);
  const rb = b.vm !== null && b.peer !== null ? b.vm / b.peer : null;
  rows.push({
    case: '10b cat of a 16 GiB sparse file | dd of=/dev/null bs=1M',
    image: 'ext4-4k, 8 MiB',
    vmpager: b.vm === null ? null : { value: b.vm, unit: 'MiB/s' },
    peer: b.peer === null ? null : { name: 'dd /dev/zero | dd', value: b.peer, unit: 'MiB/s' },
    ratio: rb,
    rssKiB: b.rss,
    deviceReads: null,
    note: [...new Set([...b.notes, targetNote(rb, TARGET_PIPE, 'within 2.5x of the pipe (ratio >= 0.40)'), 'peak RSS: the largest process of the pipeline'])].join('; '),
  });
  return rows;
}

/** Where e2fsprogs' test images are: VMPAGER_CORPUS, or ../shared/corpus/e2fsprogs from here. */
function corpusDir(): string {
  return resolve(process.env.VMPAGER_CORPUS ?? join('..', 'shared', 'corpus', 'e2fsprogs'));
}

/** Entries per second over the runs' median time. */
const perSecond = (entries: number, ms: number): number => entries / (ms / 1000);

/** Case 11's rows: ls -R of f_many_subdirs beside fls -r, and beside find on a loop mount where it can run. */
export async function walkRows(cache: string, runs: number, useTime: boolean, scratch: string, log: (m: string) => void): Promise<Row[]> {
  const gz = join(corpusDir(), 'f_many_subdirs.img.gz');
  const image = join(cache, 'walk', 'f_many_subdirs.img');
  const base = { case: '11 ls -R of f_many_subdirs', image: 'ext4 (e2fsprogs test image)', rssKiB: null, deviceReads: null } as const;
  if (!existsSync(image)) {
    if (!existsSync(gz)) return [{ ...base, vmpager: null, peer: null, ratio: null, note: `${gz} not found (set VMPAGER_CORPUS)` }];
    mkdirSync(join(cache, 'walk'), { recursive: true });
    writeFileSync(`${image}.tmp`, gunzipSync(readFileSync(gz)));
    renameSync(`${image}.tmp`, image);
  }
  const listed = spawnSync(process.execPath, [MAIN, 'ls', '-R', image], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (listed.status !== 0) return [{ ...base, vmpager: null, peer: null, ratio: null, note: `vmpager ls -R failed: ${listed.stderr.split('\n')[0]}` }];
  const entries = listed.stdout.split('\n').length - 1;
  const rows: Row[] = [];
  const timed = async (name: string, peer: [string, string[]] | null, before?: () => boolean, afterRun?: () => void, peerOk: number[] = [0]): Promise<void> => {
    const ms: Record<'vmpager' | 'peer', number[]> = { vmpager: [], peer: [] };
    const rss: { vmpager: number | null; peer: number | null } = { vmpager: null, peer: null };
    const notes: string[] = [];
    await alternate(runs, 'peer', async (which) => {
      if (which === 'peer' && (peer === null || (before !== undefined && !before()))) return;
      try {
        const [cmd, args] = which === 'vmpager' ? [process.execPath, [MAIN, 'ls', '-R', image]] : peer!;
        const t = await runTimed(cmd, args, useTime, scratch);
        if (t.code !== 0 && !(which === 'peer' && t.code !== null && peerOk.includes(t.code))) notes.push(failure(which === 'vmpager' ? 'vmpager' : name, t));
        else {
          if (t.code !== 0) notes.push(`${name} exit ${t.code}: ${t.stderr.split('\n')[0]} (run counted)`);
          ms[which].push(t.ms);
          if (t.rssKiB !== null) rss[which] = Math.max(rss[which] ?? 0, t.rssKiB);
        }
      } finally {
        if (which === 'peer') afterRun?.();
      }
    });
    const vm = ms.vmpager.length > 0 ? perSecond(entries, median(ms.vmpager)) : null;
    const pr = ms.peer.length > 0 ? perSecond(entries, median(ms.peer)) : null;
    const ratio = vm !== null && pr !== null ? vm / pr : null;
    rows.push({
      ...base,
      case: `${base.case} (${entries} entries)`,
      vmpager: vm === null ? null : { value: vm, unit: 'entries/s' },
      peer: pr === null ? null : { name, value: pr, unit: 'entries/s' },
      ratio,
      rssKiB: rss,
      note: [...new Set([...notes, `target vmpager >= the kernel's cold find: ${name === 'find (loop mount)' ? (ratio === null ? 'not measured' : ratio >= 1 ? 'met' : 'not met') : 'see the find row'}`])].join('; '),
    });
  };
  log('bench: case 11a (ls -R vs fls -r)');
  await timed('fls -r', ['fls', ['-r', '-p', image]]);
  const mnt = join(scratch, 'mnt');
  mkdirSync(mnt, { recursive: true });
  const canMount = process.getuid?.() === 0 && spawnSync('mount', ['-o', 'loop,ro', image, mnt], { stdio: 'ignore' }).status === 0;
  if (!canMount) {
    rows.push({ ...base, vmpager: null, peer: null, ratio: null, note: 'no find row: the bench is not root, or mount -o loop failed here' });
    return rows;
  }
  spawnSync('umount', [mnt], { stdio: 'ignore' });
  log('bench: case 11b (ls -R vs find on a fresh loop mount)');
  // A fresh mount for each run: the kernel's caches of this file system start cold (the image file itself stays in the host's page cache, as for vmpager).
  await timed('find (loop mount)', ['find', [mnt]],
    () => spawnSync('mount', ['-o', 'loop,ro', image, mnt], { stdio: 'ignore' }).status === 0,
    () => void spawnSync('umount', [mnt], { stdio: 'ignore' }),
    // The image is damaged on purpose: find reports the inodes the kernel refuses, and lists the rest.
    [0, 1]);
  return rows;
}
