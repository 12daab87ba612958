#!/usr/bin/env node
// Makes assets/sample.img.gz, the image `vmpager demo` tours: a generated
// tree put into a 16 MiB ext2 file system (4 KiB blocks) by mke2fs -d.
// Run it again only to change the sample; the demo itself needs no tools.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, symlinkSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const words = ['page', 'fault', 'cluster', 'vnode', 'object', 'pager', 'block', 'map', 'frame', 'queue',
  'inactive', 'active', 'free', 'busy', 'wanted', 'valid', 'dirty', 'read-ahead', 'strategy', 'bmap'];
let x = 2463534242;
const rnd = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);

const tree = mkdtempSync(join(tmpdir(), 'vmpager-sample-'));
const image = join(tree, '..', `sample-${process.pid}.img`);
try {
  mkdirSync(join(tree, 'books'));
  mkdirSync(join(tree, 'small'));
  writeFileSync(join(tree, 'README.txt'),
    'This is the sample file system of `vmpager demo`.\n' +
    'books/pager.txt is 2 MiB of text the demo reads page by page;\n' +
    'books/sparse.bin is 8 MiB with holes; small/ holds files of awkward sizes.\n');
  const lines = [];
  let bytes = 0;
  for (let i = 0; bytes < 2 * 2 ** 20; i++) {
    const n = 4 + (rnd() % 8);
    const ws = Array.from({ length: n }, () => words[rnd() % words.length]).join(' ');
    const line = `${String(i).padStart(7, '0')} ${ws}\n`;
    lines.push(line);
    bytes += line.length;
  }
  writeFileSync(join(tree, 'books', 'pager.txt'), lines.join("").slice(0, 2 * 2 ** 20));
  // 8 MiB with data only at the start, the middle and the end: the rest are holes.
  const fd = openSync(join(tree, 'books', 'sparse.bin'), 'w');
  for (const at of [0, 4 * 2 ** 20, 8 * 2 ** 20 - 4096]) writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, at);
  ftruncateSync(fd, 8 * 2 ** 20);
  closeSync(fd);
  symlinkSync('pager.txt', join(tree, 'books', 'link-to-pager'));
  for (const size of [0, 1, 511, 512, 4095, 4096, 4097]) {
    writeFileSync(join(tree, 'small', `size-${size}`), Buffer.alloc(size, 0x41 + (size % 26)));
  }
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', '-L', 'vmpager-demo', '-d', tree, image, '16M'], {
    stdio: 'inherit',
    env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' },
  });
  const out = new URL('../assets/sample.img.gz', import.meta.url);
  writeFileSync(out, gzipSync(readFileSync(image), { level: 9 }));
  console.log(`wrote ${out.pathname}`);
} finally {
  rmSync(tree, { recursive: true, force: true });
  rmSync(image, { force: true });
}
