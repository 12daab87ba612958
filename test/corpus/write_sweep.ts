/*
 * The corpus write sweep (node dist/test/corpus/write_sweep.js [DIR] [--only NAME,...]):
 * every `*.img.gz` in DIR (default ../shared/corpus/e2fsprogs) is
 * uncompressed, judged by `e2fsck -fn`, then written by the command line
 * as a user would, each command a child process (corpus_util.ts):
 *   1. mkdir /vmpager-sweep
 *   2. put /vmpager-sweep/new (20 000 bytes)
 *   3. rm of the image's first regular file (by path)
 *   4. mv of its second into /vmpager-sweep
 * and judged again. Each image is classed:
 *   written  every command exited 0, and e2fsck finds nothing it did not before
 *   refused  a command exited 2 with one line, the image as it was (the
 *            superblock's mount fields aside) after it, and nothing new found
 *   WORSE    e2fsck finds a problem it did not find before (numbers aside),
 *            or a refused command changed the image
 *   BAD      off the CLI's contract: timeout, signal, stack trace, exit 1 or
 *            another code, more than one line for a failure
 * A failing command ends the image's commands. Exit status 1 when any
 * image is BAD or WORSE. Not in `npm test` (two e2fsck runs and four
 * commands an image: a few minutes); run after `npm run build`.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CLI } from '../helpers/cli.js';
import { badRun, gunzipTo, lines, parseListing, runCli } from './corpus_util.js';

const PARALLEL = 2;

type Class = 'written' | 'refused' | 'WORSE' | 'BAD';

interface Outcome {
  name: string;
  cls: Class;
  detail: string;
}

/**
 * e2fsck -fn's findings, numbers made N (a count that moved is not a new
 * problem), with its exit status. Not findings: e2fsck's own crash (a
 * signal and its backtrace, whose addresses move from run to run).
 */
function findings(image: string): { status: number; found: Set<string> } {
  const r = spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8', timeout: 60_000 });
  const found = new Set<string>();
  for (const l of lines(`${r.stdout}\n${r.stderr}`)) {
    if (/^(e2fsck \d|Pass \d|\S+: \d+\/\d+ files|\S+: \*+|\s*$)/.test(l) || l.includes(image)) continue;
    if (/^Signal \(\d+\)|\[0x[0-9a-f]+\]$/.test(l)) continue;
    found.add(l.replace(/\d+/g, 'N').trim());
  }
  return { status: r.status ?? -1, found };
}

/**
 * Findings after that were not there before. The superblock's free counts
 * wrong where a group's were before are none: a writer sums the groups'
 * counts into the superblock's (as the kernel does), so a group's error
 * moves into the total.
 */
function freshFindings(before: Set<string>, after: Set<string>): string[] {
  const groupsWrong = (what: string) => [...before].some((l) => l.startsWith(`Free ${what} count wrong for group`));
  return [...after].filter((l) => {
    if (before.has(l)) return false;
    const total = /^Free (blocks|inodes) count wrong \(N, counted=N\)\.$/.exec(l);
    return total === null || !groupsWrong(total[1]);
  });
}

/** The 4 KiB pieces of a and b that differ, the primary superblock's (bytes 1024-2047: its mount fields) aside. */
function changed(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  if (a.length !== b.length) return [-1];
  for (let off = 0; off < a.length; off += 4096) {
    const end = Math.min(off + 4096, a.length);
    for (let i = off; i < end; i++) {
      if (a[i] !== b[i] && !(i >= 1024 && i < 2048)) {
        out.push(off);
        break;
      }
    }
  }
  return out;
}

async function sweepImage(gz: string, work: string, payload: string): Promise<Outcome> {
  const name = basename(gz).replace(/\.img\.gz$/, '');
  const image = join(work, `${name}.img`);
  const done = (cls: Class, detail: string): Outcome => ({ name, cls, detail: detail.split(image).join(`${name}.img`) });
  try {
    await gunzipTo(gz, image);
    const before = findings(image);
    const ls = await runCli(['ls', '-R', '--json', image, '/'], true);
    const files = ls.code === 0 ? parseListing(ls.stdout!) : [];
    const regular = typeof files === 'string' ? [] : files.filter((e) => e.type === 'file' && !e.path.includes('\0') && !e.path.startsWith('/vmpager-sweep'));
    const steps: string[][] = [
      ['mkdir', image, '/vmpager-sweep'],
      ['put', image, '/vmpager-sweep/new', '--from', payload],
    ];
    if (regular.length > 0) steps.push(['rm', image, regular[0].path]);
    if (regular.length > 1) steps.push(['mv', image, regular[1].path, '/vmpager-sweep/moved']);
    let refusal: string | null = null;
    for (const args of steps) {
      const snap = new Uint8Array(readFileSync(image));
      const r = await runCli(args, false);
      const bad = badRun(r, args[0]);
      if (bad !== null) return done('BAD', bad);
      if (r.code === 0) continue;
      refusal = `${args[0]}: ${lines(r.stderr)[0]}`;
      const moved = changed(snap, new Uint8Array(readFileSync(image)));
      if (moved.length > 0) return done('WORSE', `${refusal}; yet it changed the image (${moved.length} pieces of 4 KiB, the first at ${moved[0]})`);
      break;
    }
    const after = findings(image);
    if (before.status < 0 || after.status < 0) return done(refusal !== null ? 'refused' : 'written', `${refusal ?? ''} (e2fsck did not finish: not judged)`);
    const fresh = freshFindings(before.found, after.found);
    if (fresh.length > 0 || (before.status === 0 && after.status !== 0)) {
      return done('WORSE', `${refusal !== null ? `${refusal}; ` : ''}e2fsck ${before.status} -> ${after.status}, new: ${fresh.slice(0, 4).join(' | ')}`);
    }
    return refusal !== null ? done('refused', refusal) : done('written', `e2fsck ${before.status} -> ${after.status}`);
  } catch (e) {
    return done('BAD', `sweep failed: ${(e as Error).message}`);
  } finally {
    rmSync(image, { force: true });
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? new Set(args.splice(onlyAt, 2)[1].split(',')) : null;
  const dir = args[0] ?? '../shared/corpus/e2fsprogs';
  if (!existsSync(dir)) {
    console.error(`write sweep: ${dir}: no such directory`);
    return 1;
  }
  if (!existsSync(CLI)) {
    console.error(`write sweep: ${CLI} not built (npm run build)`);
    return 1;
  }
  const images = readdirSync(dir)
    .filter((f) => f.endsWith('.img.gz') && (only === null || only.has(f.replace(/\.img\.gz$/, ''))))
    .sort()
    .map((f) => join(dir, f));
  const work = mkdtempSync(join(tmpdir(), 'vmpager-sweep-'));
  const payload = join(work, 'payload');
  writeFileSync(payload, new Uint8Array(20000).map((_, i) => (i * 7 + 3) & 0xff));
  const outcomes: Outcome[] = [];
  try {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < images.length) {
        const o = await sweepImage(images[next++], work, payload);
        outcomes.push(o);
        if (o.cls === 'WORSE' || o.cls === 'BAD') console.log(`${o.cls} ${o.name}: ${o.detail}`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, lane));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const count = (c: Class) => outcomes.filter((o) => o.cls === c).length;
  console.log(`write sweep: ${outcomes.length} images: ${count('written')} written, ${count('refused')} refused, ${count('WORSE')} WORSE, ${count('BAD')} BAD`);
  return count('WORSE') + count('BAD') > 0 ? 1 : 0;
}

process.exitCode = await main();
