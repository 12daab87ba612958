/*
 * Bench cases 1 and 2 (a cold `vmpager cat` of /file in a fresh process
 * beside debugfs, and the raw limit: 1 MiB positioned reads of the file's
 * block runs) and case 6 (the same cat through --partition on a whole disk
 * beside the bare file system).
 */

import { statSync } from 'node:fs';
import { ioBuffer } from '../api/index.js';
import { CHUNK, type BenchImage } from './bench_images.js';
import {
  CAT_MEMORY, MAIN, alternate, blockMapOf, failure, median, rate, rawRead, runTimed, tallyCat, type CatTally, type Row,
} from './bench_run.js';

/** Cases 1 and 2 on one image. */
export async function coldCases(im: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row[]> {
  const map = await blockMapOf(im.path);
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

/** Case 6: cold `vmpager --partition 1 cat` on the whole disk beside `vmpager cat` of the bare image (the peer). */
export async function partitionCase(bare: BenchImage, disk: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row> {
  rawRead(bare.path, await blockMapOf(bare.path), bare.fileSize, ioBuffer(CHUNK)); // the host's page cache holds both copies' bytes
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
