// The explorer page: opens a disk image (a picked or dropped file, read by
// Blob slices; or a URL, read by HTTP range requests) with vmpager's browser
// bundle, lists its tree, shows and reads files, and draws what the pager
// does: the open file's page map, the page queues, the counters and the
// sizes of the device transfers. `vmpager serve` serves it with the bundle
// at ./vmpager.js and, when given an image, ./config.json naming it.
//   window.explorer: the state (vm, fs, dev, file), for the console and tests

import { HttpDevice, Vm, openImage } from './vmpager.js';
import { Sha256 } from './sha256.js';

const MiB = 2 ** 20;
/** The memory slider's stops. */
const MEMORY_STOPS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((m) => m * MiB);
const VIEW_BYTES = 64 * 1024;
const HEX_BYTES = 4096;
/** Page-map colours by state (PAGEMAP_* of File.pageMap()), and the order in which a cell of several pages shows them. */
const COLOURS = ['s0', 's1', 's2', 's3', 's4', 's5'].map((s) => getComputedStyle(document.documentElement).getPropertyValue('--' + s).trim());
const PRIORITY = [0, 2, 1, 3, 4, 5];

const $ = (id) => document.getElementById(id);

const explorer = {
  vm: null,
  fs: null,
  dev: null,
  /** The image: a File/Blob or a URL. */
  source: null,
  partition: undefined,
  file: null,
  path: null,
  memory: 16 * MiB,
  /** Operations in progress (reads, downloads): the panel redraws while any runs. */
  busy: 0,
  refresh,
  openSource,
};
window.explorer = explorer;

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function sourceName(source) {
  return typeof source === 'string' ? source : source.name ?? 'blob';
}

function setStatus(text) {
  $('status').textContent = text;
}

/** Shows an error, with the device's own reason when it has one. */
function showError(e) {
  const failure = explorer.dev?.failure;
  const msg = e instanceof Error ? e.message : String(e);
  $('error').textContent = failure && !msg.includes(failure) ? `${msg} (${failure})` : msg;
}

function clearError() {
  $('error').textContent = '';
}

// ---- opening and mounting ----

async function unmountAll() {
  const { fs, file } = explorer;
  explorer.file = null;
  explorer.fs = null;
  if (file !== null) await file.close().catch(() => {});
  if (fs !== null) await fs.unmount().catch(() => {});
}

/**
 * Opens source (File, Blob or URL) in a new Vm of explorer.memory bytes; on
 * a disk with a partition table, mounts `partition` or the first partition
 * holding a file system, and offers the others.
 */
async function openSource(source, partition = undefined, reopenPath = null) {
  clearError();
  await unmountAll();
  explorer.source = source;
  setStatus(`Opening ${sourceName(source)} …`);
  $('tree').replaceChildren();
  showFile(null);
  try {
    const vm = new Vm({ memory: explorer.memory });
    const dev = await openImage(source);
    explorer.vm = vm;
    explorer.dev = dev;
    const parts = await vm.partitions(dev);
    const mountable = parts.filter((p) => p.fs !== null);
    const select = $('partition');
    select.replaceChildren();
    if (parts.length > 0) {
      if (mountable.length === 0) throw new Error(`${sourceName(source)}: no partition holds a file system vmpager reads`);
      partition ??= mountable[0].index;
      for (const p of mountable) {
        const o = document.createElement('option');
        o.value = p.index;
        o.textContent = `${p.index}: ${p.fs}${p.name ? ` "${p.name}"` : ''}, ${formatBytes(p.size)}`;
        o.selected = p.index === partition;
        select.append(o);
      }
    }
    $('part-row').hidden = parts.length === 0;
    explorer.partition = parts.length === 0 ? undefined : partition;
    const fs = await vm.mount(dev, { partition: explorer.partition });
    explorer.fs = fs;
    $('fs-info').textContent = `${fs.type}, ${formatBytes(dev.size)}${fs.partition ? `, partition ${fs.partition.index}` : ''}`;
    setStatus(`${sourceName(source)}: ${fs.type} mounted in ${formatBytes(explorer.memory)} of page frames${dev instanceof HttpDevice ? ', read by HTTP range requests' : ', read by file slices'}`);
    await fillDir($('tree'), '/');
    if (reopenPath !== null) await selectFile(reopenPath).catch(() => {});
  } catch (e) {
    setStatus('');
    showError(e);
    await explorer.dev?.close?.();
  }
  refresh();
}

// ---- the tree ----

function treeButtons() {
  return [...$('tree').querySelectorAll('button')].filter((b) => b.offsetParent !== null);
}

/** Lists dir's entries into the list element ul: directories expand on activation, files open. */
async function fillDir(ul, dir) {
  const entries = await explorer.fs.readdir(dir);
  entries.sort((a, b) => (b.type === 'dir') - (a.type === 'dir') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name === '.' || e.name === '..') continue;
    const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.path = path;
    b.dataset.type = e.type;
    if (e.type === 'dir') {
      b.textContent = `${e.name}/`;
      b.setAttribute('aria-expanded', 'false');
      b.addEventListener('click', () => toggleDir(b, li));
    } else {
      b.append(e.name + ' ');
      const size = document.createElement('span');
      size.className = 'size';
      size.textContent = e.type === 'file' ? formatBytes(e.size) : e.type;
      b.append(size);
      b.addEventListener('click', () => selectFile(path).catch(showError));
    }
    b.addEventListener('keydown', (ev) => treeKey(ev, b, li));
    li.append(b);
    ul.append(li);
  }
}

async function toggleDir(b, li) {
  const open = b.getAttribute('aria-expanded') === 'true';
  let sub = li.querySelector(':scope > ul');
  if (open) {
    b.setAttribute('aria-expanded', 'false');
    if (sub) sub.hidden = true;
    return;
  }
  b.setAttribute('aria-expanded', 'true');
  if (sub) {
    sub.hidden = false;
    return;
  }
  sub = document.createElement('ul');
  li.append(sub);
  try {
    await fillDir(sub, b.dataset.path);
  } catch (e) {
    showError(e);
  }
}

/** Arrow keys move along the visible tree; Right opens a directory, Left closes it or goes to its parent. */
function treeKey(ev, b, li) {
  const all = treeButtons();
  const i = all.indexOf(b);
  if (ev.key === 'ArrowDown' && i < all.length - 1) all[i + 1].focus();
  else if (ev.key === 'ArrowUp' && i > 0) all[i - 1].focus();
  else if (ev.key === 'ArrowRight' && b.dataset.type === 'dir' && b.getAttribute('aria-expanded') !== 'true') toggleDir(b, li);
  else if (ev.key === 'ArrowLeft') {
    if (b.dataset.type === 'dir' && b.getAttribute('aria-expanded') === 'true') toggleDir(b, li);
    else li.parentElement.closest('li')?.querySelector(':scope > button')?.focus();
  } else return;
  ev.preventDefault();
}

// ---- the file ----

function showFile(st) {
  $('file-actions').hidden = st === null;
  $('viewer').textContent = '';
  $('read-result').textContent = '';
  $('file-info').textContent = st === null ? 'Choose a file in the tree.' : `${explorer.path}: ${st.size} bytes (${formatBytes(st.size)}), mode ${st.mode.toString(8)}, ${Math.ceil(st.size / explorer.vm.stats().pageSize)} pages`;
}

async function selectFile(path) {
  clearError();
  if (explorer.file !== null) await explorer.file.close();
  explorer.file = null;
  explorer.path = path;
  for (const b of $('tree').querySelectorAll('button[aria-current]')) b.removeAttribute('aria-current');
  $('tree').querySelector(`button[data-path="${CSS.escape(path)}"]`)?.setAttribute('aria-current', 'true');
  $('viewer').setAttribute('aria-busy', 'true'); // until the file's first view is drawn
  try {
    const st = await explorer.fs.stat(path, { follow: true });
    explorer.file = await explorer.fs.open(path);
    showFile(st);
    $('view-offset').value = '0';
    await view('auto');
  } finally {
    $('viewer').removeAttribute('aria-busy');
  }
  refresh();
}

/** Shows the bytes at the offset field's position: text if they decode as UTF-8 without NULs, else hex (or as asked). */
async function view(how) {
  const f = explorer.file;
  if (f === null) return;
  const at = Math.max(0, Math.min(Number($('view-offset').value) || 0, f.size));
  explorer.busy++;
  try {
    const bytes = await f.read(at, how === 'hex' ? HEX_BYTES : VIEW_BYTES);
    let text = null;
    if (how !== 'hex') {
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        if (text.includes('\0')) text = null;
      } catch {
        text = null;
      }
    }
    $('viewer').dataset.mode = text === null ? 'hex' : 'text';
    $('viewer').textContent = text ?? hexDump(bytes.subarray(0, HEX_BYTES), at);
  } catch (e) {
    showError(e);
  } finally {
    explorer.busy--;
    refresh();
  }
}

function hexDump(bytes, base) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(base + i).toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

/** Streams the whole file from the page frames through SHA-256. */
async function readAll() {
  const f = explorer.file;
  if (f === null) return;
  clearError();
  $('read-result').textContent = 'Reading …';
  explorer.busy++;
  const t0 = performance.now();
  try {
    f.advise('sequential');
    const h = new Sha256();
    const n = await f.sendfile((frames) => {
      for (const v of frames) h.update(v);
    });
    const s = (performance.now() - t0) / 1000;
    $('read-result').textContent = `SHA-256 ${h.hex()} of ${n} bytes, read in ${s.toFixed(2)} s (${formatBytes(n / s)}/s)`;
  } catch (e) {
    $('read-result').textContent = '';
    showError(e);
  } finally {
    explorer.busy--;
    refresh();
  }
}

/**
 * The download worker (download_sw.js) once active, where the page is a
 * secure context that allows one (`vmpager serve` on 127.0.0.1, any https
 * site); null: downloads are gathered into a Blob first. Its scope is
 * download/ alone, so the page's own requests never pass through it.
 */
let downloadWorker = null;
if (window.isSecureContext && 'serviceWorker' in navigator) {
  navigator.serviceWorker
    .register('download_sw.js', { scope: 'download/' })
    .then((reg) => {
      if (reg.active !== null) return reg.active;
      const w = reg.installing ?? reg.waiting;
      return new Promise((resolve) => w.addEventListener('statechange', () => w.state === 'activated' && resolve(w)));
    })
    .then((w) => {
      downloadWorker = w;
      explorer.streamedDownloads = true;
    })
    .catch(() => {}); // no worker: Blob downloads
}

/** Saves the open file: streamed through the download worker when there is one, else gathered into a Blob. */
async function download() {
  const f = explorer.file;
  if (f === null) return;
  clearError();
  explorer.busy++;
  const name = explorer.path.split('/').pop() || 'file';
  try {
    let how = null;
    if (downloadWorker !== null) how = await streamDownload(f, name);
    how ??= await blobDownload(f, name); // no worker, or it never asked for the bytes
    $('read-result').textContent = `Downloaded ${name} (${formatBytes(f.size)}, ${how})`;
  } catch (e) {
    showError(e);
  } finally {
    explorer.busy--;
    refresh();
  }
}

/**
 * The file to the browser's download through the worker: a hidden frame
 * opens download/ID/NAME, the worker answers with a stream that asks for
 * each next chunk, and each batch of frames sendfile gives is copied once
 * into a buffer handed over (transferred) when asked for. What is held is
 * a few chunks (the worker asks up to four ahead), whatever the file's size.
 */
async function streamDownload(f, name) { // 'streamed', or null when the worker never asked
  const id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const { port1: port, port2 } = new MessageChannel();
  downloadWorker.postMessage({ type: 'download', id, name, size: f.size }, [port2]);
  let asked = 0;
  let cancelled = false;
  let wake = null;
  port.onmessage = (e) => {
    if (e.data === 'cancel') cancelled = true;
    else asked++;
    wake?.();
    wake = null;
  };
  /** Until the worker has asked (or cancelled: a throw). */
  const askedFor = async () => {
    while (asked === 0 && !cancelled) await new Promise((r) => (wake = r));
    if (cancelled) throw new Error('the download was cancelled');
  };
  /** One ask answered. */
  const turn = async () => {
    await askedFor();
    asked--;
  };
  const timer = setTimeout(() => {
    cancelled = true; // the worker was stopped, or bypassed: nobody will ask
    wake?.();
  }, 10_000);
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `download/${id}/${encodeURIComponent(name)}`;
  document.body.append(frame);
  // A worker with nothing to do may be stopped; a message now and then keeps it while the bytes flow.
  const keepAlive = setInterval(() => downloadWorker.postMessage({ type: 'ping' }), 10_000);
  try {
    try {
      await askedFor(); // the first ask: the worker has the frame's request
    } catch {
      port.postMessage({ error: 'the page saved the file another way' }); // should the worker ask after all
      return null;
    } finally {
      clearTimeout(timer);
    }
    await f.sendfile(async (views) => {
      // The batch's views (a page each, or runs of pages) gathered into one chunk: one ask per batch.
      let n = 0;
      for (const v of views) n += v.length;
      await turn();
      const chunk = new Uint8Array(n);
      let at = 0;
      for (const v of views) {
        chunk.set(v, at);
        at += v.length;
      }
      port.postMessage({ chunk: chunk.buffer }, [chunk.buffer]);
    });
    await turn();
    port.postMessage({ done: true });
  } catch (e) {
    if (!cancelled) port.postMessage({ error: String(e?.message ?? e) });
    throw e;
  } finally {
    clearInterval(keepAlive);
    setTimeout(() => frame.remove(), 60_000); // the download outlives the frame's navigation, not its removal at once
  }
  return 'streamed';
}

/** The file's bytes copied out of the frames batch by batch into a Blob, then offered as a download. */
async function blobDownload(f, name) {
  const parts = [];
  await f.sendfile((frames) => {
    for (const v of frames) parts.push(v.slice());
  });
  const url = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return 'gathered in memory';
}

// ---- the VM panel ----

function statOf(stats, key) {
  return key.split('.').reduce((o, k) => o[k], stats);
}

/** Redraws the panel from vm.stats(), the open file's page map and the device's transfer sizes. */
function refresh() {
  const vm = explorer.vm;
  if (vm === null) return;
  const st = vm.stats();
  for (const td of document.querySelectorAll('[data-stat]')) td.textContent = String(statOf(st, td.dataset.stat));
  for (const q of ['active', 'inactive', 'free']) {
    $(`q-${q}`).textContent = String(st.pages[q]);
    $(`m-${q}`).value = st.pages.total === 0 ? 0 : st.pages[q] / st.pages.total;
  }
  $('q-total').textContent = String(st.pages.total);
  drawPageMap(explorer.file?.pageMap() ?? null);
  drawHistogram(explorer.dev?.transferSizes ?? new Map());
}

function drawPageMap(map) {
  const c = $('pagemap');
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, c.width, c.height);
  if (map === null) {
    $('pagemap-text').textContent = '';
    return;
  }
  const n = map.length;
  // The largest square cell that fits every page; past one pixel a page, a pixel shows several pages.
  let cell = 16;
  while (cell > 1 && Math.ceil(n / Math.floor(c.width / cell)) * cell > c.height) cell /= 2;
  const cols = Math.floor(c.width / cell);
  const perCell = Math.max(1, Math.ceil(n / (cols * Math.floor(c.height / cell))));
  const counts = [0, 0, 0, 0, 0, 0];
  for (const s of map) counts[s]++;
  const cells = Math.ceil(n / perCell);
  for (let i = 0; i < cells; i++) {
    let s = 0;
    for (let j = i * perCell; j < Math.min(n, (i + 1) * perCell); j++) if (PRIORITY[map[j]] > PRIORITY[s]) s = map[j];
    ctx.fillStyle = COLOURS[s];
    const x = (i % cols) * cell;
    const y = Math.floor(i / cols) * cell;
    ctx.fillRect(x, y, cell > 3 ? cell - 1 : cell, cell > 3 ? cell - 1 : cell);
  }
  const text = `${n} pages${perCell > 1 ? ` (${perCell} a cell)` : ''}: ${counts[1] + counts[2]} resident, ${counts[3]} read ahead unused, ${counts[4]} dirty, ${counts[5]} in I/O, ${counts[0]} not in memory`;
  $('pagemap-text').textContent = text;
  c.setAttribute('aria-label', `Page map of ${explorer.path}: ${text}`);
}

function drawHistogram(sizes) {
  const c = $('histogram');
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, c.width, c.height);
  // Buckets by powers of two: up to 512 B, 1 KiB, 2 KiB, ... 1 MiB and more.
  const labels = [];
  const counts = [];
  for (let b = 512; b <= MiB; b *= 2) {
    labels.push(b < 1024 ? `${b}` : b < MiB ? `${b / 1024}K` : '1M+');
    counts.push(0);
  }
  for (const [size, k] of sizes) {
    let i = 0;
    while (i < counts.length - 1 && size > 512 * 2 ** i) i++;
    counts[i] += k;
  }
  const max = Math.max(1, ...counts);
  const w = c.width / counts.length;
  ctx.font = '9px sans-serif';
  ctx.textAlign = 'center';
  counts.forEach((k, i) => {
    const h = ((c.height - 24) * k) / max;
    ctx.fillStyle = '#2563eb';
    ctx.fillRect(i * w + 2, c.height - 14 - h, w - 4, h);
    ctx.fillStyle = '#3f3f46';
    ctx.fillText(labels[i], i * w + w / 2, c.height - 3);
    if (k > 0) ctx.fillText(String(k), i * w + w / 2, c.height - 17 - h);
  });
  const text = counts.map((k, i) => (k > 0 ? `${labels[i]}: ${k}` : null)).filter((x) => x !== null).join(', ');
  $('histogram-text').textContent = text === '' ? '(none yet)' : `(${text})`;
  c.setAttribute('aria-label', `Device transfers by size: ${text || 'none yet'}`);
}

// ---- wiring ----

function memoryIndex(bytes) {
  let best = 0;
  MEMORY_STOPS.forEach((m, i) => {
    if (Math.abs(Math.log2(m / bytes)) < Math.abs(Math.log2(MEMORY_STOPS[best] / bytes))) best = i;
  });
  return best;
}

function setMemory(bytes) {
  explorer.memory = bytes;
  $('memory').value = String(memoryIndex(bytes));
  $('memory-out').textContent = formatBytes(bytes);
  $('memory').setAttribute('aria-valuetext', formatBytes(bytes));
}

$('file').addEventListener('change', () => {
  const f = $('file').files?.[0];
  if (f) openSource(f);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files?.[0];
  if (f) openSource(f);
});
$('url-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const url = $('url').value.trim();
  if (url !== '') openSource(url);
});
$('memory').addEventListener('input', () => setMemory(MEMORY_STOPS[Number($('memory').value)]));
$('memory').addEventListener('change', () => {
  if (explorer.source !== null) openSource(explorer.source, explorer.partition, explorer.path);
});
$('partition').addEventListener('change', () => openSource(explorer.source, $('partition').value));
$('view-text').addEventListener('click', () => view('text'));
$('view-hex').addEventListener('click', () => view('hex'));
$('view-offset').addEventListener('change', () => view($('viewer').dataset.mode ?? 'auto'));
$('read-all').addEventListener('click', readAll);
$('download').addEventListener('click', download);

setInterval(() => {
  if (explorer.busy > 0) refresh();
}, 100);

setMemory(explorer.memory);
// Served by `vmpager serve IMAGE`: its config names the image and the memory to start with.
fetch('config.json')
  .then((r) => (r.ok ? r.json() : null))
  .then((cfg) => {
    if (cfg?.memory) setMemory(cfg.memory);
    if (cfg?.image) {
      $('url').value = new URL(cfg.image.url, location.href).href;
      openSource($('url').value);
    }
  })
  .catch(() => {});
