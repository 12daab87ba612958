/*
 * What the corpus runners share (run.ts reads every image, write_sweep.ts
 * writes into each): the CLI run as a child with a timeout and a heap cap,
 * the contract of its failures (exit 2, one line `vmpager: ...`), its
 * error lines' parts, `ls --json` parsed, an image uncompressed.
 */

import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CLI } from '../helpers/cli.js';

/*
 * Per command. The slowest, `ls -R` of f_many_subdirs (66 000 directories,
 * each its own VM object), takes 6–7 s on two idle cores; 10 s was passed
 * once on a loaded machine. A hang still ends here.
 */
export const TIMEOUT_MS = 20_000;
export const HEAP_MB = 256;
/** The most ls output kept (a listing beyond it is BAD). */
export const MAX_LS_OUTPUT = 64 * 2 ** 20;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: Buffer | null;
  stdoutBytes: number;
  stderr: string;
  spawnError?: string;
}

/** Runs the CLI with args; keeps stdout only when keepStdout (else counts it). */
export function runCli(args: string[], keepStdout: boolean): Promise<Run> {
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

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/**
 * Why a finished command is BAD, or null when it ended by the contract: one
 * line on failure, or with `perOperand` (cat, which goes on after a path
 * that fails, like cat(1)) one line for each operand that failed.
 */
export function badRun(r: Run, what: string, perOperand = false): string | null {
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
export function reasonOf(line: string, image: string): string {
  let rest = line.startsWith(`vmpager: ${image}: `) ? line.slice(`vmpager: ${image}: `.length) : line.replace(/^vmpager: /, '');
  if (rest.startsWith('/')) {
    const i = rest.indexOf(': ');
    if (i >= 0) rest = rest.slice(i + 2);
  }
  return rest;
}

/** The path an error line `vmpager: IMAGE: PATH: reason` names, if any. */
export function pathOf(line: string, image: string): string | null {
  const prefix = `vmpager: ${image}: `;
  if (!line.startsWith(prefix)) return null;
  const rest = line.slice(prefix.length);
  if (!rest.startsWith('/')) return null;
  const i = rest.indexOf(': ');
  return i >= 0 ? rest.slice(0, i) : null;
}

export interface Entry {
  name: string;
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
}

/** The entries of `ls --json` output, or a description of what is off the contract. */
export function parseListing(out: Buffer): Entry[] | string {
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

export async function gunzipTo(src: string, dst: string): Promise<void> {
  await pipeline(createReadStream(src), createGunzip(), createWriteStream(dst));
}

