/*
 * What every bench case shares: the rows of the table, running a command
 * timed (its peak RSS from GNU time), alternating vmpager with its peer,
 * medians, the JSON `--stats` prints, and a file's block map with the raw
 * positioned reads of its runs (case 2's limit).
 */

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Vm } from '../api/index.js';
import type { BlockRun } from '../api/mounted_fs.js';
import type { BenchImage } from './bench_images.js';

/** The vmpager command to time: the one running the bench (dist/vmpager.mjs, or dist/src/cli/main.js). */
export const MAIN = process.argv[1];
export const TIME = '/usr/bin/time';
export const CAT_MEMORY = '64MiB';
export const MiB = 2 ** 20;

export interface Metric {
  value: number;
  unit: string;
}

/** One line of the table; JSON carries the numbers, the table their text. */
export interface Row {
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

export interface Timed {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  rssKiB: number | null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** True when /usr/bin/time is GNU time (it can report the peak RSS with -f %M -o FILE). */
export function haveGnuTime(): boolean {
  if (!existsSync(TIME)) return false;
  const r = spawnSync(TIME, ['-f', '%M', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

/** Runs cmd with stdout to /dev/null, timing it and (with GNU time) taking its peak RSS. */
export function runTimed(cmd: string, args: string[], useTime: boolean, scratch: string): Promise<Timed> {
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
export function statsOf(stderr: string): { device?: { reads?: number; bytesRead?: number } } | null {
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

export function failure(what: string, t: Timed): string {
  const first = t.stderr.split('\n').find((l) => l.length > 0 && !l.startsWith('{') && !l.startsWith('debugfs ')) ?? '';
  return `${what} failed (${t.signal ?? `exit ${t.code}`})${first ? `: ${first}` : ''}`;
}

/** A file's block map: runs of blockSize-byte blocks at addresses in addressSize units (a UFS fragment, else the block). */
export interface BlockMap {
  blockSize: number;
  addressSize: number;
  runs: BlockRun[];
}

/** Case 2: reads the file's byte ranges from the image in 1 MiB positioned reads; returns ms. */
export function rawRead(image: string, map: BlockMap, fileSize: number, buf: Uint8Array): number {
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

export const rate = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

/** Runs vmpager and its peer `runs` times each, alternating which goes first so neither always meets the other's leftovers. */
export async function alternate<P extends string>(runs: number, peer: P, once: (which: 'vmpager' | P) => Promise<void>): Promise<void> {
  for (let i = 0; i < runs; i++) {
    const order: ('vmpager' | P)[] = i % 2 === 0 ? ['vmpager', peer] : [peer, 'vmpager'];
    for (const which of order) await once(which);
  }
}

/** What the runs of `vmpager --stats cat` gave: rates, the highest peak RSS, the last device read count. */
export interface CatTally {
  rates: number[];
  rssKiB: number | null;
  reads: number | null;
}

/** Adds one `vmpager --stats cat` run of /file to the tally; a note if it read less than the file from the device. */
export function tallyCat(t: Timed, im: BenchImage, tally: CatTally, notes: string[]): void {
  tally.rates.push(rate(im.fileSize, t.ms));
  if (t.rssKiB !== null) tally.rssKiB = Math.max(tally.rssKiB ?? 0, t.rssKiB);
  const s = statsOf(t.stderr);
  tally.reads = s?.device?.reads ?? null;
  const got = s?.device?.bytesRead;
  if (got !== undefined && got < im.fileSize) notes.push(`vmpager read only ${got} bytes from the device`);
}

/** The block map of /file in image, read in this process. */
export async function blockMapOf(image: string): Promise<BlockMap> {
  const fs = await new Vm({ memory: 1 << 20 }).mount(image, { lock: false });
  try {
    const st = await fs.stat('/file');
    if (st.blockMapTruncated) throw new Error(`${image}: the block map of /file was cut short`);
    return { blockSize: st.blockSize, addressSize: st.addressSize, runs: st.blockMap };
  } finally {
    await fs.unmount();
  }
}
