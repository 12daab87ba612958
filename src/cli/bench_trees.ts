/*
 * Bench case 9, a tree of 20 000 small files (bench_tree.ts: a Debian-like
 * root, seeded), each command in a fresh process beside its peer, runs
 * alternated, medians in entries (files, directories, links) per second:
 *   `vmpager mkfs --type ext4 --from TREE` and `vmpager put -r` of it into an
 *   empty ext4 image, both beside `mke2fs -t ext4 -d TREE`;
 *   `vmpager get IMAGE /` beside `debugfs -R 'rdump / DIR'` of the image
 *   mke2fs -d made.
 * Each timed command starts once the host has written back what the one
 * before it wrote (sync): the 270 MB a run leaves dirty are otherwise
 * written back by the kernel's flusher threads while the next command runs,
 * taking a core from whichever ran next (on two cores, the second thread of
 * vmpager's; debugfs and mke2fs use one).
 * The tree and that image are built once into the cache folder. The first
 * vmpager run of each kind is checked: e2fsck -fn clean, or the tree out
 * holding the tree's entries and bytes (rdump's: its entries; it writes
 * each hard link as a copy).
 *   const rows = await treeRows(cacheDir, runs, scratch, log)
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TREE_SEED, writeBenchTree, type TreeStats } from './bench_tree.js';
import { MAIN, median, runTimed, type Row, type Timed } from './bench_run.js';

/** Files in the bench's tree. */
export const TREE_FILES = 20000;
const TREE_VERSION = 1;
/** The images' size: room for the tree's ~270 MiB and its metadata (sparse, so it costs nothing). */
const IMAGE_SIZE = '1GiB';
const IMAGE_KIB = 1024 * 1024;

interface TreeCache {
  tree: string;
  image: string;
  empty: string;
  stats: TreeStats;
}

/** The tree, its mke2fs -d image and an empty ext4 image, built into cache/tree-20000 unless there. */
function treeCache(cache: string, log: (m: string) => void): TreeCache {
  const dir = join(cache, `tree-${TREE_FILES}`);
  const tree = join(dir, 'tree');
  const image = join(dir, 'tree-ext4.img');
  const empty = join(dir, 'empty-ext4.img');
  const stamp = join(dir, 'manifest.json');
  const want = { version: TREE_VERSION, seed: TREE_SEED, files: TREE_FILES };
  try {
    const m = JSON.parse(readFileSync(stamp, 'utf8')) as typeof want & { stats: TreeStats };
    if (m.version === want.version && m.seed === want.seed && m.files === want.files && [tree, image, empty].every((p) => existsSync(p))) {
      return { tree, image, empty, stats: m.stats };
    }
  } catch {
    // no manifest: build
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`bench: writing a tree of ${TREE_FILES} small files (seeded)`);
  const stats = writeBenchTree(tree, TREE_FILES);
  log('bench: mke2fs -t ext4 -d of the tree, and an empty ext4 image');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, image, `${IMAGE_KIB}k`], { stdio: 'ignore' });
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', empty, `${IMAGE_KIB}k`], { stdio: 'ignore' });
  writeFileSync(stamp, JSON.stringify({ ...want, stats }, null, 2) + '\n');
  return { tree, image, empty, stats };
}

/** Entries and bytes of regular files below dir (symlinks not followed, hard links counted once). */
function census(dir: string): { entries: number; bytes: number } {
  let entries = 0;
  let bytes = 0;
  const seen = new Set<number>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      if (d === dir && name === 'lost+found') continue;
      const p = join(d, name);
      const st = lstatSync(p);
      entries++;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && !seen.has(st.ino)) {
        seen.add(st.ino);
        bytes += st.size;
      }
    }
  };
  walk(dir);
  return { entries, bytes };
}

type Which = 'mkfs' | 'put' | 'mke2fs' | 'get' | 'rdump';

/** Case 8's three rows. */
export async function treeRows(cache: string, runs: number, scratch: string, log: (m: string) => void): Promise<Row[]> {
  const c = treeCache(cache, log);
  const entries = c.stats.dirs - 1 + c.stats.files + c.stats.symlinks + c.stats.hardLinks;
  // Each run writes a name of its own. Its image (one host inode) goes as
  // soon as it is checked; the trees written out (22 000 host inodes each)
  // are all removed at the end: a host file system reusing inodes it freed
  // moments ago can spend seconds skipping them (ext4 passes over inodes
  // freed in the last minute or so), which would land on whichever command
  // ran next. The trees of three runs take about 1.6 GB of the scratch folder.
  let target = '';
  let out = '';
  let serial = 0;
  const times = new Map<Which, number[]>();
  const notes: string[] = [];
  const checked = new Set<Which>();
  const once = async (which: Which): Promise<void> => {
    serial++;
    target = join(scratch, `tree-${serial}.img`);
    out = join(scratch, `tree-out-${serial}`);
    let t: Timed;
    if (which === 'put') execFileSync('cp', ['--sparse=always', c.empty, target]);
    if (which === 'rdump') mkdirSync(out);
    execFileSync('sync'); // (see above)
    switch (which) {
      case 'mkfs':
        t = await runTimed(process.execPath, [MAIN, 'mkfs', '--type', 'ext4', '--from', c.tree, target, IMAGE_SIZE], false, scratch);
        break;
      case 'put':
        t = await runTimed(process.execPath, [MAIN, 'put', '-r', target, '/', '--from', c.tree], false, scratch);
        break;
      case 'mke2fs':
        t = await runTimed('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', c.tree, target, `${IMAGE_KIB}k`], false, scratch);
        break;
      case 'get':
        t = await runTimed(process.execPath, [MAIN, 'get', c.image, '/', out], false, scratch);
        break;
      case 'rdump':
        t = await runTimed('debugfs', ['-R', `rdump / ${out}`, c.image], false, scratch);
        break;
    }
    if (t.code !== 0) {
      rmSync(target, { force: true });
      notes.push(`${which} failed (exit ${t.code ?? t.signal}): ${t.stderr.split('\n').find((l) => l.length > 0 && !l.startsWith('debugfs ')) ?? ''}`);
      return;
    }
    if (!checked.has(which)) {
      checked.add(which);
      if (which === 'mkfs' || which === 'put') {
        const ck = spawnSync('e2fsck', ['-fn', target], { encoding: 'utf8' });
        if (ck.status !== 0) notes.push(`e2fsck found the image vmpager ${which} wrote damaged`);
      }
      if (which === 'rdump' || which === 'get') {
        // rdump writes each hard link as a copy of its own: only its entries are counted.
        const got = census(out);
        if (got.entries !== entries || (which === 'get' && got.bytes !== c.stats.bytes)) {
          notes.push(`${which} wrote ${got.entries} entries of ${got.bytes} bytes, not ${entries} of ${c.stats.bytes}`);
        }
      }
    }
    rmSync(target, { force: true });
    const list = times.get(which) ?? [];
    list.push(t.ms);
    times.set(which, list);
  };
  for (let i = 0; i < runs; i++) {
    const order: Which[] = i % 2 === 0 ? ['mkfs', 'put', 'mke2fs', 'get', 'rdump'] : ['rdump', 'get', 'mke2fs', 'put', 'mkfs'];
    for (const w of order) {
      log(`bench: case 9, run ${i + 1}: ${w}`);
      await once(w);
    }
  }
  for (let i = 1; i <= serial; i++) rmSync(join(scratch, `tree-out-${i}`), { recursive: true, force: true });
  const rateOf = (w: Which): number | null => {
    const ms = times.get(w);
    return ms === undefined || ms.length === 0 ? null : entries / (median(ms) / 1000);
  };
  const row = (name: string, w: Which, peer: Which, peerName: string): Row => {
    const v = rateOf(w);
    const p = rateOf(peer);
    const ratio = v !== null && p !== null ? v / p : null;
    const mine = notes.filter((n) => n.startsWith(w) || n.startsWith(peer) || n.includes(`vmpager ${w}`));
    return {
      case: name,
      image: 'ext4-4k',
      vmpager: v === null ? null : { value: v, unit: 'entries/s' },
      peer: p === null ? null : { name: peerName, value: p, unit: 'entries/s' },
      ratio,
      rssKiB: null,
      deviceReads: null,
      extra: { entries, bytes: c.stats.bytes },
      note: [...new Set(mine), ...(ratio === null ? [] : [`target vmpager >= 1x ${peerName}: ${ratio >= 1 ? 'met' : 'not met'}`])].join('; ') || undefined,
    };
  };
  return [
    row(`9 ${entries} entries (${TREE_FILES} files) into a new image: mkfs --from`, 'mkfs', 'mke2fs', 'mke2fs -d'),
    row(`9 the same tree, put -r into an empty image`, 'put', 'mke2fs', 'mke2fs -d'),
    row(`9 the same tree out of an image: get /`, 'get', 'rdump', 'debugfs rdump'),
  ];
}
