/*
 * A small HTTP server for the HTTP device's tests (in Node and in the
 * browser), written apart from `vmpager serve` so that each judges the
 * other: it serves one byte array at /image with single-range requests,
 * counts every request and the ranges asked, and can be told to misbehave
 * (no range support, a changed ETag, short or long bodies, wrong
 * Content-Range, an error status). CORS headers let a page from another
 * origin read it.
 *   const s = await startRangeServer(bytes); s.url; s.log; s.mode = 'no-ranges'; await s.close()
 */

import { createServer, type Server } from 'node:http';

export type RangeServerMode = 'ranges' | 'no-ranges' | 'etag-changes' | 'short-body' | 'long-body' | 'wrong-range' | 'error-500' | 'no-size';

export interface RangeServer {
  /** The image's URL. */
  url: string;
  /** The server's origin (http://127.0.0.1:PORT). */
  origin: string;
  mode: RangeServerMode;
  /** Every GET/HEAD of /image: its Range header (null without one) and the status answered. */
  readonly log: Array<{ method: string; range: string | null; status: number }>;
  /** The most requests of /image open at once. */
  peakOpen: number;
  /** Milliseconds each 206 waits before it is sent (0: at once). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startRangeServer(data: Uint8Array): Promise<RangeServer> {
  const log: RangeServer['log'] = [];
  let open = 0;
  const state = { mode: 'ranges' as RangeServerMode, peakOpen: 0, served: 0, delayMs: 0 };
  const cors = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'Range',
    'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Last-Modified, Accept-Ranges',
  };
  const server: Server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/image') {
      res.writeHead(404, cors).end();
      return;
    }
    open++;
    state.peakOpen = Math.max(state.peakOpen, open);
    res.on('close', () => open--);
    const range = req.headers.range ?? null;
    const entry = { method: req.method ?? 'GET', range, status: 0 };
    log.push(entry);
    const mode = state.mode;
    const etag = mode === 'etag-changes' ? `"v${++state.served}"` : '"v1"';
    const send = (status: number, headers: Record<string, string>, body: Uint8Array | null): void => {
      entry.status = status;
      res.writeHead(status, { ...cors, ETag: etag, 'Content-Type': 'application/octet-stream', ...headers });
      res.end(req.method === 'HEAD' || body === null ? undefined : body);
    };
    if (mode === 'error-500') return send(500, {}, null);
    const m = range === null ? null : /^bytes=(\d+)-(\d+)$/.exec(range);
    if (mode === 'no-ranges' || m === null) return send(200, { 'Content-Length': String(data.length) }, data);
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), data.length - 1);
    if (start >= data.length || end < start) return send(416, { 'Content-Range': `bytes */${data.length}` }, null);
    let body = data.subarray(start, end + 1);
    let cr = `bytes ${start}-${end}/${mode === 'no-size' ? '*' : data.length}`;
    if (mode === 'short-body' && start > 0) body = body.subarray(0, body.length - 1);
    if (mode === 'long-body' && start > 0) {
      const longer = new Uint8Array(body.length + 16);
      longer.set(body);
      body = longer;
    }
    if (mode === 'wrong-range' && start > 0) cr = `bytes ${start + 1}-${end + 1}/${data.length}`;
    const reply = (): void => send(206, { 'Content-Range': cr, 'Content-Length': String(body.length) }, body);
    if (state.delayMs > 0) setTimeout(reply, state.delayMs);
    else reply();
  });
  server.keepAliveTimeout = 60_000; // as vmpager serve: an idle connection closed under a request would be retried
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/image`,
    origin,
    log,
    get mode() {
      return state.mode;
    },
    set mode(m: RangeServerMode) {
      state.mode = m;
    },
    get peakOpen() {
      return state.peakOpen;
    },
    set peakOpen(n: number) {
      state.peakOpen = n;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(n: number) {
      state.delayMs = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
