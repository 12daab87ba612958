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

import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CLI } from '../helpers/cli.js';

/*
 * Per command. The slowest, `ls -R` of f_many_subdirs (66 000 directories,
 * each its own VM object), takes 6–7 s on two idle cores; 10 s was passed
 * once on a loaded machine. A hang still ends here.
 */
const TIMEOUT_MS = 20_000;
const HEAP_MB = 256;
/** Paths one cat command takes: bounded by count and by argument bytes (well under ARG_MAX). */
const BATCH = 5000;
const BATCH_ARG_BYTES = 256 * 1024;
const MAX_BYTES_PER_IMAGE = 256 * 2 ** 20;
/** Failing cat commands tried per image before the rest of its files are skipped. */
const MAX_CAT_FAILURES = 50;
/** The most ls output kept (a listing beyond it is BAD). */
const MAX_LS_OUTPUT = 64 * 2 ** 20;
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

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: Buffer | null;
  stdoutBytes: number;
  stderr: string;
  spawnError?: string;
}

/** Runs the CLI with args; keeps stdout only when keepStdout (else counts it). */
function runCli(args: string[], keepStdout: boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let timedOut = false;
    let spawnError: string | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      stdoutBytes += d.length;
      if (keepStdout && stdoutBytes <= MAX_LS_OUTPUT) out.push(d);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 1 << 20) stderr += d;
    });
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout: keepStdout ? Buffer.concat(out) : null, stdoutBytes, stderr, spawnError });
    });
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/**
 * Why a finished command is BAD, or null when it ended by the contract: one
 * line on failure, or with `perOperand` (cat, which goes on after a path
 * that fails, like cat(1)) one line for each operand that failed.
 */
function badRun(r: Run, what: string, perOperand = false): string | null {
  if (r.spawnError !== undefined) return `${what}: cannot run: ${r.spawnError}`;
  if (r.timedOut) return `${what}: timeout after ${TIMEOUT_MS} ms`;
  if (r.signal !== null) return `${what}: killed by ${r.signal}`;
  const err = lines(r.stderr);
  const trace = err.find((l) => /^\s+at /.test(l));
  if (trace !== undefined) return `${what}: stack trace on stderr: ${err[0]}`;
  if (r.code === 0) return null;
  if (r.code === 1) return `${what}: exit 1 (usage) on a valid command line: ${err[0] ?? ''}`;
  if (r.code !== 2) return `${what}: exit ${r.code}: ${err[0] ?? ''}`;
  if (err.length === 0 || (!perOperand && err.length !== 1)) return `${what}: exit 2 with ${err.length} stderr lines: ${err.slice(0, 2).join(' | ')}`;
  const stray = err.find((l) => !l.startsWith('vmpager: '));
  if (stray !== undefined) return `${what}: error line not "vmpager: ...": ${stray}`;
  return null;
}

/** The reason of an error line `vmpager: IMAGE: [PATH: ]reason`. */
function reasonOf(line: string, image: string): string {
  let rest = line.startsWith(`vmpager: ${image}: `) ? line.slice(`vmpager: ${image}: `.length) : line.replace(/^vmpager: /, '');
  if (rest.startsWith('/')) {
    const i = rest.indexOf(': ');
    if (i >= 0) rest = rest.slice(i + 2);
  }
  return rest;
}

/** The path an error line `vmpager: IMAGE: PATH: reason` names, if any. */
function pathOf(line: string, image: string): string | null {
  const prefix = `vmpager: ${image}: `;
  if (!line.startsWith(prefix)) return null;
  const rest = line.slice(prefix.length);
  if (!rest.startsWith('/')) return null;
  const i = rest.indexOf(': ');
  return i >= 0 ? rest.slice(0, i) : null;
}

interface Entry {
  name: string;
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
}

/** The entries of `ls --json` output, or a description of what is off the contract. */
function parseListing(out: Buffer): Entry[] | string {
  let v: unknown;
  try {
    v = JSON.parse(out.toString('utf8'));
  } catch (e) {
    return `ls --json output is not JSON (${(e as Error).message})`;
  }
  if (!Array.isArray(v)) return 'ls --json output is not an array';
  for (const e of v as unknown[]) {
    const o = e as Record<string, unknown>;
    if (
      typeof o !== 'object' ||
      o === null ||
      typeof o.name !== 'string' ||
      typeof o.path !== 'string' ||
      !o.path.startsWith('/') ||
      !['file', 'dir', 'symlink', 'other'].includes(o.type as string) ||
      typeof o.size !== 'number' ||
      !Number.isSafeInteger(o.size) ||
      o.size < 0
    ) {
      return `ls --json entry off the contract: ${JSON.stringify(e).slice(0, 200)}`;
    }
  }
  return v as Entry[];
}

async function gunzipTo(src: string, dst: string): Promise<void> {
  await pipeline(createReadStream(src), createGunzip(), createWriteStream(dst));
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
