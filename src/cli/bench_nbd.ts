/*
 * Bench case 8: a cold `vmpager cat` of /file over NBD on loopback beside
 * `nbdcopy` reading the same export. One nbdkit (the file plugin, read-only,
 * on 127.0.0.1) serves the ext4 image for both; runs alternate; each is a
 * fresh process. Throughput is bytes over the wire per second of the whole
 * process: vmpager's the file's bytes, nbdcopy's the whole export's
 * (--no-extents: it reads every byte, as vmpager reads every byte of the
 * file). A missing nbdkit or nbdcopy gives a note, not a failure.
 *   rows.push(await nbdCase(im, runs, useTime, scratch))
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { ioBuffer } from '../api/index.js';
import { CHUNK, type BenchImage } from './bench_images.js';
import { CAT_MEMORY, MAIN, alternate, failure, median, rate, rawRead, runTimed, tallyCat, type CatTally, type Row } from './bench_run.js';

/** The target ratio vmpager / nbdcopy. */
const NBD_TARGET = 0.8;
const READY_MS = 10_000;

export async function nbdCase(im: BenchImage, runs: number, useTime: boolean, scratch: string): Promise<Row> {
  const row = (note: string): Row => ({ case: '8 cold cat over NBD', image: im.name, vmpager: null, peer: null, ratio: null, rssKiB: null, deviceReads: null, note });
  for (const tool of ['nbdkit', 'nbdcopy']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error !== undefined) return row(`${tool} not found (install nbdkit and libnbd-bin)`);
  }
  const exportBytes = statSync(im.path).size;
  rawRead(im.path, { blockSize: CHUNK, addressSize: 1, runs: [{ logical: 0, physical: 0, count: Math.ceil(exportBytes / CHUNK) }] }, exportBytes, ioBuffer(CHUNK));
  const port = await freePort();
  const server = spawn('nbdkit', ['-f', '--exit-with-parent', '-r', '-i', '127.0.0.1', '-p', String(port), 'file', `file=${im.path}`], { stdio: 'ignore' });
  try {
    if (!(await ready(port, server))) return row('nbdkit did not start');
    const url = `nbd://127.0.0.1:${port}/`;
    const cat: CatTally = { rates: [], rssKiB: null, reads: null };
    const peer: number[] = [];
    let peerRss: number | null = null;
    const notes: string[] = [];
    await alternate(runs, 'nbdcopy', async (which) => {
      const t =
        which === 'vmpager'
          ? await runTimed(process.execPath, [MAIN, '--memory', CAT_MEMORY, '--stats', 'cat', url, '/file'], useTime, scratch)
          : await runTimed('nbdcopy', ['--no-extents', url, 'null:'], useTime, scratch);
      if (t.code !== 0) notes.push(failure(which, t));
      else if (which === 'vmpager') tallyCat(t, im, cat, notes);
      else {
        peer.push(rate(exportBytes, t.ms));
        if (t.rssKiB !== null) peerRss = Math.max(peerRss ?? 0, t.rssKiB);
      }
    });
    const vm = cat.rates.length > 0 ? median(cat.rates) : null;
    const pm = peer.length > 0 ? median(peer) : null;
    const ratio = vm !== null && pm !== null ? vm / pm : null;
    if (ratio !== null) notes.push(`target vmpager >= ${NBD_TARGET}x nbdcopy: ${ratio >= NBD_TARGET ? 'met' : 'not met'}`);
    return {
      case: '8 cold cat over NBD',
      image: im.name,
      vmpager: vm === null ? null : { value: vm, unit: 'MiB/s' },
      peer: pm === null ? null : { name: 'nbdcopy', value: pm, unit: 'MiB/s' },
      ratio,
      rssKiB: { vmpager: cat.rssKiB, peer: peerRss },
      deviceReads: cat.reads,
      extra: { exportBytes },
      note: [...new Set(notes)].join('; ') || undefined,
    };
  } finally {
    server.kill('SIGTERM');
  }
}

/** A TCP port nothing listened on a moment ago. */
function freePort(): Promise<number> {
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

/** True once a connection to the port gets the NBD greeting's first bytes; false if the server exits or READY_MS pass. */
async function ready(port: number, server: ChildProcess): Promise<boolean> {
  const until = performance.now() + READY_MS;
  while (performance.now() < until && server.exitCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('data', (d: Buffer) => {
        s.destroy();
        resolve(d.subarray(0, 8).toString('latin1') === 'NBDMAGIC');
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
