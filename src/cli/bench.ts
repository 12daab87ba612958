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
 *   6 cold `vmpager --partition 1 cat` of /file on a whole disk vs the same file system as a bare image
 * Runs alternate with their peer; the table shows medians.
 */

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Vm, ioBuffer } from '../api/index.js';
import { parseSize } from '../api/size.js';
import {
  BENCH_SEED, CHUNK, EXT2FS_PEER_SIZE, RandomStream, benchImages, diskBenchImage, ext2fsPeerImages, mib, ufsBenchImages, writeRandomFile,
  type BenchImage,
} from './bench_images.js';
import { lruHits, optHits, zipfTrace } from './zipf.js';

const USAGE = 'usage: vmpager bench [--json] [--runs N] [--size SIZE] [--cache DIR]';
/** The vmpager command to time: the one running the bench (dist/vmpager.mjs, or dist/src/cli/main.js). */
const MAIN = process.argv[1];
/** The ext2fs npm peer's script (see bench_ext2fs.ts): beside this module, or under dist/src/cli from the bundle. */
const EXT2FS_PEER_PLACES = ['./bench_ext2fs.js', './src/cli/bench_ext2fs.js'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
const EXT2FS_PEER = EXT2FS_PEER_PLACES.find((p) => existsSync(p)) ?? EXT2FS_PEER_PLACES[0];
/** The target ratio vmpager / ext2fs npm for case 1. */
const EXT2FS_TARGET = 50;

/** The note saying whether a ratio to the ext2fs package meets the target. */
function ext2fsTargetNote(ratio: number): string {
  return `target vmpager >= ${EXT2FS_TARGET}x ext2fs: ${ratio >= EXT2FS_TARGET ? 'met' : 'not met'}`;
}
const TIME = '/usr/bin/time';
const CAT_MEMORY = '64MiB';
const MiB = 2 ** 20;

interface Metric {
  value: number;
  unit: string;
}

/** One line of the table; JSON carries the numbers, the table their text. */
interface Row {
  case: string;
  image: string | null;
  vmpager: Metric | null;
  peer: (Metric & { name: string }) | null;
  /** vmpager / peer */
  ratio: number | null;
  rssKiB: { vmpager: number | null; peer: number | null } | null;
  deviceReads: number | null;
  /** More figures of the case (e.g. hit rates). */
  extra?: Record<string, number>;
  /** Why a figure is missing, or what else to know. */
  note?: string;
}

interface Timed {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  rssKiB: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** True when /usr/bin/time is GNU time (it can report the peak RSS with -f %M -o FILE). */
function haveGnuTime(): boolean {
  if (!existsSync(TIME)) return false;
  const r = spawnSync(TIME, ['-f', '%M', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

/** Runs cmd with stdout to /dev/null, timing it and (with GNU time) taking its peak RSS. */
function runTimed(cmd: string, args: string[], useTime: boolean, scratch: string): Promise<Timed> {
  const rssFile = join(scratch, 'rss');
  rmSync(rssFile, { force: true });
  const argv = useTime ? [TIME, '-f', '%M', '-o', rssFile, cmd, ...args] : [cmd, ...args];
  const devnull = openSync('/dev/null', 'w');
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', devnull, 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (stderr.length < 1 << 20) stderr += d;
    });
    child.on('error', (e) => {
      closeSync(devnull);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      closeSync(devnull);
      let rssKiB: number | null = null;
      if (useTime && existsSync(rssFile)) {
        // GNU time writes "Command exited with non-zero status N" first on failure.
        const last = readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '';
        rssKiB = /^\d+$/.test(last) ? Number(last) : null;
      }
      resolvePromise({ ms, code, signal, stderr, rssKiB });
    });
  });
}

/** The JSON object `--stats` printed on stderr, if any. */
function statsOf(stderr: string): { device?: { reads?: number; bytesRead?: number } } | null {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as { device?: { reads?: number } };
    } catch {
      // not the stats line
    }
  }
  return null;
}

function failure(what: string, t: Timed): string {
  const first = t.stderr.split('\n').find((l) => l.length > 0 && !l.startsWith('{') && !l.startsWith('debugfs ')) ?? '';
  return `${what} failed (${t.signal ?? `exit ${t.code}`})${first ? `: ${first}` : ''}`;
}

interface BlockRun {
  logical: number;
  physical: number | null;
  count: number;
}

/** A file's block map: runs of blockSize-byte blocks at addresses in addressSize units (a UFS fragment, else the block). */
interface BlockMap {
  blockSize: number;
  addressSize: number;
  runs: BlockRun[];
}

/** The file's block map from `vmpager stat --json IMAGE /file`. */
function blockMapOf(image: string): BlockMap {
  const r = spawnSync(process.execPath, [MAIN, 'stat', '--json', image, '/file'], { encoding: 'utf8', maxBuffer: 256 * MiB });
  if (r.status !== 0) throw new Error(`vmpager stat failed: ${(r.stderr ?? '').split('\n')[0]}`);
  const st = JSON.parse(r.stdout) as { blockSize: number; addressSize: number; blockMap: BlockRun[]; blockMapTruncated?: boolean };
  if (st.blockMapTruncated) throw new Error('vmpager stat: the block map was cut short');
  return { blockSize: st.blockSize, addressSize: st.addressSize, runs: st.blockMap };
}

/** Case 2: reads the file's byte ranges from the image in 1 MiB positioned reads; returns ms. */
function rawRead(image: string, map: BlockMap, fileSize: number, buf: Uint8Array): number {
  const fd = openSync(image, 'r');
  try {
    const t0 = performance.now();
    for (const run of map.runs) {
      if (run.physical === null) continue;
      const start = run.physical * map.addressSize;
      const len = Math.min(run.count * map.blockSize, fileSize - run.logical * map.blockSize);
      for (let done = 0; done < len; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, len - done), start + done);
        if (n <= 0) throw new Error(`${image}: short read at ${start + done}`);
        done += n;
      }
    }
    return performance.now() - t0;
  } finally {
    closeSync(fd);
  }
}

const rate = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

/** Runs vmpager and its peer `runs` times each, alternating which goes first so neither always meets the other's leftovers. */
async function alternate<P extends string>(runs: number, peer: P, once: (which: 'vmpager' | P) => Promise<void>): Promise<void> {
  for (let i = 0; i < runs; i++) {
    const order: ('vmpager' | P)[] = i % 2 === 0 ? ['vmpager', peer] : [peer, 'vmpager'];
    for (const which of order) await once(which);
  }
}

/** What the runs of `vmpager --stats cat` gave: rates, the highest peak RSS, the last device read count. */
interface CatTally {
  rates: number[];
  rssKiB: number | null;
  reads: number | null;
}

/** Adds one `vmpager --stats cat` run of /file to the tally; a note if it read less than the file from the device. */
function tallyCat(t: Timed, im: BenchImage, tally: CatTally, notes: string[]): void {
  tally.rates.push(rate(im.fileSize, t.ms));
  if (t.rssKiB !== null) tally.rssKiB = Math.max(tally.rssKiB ?? 0, t.rssKiB);
  const s = statsOf(t.stderr);
  tally.reads = s?.device?.reads ?? null;
  const got = s?.device?.bytesRead;
  if (got !== undefined && got < im.fileSize) notes.push(`vmpager read only ${got} bytes from the device`);
}

/** Cases 1 and 2 on one image. */
async function coldCases(im: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row[]> {
  const map = blockMapOf(im.path);
  const buf = ioBuffer(CHUNK); // placed as the frames are: the host copies fastest into it
  rawRead(im.path, map, im.fileSize, buf); // warms the host's page cache for both tools
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) raw.push(rate(im.fileSize, rawRead(im.path, map, im.fileSize, buf)));

  const cat: CatTally = { rates: [], rssKiB: null, reads: null };
  const peer: number[] = [];
  let peerRss: number | null = null;
  const notes: string[] = [];
  const vmpagerArgs = [MAIN, '--memory', CAT_MEMORY, '--stats', 'cat', im.path, '/file'];
  const debugfsArgs = ['-R', 'cat /file', im.path];
  const once = async (which: 'vmpager' | 'debugfs'): Promise<void> => {
    const t = which === 'vmpager' ? await runTimed(process.execPath, vmpagerArgs, useTime, scratch) : await runTimed('debugfs', debugfsArgs, useTime, scratch);
    if (t.code !== 0) {
      notes.push(failure(which, t));
      return;
    }
    if (which === 'vmpager') {
      tallyCat(t, im, cat, notes);
    } else {
      peer.push(rate(im.fileSize, t.ms));
      if (t.rssKiB !== null) peerRss = Math.max(peerRss ?? 0, t.rssKiB);
      const extra = t.stderr.split('\n').filter((l) => l.length > 0 && !l.startsWith('debugfs '));
      if (extra.length > 0) notes.push(`debugfs: ${extra[0]}`);
    }
  };
  if (im.type === 'ufs2') {
    // debugfs cannot read UFS: there vmpager runs alone, and case 2 is its peer.
    for (let i = 0; i < runs; i++) await once('vmpager');
    notes.push('no peer reads UFS on Linux: see case 2');
  } else {
    await alternate(runs, 'debugfs', once);
  }
  const vmMed = cat.rates.length > 0 ? median(cat.rates) : null;
  const peerMed = peer.length > 0 ? median(peer) : null;
  const rawMed = median(raw);
  const note = [...new Set(notes)].join('; ') || undefined;
  return [
    {
      case: `1 cold cat --memory ${CAT_MEMORY}`,
      image: im.name,
      vmpager: vmMed === null ? null : { value: vmMed, unit: 'MiB/s' },
      peer: peerMed === null ? null : { name: 'debugfs', value: peerMed, unit: 'MiB/s' },
      ratio: vmMed !== null && peerMed !== null ? vmMed / peerMed : null,
      rssKiB: { vmpager: cat.rssKiB, peer: peerRss },
      deviceReads: cat.reads,
      extra: { blockRuns: map.runs.length },
      note,
    },
    {
      case: '2 raw limit: 1 MiB preads',
      image: im.name,
      vmpager: vmMed === null ? null : { value: vmMed, unit: 'MiB/s' },
      peer: { name: 'pread', value: rawMed, unit: 'MiB/s' },
      ratio: vmMed !== null ? vmMed / rawMed : null,
      rssKiB: null,
      deviceReads: map.runs.reduce((n, r) => n + (r.physical === null ? 0 : Math.ceil((r.count * map.blockSize) / CHUNK)), 0),
    },
  ];
}

/** Why the ext2fs npm package cannot be found from here, or null when it can. */
function ext2fsMissing(): string | null {
  try {
    createRequire(import.meta.url).resolve('ext2fs');
    return null;
  } catch {
    return 'the ext2fs npm package is not installed (a dev dependency of vmpager)';
  }
}

/** The byte count the ext2fs peer reported on stderr, or null if it said none. */
function peerBytesOf(stderr: string): number | null {
  const m = /^ext2fs-peer: read (\d+) bytes/m.exec(stderr);
  return m === null ? null : Number(m[1]);
}

/** The read phase's milliseconds the peer script reports (open to last read, the mount excluded). */
function peerReadMsOf(stderr: string): number | null {
  const m = /^ext2fs-peer: read \d+ bytes in ([\d.]+) ms$/m.exec(stderr);
  return m === null ? null : Number(m[1]);
}

/**
 * Case 1 on a 64 MiB ext2 image (4 KiB, then 1 KiB blocks): `vmpager cat` beside the ext2fs
 * npm package, each in a fresh process; and the read alone (open to last
 * read, the mount and Node's start-up excluded), through vmpager's library
 * and through the package, each in a fresh process too.
 */
async function ext2fsCase(im: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row[]> {
  const map = blockMapOf(im.path);
  rawRead(im.path, map, im.fileSize, ioBuffer(CHUNK)); // warms the host's page cache for both
  const missing = ext2fsMissing();
  const cat: CatTally = { rates: [], rssKiB: null, reads: null };
  const peer: number[] = [];
  const vmRead: number[] = [];
  const peerRead: number[] = [];
  let peerRss: number | null = null;
  const notes: string[] = [];
  const vmpagerArgs = [MAIN, '--memory', CAT_MEMORY, '--stats', 'cat', im.path, '/file'];
  const once = async (which: 'vmpager' | 'ext2fs'): Promise<void> => {
    if (which === 'ext2fs' && missing !== null) return;
    const t = await runTimed(process.execPath, which === 'vmpager' ? vmpagerArgs : [EXT2FS_PEER, im.path, '/file'], useTime, scratch);
    if (t.code !== 0) {
      notes.push(failure(which, t));
      return;
    }
    if (which === 'vmpager') {
      tallyCat(t, im, cat, notes);
      const r = await runTimed(process.execPath, [EXT2FS_PEER, '--reader', 'vmpager', im.path, '/file'], false, scratch);
      const ms = peerReadMsOf(r.stderr);
      if (r.code === 0 && peerBytesOf(r.stderr) === im.fileSize && ms !== null) vmRead.push(rate(im.fileSize, ms));
      else notes.push(failure('vmpager (library read)', r));
      return;
    }
    // A run that did not read the whole file is not counted.
    const got = peerBytesOf(t.stderr);
    if (got !== im.fileSize) {
      notes.push(`ext2fs read ${got ?? 'an unknown number of'} bytes, not ${im.fileSize}: run not counted`);
      return;
    }
    peer.push(rate(im.fileSize, t.ms));
    const ms = peerReadMsOf(t.stderr);
    if (ms !== null) peerRead.push(rate(im.fileSize, ms));
    if (t.rssKiB !== null) peerRss = Math.max(peerRss ?? 0, t.rssKiB);
  };
  await alternate(runs, 'ext2fs', once);
  const med = (xs: number[]) => (xs.length > 0 ? median(xs) : null);
  const vmMed = med(cat.rates);
  const peerMed = med(peer);
  const vmReadMed = med(vmRead);
  const peerReadMed = med(peerRead);
  const ratio = vmMed !== null && peerMed !== null ? vmMed / peerMed : null;
  const readRatio = vmReadMed !== null && peerReadMed !== null ? vmReadMed / peerReadMed : null;
  if (missing !== null) notes.push(`ext2fs n/a: ${missing}`);
  const target = (r: number | null) => (r === null ? [] : [ext2fsTargetNote(r)]);
  const note = (more: string[]) => [...new Set([...notes, ...more])].join('; ') || undefined;
  return [
    {
      case: `1 cold cat --memory ${CAT_MEMORY}, ${mib(im.fileSize)} MiB file`,
      image: im.name,
      vmpager: vmMed === null ? null : { value: vmMed, unit: 'MiB/s' },
      peer: peerMed === null ? null : { name: 'ext2fs npm', value: peerMed, unit: 'MiB/s' },
      ratio,
      rssKiB: { vmpager: cat.rssKiB, peer: peerRss },
      deviceReads: cat.reads,
      extra: { fileBytes: im.fileSize, targetRatio: EXT2FS_TARGET },
      note: note([...target(ratio), 'whole processes: Node start-up and mount included']),
    },
    {
      case: `1 read of a ${mib(im.fileSize)} MiB file alone, 1 MiB reads (fresh process, mount excluded)`,
      image: im.name,
      vmpager: vmReadMed === null ? null : { value: vmReadMed, unit: 'MiB/s' },
      peer: peerReadMed === null ? null : { name: 'ext2fs npm', value: peerReadMed, unit: 'MiB/s' },
      ratio: readRatio,
      rssKiB: { vmpager: null, peer: null },
      deviceReads: null,
      extra: { fileBytes: im.fileSize, targetRatio: EXT2FS_TARGET },
      note: note(target(readRatio)),
    },
  ];
}

/**
 * Case 1 against the package's speed: the cold cat of the large file (its
 * row above) beside the package's read rate, measured on the 64 MiB file
 * because the package would take minutes over 512 MiB; its rate does not
 * depend on the size (whole process and read alone differ by ~10%), while
 * vmpager's start-up is spread over the larger file. The package's
 * read-alone rate is its better one, so the ratio is the lower of the two.
 */
function crossSizeRow(rows: readonly Row[], peerRead: Row, image: string, size: number): Row[] {
  const cat = rows.find((r) => r.image === image && r.case === `1 cold cat --memory ${CAT_MEMORY}`);
  const peer = peerRead.peer;
  if (cat?.vmpager == null || peer == null || size === EXT2FS_PEER_SIZE) return [];
  const ratio = cat.vmpager.value / peer.value;
  return [
    {
      case: `1 cold cat of ${mib(size)} MiB (above) vs the package's read rate on ${mib(EXT2FS_PEER_SIZE)} MiB`,
      image,
      vmpager: cat.vmpager,
      peer,
      ratio,
      rssKiB: { vmpager: null, peer: null },
      deviceReads: null,
      extra: { targetRatio: EXT2FS_TARGET },
      note: `${ext2fsTargetNote(ratio)}; rates of different sizes`,
    },
  ];
}

/** Case 3: a second full read through the library, the file resident; beside Buffer.copy. */
async function warmCase(im: BenchImage, runs: number): Promise<Row> {
  const vm = new Vm({ memory: Math.ceil(im.fileSize / 4096) * 4096 + 64 * MiB });
  const fs = await vm.mount(im.path);
  const buf = Buffer.allocUnsafe(CHUNK);
  const want = Buffer.allocUnsafe(CHUNK);
  const rng = new RandomStream(BENCH_SEED);
  let note: string | undefined;
  const times: number[] = [];
  let reads = 0;
  try {
    const f = await fs.open('/file');
    // The first read brings the file in, and checks it byte for byte.
    for (let off = 0; off < im.fileSize; off += CHUNK) {
      const n = await f.readInto(buf, off);
      rng.next(want);
      const len = Math.min(CHUNK, im.fileSize - off);
      if (n !== len || buf.compare(want, 0, len, 0, len) !== 0) {
        note ??= `vmpager read wrong bytes at offset ${off}`;
      }
    }
    const before = vm.stats().device.reads;
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      for (let off = 0; off < im.fileSize; off += CHUNK) await f.readInto(buf, off);
      times.push(performance.now() - t0);
    }
    reads = vm.stats().device.reads - before;
    await f.close();
  } finally {
    await fs.unmount();
  }
  // The peer: the same bytes copied 1 MiB at a time out of a 64 MiB buffer.
  const src = Buffer.alloc(64 * MiB, 7);
  const copyTimes: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let off = 0; off < im.fileSize; off += CHUNK) {
      const at = off % src.length;
      src.copy(buf, 0, at, at + Math.min(CHUNK, im.fileSize - off));
    }
    copyTimes.push(performance.now() - t0);
  }
  const v = median(times.map((ms) => rate(im.fileSize, ms)));
  const p = median(copyTimes.map((ms) => rate(im.fileSize, ms)));
  return {
    case: '3 warm re-read (readInto)',
    image: im.name,
    vmpager: note === undefined ? { value: v, unit: 'MiB/s' } : null,
    peer: { name: 'Buffer.copy', value: p, unit: 'MiB/s' },
    ratio: note === undefined ? v / p : null,
    rssKiB: null,
    deviceReads: reads,
    note,
  };
}

/** Case 4: a Zipf trace of 4 KiB reads under memory of 1/8 of the file. */
async function zipfCase(im: BenchImage): Promise<Row> {
  const PAGE = 4096;
  const pages = Math.floor(im.fileSize / PAGE);
  const memory = Math.max(Math.floor(pages / 8), 64) * PAGE;
  const frames = memory / PAGE;
  const ops = Math.min(4 * pages, 1_000_000);
  const trace = zipfTrace(pages, ops, 0.99, BENCH_SEED);
  const lru = lruHits(trace, pages, frames) / ops;
  const opt = optHits(trace, pages, frames) / ops;
  const vm = new Vm({ memory, pageSize: PAGE });
  const fs = await vm.mount(im.path);
  const buf = Buffer.allocUnsafe(PAGE);
  let ms = 0;
  let hit = 0;
  let reads = 0;
  try {
    const f = await fs.open('/file');
    const s0 = vm.stats();
    const t0 = performance.now();
    for (let i = 0; i < ops; i++) await f.readInto(buf, trace[i] * PAGE);
    ms = performance.now() - t0;
    const s1 = vm.stats();
    hit = (s1.hits - s0.hits) / (s1.hits - s0.hits + s1.misses - s0.misses);
    reads = s1.device.reads - s0.device.reads;
    await f.close();
  } finally {
    await fs.unmount();
  }
  const opsPerSec = ops / (ms / 1000);
  return {
    case: '4 Zipf 4 KiB reads',
    image: im.name,
    vmpager: { value: hit * 100, unit: '% hit' },
    peer: { name: 'exact LRU', value: lru * 100, unit: '% hit' },
    ratio: hit / lru,
    rssKiB: null,
    deviceReads: reads,
    extra: { opsPerSec, lruHitRate: lru, optHitRate: opt, vmpagerHitRate: hit },
    note: `s=0.99, ${ops} ops, memory ${mib(memory)} MiB (file/8): ${Math.round(opsPerSec)} ops/s; Belady optimal ${(opt * 100).toFixed(1)}% hit`,
  };
}

/** Case 5: `vmpager put --from SRC` in a fresh process beside `debugfs -w -R "write SRC /new"`, each on a fresh copy of an empty ext2 (4 KiB) image. */
async function writeCase(size: number, runs: number, useTime: boolean, scratch: string): Promise<Row> {
  const src = join(scratch, 'src');
  writeRandomFile(src, size);
  const empty = join(scratch, 'empty.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', empty, `${Math.ceil((size * 1.1 + 16 * MiB) / 1024)}k`], { stdio: 'ignore' });
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
    image: 'ext2-4k',
    vmpager: vmMed === null ? null : { value: vmMed, unit: 'MiB/s' },
    peer: peerMed === null ? null : { name: 'debugfs -w', value: peerMed, unit: 'MiB/s' },
    ratio: vmMed !== null && peerMed !== null ? vmMed / peerMed : null,
    rssKiB: { vmpager: vmRss, peer: peerRss },
    deviceReads: null,
    extra: writes === null ? undefined : { deviceWrites: writes },
    note: [...new Set(notes)].join('; ') || undefined,
  };
}

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

/** Case 6: cold `vmpager --partition 1 cat` on the whole disk beside `vmpager cat` of the bare image (the peer). */
async function partitionCase(bare: BenchImage, disk: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row> {
  rawRead(bare.path, blockMapOf(bare.path), bare.fileSize, ioBuffer(CHUNK)); // the host's page cache holds both copies' bytes
  const diskBytes = statSync(disk.path).size;
  rawRead(disk.path, { blockSize: CHUNK, addressSize: 1, runs: [{ logical: 0, physical: 0, count: Math.ceil(diskBytes / CHUNK) }] }, diskBytes, ioBuffer(CHUNK));
  const part: CatTally = { rates: [], rssKiB: null, reads: null };
  const whole: CatTally = { rates: [], rssKiB: null, reads: null };
  const notes: string[] = [];
  await alternate(runs, 'bare', async (which) => {
    const args = which === 'vmpager' ? ['--partition', '1', '--memory', CAT_MEMORY, '--stats', 'cat', disk.path, '/file'] : ['--memory', CAT_MEMORY, '--stats', 'cat', bare.path, '/file'];
    const t = await runTimed(process.execPath, [MAIN, ...args], useTime, scratch);
    if (t.code !== 0) notes.push(failure(which, t));
    else tallyCat(t, bare, which === 'vmpager' ? part : whole, notes);
  });
  const vm = part.rates.length > 0 ? median(part.rates) : null;
  const peer = whole.rates.length > 0 ? median(whole.rates) : null;
  return {
    case: '6 cold cat --partition 1',
    image: disk.name,
    vmpager: vm === null ? null : { value: vm, unit: 'MiB/s' },
    peer: peer === null ? null : { name: 'bare image', value: peer, unit: 'MiB/s' },
    ratio: vm !== null && peer !== null ? vm / peer : null,
    rssKiB: { vmpager: part.rssKiB, peer: whole.rssKiB },
    deviceReads: part.reads,
    note: [...new Set(notes)].join('; ') || undefined,
  };
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
    process.stdout.write(`${USAGE}\n  --runs N      runs of each case (default 3)\n  --size SIZE   size of the test file (default 512MiB; the rows against the\n                ext2fs npm package always read a 64 MiB file)\n  --cache DIR   where the images are kept (default .cache/bench)\n  --json        the table as JSON\n`);
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
    const images = benchImages(cache, size, log);
    const useTime = haveGnuTime();
    if (!useTime) log('bench: GNU time not found at /usr/bin/time: peak RSS is n/a');
    const ufs = ufsBenchImages(cache, size, log);
    if (ufs.length === 0) log('bench: makefs not found: no UFS rows');
    for (const im of [...images, ...ufs]) {
      log(`bench: ${im.name}: cases 1-2 (cold cat, raw limit), ${runs} run(s)`);
      rows.push(...(await coldCases(im, runs, useTime, scratch)));
    }
    log(`bench: ext2 4 KiB and 1 KiB, ${mib(EXT2FS_PEER_SIZE)} MiB: case 1 vs the ext2fs npm package, ${runs} run(s)`);
    for (const im of ext2fsPeerImages(cache, log)) {
      const peerRows = await ext2fsCase(im, runs, useTime, scratch);
      rows.push(...peerRows, ...crossSizeRow(rows, peerRows[1], im.name, size));
    }
    for (const im of images) {
      log(`bench: ${im.name}: case 3 (warm re-read), ${runs} run(s)`);
      rows.push(await warmCase(im, runs));
    }
    log(`bench: ${images[0].name}: case 4 (Zipf)`);
    rows.push(await zipfCase(images[0]));
    log(`bench: case 5 (sequential write + sync), ${runs} run(s)`);
    rows.push(await writeCase(size, runs, useTime, scratch));
    log(`bench: ${images[0].name}: case 6 (cold cat through a partition), ${runs} run(s)`);
    rows.push(await partitionCase(images[0], diskBenchImage(images[0], log), runs, useTime, scratch));
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
