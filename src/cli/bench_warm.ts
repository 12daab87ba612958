/*
 * Bench cases 3 and 4, in this process: a warm re-read of /file through the
 * library beside Buffer.copy of the same bytes, and random 4 KiB reads
 * drawn from a Zipf distribution, vmpager's hit rate beside exact LRU and
 * Belady's optimal at the same memory.
 */

import { Vm } from '../api/index.js';
import { BENCH_SEED, CHUNK, RandomStream, mib, type BenchImage } from './bench_images.js';
import { MiB, median, rate, type Row } from './bench_run.js';
import { lruHits, optHits, zipfTrace } from './zipf.js';

/** Case 3: a second full read through the library, the file resident; beside Buffer.copy. */
export async function warmCase(im: BenchImage, runs: number): Promise<Row> {
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
export async function zipfCase(im: BenchImage): Promise<Row> {
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
