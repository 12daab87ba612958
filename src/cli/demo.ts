/*
 * vmpager demo: a guided tour of the pager on a sample image vmpager makes
 * itself, in memory (demo_image.ts: mkfs, then files written through the
 * pager). No tools and no files on the host are needed.
 */

import { Vm } from '../api/vm.js';
import { buildSampleImage } from './demo_image.js';
import type { File } from '../api/file.js';
import { EXIT_OK, type GlobalOptions } from './context.js';

const DEMO_MEMORY = 512 * 1024;

function say(text = ''): void {
  process.stdout.write(text + '\n');
}

/** One character per `per` pages of the object: '#' all resident, '+' some, '.' none. */
function residentMap(f: File, per: number): string {
  const P = f.object.vm.param.pageSize;
  const pages = Math.ceil(f.size / P);
  let s = '';
  for (let i = 0; i < pages; i += per) {
    let n = 0;
    for (let j = i; j < Math.min(i + per, pages); j++) if (f.object.pages.has(j)) n++;
    s += n === 0 ? '.' : n === Math.min(per, pages - i) ? '#' : '+';
  }
  return s;
}

export async function demo(g: GlobalOptions): Promise<number> {
  const disk = await buildSampleImage();
  const vm = new Vm({ memory: DEMO_MEMORY, pageSize: g.pageSize });
  const P = g.pageSize;
  const fs = await vm.mount(disk);
  const frames = vm.stats().pages.total;
  say('vmpager demo: the BSD vnode pager, reading a sample ext2 image');
  say();
  say(`The image: ${fs.type}, ${fs.blockSize}-byte blocks, ${disk.size >> 20} MiB, just made in memory by vmpager's own mkfs`);
  say('and written through the pager (the files below).');
  say(`The VM: ${DEMO_MEMORY >> 10} KiB of page frames, ${frames} pages of ${P} bytes. Nothing else caches file data.`);
  say();
  for (const e of await fs.readdir('/books')) say(`  /books/${e.name.padEnd(14)} ${e.type.padEnd(8)} ${e.size} bytes`);
  say();

  // 1. Sequential read: the read-ahead window grows.
  const f = await fs.open('/books/pager.txt');
  const pages = Math.ceil(f.size / P);
  say(`1. Read /books/pager.txt (${f.size >> 10} KiB, ${pages} pages) from start to end, one page at a time.`);
  say('   A page not in memory is a fault. The fault asks the pager for a cluster of pages');
  say('   (vnode_pager_haspage says how many lie contiguous on disk) and getpages reads the');
  say('   cluster with one device transfer. A sequential reader grows the read-ahead window');
  say('   and keeps the next window in flight: reaching the first page of one starts the next.');
  say('   Reads of these pages started transfers:');
  const buf = new Uint8Array(P);
  let shown = 0;
  for (let i = 0; i < pages; i++) {
    const before = vm.stats();
    await f.readInto(buf, i * P);
    const after = vm.stats();
    if (after.vnodein > before.vnodein && shown < 10) {
      const n = after.vnodepgsin - before.vnodepgsin;
      const reads = after.device.reads - before.device.reads;
      say(`     page ${String(i).padStart(4)}: ${String(n).padStart(3)} pages in ${reads} device read${reads === 1 ? '' : 's'}`);
      if (++shown === 10) say('     ...');
    }
  }
  let s = vm.stats();
  say(`   ${pages} pages read: ${s.faults} faults, ${s.device.reads} device reads, ${s.hits} cache hits.`);
  say();

  // 2. The resident pages.
  const per = Math.max(1, Math.ceil(pages / 64));
  say(`2. Which pages of the file are in memory now ('#' resident, '.' not; one mark = ${per} pages):`);
  say(`   [${residentMap(f, per)}]`);
  say(`   Only ${frames} pages fit. When free pages ran out the page daemon scanned the`);
  say('   inactive queue from its oldest page and freed clean pages (they can be read again).');
  say(`   Pages freed by the daemon: ${s.pagesFreedByDaemon}; queues now: ${s.pages.active} active, ${s.pages.inactive} inactive, ${s.pages.free} free.`);
  say();

  // 3. Random reads: a random fault reads the aligned 16-page cluster around it.
  const hits0 = s.hits;
  const misses0 = s.misses;
  const reads0 = s.device.reads;
  let x = 12345;
  const hot = Math.floor(frames / 2);
  for (let i = 0; i < 2000; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    // Nine reads in ten go to a hot set half the size of memory.
    const page = (x >>> 8) % 10 < 9 ? (x >>> 4) % hot : (x >>> 4) % pages;
    await f.readInto(buf, page * P);
  }
  s = vm.stats();
  const hits = s.hits - hits0;
  const misses = s.misses - misses0;
  say(`3. 2000 random page reads, nine in ten inside a hot set of ${hot} pages:`);
  say(`   hit rate ${((100 * hits) / (hits + misses)).toFixed(1)}% (${hits} hits, ${misses} misses), ${s.device.reads - reads0} device reads.`);
  say('   Pages found referenced by the page daemon went back to the active queue');
  say(`   (${s.reactivated} reactivations so far), so the hot set stays while cold pages go.`);
  say();
  await f.close();

  // 4. Holes cost no I/O.
  const sp = await fs.open('/books/sparse.bin');
  const z0 = vm.stats();
  const big = new Uint8Array(64 * 1024);
  let nonzero = 0;
  for (let off = 0; off < sp.size; off += big.length) {
    const n = await sp.readInto(big, off);
    for (let i = 0; i < n; i++) if (big[i] !== 0) nonzero++;
  }
  const z1 = vm.stats();
  say(`4. /books/sparse.bin is ${sp.size >> 20} MiB with data in only three blocks; the rest are holes.`);
  say(`   Reading it all: ${z1.zfod - z0.zfod} pages zero-filled without I/O, ${z1.device.reads - z0.device.reads} device reads, ${nonzero} non-zero bytes.`);
  say();
  await sp.close();

  // 5. The counters.
  s = vm.stats();
  say('5. The counters (vm.stats(), `vmpager --stats`):');
  say(`   faults ${s.faults}  vnodein ${s.vnodein}  vnodepgsin ${s.vnodepgsin}  hits ${s.hits}  misses ${s.misses}`);
  say(`   readahead ${s.readahead}  readaheadWasted ${s.readaheadWasted}  zfod ${s.zfod}  freed by daemon ${s.pagesFreedByDaemon}`);
  say();
  say('Try it on your own image:  npx vmpager ls -R IMAGE   npx vmpager --stats cat IMAGE /path > /dev/null');
  await fs.unmount();
  return EXIT_OK;
}
