/*
 * The explorer page in a real browser: Debian's headless Chromium driven by
 * puppeteer-core (no browser download; CHROMIUM names another binary).
 * `vmpager serve` serves the page, the bundle and an ext4 image made by
 * mke2fs -d; a UFS2 image made by makefs is picked with the file input (the
 * Blob device); the test's own range server (test/helpers/http_ranges.ts)
 * serves a larger image to the HTTP device, counting its range requests, and
 * then refuses ranges; a module worker writes the image through the OPFS
 * device (judged by e2fsck and debugfs). Files are judged by the SHA-256 of the bytes the test
 * generated; the counters the page shows by vm.stats(); the tab's JS heap by
 * the DevTools protocol. A screenshot goes to test-artifacts/explorer.png.
 * Without Chromium every test here fails, naming what to install.
 * VMPAGER_BROWSER_BIG_MIB sets the large file's size (default 64 MiB, read in 4 MiB of memory).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { debugfs, mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { CLI } from '../helpers/cli.js';
import { startRangeServer, type RangeServer } from '../helpers/http_ranges.js';
import { newDisk, putFs, sfdisk } from '../helpers/disks.js';
import { mkfat } from '../helpers/fat_images.js';

// The callbacks given to page.evaluate run in the page; the project compiles without the DOM's types.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare const DataTransfer: any;
declare const DragEvent: any;
declare const File: any;
type HTMLElement = any;
type HTMLInputElement = any;

const MiB = 2 ** 20;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const BIG_MIB = Number(process.env.VMPAGER_BROWSER_BIG_MIB ?? 64);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const artifacts = join(repo, 'test-artifacts');
const tmp = tempDir('vmpager-browser-');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The tree both small images hold. */
const files = new Map<string, Uint8Array>();
files.set('/hello.txt', new TextEncoder().encode('hello from inside the image\n'));
files.set('/dir/mid.bin', randomBytes(3 * MiB + 1234, 7));
for (let i = 0; i < 10; i++) files.set(`/dir/f${i}.txt`, new TextEncoder().encode(`file ${i}\n`.repeat(1 + i * 300)));
files.set('/docs/notes.md', new TextEncoder().encode('# notes\n\nvmpager in the browser.\n'));
const tree: TreeFile[] = [...files].map(([p, data]) => ({ path: p.slice(1), data }));
const hashes = new Map([...files].map(([p, d]) => [p, sha256(d)]));

let browser: Browser | null = null;
let serve: { proc: ChildProcess; url: string } | null = null;
let ext4 = '';
let ufs2 = '';

/** Starts `vmpager serve --port 0 IMAGE`; resolves with the URL it prints. */
function startServe(image: string, memory: string): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, '--memory', memory, 'serve', '--port', '0', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => reject(new Error(`vmpager serve exited ${code}: ${err}`)));
  });
}

async function newPage(): Promise<Page> {
  const page = await browser!.newPage();
  await page.setViewport({ width: 1200, height: 1100 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

/** The text of an element. */
const text = (page: Page, sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');

/** Waits until the page has mounted something (the tree has entries) or shows an error. */
async function mounted(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelector('#tree button') !== null || document.getElementById('error')!.textContent !== '', { timeout: 20_000 });
  assert.equal(await text(page, '#error'), '');
}

/** Opens path in the tree (expanding its directories by clicking, as a person would). */
async function openInTree(page: Page, path: string): Promise<void> {
  const parts = path.split('/').slice(1);
  for (let i = 1; i < parts.length; i++) {
    const dir = '/' + parts.slice(0, i).join('/');
    const sel = `#tree button[data-path="${dir}"]`;
    await page.waitForSelector(sel);
    if ((await page.$eval(sel, (b) => b.getAttribute('aria-expanded'))) !== 'true') await page.click(sel);
  }
  const sel = `#tree button[data-path="${path}"]`;
  await page.waitForSelector(sel);
  await page.click(sel);
  // The file is shown once its line is written and its first view drawn (the viewer is busy until then).
  await page.waitForFunction((p) => document.getElementById('file-info')!.textContent!.startsWith(p + ':') && !document.getElementById('viewer')!.hasAttribute('aria-busy'), {}, path);
}

/** Clicks "Read whole file" and returns the SHA-256 the page shows. */
async function readWhole(page: Page): Promise<string> {
  await page.$eval('#read-result', (e) => (e.textContent = ''));
  await page.click('#read-all');
  await page.waitForFunction(() => document.getElementById('read-result').textContent.startsWith('SHA-256 ') || document.getElementById('error').textContent !== '', { timeout: 120_000 });
  assert.equal(await text(page, '#error'), '');
  return /^SHA-256 ([0-9a-f]{64}) /.exec(await text(page, '#read-result'))![1];
}

/** SHA-256 of every path, read in the page through explorer.fs (File.read). */
function hashInPage(page: Page, paths: string[]): Promise<Record<string, string>> {
  return page.evaluate(async (ps) => {
    const x = (window as unknown as { explorer: { fs: { open(p: string): Promise<{ size: number; read(o: number, n: number): Promise<Uint8Array>; close(): Promise<void> }> } } }).explorer;
    const out: Record<string, string> = {};
    for (const p of ps) {
      const f = await x.fs.open(p);
      const b = await f.read(0, f.size);
      await f.close();
      out[p] = [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((v) => v.toString(16).padStart(2, '0')).join('');
    }
    return out;
  }, paths);
}

/** The counters as the page shows them, and vm.stats() read right after (the VM is idle: they must agree). */
async function shownAndStats(page: Page): Promise<{ shown: Record<string, number>; stats: Record<string, number> }> {
  return page.evaluate(() => {
    const shown: Record<string, number> = {};
    for (const td of document.querySelectorAll('[data-stat]') as HTMLElement[]) shown[td.dataset.stat!] = Number(td.textContent);
    for (const q of ['active', 'inactive', 'free', 'total']) shown[`pages.${q}`] = Number(document.getElementById(`q-${q}`)!.textContent);
    const st = (window as unknown as { explorer: { vm: { stats(): Record<string, unknown> } } }).explorer.vm.stats();
    const stats: Record<string, number> = {};
    for (const k of Object.keys(shown)) stats[k] = k.split('.').reduce((o: unknown, p) => (o as Record<string, unknown>)[p], st) as number;
    return { shown, stats };
  });
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`headless Chromium not found at ${CHROMIUM}: install it (apt-get install chromium; .ci/run does) or set CHROMIUM to its path`);
  }
  ext4 = mkext2(join(tmp.dir, 'e.img'), tree, { type: 'ext4', blockSize: 4096, size: 24 * MiB });
  ufs2 = mkufs(join(tmp.dir, 'u.img'), tree, { version: 2, bsize: 32768, fsize: 4096, size: 24 * MiB });
  mkdirSync(artifacts, { recursive: true });
  browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
  serve = await startServe(ext4, '8MiB');
});

after(async () => {
  await browser?.close();
  serve?.proc.kill('SIGTERM');
  tmp.cleanup();
});

describe('the explorer page in headless Chromium', () => {
  test('served by vmpager serve, it opens the ext4 image, lists the tree, reads a file to its SHA-256 and shows the VM counters', async () => {
    const page = await newPage();
    await page.goto(serve!.url);
    await mounted(page);
    assert.match(await text(page, '#status'), /ext4 mounted in 8 MiB of page frames, read by HTTP range requests/);
    const top = await page.$$eval('#tree > li > button', (bs) => bs.map((b) => b.dataset.path));
    assert.deepEqual(top, ['/dir', '/docs', '/lost+found', '/hello.txt']);
    await openInTree(page, '/hello.txt');
    assert.equal(await text(page, '#viewer'), 'hello from inside the image\n');
    await openInTree(page, '/dir/mid.bin');
    assert.equal(await page.$eval('#viewer', (e) => (e as HTMLElement).dataset.mode), 'hex');
    assert.equal(await readWhole(page), hashes.get('/dir/mid.bin'));
    const { shown, stats } = await shownAndStats(page);
    assert.deepEqual(shown, stats);
    assert.ok(shown.vnodein > 0 && shown['device.reads'] > 0 && shown.readahead > 0, JSON.stringify(shown));
    // The page map as drawn agrees with the file's pages.
    const map = await page.evaluate(() => {
      const m = (window as unknown as { explorer: { file: { pageMap(): Uint8Array } } }).explorer.file.pageMap();
      return { pages: m.length, resident: m.filter((s) => s === 1 || s === 2).length, text: document.getElementById('pagemap-text')!.textContent };
    });
    assert.equal(map.pages, Math.ceil(files.get('/dir/mid.bin')!.length / 4096));
    assert.ok(map.text!.startsWith(`${map.pages} pages: ${map.resident} resident,`), map.text!);
    assert.deepEqual((page as Page & { errors: string[] }).errors, []);
    await page.screenshot({ path: join(artifacts, 'explorer.png') });
    await page.close();
  });

  test('every file of the ext4 image reads byte-identical through the HTTP device', async () => {
    const page = await newPage();
    await page.goto(serve!.url);
    await mounted(page);
    assert.deepEqual(await hashInPage(page, [...files.keys()]), Object.fromEntries(hashes));
    await page.close();
  });

  test('a UFS2 image picked with the file input (the Blob device): tree, every file byte-identical, a download', async () => {
    const page = await newPage();
    await page.goto(serve!.url);
    await mounted(page); // the served image first; then the user picks another
    const input = await page.$('#file');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(ufs2);
    await page.waitForFunction(() => /u\.img: ufs2 mounted/.test(document.getElementById('status')!.textContent!) || document.getElementById('error')!.textContent !== '', { timeout: 20_000 });
    assert.equal(await text(page, '#error'), '');
    assert.match(await text(page, '#status'), /read by file slices/);
    const top = await page.$$eval('#tree > li > button', (bs) => bs.map((b) => b.dataset.path));
    assert.deepEqual(top, ['/dir', '/docs', '/hello.txt']);
    assert.deepEqual(await hashInPage(page, [...files.keys()]), Object.fromEntries(hashes));
    // A download lands in the folder the browser was given, byte for byte, streamed through the
    // download worker (the page on 127.0.0.1 is a secure context), not gathered in a Blob first.
    const downloads = join(tmp.dir, 'downloads');
    mkdirSync(downloads);
    const cdp = await browser!.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.waitForFunction(() => (window as unknown as { explorer: { streamedDownloads?: boolean } }).explorer.streamedDownloads === true, { timeout: 20_000 });
    await openInTree(page, '/dir/mid.bin');
    await page.click('#download');
    const want = files.get('/dir/mid.bin')!;
    const saved = join(downloads, 'mid.bin');
    await page.waitForFunction(() => /^Downloaded /.test(document.getElementById('read-result')!.textContent!) || document.getElementById('error')!.textContent !== '', { timeout: 20_000 });
    assert.equal(await text(page, '#error'), '');
    assert.match(await text(page, '#read-result'), /^Downloaded mid\.bin \(.*, streamed\)$/);
    for (let i = 0; i < 200 && !(existsSync(saved) && statSync(saved).size === want.length); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(sha256(readFileSync(saved)), hashes.get('/dir/mid.bin'));
    await page.close();
  });

  test('an OPFS file written through the OPFS device in a worker: e2fsck -fn clean, debugfs reads the change; a second opener gets EBUSY', async () => {
    const page = await newPage();
    await page.goto(serve!.url);
    await mounted(page);
    // A module worker (sync access handles exist only in dedicated workers) copies the served image into
    // the origin's private file system, mounts it read-write with the bundle, changes it and hands back its bytes.
    const r = await page.evaluate(async () => {
      const origin = window.location.origin;
      const code = `
        import { Vm, OpfsDevice } from '${origin}/vmpager.js';
        onmessage = async () => {
          try {
            const root = await navigator.storage.getDirectory();
            const img = new Uint8Array(await (await fetch('${origin}/image')).arrayBuffer());
            const fh = await root.getFileHandle('disk.img', { create: true });
            const w = await fh.createSyncAccessHandle();
            w.truncate(0);
            w.write(img, { at: 0 });
            w.close();
            const { error, dev, reason } = await OpfsDevice.open('disk.img');
            if (error !== 0) throw new Error(reason);
            const second = await OpfsDevice.open('disk.img');
            const fs = await new Vm({ memory: 4 << 20 }).mount(dev, { readOnly: false });
            await fs.mkdir('/made-in-browser');
            const f = await fs.open('/made-in-browser/note.txt', { create: true });
            await f.write(0, new TextEncoder().encode('written through OPFS\\n'));
            await f.close();
            await fs.unlink('/hello.txt');
            await fs.unmount();
            await dev.close();
            const h = await fh.createSyncAccessHandle();
            const out = new Uint8Array(h.getSize());
            h.read(out, { at: 0 });
            h.close();
            postMessage({ bytes: out, busy: [second.error, second.reason], writes: dev.stats.writes });
          } catch (e) {
            postMessage({ error: String((e && e.stack) || e) });
          }
        };`;
      const worker = new (window as any).Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
      const m: any = await new Promise((resolve) => {
        worker.onmessage = (e: any) => resolve(e.data);
        worker.onerror = (e: any) => resolve({ error: String(e.message) });
        worker.postMessage('go');
      });
      worker.terminate();
      if (m.error !== undefined) return { error: m.error };
      let bin = '';
      for (let i = 0; i < m.bytes.length; i += 0x8000) bin += String.fromCharCode(...m.bytes.subarray(i, i + 0x8000));
      return { b64: btoa(bin), busy: m.busy, writes: m.writes };
    });
    assert.equal(r.error, undefined, r.error);
    assert.deepEqual(r.busy, [16, 'the file is open in another tab or worker']); // EBUSY
    assert.ok(r.writes > 0);
    const out = join(tmp.dir, 'opfs-out.img');
    writeFileSync(out, Buffer.from(r.b64!, 'base64'));
    const fsck = spawnSync('e2fsck', ['-fn', out], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    assert.equal(debugfs(out, 'cat /made-in-browser/note.txt'), 'written through OPFS\n');
    assert.doesNotMatch(debugfs(out, 'ls /'), /hello\.txt/);
    assert.equal(sha256(Buffer.from(debugfs(out, 'cat /dir/mid.bin'), 'latin1')), hashes.get('/dir/mid.bin'));
    await page.close();
  });

  test('an image dropped on the box opens through the Blob device', async () => {
    const page = await newPage();
    await page.goto(serve!.url);
    await mounted(page);
    // The served image's bytes become a File in the page, dropped as a person drops one from their desktop.
    await page.evaluate(async () => {
      const file = new File([await (await fetch('/image')).blob()], 'dropped.img');
      const dt = new DataTransfer();
      dt.items.add(file);
      document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => /^dropped\.img: ext4 mounted/.test(document.getElementById('status').textContent) || document.getElementById('error').textContent !== '', { timeout: 20_000 });
    assert.equal(await text(page, '#error'), '');
    assert.match(await text(page, '#status'), /read by file slices/);
    await openInTree(page, '/docs/notes.md');
    assert.equal(await text(page, '#viewer'), '# notes\n\nvmpager in the browser.\n');
    await page.close();
  });

  test('the tree and the viewer work from the keyboard alone', async () => {
    const page = await newPage();
    await page.goto(serve!.url);
    await mounted(page);
    await page.focus('#tree button[data-path="/dir"]');
    await page.keyboard.press('ArrowRight'); // opens /dir
    await page.waitForSelector('#tree button[data-path="/dir/f0.txt"]');
    await page.keyboard.press('ArrowDown'); // /dir/f0.txt, the first entry inside
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.path), '/dir/f0.txt');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('viewer')!.textContent === 'file 0\n');
    await page.keyboard.press('ArrowLeft'); // back to the directory
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.path), '/dir');
    // Every control has a label a screen reader reads.
    const unlabelled = await page.$$eval('input, select, button, canvas', (els) =>
      els.filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label') && !(e.textContent ?? '').trim()).map((e) => e.id || e.outerHTML.slice(0, 60)),
    );
    assert.deepEqual(unlabelled, []);
    await page.close();
  });

  test('a whole disk: the page offers the partitions that hold a file system and mounts the one chosen', async () => {
    // An MBR disk as a Raspberry Pi image is laid out: FAT32 "BOOTFS" at 4 MiB, ext4 "rootfs" after it.
    const disk = newDisk(tmp.dir, 'disk.img', 100 * MiB);
    sfdisk(disk, 'label: dos\nstart=8192, size=73728, type=c\nstart=81920, type=83\n');
    const boot = mkfat(join(tmp.dir, 'boot.part'), [{ path: 'config.txt', data: new TextEncoder().encode('arm_64bit=1\n') }], { fat: 32, kib: 36 * 1024, label: 'BOOTFS' });
    putFs(disk, 8192 * 512, boot);
    const root = mkext2(join(tmp.dir, 'root.part'), [{ path: 'etc/hostname', data: new TextEncoder().encode('pi\n') }], { type: 'ext4', blockSize: 4096, size: 100 * MiB - 81920 * 512, extra: ['-L', 'rootfs'] });
    putFs(disk, 81920 * 512, root);
    const s = await startServe(disk, '8MiB');
    try {
      const page = await newPage();
      await page.goto(s.url);
      await mounted(page);
      assert.equal(await page.$eval('#part-row', (e) => e.hidden), false);
      const options = await page.$$eval('#partition option', (os) => os.map((o) => [o.value, o.textContent]));
      assert.deepEqual(options, [
        ['1', '1: fat32 "BOOTFS", 36 MiB'],
        ['2', '2: ext4 "rootfs", 60 MiB'],
      ]);
      await openInTree(page, '/config.txt');
      assert.equal(await text(page, '#viewer'), 'arm_64bit=1\n');
      await page.select('#partition', '2');
      await page.waitForFunction(() => document.getElementById('fs-info').textContent.includes('partition 2') || document.getElementById('error').textContent !== '', { timeout: 20_000 });
      assert.equal(await text(page, '#error'), '');
      await openInTree(page, '/etc/hostname');
      assert.equal(await text(page, '#viewer'), 'pi\n');
      await page.close();
    } finally {
      s.proc.kill('SIGTERM');
    }
  });

  describe('the HTTP device against the test range server', () => {
    const big = randomBytes(BIG_MIB * MiB + 4095, 99);
    const bigHash = sha256(big);
    let s: RangeServer;
    before(async () => {
      const image = mkext2(join(tmp.dir, 'big.img'), [{ path: 'big.bin', data: big }, { path: 'small.txt', data: new TextEncoder().encode('small\n') }], {
        type: 'ext4',
        blockSize: 4096,
        size: Math.ceil(BIG_MIB * 1.08) * MiB + 40 * MiB, // room for the journal and inode tables
      });
      s = await startRangeServer(readFileSync(image));
    });
    after(() => s.close());

    test(`a ${BIG_MIB} MiB file read in 4 MiB of memory: one range request per pager cluster, the JS heap within memory + 32 MiB`, async (t) => {
      const page = await newPage();
      await page.goto(serve!.url);
      await mounted(page);
      // 4 MiB: the slider's third stop; setting it remounts the served image, then the URL opens the big one.
      await page.$eval('#memory', (e) => {
        (e as HTMLInputElement).value = '2';
        e.dispatchEvent(new Event('input'));
      });
      assert.equal(await text(page, '#memory-out'), '4 MiB');
      await page.$eval('#url', (e) => ((e as HTMLInputElement).value = ''));
      await page.type('#url', s.url);
      await page.click('#open-url');
      await page.waitForFunction((u) => document.getElementById('status')!.textContent!.startsWith(u + ': ext4 mounted in 4 MiB') || document.getElementById('error')!.textContent !== '', { timeout: 20_000 }, s.url);
      assert.equal(await text(page, '#error'), '');
      await openInTree(page, '/big.bin');

      const cdp = await page.createCDPSession();
      await cdp.send('Performance.enable');
      await cdp.send('HeapProfiler.collectGarbage');
      const heap = async (): Promise<number> => {
        const { metrics } = await cdp.send('Performance.getMetrics');
        return metrics.find((m) => m.name === 'JSHeapUsedSize')!.value;
      };
      // Frames and fetch bodies are ArrayBuffers, outside the JS heap proper: their backing stores are
      // reported apart where Chromium gives them (the bodies are garbage the collector takes when it likes).
      const backing = async (): Promise<number> => ((await cdp.send('Runtime.getHeapUsage')) as { backingStorageSize?: number }).backingStorageSize ?? NaN;
      const heapBefore = await heap();
      let backingPeak = await backing();
      let heapPeak = heapBefore;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          heapPeak = Math.max(heapPeak, await heap());
          backingPeak = Math.max(backingPeak, await backing());
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const before = await page.evaluate(() => (window as unknown as { explorer: { vm: { stats(): { vnodein: number; device: { reads: number } } } } }).explorer.vm.stats());
      const requestsBefore = s.log.length;
      const t0 = performance.now();
      const got = await readWhole(page);
      const seconds = (performance.now() - t0) / 1000;
      sampling = false;
      await sampler;
      assert.equal(got, bigHash);
      const afterStats = await page.evaluate(() => (window as unknown as { explorer: { vm: { stats(): { vnodein: number; device: { reads: number } } } } }).explorer.vm.stats());
      const requests = s.log.slice(requestsBefore);
      const clusters = afterStats.vnodein - before.vnodein;
      assert.ok(requests.every((r) => r.status === 206 && r.range !== null));
      const failure = await page.evaluate(() => window.explorer.dev.failure);
      assert.equal(requests.length, afterStats.device.reads - before.device.reads, `one request per device transfer (the device's failure: ${failure}; ${new Set(requests.map((r) => r.range)).size} distinct ranges)`);
      assert.ok(requests.length >= clusters && requests.length <= clusters + 8, `${requests.length} requests for ${clusters} clusters`);
      const { shown, stats } = await shownAndStats(page);
      assert.deepEqual(shown, stats);
      assert.ok(heapPeak <= 4 * MiB + 32 * MiB, `JS heap peaked at ${(heapPeak / MiB).toFixed(1)} MiB`);
      t.diagnostic(`${requests.length} range requests for ${clusters} pager clusters (${(requests.length / clusters).toFixed(3)} a cluster, ${((BIG_MIB * MiB) / requests.length / 1024).toFixed(0)} KiB each); ${BIG_MIB} MiB in ${seconds.toFixed(2)} s; JS heap ${(heapBefore / MiB).toFixed(1)} MiB before, ${(heapPeak / MiB).toFixed(1)} MiB at most, ArrayBuffer backing stores ${(backingPeak / MiB).toFixed(1)} MiB at most`);
      await page.close();
    });

    test('a server that does not answer ranges: the page says so and mounts nothing', async () => {
      s.mode = 'no-ranges';
      try {
        const page = await newPage();
        await page.goto(serve!.url);
        await mounted(page);
        await page.$eval('#url', (e) => ((e as HTMLInputElement).value = ''));
        await page.type('#url', s.url);
        await page.click('#open-url');
        await page.waitForFunction(() => document.getElementById('error')!.textContent !== '', { timeout: 20_000 });
        assert.equal(await text(page, '#error'), `${s.url}: the server does not answer range requests (200 with the whole file instead of 206 Partial Content)`);
        assert.equal(await page.$$eval('#tree button', (bs) => bs.length), 0);
        await page.close();
      } finally {
        s.mode = 'ranges';
      }
    });
  });
});
