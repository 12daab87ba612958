/*
 * The corpus runner (npm run test:corpus -- [DIR]): every `*.img.gz` in DIR
 * (default ../shared/corpus/e2fsprogs) is uncompressed to a temporary file,
 * listed with `vmpager ls -R --json IMAGE /` and its regular files read with
 * `vmpager cat`, each command a child process with a timeout and a heap cap.
 * Each image is classed:
 *   read     ls and every cat exit 0
 *   refused  ls exits 2 with one line `vmpager: ...` on stderr
 *   partial  ls exits 0, some cat exits 2 with one clean line
 *   BAD      timeout, crash, signal, an unexpected exit code, a stack trace,
 *            more than one stderr line for a failure, output off the contract
 * Exit status 1 when any image is BAD, else 0.
 */

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CLI } from '../helpers/cli.js';
import { badRun, type Entry, gunzipTo, lines, MAX_LS_OUTPUT, parseListing, pathOf, reasonOf, runCli } from './corpus_util.js';

/** Paths one cat command takes: bounded by count and by argument bytes (well under ARG_MAX). */
const BATCH = 5000;
const BATCH_ARG_BYTES = 256 * 1024;
const MAX_BYTES_PER_IMAGE = 256 * 2 ** 20;
/** Failing cat commands tried per image before the rest of its files are skipped. */
const MAX_CAT_FAILURES = 50;
const PARALLEL = 2;

type Class = 'read' | 'refused' | 'partial' | 'BAD';

interface Outcome {
  name: string;
  cls: Class;
  ms: number;
  /** First error line, or what made the image BAD. */
  detail: string;
  /** The refusal's reason (for the summary). */
  reason?: string;
  files: number;
  bytes: number;
}

/** Lists and reads one image; classes it. */
async function checkImage(gz: string, work: string): Promise<Outcome> {
  const name = basename(gz).replace(/\.img\.gz$/, '');
  const image = join(work, `${name}.img`);
  let t0 = performance.now();
  const done = (cls: Class, detail: string, extra: Partial<Outcome> = {}): Outcome => ({
    name,
    cls,
    ms: Math.round(performance.now() - t0),
    detail: detail.split(image).join(`${name}.img`),
    files: 0,
    bytes: 0,
    ...extra,
  });
  try {
    try {
      await gunzipTo(gz, image);
    } catch (e) {
      return done('BAD', `cannot uncompress: ${(e as Error).message}`);
    }
    t0 = performance.now(); // the time of the commands, not of gunzip
    const ls = await runCli(['ls', '-R', '--json', image, '/'], true);
    const bad = badRun(ls, 'ls');
    if (bad !== null) return done('BAD', bad);
    if (ls.code === 2) {
      const line = lines(ls.stderr)[0];
      return done('refused', line, { reason: reasonOf(line, image) });
    }
    if (ls.stdoutBytes > MAX_LS_OUTPUT) return done('BAD', `ls --json wrote more than ${MAX_LS_OUTPUT} bytes`);
    const listing = parseListing(ls.stdout!);
    if (typeof listing === 'string') return done('BAD', listing);
    const warning = lines(ls.stderr)[0];

    // The regular files to read, within the byte budget.
    const files: Entry[] = [];
    let budget = MAX_BYTES_PER_IMAGE;
    let skipped = 0;
    for (const e of listing) {
      if (e.type !== 'file') continue;
      if (e.size > budget || e.path.includes('\0')) {
        skipped++;
        continue;
      }
      budget -= e.size;
      files.push(e);
    }

    let failures = 0;
    let firstError: string | undefined;
    let bytes = 0;
    let i = 0;
    while (i < files.length) {
      if (failures >= MAX_CAT_FAILURES) {
        skipped += files.length - i;
        break;
      }
      let end = i;
      for (let argBytes = 0; end < files.length && end - i < BATCH && argBytes < BATCH_ARG_BYTES; end++) argBytes += files[end].path.length + 1;
      const batch = files.slice(i, end);
      const cat = await runCli(['cat', image, ...batch.map((e) => e.path)], false);
      const badCat = badRun(cat, `cat ${batch[0].path}${batch.length > 1 ? ` (+${batch.length - 1})` : ''}`, true);
      if (badCat !== null) return done('BAD', badCat, { files: files.length });
      bytes += cat.stdoutBytes;
      if (cat.code === 0) {
        const want = batch.reduce((n, e) => n + e.size, 0);
        if (cat.stdoutBytes !== want) {
          return done('BAD', `cat ${batch[0].path}${batch.length > 1 ? ` (+${batch.length - 1})` : ''}: wrote ${cat.stdoutBytes} bytes, ls sizes sum to ${want}`);
        }
        i += batch.length;
        continue;
      }
      // Exit 2: one clean line for each path that failed; cat went on with the rest.
      const errs = lines(cat.stderr);
      firstError ??= errs[0];
      if (errs.every((line) => batch.some((e) => e.path === pathOf(line, image)))) {
        failures += errs.length;
        i += batch.length;
        continue;
      }
      // A line names no file of the batch: read the batch's files one by one.
      failures++;
      for (let k = 0; batch.length > 1 && k < batch.length && failures < MAX_CAT_FAILURES; k++) {
        const one = await runCli(['cat', image, batch[k].path], false);
        const b = badRun(one, `cat ${batch[k].path}`);
        if (b !== null) return done('BAD', b, { files: files.length });
        bytes += one.stdoutBytes;
        if (one.code !== 0) failures++;
      }
      i += batch.length;
    }
    const extra = { files: files.length, bytes };
    const note = skipped > 0 ? ` (${skipped} files not read)` : '';
    if (failures > 0) return done('partial', `${firstError}${note}`, { ...extra, reason: reasonOf(firstError!, image) });
    return done('read', `${warning ?? ''}${note}`, extra);
  } finally {
    rmSync(image, { force: true });
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<number> {
  const dir = process.argv[2] ?? '../shared/corpus/e2fsprogs';
  if (!existsSync(dir)) {
    console.error(`corpus: ${dir}: no such directory`);
    return 1;
  }
  if (!existsSync(CLI)) {
    console.error(`corpus: ${CLI} is missing; build first (npm run build)`);
    return 1;
  }
  const images = readdirSync(dir)
    .filter((f) => f.endsWith('.img.gz'))
    .sort()
    .map((f) => join(dir, f));
  if (images.length === 0) {
    console.error(`corpus: no *.img.gz in ${dir}`);
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'vmpager-corpus-'));
  const outcomes: Outcome[] = [];
  const t0 = performance.now();
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < images.length) {
        const o = await checkImage(images[next++], work);
        outcomes.push(o);
        console.log(`${pad(o.name, 40)} ${pad(o.cls, 8)} ${String(o.ms).padStart(6)} ms  ${o.detail}`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const total = performance.now() - t0;

  const byClass = new Map<Class, number>();
  const byReason = new Map<string, number>();
  for (const o of outcomes) {
    byClass.set(o.cls, (byClass.get(o.cls) ?? 0) + 1);
    if ((o.cls === 'refused' || o.cls === 'partial') && o.reason !== undefined) {
      const key = `${o.cls}: ${o.reason.replace(/\d+/g, 'N')}`;
      byReason.set(key, (byReason.get(key) ?? 0) + 1);
    }
  }
  const bad = outcomes.filter((o) => o.cls === 'BAD');
  console.log('');
  console.log(`corpus: ${outcomes.length} images in ${(total / 1000).toFixed(1)} s ` + `(slowest ${Math.max(...outcomes.map((o) => o.ms))} ms)`);
  for (const c of ['read', 'partial', 'refused', 'BAD'] as const) console.log(`  ${pad(c, 8)} ${byClass.get(c) ?? 0}`);
  if (byReason.size > 0) {
    console.log('reasons:');
    for (const [r, n] of [...byReason].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) console.log(`  ${String(n).padStart(4)}  ${r}`);
  }
  if (bad.length > 0) {
    console.log('BAD:');
    for (const o of bad.sort((a, b) => a.name.localeCompare(b.name))) console.log(`  ${o.name}: ${o.detail}`);
  }
  return bad.length > 0 ? 1 : 0;
}

process.exitCode = await main();
