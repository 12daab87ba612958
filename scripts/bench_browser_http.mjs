// vmpager over HTTP in headless Chromium against curl, the same bytes, alternated (not a timed test).
//   npm run build && node scripts/bench_browser_http.mjs [--mib 512] [--rounds 5] [--memory 4] [--depth N,M]
// An ext4 image made by mke2fs -d holds one file of MIB MiB; `vmpager serve` serves the image. Each round
// runs, in an order rotated per round: vmpager in the page (a cold sequential sendfile of the file to a
// sink that only counts, MEMORY MiB of frames, one Vm per run; once per --depth value), Chromium's own
// fetch of the file's bytes in one request and in 1 MiB requests one after another, and curl fetching
// the same bytes in one request. Prints each run, the medians, vmpager's ratio to curl and to Chromium's
// single fetch, the requests per pager cluster, and the load average before and after.
// CHROMIUM names the browser (default /usr/bin/chromium).
import { spawn, execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, openSync, writeSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';

const MiB = 2 ** 20;
const { values: opt } = parseArgs({
  options: { mib: { type: 'string', default: '512' }, rounds: { type: 'string', default: '5' }, memory: { type: 'string', default: '4' }, depth: { type: 'string', default: '' } },
});
const SIZE = Number(opt.mib) * MiB;
const ROUNDS = Number(opt.rounds);
const MEMORY = Number(opt.memory) * MiB;
const DEPTHS = opt.depth === '' ? [null] : opt.depth.split(',').map(Number);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
const load = () => execFileSync('uptime', { encoding: 'utf8' }).replace(/.*load average:\s*/, '').trim();

// The image: one file of random bytes, written in pieces (no SIZE-sized buffer).
const dir = mkdtempSync(join(tmpdir(), 'vmpager-bench-http-'));
const tree = join(dir, 'tree');
mkdirSync(tree);
{
  const fd = openSync(join(tree, 'big.bin'), 'w');
  const piece = Buffer.allocUnsafe(16 * MiB);
  for (let left = SIZE; left > 0; left -= piece.length) writeSync(fd, randomFillSync(piece), 0, Math.min(left, piece.length));
  closeSync(fd);
}
const image = join(dir, 'big.img');
execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, image, `${Math.ceil((SIZE * 1.08 + 40 * MiB) / 1024)}k`], { env, stdio: ['ignore', 'ignore', 'inherit'] });
rmSync(tree, { recursive: true });
const cli = join(repo, 'dist', 'vmpager.mjs');
const map = JSON.parse(execFileSync(process.execPath, [cli, 'stat', '--json', image, '/big.bin'], { encoding: 'utf8' })).blockMap;
const first = map[0].physical * 4096; // the file's first byte in the image: curl and fetch read SIZE bytes from there

const serve = spawn(process.execPath, [cli, 'serve', '--port', '0', image], { stdio: ['ignore', 'pipe', 'inherit'] });
const origin = await new Promise((resolve, reject) => {
  let out = '';
  serve.stdout.on('data', (d) => {
    out += d;
    const m = /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
    if (m) resolve(m[1]);
  });
  serve.on('exit', (code) => reject(new Error(`vmpager serve exited ${code}`)));
});
const url = `${origin}/image`;
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
const page = await browser.newPage();
await page.goto(`${origin}/config.json`); // same origin as the image and the bundle, without the explorer mounting anything

/** vmpager: a cold sequential read of /big.bin through sendfile, MEMORY of frames. */
const vmpager = (depth) =>
  page.evaluate(
    async (memory, depth) => {
      const m = await import('/vmpager.js');
      const opened = await m.HttpDevice.open(`${location.origin}/image`, depth === null ? {} : { readAheadDepth: depth });
      const dev = opened.dev;
      const vm = new m.Vm({ memory });
      const fs = await vm.mount(dev);
      const f = await fs.open('/big.bin');
      f.advise('sequential');
      const before = { vnodein: vm.stats().vnodein, reads: dev.stats.reads };
      let n = 0;
      const t0 = performance.now();
      await f.sendfile((frames) => {
        for (const v of frames) n += v.length;
      });
      const s = (performance.now() - t0) / 1000;
      const r = { mibs: n / 2 ** 20 / s, clusters: vm.stats().vnodein - before.vnodein, requests: dev.stats.reads - before.reads, peak: dev.peakInFlight, depth: dev.readAheadDepth };
      await f.close();
      await fs.unmount();
      return r;
    },
    MEMORY,
    depth,
  );

/** Chromium's own fetch of [first, first + SIZE) in requests of `chunk` bytes, one after another. */
const chromium = (chunk) =>
  page.evaluate(
    async (first, size, chunk) => {
      let n = 0;
      const t0 = performance.now();
      for (let off = 0; off < size; off += chunk) {
        const len = Math.min(chunk, size - off);
        const res = await fetch('/image', { headers: { Range: `bytes=${first + off}-${first + off + len - 1}` }, cache: 'no-store' });
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          n += value.length;
        }
      }
      return { mibs: n / 2 ** 20 / ((performance.now() - t0) / 1000) };
    },
    first,
    SIZE,
    chunk,
  );

const curl = () =>
  new Promise((resolve, reject) =>
    execFile('curl', ['-s', '-o', '/dev/null', '-H', `Range: bytes=${first}-${first + SIZE - 1}`, '-w', '%{size_download} %{time_total}', url], { encoding: 'utf8' }, (e, out) => {
      if (e) return reject(e);
      const [bytes, secs] = out.split(' ').map(Number);
      if (bytes !== SIZE) return reject(new Error(`curl got ${bytes} bytes`));
      resolve({ mibs: bytes / MiB / secs });
    }),
  );

// Where the time goes: the renderer main thread's busy time (DevTools TaskDuration), and the CPU time of
// the serve process and of all Chromium's processes (/proc), each as a fraction of the run's wall time.
const cdp = await page.createCDPSession();
await cdp.send('Performance.enable');
const taskSeconds = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const cpuOf = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticks;
  } catch {
    return 0;
  }
};
const treeOf = (root) => {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const parent = new Map();
  for (const d of all) {
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [c, p] of parent) if (p === out[i]) out.push(c);
  return out;
};
const chromiumPid = browser.process().pid;
const measured = (run) => async () => {
  const pids = treeOf(chromiumPid);
  const c0 = pids.reduce((a, p) => a + cpuOf(p), 0);
  const s0 = cpuOf(serve.pid);
  const k0 = await taskSeconds();
  const t0 = performance.now();
  const x = await run();
  const wall = (performance.now() - t0) / 1000;
  x.main = ((await taskSeconds()) - k0) / wall;
  x.server = (cpuOf(serve.pid) - s0) / wall;
  x.browser = (pids.reduce((a, p) => a + cpuOf(p), 0) - c0) / wall;
  return x;
};

const cases = [
  ...DEPTHS.map((d) => [`vmpager${d === null ? '' : ` depth ${d}`}`, measured(() => vmpager(d))]),
  ['chromium fetch, one request', measured(() => chromium(SIZE))],
  ['chromium fetch, 1 MiB requests', measured(() => chromium(MiB))],
  ['curl, one request', measured(curl)],
];
const pct = (f) => `${(f * 100).toFixed(0)}%`;
const loadBefore = load();
const results = new Map(cases.map(([name]) => [name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < cases.length; i++) {
    const [name, run] = cases[(i + r) % cases.length];
    const x = await run();
    results.get(name).push(x);
    const extra = x.clusters === undefined ? '' : ` (${x.requests} requests for ${x.clusters} clusters, ${x.peak} in flight at most, depth ${x.depth})`;
    console.log(`round ${r + 1}: ${name}: ${x.mibs.toFixed(0)} MiB/s${extra}; CPU: page main thread ${pct(x.main)}, Chromium ${pct(x.browser)}, server ${pct(x.server)}`);
  }
}
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const med = new Map([...results].map(([name, xs]) => [name, median(xs.map((x) => x.mibs))]));
console.log(`\n${SIZE / MiB} MiB, ${ROUNDS} rounds alternated, ${MEMORY / MiB} MiB of frames; load average ${loadBefore} before, ${load()} after`);
for (const [name, xs] of results) {
  const v = xs.map((x) => x.mibs);
  const cpu = (k) => pct(median(xs.map((x) => x[k])));
  console.log(`${name.padEnd(32)} median ${med.get(name).toFixed(0).padStart(5)} MiB/s  (${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)}); CPU of wall time: page main thread ${cpu('main')}, Chromium ${cpu('browser')}, server ${cpu('server')}`);
}
for (const d of DEPTHS) {
  const name = `vmpager${d === null ? '' : ` depth ${d}`}`;
  const v = med.get(name);
  const xs = results.get(name);
  console.log(`${name}: ${(v / med.get('curl, one request')).toFixed(2)} of curl, ${(v / med.get('chromium fetch, one request')).toFixed(2)} of Chromium's single fetch, ${(median(xs.map((x) => x.requests / x.clusters))).toFixed(3)} requests a cluster`);
}
await browser.close();
serve.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
