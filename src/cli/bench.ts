/*
 * vmpager bench [--json] [--runs N] [--size SIZE] [--cache DIR]: the
 * benchmark table of the performance issue, each case beside its peer:
 *   1 cold `vmpager cat` of /file in a fresh process vs `debugfs -R "cat /file"` (on UFS2,
 *     which debugfs cannot read, case 2's raw limit is the only peer);
 *     and on a 64 MiB file in ext2 (4 KiB and 1 KiB blocks), vs the `ext2fs` npm package (libext2fs
 *     in WASM) in a fresh process, when that dev dependency is installed
 *   2 the raw limit: positioned 1 MiB reads of the file's block runs from the image
 *     into a buffer placed as the frames are (see kern/kmem.ts)
 *   3 warm re-read through the library vs Buffer.copy of the same bytes
 *   4 random 4 KiB Zipf reads: vmpager's hit rate vs exact LRU and Belady's optimal
 *   5 sequential write + sync: vmpager put beside debugfs -w write, on copies of one empty ext2 image
 *     (and of one empty ext4 image)
 *   6 cold `vmpager --partition 1 cat` of /file on a whole disk vs the same file system as a bare image
 *   7 cold cat on FAT32 vs mcopy (bench_fat)
 *   8 cold `vmpager cat` of /file over NBD (nbdkit on loopback serving the ext4 image) vs nbdcopy
 *     reading the same export (bench_nbd)
 *   9 a tree of 20 000 small files: mkfs --from and put -r vs mke2fs -d, get vs debugfs rdump (bench_trees)
 *  10 cold `vmpager cat` of sparse files: 1 GiB vs debugfs, 16 GiB piped into dd vs the pipe itself (bench_scale)
 *  11 `vmpager ls -R` of e2fsprogs' f_many_subdirs vs `fls -r`, and vs `find` on a fresh loop mount as root (bench_scale)
 * `--cases 5,9` runs only those cases. Runs alternate with their peer; the table shows medians. The cases live
 * in bench_cold, bench_peer, bench_warm, bench_write, bench_fat, bench_nbd, bench_trees and bench_scale; what they share in
 * bench_run.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize } from '../api/size.js';
import { EXT2FS_PEER_SIZE, benchImages, diskBenchImage, ext2fsPeerImages, mib, ufsBenchImages } from './bench_images.js';
import { coldCases, partitionCase } from './bench_cold.js';
import { crossSizeRow, ext2fsCase } from './bench_peer.js';
import { MiB, haveGnuTime, log, type Metric, type Row } from './bench_run.js';
import { warmCase, zipfCase } from './bench_warm.js';
import { writeCase, writeExt2fsRows } from './bench_write.js';
import { TREE_FILES, treeRows } from './bench_trees.js';
import { fatRows } from './bench_fat.js';
import { nbdCase } from './bench_nbd.js';
import { holeRows, walkRows } from './bench_scale.js';

/** The cases there are, in the order of the table's first column. */
const ALL_CASES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const LAST_CASE = ALL_CASES[ALL_CASES.length - 1];

const USAGE = 'usage: vmpager bench [--json] [--runs N] [--size SIZE] [--cache DIR] [--cases LIST]';

function fmtMetric(m: Metric | null): string {
  if (m === null) return '-';
  return m.unit === '% hit' ? `${m.value.toFixed(1)}% hit` : `${m.value >= 100 ? Math.round(m.value) : m.value.toFixed(1)} ${m.unit}`;
}

function fmtRss(kib: number | null): string {
  return kib === null ? 'n/a' : `${Math.round(kib / 1024)} MiB`;
}

function table(rows: Row[]): string {
  const head = ['case', 'image', 'vmpager', 'peer', 'ratio', 'peak RSS vmpager/peer', 'device reads'];
  const body = rows.map((r) => [
    r.case,
    r.image ?? '',
    r.vmpager === null && r.peer === null ? (r.note ?? '-') : fmtMetric(r.vmpager),
    r.peer === null ? (r.vmpager === null ? '' : 'n/a') : `${r.peer.name} ${fmtMetric(r.peer)}`,
    r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`,
    r.rssKiB === null ? '' : `${fmtRss(r.rssKiB.vmpager)} / ${fmtRss(r.rssKiB.peer)}`,
    r.deviceReads === null ? '' : String(r.deviceReads),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  const notes = rows.filter((r) => r.note !== undefined && !(r.vmpager === null && r.peer === null));
  if (notes.length > 0) {
    out.push('', 'notes:');
    for (const r of notes) out.push(`  ${r.case.split(' ')[0]} ${r.image ?? ''}: ${r.note}`);
  }
  return out.join('\n') + '\n';
}

export async function benchMain(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        json: { type: 'boolean' },
        runs: { type: 'string' },
        size: { type: 'string' },
        cache: { type: 'string' },
        cases: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`vmpager: ${(e as Error).message.split('\n')[0]}\n${USAGE}\n`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n  --runs N      runs of each case (default 3)\n  --size SIZE   size of the test file (default 512MiB; the rows against the\n                ext2fs npm package always read or write a 64 MiB file)\n  --cache DIR   where the images are kept (default .cache/bench)\n  --cases LIST  only these cases, e.g. 5,8 (default: all, 1 to ${LAST_CASE})\n  --json        the table as JSON\n`);
    return 0;
  }
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  const size = values.size === undefined ? 512 * MiB : parseSize(values.size);
  if (!Number.isSafeInteger(runs) || runs < 1) {
    process.stderr.write(`vmpager: --runs: not a positive integer: ${values.runs}\n${USAGE}\n`);
    return 1;
  }
  if (size === null || size < 64 * 1024) {
    process.stderr.write(`vmpager: --size: not a size of at least 64KiB: ${values.size}\n${USAGE}\n`);
    return 1;
  }
  const cases = new Set((values.cases ?? ALL_CASES.join(',')).split(',').map((c) => Number(c.trim())));
  if ([...cases].some((c) => !ALL_CASES.includes(c))) {
    process.stderr.write(`vmpager: --cases: case numbers from 1 to ${LAST_CASE}, comma-separated, not ${values.cases}\n${USAGE}\n`);
    return 1;
  }
  const cache = resolve(values.cache ?? join('.cache', 'bench'));
  process.env.PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
  for (const tool of ['mke2fs', 'debugfs']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error !== undefined) {
      process.stderr.write(`vmpager: bench: ${tool} not found (install e2fsprogs)\n`);
      return 2;
    }
  }

  const scratch = mkdtempSync(join(tmpdir(), 'vmpager-bench-'));
  const rows: Row[] = [];
  try {
    const want = (...cs: number[]): boolean => cs.some((c) => cases.has(c));
    const images = want(1, 2, 3, 4, 6, 8) ? benchImages(cache, size, log) : [];
    const useTime = haveGnuTime();
    if (!useTime) log('bench: GNU time not found at /usr/bin/time: peak RSS is n/a');
    const ufs = want(1, 2) ? ufsBenchImages(cache, size, log) : [];
    if (want(1, 2) && ufs.length === 0) log('bench: makefs not found: no UFS rows');
    if (want(1, 2)) {
      for (const im of [...images, ...ufs]) {
        log(`bench: ${im.name}: cases 1-2 (cold cat, raw limit), ${runs} run(s)`);
        rows.push(...(await coldCases(im, runs, useTime, scratch)));
      }
    }
    if (want(7)) rows.push(...(await fatRows(cache, size, runs, log)));
    if (want(1)) {
      log(`bench: ext2 4 KiB and 1 KiB, ${mib(EXT2FS_PEER_SIZE)} MiB: case 1 vs the ext2fs npm package, ${runs} run(s)`);
      for (const im of ext2fsPeerImages(cache, log)) {
        const peerRows = await ext2fsCase(im, runs, useTime, scratch);
        rows.push(...peerRows, ...crossSizeRow(rows, peerRows[1], im.name, size));
      }
    }
    if (want(3)) {
      for (const im of images) {
        log(`bench: ${im.name}: case 3 (warm re-read), ${runs} run(s)`);
        rows.push(await warmCase(im, runs));
      }
    }
    if (want(4)) {
      log(`bench: ${images[0].name}: case 4 (Zipf)`);
      rows.push(await zipfCase(images[0]));
    }
    if (want(5)) {
      log(`bench: case 5 (sequential write + sync), ${runs} run(s)`);
      rows.push(await writeCase(size, runs, useTime, scratch));
      const ext4 = await writeCase(size, runs, useTime, scratch, 'ext4');
      rows.push(ext4);
      log(`bench: case 5 on ext4 beside the ext2fs npm package, ${mib(EXT2FS_PEER_SIZE)} MiB, ${runs} run(s)`);
      rows.push(...(await writeExt2fsRows(runs, scratch, ext4)));
    }
    if (want(6)) {
      log(`bench: ${images[0].name}: case 6 (cold cat through a partition), ${runs} run(s)`);
      rows.push(await partitionCase(images[0], diskBenchImage(images[0], log), runs, useTime, scratch));
    }
    if (want(8) && images.length > 0) {
      const ext4 = images.find((im) => im.type === 'ext4') ?? images[0];
      log(`bench: ${ext4.name}: case 8 (cold cat over NBD vs nbdcopy), ${runs} run(s)`);
      rows.push(await nbdCase(ext4, runs, useTime, scratch));
    }
    if (want(9)) {
      log(`bench: case 9 (a tree of ${TREE_FILES} small files in and out), ${runs} run(s)`);
      rows.push(...(await treeRows(cache, runs, scratch, log)));
    }
    if (want(10)) {
      log(`bench: case 10 (cat of sparse files), ${runs} run(s)`);
      rows.push(...(await holeRows(cache, runs, useTime, scratch, log)));
    }
    if (want(11)) {
      log(`bench: case 11 (ls -R of f_many_subdirs), ${runs} run(s)`);
      rows.push(...(await walkRows(cache, runs, useTime, scratch, log)));
    }
  } catch (e) {
    process.stderr.write(`vmpager: bench: ${(e as Error).message.split('\n')[0]}\n`);
    return 2;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  if (values.json) {
    process.stdout.write(JSON.stringify({ node: process.version, size, runs, cache, rows }, null, 2) + '\n');
  } else {
    process.stdout.write(`vmpager bench: /file of ${mib(size)} MiB; medians of ${runs} run${runs === 1 ? '' : 's'}; ratio = vmpager / peer; node ${process.version}\n\n`);
    process.stdout.write(table(rows));
  }
  return 0;
}
