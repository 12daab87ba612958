/*
 * Real NBD servers for the tests, on 127.0.0.1 (or a Unix socket):
 *   const s = await startNbdkit(['file', `file=${image}`]);  s.url('')  ...  await s.stop()
 *   const n = await startNbdServer([{ name: 'disk', file: image }, { name: 'ro', file: image, readOnly: true }])
 * A free port is found by binding port 0 and closing it; a server that then
 * loses the port to someone else (it exits, or what answers is not an NBD
 * server) is started again on another. A server counts as started once a
 * connection to it gets the NBD greeting. nbdkit runs in the foreground with
 * --exit-with-parent, so it dies with the test process whatever happens;
 * nbd-server forks into the background and is killed through its pid file.
 * Every server still running when the process exits is killed then too.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './images.js';

export interface NbdTestServer {
  /** TCP port (0 for a Unix socket). */
  port: number;
  /** nbd://127.0.0.1:PORT/EXPORT, or nbd+unix:///EXPORT?socket=PATH. */
  url(exportName?: string): string;
  /** SIGKILL now (a server that dies mid-transfer). */
  kill(): void;
  /** Sends the server process a signal (SIGSTOP: a server that stalls; SIGCONT: it goes on). */
  signal(sig: NodeJS.Signals): void;
  /** Ends the server and waits until it is gone. */
  stop(): Promise<void>;
  /** What the server printed (nbdkit only). */
  output(): string;
}

const START_TRIES = 5;
const READY_MS = 10_000;
const running = new Set<() => void>();
process.on('exit', () => {
  for (const k of running) k();
});

/** A TCP port nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * nbdkit in the foreground with these plugin/filter arguments, e.g.
 * ['--filter=log', 'file', 'file=IMG', 'logfile=LOG']; { unix: PATH } listens there instead of on TCP.
 */
export async function startNbdkit(args: string[], opts: { unix?: string } = {}): Promise<NbdTestServer> {
  let lastOutput = '';
  for (let attempt = 0; attempt < START_TRIES; attempt++) {
    const port = opts.unix !== undefined ? 0 : await freePort();
    const where = opts.unix !== undefined ? ['-U', opts.unix] : ['-i', '127.0.0.1', '-p', String(port)];
    const proc = spawn('nbdkit', ['-f', '--exit-with-parent', ...where, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.once('error', () => undefined);
    const kill = () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    };
    running.add(kill);
    const ready = await waitForGreeting(opts.unix !== undefined ? { path: opts.unix } : { port }, () => proc.exitCode !== null || proc.signalCode !== null);
    if (ready) {
      return {
        port,
        url: (e = '') => (opts.unix !== undefined ? `nbd+unix:///${e}?socket=${opts.unix}` : `nbd://127.0.0.1:${port}/${e}`),
        kill,
        signal: (sig) => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
        },
        stop: async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          await bounded(exited, 5000, kill);
          await exited;
          running.delete(kill);
        },
        output: () => out,
      };
    }
    kill();
    await exited;
    running.delete(kill);
    lastOutput = out;
  }
  throw new Error(`nbdkit did not start: ${lastOutput}`);
}

export interface NbdServerExport {
  name: string;
  file: string;
  readOnly?: boolean;
}

/** nbd-server (reference implementation) with a config file of these exports. */
export async function startNbdServer(exports: readonly NbdServerExport[]): Promise<NbdTestServer> {
  const tmp = tempDir('vmpager-nbd-server-');
  for (let attempt = 0; attempt < START_TRIES; attempt++) {
    const port = await freePort();
    const config = join(tmp.dir, 'config');
    const pidFile = join(tmp.dir, `pid-${attempt}`);
    const lines = ['[generic]', 'listenaddr = 127.0.0.1', `port = ${port}`, 'allowlist = false'];
    for (const e of exports) lines.push(`[${e.name}]`, `exportname = ${e.file}`, ...(e.readOnly ? ['readonly = true'] : []));
    writeFileSync(config, lines.join('\n') + '\n');
    const proc: ChildProcess = spawn('nbd-server', ['-C', config, '-p', pidFile], { stdio: 'ignore' });
    proc.once('error', () => undefined);
    await new Promise<void>((resolve) => proc.once('exit', () => resolve())); // it forks into the background
    const pid = await waitForPidFile(pidFile);
    const alive = () => pid !== 0 && isAlive(pid);
    const kill = () => {
      if (alive()) process.kill(pid, 'SIGKILL');
    };
    running.add(kill);
    if (pid !== 0 && (await waitForGreeting({ port }, () => !alive()))) {
      return {
        port,
        url: (e = '') => `nbd://127.0.0.1:${port}/${e}`,
        kill,
        signal: (sig) => {
          if (alive()) process.kill(pid, sig);
        },
        stop: async () => {
          if (alive()) process.kill(pid, 'SIGTERM');
          for (let i = 0; i < 250 && alive(); i++) await sleep(20);
          kill();
          running.delete(kill);
          tmp.cleanup();
        },
        output: () => '',
      };
    }
    kill();
    running.delete(kill);
  }
  tmp.cleanup();
  throw new Error('nbd-server did not start');
}

/** Polls until a connection gets the NBD greeting ('NBDMAGIC'); false if gone() or after READY_MS. */
async function waitForGreeting(where: { port: number } | { path: string }, gone: () => boolean): Promise<boolean> {
  const deadline = Date.now() + READY_MS;
  while (Date.now() < deadline) {
    if (gone()) return false;
    if (await greets(where)) return true;
    await sleep(25);
  }
  return false;
}

function greets(where: { port: number } | { path: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const s = 'path' in where ? connect({ path: where.path }) : connect({ host: '127.0.0.1', port: where.port });
    let got = Buffer.alloc(0);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 8) done(got.subarray(0, 8).toString('latin1') === 'NBDMAGIC');
    });
    s.on('error', () => done(false));
    s.on('close', () => done(false));
  });
}

async function waitForPidFile(path: string): Promise<number> {
  for (let i = 0; i < 250; i++) {
    if (existsSync(path)) {
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0) return pid;
    }
    await sleep(20);
  }
  return 0;
}

/** Whether pid runs (a zombie waiting for its parent to reap it does not). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for p at most ms, then calls onTimeout. */
async function bounded(p: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(() => (onTimeout(), resolve()), ms)))]);
  clearTimeout(timer);
}
