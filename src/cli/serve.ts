/*
 * vmpager serve [--port N] [IMAGE]: the explorer page (web/) and the browser
 * bundle (dist/browser/vmpager.js) on http://127.0.0.1:N/, and IMAGE at
 * /image with HTTP range requests (one range per request: 206 with
 * Content-Range; no Range: 200 with it all; HEAD; an ETag from its size and
 * mtime), which the page opens at once with its HTTP device. The image is
 * only read, and held as a reader (as `cat` holds it) while served.
 *   const s = await startServe({ port, image, memory }); ... await s.close()
 * Only 127.0.0.1 is listened on: nothing else reaches the image.
 */

import { createReadStream, existsSync, fstatSync, openSync, closeSync, readFileSync, type Stats } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdImage } from '../api/image_hold.js';
import { EBUSY, EINVAL, hostError, VmError } from '../api/errors.js';

export interface ServeOptions {
  /** 0: any free port. */
  port: number;
  image: string | null;
  /** The page's memory to start with (bytes), from --memory. */
  memory: number;
  pageSize: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** web/ and dist/browser beside this module: dist/vmpager.mjs (the bundle) or dist/src/cli/serve.js. */
function findRoot(): { web: string; bundle: string } {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const web = join(dir, 'web');
    const bundle = join(dir, 'dist', 'browser');
    if (existsSync(join(web, 'index.html')) && existsSync(join(bundle, 'vmpager.js'))) return { web, bundle };
    if (dirname(dir) === dir) throw new VmError(EINVAL, 'serve', 'vmpager', null, 'web/ or dist/browser/vmpager.js not found (npm run build)');
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against size: the range, 'unsatisfiable', or null (absent, several ranges, not bytes: the whole file). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export interface ServeHandle {
  url: string;
  close(): Promise<void>;
}

export async function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const { web, bundle } = findRoot();
  let imageFd = -1;
  let imageStat: Stats | null = null;
  let release = (): void => {};
  if (opts.image !== null) {
    try {
      imageFd = openSync(opts.image, 'r');
    } catch (e) {
      throw hostError(e, 'serve', opts.image, null);
    }
    imageStat = fstatSync(imageFd);
    if (!imageStat.isFile() && !imageStat.isBlockDevice()) {
      closeSync(imageFd);
      throw new VmError(EINVAL, 'serve', opts.image, null, 'not a file');
    }
    try {
      release = holdImage(opts.image, 'read').release;
    } catch (e) {
      closeSync(imageFd);
      throw e;
    }
  }
  const imageName = opts.image === null ? null : opts.image.split(sep).pop()!;
  const etag = imageStat === null ? '' : `"${imageStat.size.toString(16)}-${Math.floor(imageStat.mtimeMs).toString(16)}"`;

  const serveImage = (req: IncomingMessage, res: ServerResponse): void => {
    const size = imageStat!.size;
    const base = { 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': imageStat!.mtime.toUTCString(), 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' };
    const r = parseRange(req.headers.range, size);
    if (r === 'unsatisfiable') {
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    const { start, end } = r ?? { start: 0, end: size - 1 };
    const headers = { ...base, 'Content-Length': String(size === 0 ? 0 : end - start + 1) };
    if (r !== null) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}` });
    else res.writeHead(200, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    createReadStream('', { fd: imageFd, autoClose: false, start, end, highWaterMark: 256 * 1024 })
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const serveFile = (res: ServerResponse, dir: string, rel: string): void => {
    const p = normalize(join(dir, rel));
    if (!p.startsWith(dir + sep)) {
      res.writeHead(404).end();
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(p);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const ext = p.slice(p.lastIndexOf('.'));
    res.writeHead(200, { 'Content-Type': TYPES[ext] ?? 'application/octet-stream', 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' }).end(body);
  };

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/image') {
      if (imageStat === null) res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no image is served (vmpager serve IMAGE)\n');
      else serveImage(req, res);
    } else if (path === '/config.json') {
      const body = JSON.stringify({ image: imageName === null ? null : { url: '/image', name: imageName, size: imageStat!.size }, memory: opts.memory, pageSize: opts.pageSize });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(body);
    } else if (path === '/vmpager.js' || path === '/vmpager.js.map') {
      serveFile(res, bundle, path.slice(1));
    } else {
      serveFile(res, web, path === '/' ? 'index.html' : path.slice(1));
    }
  });
  // Longer than a browser leaves a connection idle between a reader's requests: a server that closes
  // first races a request being sent, and the browser sends it again.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      release();
      if (imageFd >= 0) closeSync(imageFd);
      reject(e.code === 'EADDRINUSE' ? new VmError(EBUSY, 'serve', `127.0.0.1:${opts.port}`, null, 'the port is in use') : hostError(e, 'serve', `127.0.0.1:${opts.port}`, null));
    });
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        release();
        if (imageFd >= 0) closeSync(imageFd);
      }),
  };
}

/** The command: serves until SIGINT or SIGTERM. */
export async function serveCommand(opts: ServeOptions): Promise<number> {
  const s = await startServe(opts);
  process.stdout.write(`vmpager: serving ${s.url}${opts.image === null ? '' : ` (${opts.image} at ${s.url}image)`}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await s.close();
  return 0;
}
