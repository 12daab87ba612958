/*
 * The benchmark's FAT rows: a cold `vmpager cat` of /file on FAT32 with
 * 32 KiB clusters beside `mcopy` of the same file (the peer), once with the
 * file in one run of clusters and once fragmented (many small files copied,
 * every other deleted, the file copied into the holes). The images are made
 * by mkfs.fat and mcopy into the cache folder once; both hold 65 525
 * clusters at least, as mtools needs (sparse where nothing was written).
 * Beside the contiguous file, two bounds: dd reading its bytes in 1 MiB reads
 * (what any reader of them gets from this host), and an empty Node process.
 * Each image is measured twice: with the image in the host's page cache (both
 * tools then copy from memory), and cold, the image's pages dropped from the
 * host's cache before every run (POSIX_FADV_DONTNEED, through GNU dd's
 * iflag=nocache), so both read from the disk as the "cold" means.
 *   const rows = await fatRows(cacheDir, size, runs, log)    // [] without mtools
 */

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_SEED, CHUNK, RandomStream } from './bench_images.js';

const MAIN = process.argv[1];
const MiB = 2 ** 20;
const CLUSTER = 32 * 1024;
/** FAT32's least cluster count, which mtools needs. */
const MIN_CLUSTERS = 65525;
/** Size of the pieces the fragmented image's holes are made of. */
const PIECE = 8 * CLUSTER;
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

export interface FatRow {
  case: string;
  image: string | null;
  vmpager: { value: number; unit: string } | null;
  peer: { name: string; value: number; unit: string } | null;
  ratio: number | null;
  rssKiB: null;
  deviceReads: number | null;
  extra?: Record<string, number>;
  note?: string;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { env: MTOOLS_ENV, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')}: ${r.stderr?.toString().split('\n')[0] ?? r.error?.message}`);
}

/** The seeded bytes of /file (the same stream as the other images) written to a host file. */
function writeSource(path: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    const rs = new RandomStream(BENCH_SEED);
    const buf = new Uint8Array(CHUNK);
    for (let off = 0; off < size; off += CHUNK) {
      const n = Math.min(CHUNK, size - off);
      rs.next(buf);
      writeSync(fd, buf, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** Points FAT32's next-free hint at the start, so mtools fills the holes first. */
function hintToStart(image: string): void {
  const fd = openSync(image, 'r+');
  try {
    const boot = Buffer.alloc(512);
    readSync(fd, boot, 0, 512, 0);
    const hint = Buffer.alloc(4);
    hint.writeUInt32LE(2);
    writeSync(fd, hint, 0, 4, boot.readUInt16LE(48) * 512 + 492);
  } finally {
    closeSync(fd);
  }
}

/** Builds (or finds in the cache) the contiguous and the fragmented image. */
function fatImages(cache: string, size: number, log: (m: string) => void): Array<{ name: string; path: string }> {
  const dir = join(cache, 'fat');
  mkdirSync(dir, { recursive: true });
  const stamp = join(dir, 'manifest.json');
  const want = JSON.stringify({ version: 1, seed: BENCH_SEED, size });
  const images = [{ name: 'fat32-32k', path: join(dir, 'fat32-32k.img') }, { name: 'fat32-32k-frag', path: join(dir, 'fat32-32k-frag.img') }];
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want && images.every((im) => existsSync(im.path))) return images;
  rmSync(stamp, { force: true });
  const src = join(dir, 'file');
  writeSource(src, size);
  const pieces = Math.ceil(size / PIECE) * 2;
  const kib = Math.max(MIN_CLUSTERS * CLUSTER + 64 * MiB, 2 * size + pieces * PIECE + 64 * MiB) / 1024;
  for (const im of images) {
    log(`bench: making ${im.name} (mkfs.fat, mcopy)`);
    rmSync(im.path, { force: true });
    run('mkfs.fat', ['-C', '-F', '32', '-S', '512', '-s', String(CLUSTER / 512), im.path, String(Math.ceil(kib))]);
    if (im.name.endsWith('-frag')) {
      const pdir = join(dir, 'pieces');
      rmSync(pdir, { recursive: true, force: true });
      mkdirSync(pdir);
      const piece = new Uint8Array(PIECE - 100).fill(0x5a);
      for (let i = 0; i < pieces; i++) writeFileSync(join(pdir, `p${i}`), piece);
      run('mcopy', ['-s', '-i', im.path, pdir, '::/']);
      const dels: string[] = [];
      for (let i = 0; i < pieces; i += 2) dels.push(`::/pieces/p${i}`);
      run('mdel', ['-i', im.path, ...dels]);
      rmSync(pdir, { recursive: true, force: true });
      hintToStart(im.path);
    }
    run('mcopy', ['-i', im.path, src, '::/file']);
  }
  rmSync(src, { force: true });
  writeFileSync(stamp, want);
  return images;
}

/** Runs cmd, stdout to /dev/null; resolves to milliseconds, or the failure. */
function timed(cmd: string, args: string[]): Promise<{ ms: number; ok: boolean; stderr: string }> {
  const devnull = openSync('/dev/null', 'w');
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: MTOOLS_ENV, stdio: ['ignore', devnull, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 1 << 16) stderr += d.toString();
    });
    child.on('close', (code) => {
      closeSync(devnull);
      resolve({ ms: performance.now() - t0, ok: code === 0, stderr });
    });
    child.on('error', () => {
      closeSync(devnull);
      resolve({ ms: 0, ok: false, stderr: `${cmd} not found` });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Reads the image whole once (the host's page cache then holds it for both tools, as the other cold rows do). */
function warmHost(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(CHUNK);
  try {
    for (let off = 0; readSync(fd, buf, 0, CHUNK, off) > 0; off += CHUNK);
  } finally {
    closeSync(fd);
  }
}

/**
 * Drops the image's pages from the host's page cache (GNU dd's iflag=nocache
 * with count=0 advises POSIX_FADV_DONTNEED over the whole file); false when
 * that cannot be done here.
 */
export function evictHostCache(path: string): boolean {
  return spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' }).status === 0;
}

/** The FAT rows: cold cat vs mcopy, contiguous and fragmented, the image in the host's cache and out of it. */
export async function fatRows(cache: string, size: number, runs: number, log: (m: string) => void): Promise<FatRow[]> {
  if (spawnSync('mcopy', ['-V'], { stdio: 'ignore' }).error !== undefined || spawnSync('mkfs.fat', ['--help'], { stdio: 'ignore' }).error !== undefined) {
    log('bench: mtools or mkfs.fat not found: no FAT rows');
    return [];
  }
  const rows: FatRow[] = [];
  for (const im of fatImages(cache, size, log)) for (const evict of [false, true]) {
    if (evict && !evictHostCache(im.path)) {
      log(`bench: ${im.name}: dd iflag=nocache failed: no evicted-cache row`);
      continue;
    }
    log(`bench: ${im.name}: cold cat beside mcopy, ${runs} run(s), image ${evict ? 'evicted from' : 'in'} the host's page cache`);
    if (!evict) warmHost(im.path);
    const ours: number[] = [];
    const peer: number[] = [];
    const notes: string[] = [];
    let reads: number | null = null;
    let runsOfFile = 0;
    const st = spawnSync(process.execPath, [MAIN, 'stat', '--json', im.path, '/file'], { encoding: 'utf8', maxBuffer: 1 << 28 });
    let start: number | null = null; // byte offset of a file in one run of clusters
    if (st.status === 0) {
      const j = JSON.parse(st.stdout) as { blockMap: Array<{ physical: number | null }>; addressSize: number };
      runsOfFile = j.blockMap.length;
      if (runsOfFile === 1 && j.blockMap[0].physical !== null) start = j.blockMap[0].physical * j.addressSize;
    }
    // The bounds: dd reading the file's bytes in 1 MiB reads (what any reader of
    // them gets from this host), and an empty Node process (what a Node program pays first).
    const bounds = { dd: [] as number[], node: [] as number[] };
    const tools = start === null ? ['vmpager', 'mcopy'] : ['vmpager', 'mcopy', 'dd', 'node'];
    for (let i = 0; i < runs; i++) {
      for (const which of i % 2 === 0 ? tools : [...tools].reverse()) {
        if (evict) evictHostCache(im.path);
        const t = which === 'vmpager'
          ? await timed(process.execPath, [MAIN, '--memory', '64MiB', '--stats', 'cat', im.path, '/file'])
          : which === 'mcopy'
            ? await timed('mcopy', ['-n', '-i', im.path, '::/file', '-'])
            : which === 'dd'
              ? await timed('dd', [`if=${im.path}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', `skip=${start}`, `count=${size}`, 'status=none'])
              : await timed(process.execPath, ['-e', '0']);
        if (!t.ok) {
          notes.push(`${which} failed: ${t.stderr.split('\n')[0]}`);
          continue;
        }
        const rate = size / MiB / (t.ms / 1000);
        if (which === 'vmpager') {
          ours.push(rate);
          const line = t.stderr.split('\n').find((l) => l.startsWith('{'));
          if (line !== undefined) reads = (JSON.parse(line) as { device?: { reads?: number } }).device?.reads ?? null;
        } else if (which === 'mcopy') {
          peer.push(rate);
        } else if (which === 'dd') {
          bounds.dd.push(rate);
        } else {
          bounds.node.push(t.ms);
        }
      }
    }
    const v = ours.length > 0 ? median(ours) : null;
    const p = peer.length > 0 ? median(peer) : null;
    if (p !== null && bounds.dd.length > 0 && bounds.node.length > 0) {
      const dd = median(bounds.dd);
      const mcopyMs = (size / MiB / p) * 1000;
      notes.push(`dd bs=1M of the same bytes ${dd.toFixed(0)} MiB/s (mcopy ${(p / dd).toFixed(2)} of it; 2x mcopy would be ${((2 * p) / dd).toFixed(2)}x dd); ` +
        `node -e 0 ${median(bounds.node).toFixed(0)} ms, mcopy's whole run ${mcopyMs.toFixed(0)} ms`);
    }
    rows.push({
      case: `7 cold cat --memory 64MiB, FAT${evict ? ', image evicted from the host cache' : ''}`,
      image: im.name,
      vmpager: v === null ? null : { value: v, unit: 'MiB/s' },
      peer: p === null ? null : { name: 'mcopy', value: p, unit: 'MiB/s' },
      ratio: v !== null && p !== null ? v / p : null,
      rssKiB: null,
      deviceReads: reads,
      extra: { blockRuns: runsOfFile },
      note: [...new Set(notes), ...(v !== null && p !== null && !im.name.endsWith('-frag') ? [`target vmpager >= 2x mcopy: ${v / p >= 2 ? 'met' : 'not met'}`] : [])].join('; ') || undefined,
    });
  }
  return rows;
}
