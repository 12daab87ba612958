/*
 * A `get` of a whole tree (IMAGE /, or a path ending in '/') starts its two
 * host lanes' threads as the process starts, before the bundle is compiled
 * and before any V8 flag of ours is set, and the copy takes those two (no
 * third is started); a `get` of anything else starts none up front; a tree
 * into an ext2/3/4 image (`mkfs --from`, `put -r`) starts its reading
 * thread so, and FAT's `mkfs --from`, which reads without one, none. Judged
 * from inside the command (node --require): each thread made, the bundle's
 * compile and each V8 flag set, in order.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir('vmpager-warm-');
after(() => tmp.cleanup());

const HOOK = `const wt = require('node:worker_threads');
if (wt.isMainThread) {
  const log = [];
  const v8 = require('node:v8');
  const set = v8.setFlagsFromString;
  v8.setFlagsFromString = (f) => { log.push('flag ' + f); return set(f); };
  const W = wt.Worker;
  wt.Worker = class extends W { constructor(...a) { log.push('thread'); super(...a); } };
  const vm = require('node:vm');
  const S = vm.Script;
  vm.Script = class extends S { constructor(src, o) { if (o && String(o.filename).endsWith('vmpager.cjs')) log.push('bundle'); super(src, o); } };
  require('node:module').syncBuiltinESMExports();
  process.on('exit', () => process.stderr.write('LOG ' + JSON.stringify(log) + '\\n'));
}`;

const img = join(tmp.dir, 'a.img');
const hook = join(tmp.dir, 'hook.cjs');

before(() => {
  const tree = join(tmp.dir, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  for (let i = 0; i < 300; i++) writeFileSync(join(tree, 'sub', `f${i}`), `file ${i}\n`.repeat(200 + i));
  writeFileSync(join(tree, 'top'), 'top\n');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '32M'], { stdio: 'ignore' });
  writeFileSync(hook, HOOK);
});

/** Runs vmpager with the hook; its log. */
function logOf(...args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--require', hook, CLI, ...args], { encoding: 'utf8', env: { ...process.env, VMPAGER_COMPILE_CACHE: join(tmp.dir, 'cache') } });
  assert.equal(r.status, 0, r.stderr);
  const m = /LOG (.*)/.exec(r.stderr);
  assert.ok(m !== null, r.stderr);
  return JSON.parse(m[1]) as string[];
}

/** V8's defaults of the flags vmpager sets (heap_flags.ts): setting one of these sets nothing of ours. */
const DEFAULTS = new Set(['--semi-space-growth-factor=2', '--heap-growing-percent=0', '--turbo-inlining', '--interrupt-budget=67584']);

test('get of IMAGE /: two threads start first, then the bundle is compiled, no flag of ours set before it, and the copy starts no other', () => {
  for (let run = 0; run < 2; run++) {
    // (twice: the second run takes the code cache the first made, under the same flags)
    const log = logOf('get', img, '/', join(tmp.dir, `out${run}`));
    const bundle = log.indexOf('bundle');
    assert.deepEqual(log.slice(0, 2), ['thread', 'thread'], log.join(', '));
    assert.ok(bundle > 1, log.join(', '));
    const early = log.slice(0, bundle).filter((e) => e.startsWith('flag ') && !DEFAULTS.has(e.slice(5)));
    assert.deepEqual(early, [], 'flags set before the bundle was compiled');
    assert.equal(log.filter((e) => e === 'thread').length, 2, log.join(', '));
    // (that the flags come back once the threads are up is heap_flags.test.ts': here a small copy may end first)
    assert.equal(readFileSync(join(tmp.dir, `out${run}`, 'sub', 'f299'), 'utf8'), 'file 299\n'.repeat(499));
  }
});

test('get of a path that may be a file (no trailing /) starts no thread up front: one file, none at all; a tree, its lanes as it meets it', () => {
  const file = logOf('get', img, '/top', join(tmp.dir, 'top.out'));
  assert.equal(file.filter((e) => e === 'thread').length, 0, file.join(', '));
  const dir = logOf('get', img, '/sub', join(tmp.dir, 'sub.out'));
  assert.ok(dir.indexOf('thread') > dir.indexOf('bundle'), dir.join(', '));
  assert.equal(readFileSync(join(tmp.dir, 'sub.out', 'f7'), 'utf8'), 'file 7\n'.repeat(207));
});

test('mkfs --from and put -r start their reading thread before the bundle is compiled and take it; FAT\'s mkfs --from starts none', () => {
  const tree = join(tmp.dir, 'tree');
  for (const [i, args] of [
    ['mkfs', '--type', 'ext4', '--from', tree, join(tmp.dir, 'm.img'), '64MiB'],
    ['put', '-r', img, '/in', '--from', tree],
  ].entries()) {
    const log = logOf(...args);
    assert.deepEqual(log.slice(0, 1), ['thread'], `${i}: ${log.join(', ')}`);
    assert.ok(log.indexOf('bundle') > 0, log.join(', '));
    assert.equal(log.filter((e) => e === 'thread').length, 1, log.join(', '));
  }
  const r = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout);
  const fat = logOf('mkfs', '--type', 'fat', '--from', tree, join(tmp.dir, 'f.img'), '64MiB');
  assert.equal(fat.filter((e) => e === 'thread').length, 0, fat.join(', '));
});

test('a thread started ahead that fails to start (out of memory) ends nothing and is never handed out', () => {
  const probe = join(tmp.dir, 'fail.mjs');
  writeFileSync(probe, `const { prestart, takeWorker } = await import(process.argv[2]);
prestart(1, { resourceLimits: { maxOldGenerationSizeMb: 1, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 1 } });
// Until it has failed (or exited), 10 s at most: the threads started ahead are kept under a global symbol.
const ahead = globalThis[Symbol.for('vmpager.prestarted')];
for (let t = 0; t < 200 && ahead.some((w) => w.failure === null); t++) await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ taken: takeWorker() }));`);
  const r = spawnSync(process.execPath, [probe, new URL('../../src/cli/warm_worker.js', import.meta.url).href], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { taken: null });
});
