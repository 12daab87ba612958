/*
 * Bench case 1 against the `ext2fs` npm package (libext2fs in WASM) on a
 * 64 MiB file, whole processes and the read alone, and the 512 MiB cat set
 * beside the package's read rate. The package runs in its own process
 * (bench_ext2fs.ts); a missing package gives a note, not a failure.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ioBuffer } from '../api/index.js';
import { CHUNK, EXT2FS_PEER_SIZE, mib, type BenchImage } from './bench_images.js';
import {
  CAT_MEMORY, MAIN, alternate, blockMapOf, failure, median, rate, rawRead, runTimed, tallyCat, type CatTally, type Row,
} from './bench_run.js';

/** The ext2fs npm peer's script (see bench_ext2fs.ts): beside this module, or under dist/src/cli from the bundle. */
const EXT2FS_PEER_PLACES = ['./bench_ext2fs.js', './src/cli/bench_ext2fs.js'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
const EXT2FS_PEER = EXT2FS_PEER_PLACES.find((p) => existsSync(p)) ?? EXT2FS_PEER_PLACES[0];
/** The target ratio vmpager / ext2fs npm for case 1. */
const EXT2FS_TARGET = 50;

/** The note saying whether a ratio to the ext2fs package meets the target. */
function ext2fsTargetNote(ratio: number): string {
  return `target vmpager >= ${EXT2FS_TARGET}x ext2fs: ${ratio >= EXT2FS_TARGET ? 'met' : 'not met'}`;
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
export async function ext2fsCase(im: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row[]> {
  const map = await blockMapOf(im.path);
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
export function crossSizeRow(rows: readonly Row[], peerRead: Row, image: string, size: number): Row[] {
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
