// What limits range reads in headless Chromium, without vmpager (the measurements behind the README's
// "In the browser" figures; not part of the suite):
//   npm run build && ROUNDS=3 [ONLY=regexp] [VERBOSE=1] node scripts/probe_browser_fetch.mjs [MiB]
// A file of MiB random bytes (default 256) is served twice: by `vmpager serve` and by a plain range server
// here (one read into one buffer, one write). In the page, fetch reads it in ranges of 512 KiB to 16 MiB
// with 1 to 6 requests in flight, or in one request, through the body's reader or arrayBuffer(), copying
// into 4 MiB of frames or not; curl fetches it in one request. Each case: the median MiB/s of ROUNDS runs,
// the median time per request and, with VERBOSE, to its headers. ONLY picks cases by name.
import { spawn, execFileSync, execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { openSync, readSync, writeFileSync, mkdtempSync, rmSync, fstatSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import puppeteer from 'puppeteer-core';

const MiB = 2 ** 20;
const N = Number(process.argv[2] ?? 256);
const dir = mkdtempSync(join(tmpdir(), 'probe-'));
const img = join(dir, 'raw.bin');
{
  const b = randomBytes(N * MiB);
  writeFileSync(img, b);
}
// a plain range server: one read into one buffer, one end()
const fd = openSync(img, 'r');
const size = fstatSync(fd).size;
const plain = createServer((req, res) => {
  const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
  const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'Range', 'Access-Control-Expose-Headers': 'Content-Range' };
  if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
  const s = m ? Number(m[1]) : 0;
  const e = m ? Number(m[2]) : size - 1;
  const buf = Buffer.allocUnsafe(e - s + 1);
  readSync(fd, buf, 0, buf.length, s);
  res.writeHead(m ? 206 : 200, { ...cors, 'Content-Range': `bytes ${s}-${e}/${size}`, 'Content-Length': buf.length }).end(buf);
});
await new Promise((r) => plain.listen(0, '127.0.0.1', r));
const plainUrl = `http://127.0.0.1:${plain.address().port}/image`;

const serve = spawn(process.execPath, ['dist/vmpager.mjs', 'serve', '--port', '0', img], { stdio: ['ignore', 'pipe', 'inherit'] });
const serveUrl = await new Promise((resolve) => {
  let out = '';
  serve.stdout.on('data', (d) => {
    out += d;
    const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m) resolve(m[1]);
  });
});

const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
const page = await browser.newPage();
await page.goto(serveUrl + 'config.json');

const run = (url, chunk, depth, how, copy, bytes) =>
  page.evaluate(
    async (url, chunk, depth, how, copy, bytes) => {
      const frames = new Uint8Array(4 * 2 ** 20);
      let next = 0;
      let times = [];
      const hdr = [];
      const one = async (off, len) => {
        const t = performance.now();
        // how: 'rd' the body's reader, 'rdc' the same with the HTTP cache's default mode, 'ab' arrayBuffer().
        const res = await fetch(url, { headers: { Range: `bytes=${off}-${off + len - 1}` }, cache: how === 'rdc' ? 'default' : 'no-store' });
        let got = 0;
        hdr.push(performance.now() - t);
        if (how === 'ab') {
          const b = new Uint8Array(await res.arrayBuffer());
          if (copy) frames.set(b.subarray(0, Math.min(b.length, frames.length)), 0);
          got = b.length;
        } else {
          const r = res.body.getReader();
          for (;;) {
            const { done, value } = await r.read();
            if (done) break;
            if (copy) frames.set(value, got % (frames.length - value.length));
            got += value.length;
          }
        }
        times.push(performance.now() - t);
        return got;
      };
      const t0 = performance.now();
      let total = 0;
      const worker = async () => {
        while (next < bytes) {
          const off = next;
          const len = Math.min(chunk, bytes - off);
          next += len;
          const got = await one(off, len);
          total += got;
        }
      };
      await Promise.all(Array.from({ length: depth }, worker));
      const s = (performance.now() - t0) / 1000;
      times.sort((a, b) => a - b);
      hdr.sort((a, b) => a - b);
      return { mibs: total / 2 ** 20 / s, medMs: times[times.length >> 1], hdrMs: hdr[hdr.length >> 1], n: times.length };
    },
    url, chunk, depth, how, copy, bytes,
  );

const curl = (url, bytes) =>
  new Promise((resolve, reject) =>
    execFile('curl', ['-s', '-o', '/dev/null', '-H', `Range: bytes=0-${bytes - 1}`, '-w', '%{speed_download}', url], { encoding: 'utf8' }, (e, out) => (e ? reject(e) : resolve(Number(out) / MiB))),
  );

const bytes = N * MiB;
const cases = [];
for (const [name, url] of [['serve', serveUrl + 'image'], ['plain', plainUrl]]) {
  cases.push([`${name} 1MiB d1 reader`, () => run(url, MiB, 1, 'rd', true, bytes)]);
  cases.push([`${name} 1MiB d1 cachedefault`, () => run(url, MiB, 1, 'rdc', true, bytes)]);
  cases.push([`${name} 1MiB d1 ab`, () => run(url, MiB, 1, 'ab', true, bytes)]);
  cases.push([`${name} 1MiB d2 reader`, () => run(url, MiB, 2, 'rd', true, bytes)]);
  cases.push([`${name} 1MiB d4 reader`, () => run(url, MiB, 4, 'rd', true, bytes)]);
  cases.push([`${name} 512KiB d4 reader`, () => run(url, MiB / 2, 4, 'rd', true, bytes)]);
  cases.push([`${name} 2MiB d3 reader`, () => run(url, 2 * MiB, 3, 'rd', true, bytes)]);
  cases.push([`${name} 1MiB d6 reader`, () => run(url, MiB, 6, 'rd', true, bytes)]);
  cases.push([`${name} 1MiB d4 ab`, () => run(url, MiB, 4, 'ab', true, bytes)]);
  cases.push([`${name} 4MiB d1 reader`, () => run(url, 4 * MiB, 1, 'rd', true, bytes)]);
  cases.push([`${name} 16MiB d1 reader`, () => run(url, 16 * MiB, 1, 'rd', true, bytes)]);
  cases.push([`${name} one reader`, () => run(url, bytes, 1, 'rd', true, bytes)]);
  cases.push([`${name} one reader nocopy`, () => run(url, bytes, 1, 'rd', false, bytes)]);
  cases.push([`${name} curl`, async () => ({ mibs: await curl(url, bytes) })]);
}
const rounds = Number(process.env.ROUNDS ?? 3);
const res = new Map();
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of cases.filter(([n]) => !process.env.ONLY || new RegExp(process.env.ONLY).test(n))) {
    const x = await f();
    if (process.env.VERBOSE) console.log(name, x.mibs.toFixed(0), x.medMs?.toFixed(1), x.hdrMs?.toFixed(1));
    if (!res.has(name)) res.set(name, []);
    res.get(name).push(x);
  }
}
for (const [name, xs] of res) {
  const v = xs.map((x) => x.mibs).sort((a, b) => a - b);
  const ms = xs.map((x) => x.medMs).filter((x) => x !== undefined);
  console.log(`${name.padEnd(28)} median ${v[v.length >> 1].toFixed(0).padStart(5)} MiB/s  [${v.map((x) => x.toFixed(0)).join(' ')}]${ms.length ? `  req ${ms[ms.length >> 1].toFixed(1)} ms` : ''}`);
}
console.log(execFileSync('uptime', { encoding: 'utf8' }).trim());
await browser.close();
serve.kill('SIGTERM');
plain.close();
rmSync(dir, { recursive: true, force: true });
