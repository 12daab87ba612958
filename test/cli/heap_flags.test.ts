/*
 * The command line's small-heap flags (src/cli/heap_flags.ts) hold after a
 * worker thread starts: the start of a worker sets V8's flags back to the
 * command line's, and host_ops' worker (vmpager get) sets them again once
 * it is up. Judged by V8's own heap statistics: under a churn of
 * short-lived objects with survivors, the young generation stays at its
 * first size instead of growing to 16 MiB semi-spaces. And the commands
 * load every Node module they use before the first flag is set (Node's
 * cache of its own modules holds under the default flags only), and a
 * worker thread starts under the default flags (its own isolate loads Node's
 * modules from that cache), ours set again once it is up.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { CLI } from '../helpers/cli.js';
import { keepHeapSmall } from '../../src/cli/heap_flags.js';
import { HostOps } from '../../src/cli/host_ops.js';

/** Allocates as a walk does (many short-lived objects, some kept a while); the new space's size after it. */
function churn(): number {
  const keep: object[] = [];
  for (let i = 0; i < 2e6; i++) {
    const o = { a: i, b: [i, i + 1] };
    if (i % 10 === 0) keep.push(o);
    if (keep.length > 20000) keep.splice(0, 10000);
  }
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
}

const MiB = 2 ** 20;

// host_ops' test first: a young generation once grown stays grown for the rest of the process.
test('with host_ops\' worker up, the young generation stays at its first size', async () => {
  keepHeapSmall();
  const ops = HostOps.start(true);
  await new Promise((r) => setTimeout(r, 200)); // the worker is online and has set the flags again
  const size = churn();
  await ops.finish();
  await ops.stop();
  assert.ok(size <= 4 * MiB, `new space ${size} bytes`);
});

test('a bare worker thread undoes the flags (the reason for the rule): the young generation grows', async () => {
  keepHeapSmall();
  const w = new Worker('setTimeout(() => {}, 60_000)', { eval: true });
  await new Promise((r) => w.once('online', r));
  await new Promise((r) => setTimeout(r, 50));
  const size = churn();
  await w.terminate();
  assert.ok(size > 8 * MiB, `new space ${size} bytes`);
});

/**
 * Loaded before the command (node --require): notes how many modules were
 * loaded when V8's flags are first set, and at exit prints the Node modules
 * the main thread loaded since (null: no flag was set).
 */
const HOOK = `const v8 = require('node:v8');
const set = v8.setFlagsFromString;
let at = -1;
v8.setFlagsFromString = (f) => { if (at < 0) at = process.moduleLoadList.length; return set(f); };
require('node:module').syncBuiltinESMExports();
// (worker threads run it too: only the main thread reports)
if (!process.moduleLoadList.includes('NativeModule internal/process/worker_thread_only')) process.on('exit', () => {
  const late = at < 0 ? null : process.moduleLoadList.slice(at).filter((m) => m.startsWith('NativeModule '));
  process.stderr.write('LOADED AFTER FLAGS ' + JSON.stringify(late) + '\\n');
});`;

test('every command loads the Node modules it uses before it sets V8\'s flags: tree copies in and out, mkfs, reads to a pipe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpager-preload-'));
  try {
    const hook = join(dir, 'hook.cjs');
    writeFileSync(hook, HOOK);
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(tree, 'sub', `f${i}`), `file ${i}\n`.repeat(i + 1));
    writeFileSync(join(tree, 'top'), 'top\n');
    const img = join(dir, 'a.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '8M'], { stdio: 'ignore' });
    const runs = [
      ['ls', img, '/sub'],
      ['cat', img, '/top'],
      ['stat', img, '/sub'],
      ['get', img, '/', join(dir, 'out')],
      ['get', img, '/top', join(dir, 'top.out')],
      ['mkfs', '--type', 'ext4', '--from', tree, join(dir, 'b.img'), '16MiB'],
      ['mkfs', '--type', 'ext4', join(dir, 'c.img'), '16MiB'],
      ['put', '-r', join(dir, 'c.img'), '/in', '--from', tree],
      ['mkfs', '--type', 'fat', join(dir, 'd.img'), '16MiB'],
    ];
    for (const args of runs) {
      // Standard output and error are pipes (as where the commands' output is read by another program).
      const r = spawnSync(process.execPath, ['--require', hook, CLI, ...args], { encoding: 'utf8', env: { ...process.env, VMPAGER_COMPILE_CACHE: join(dir, 'cache') } });
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      const late = /LOADED AFTER FLAGS (.*)/.exec(r.stderr);
      assert.ok(late !== null, r.stderr);
      // (null: no flag was set while it ran, as where a `get` of one small file ends before its prestarted threads are up)
      assert.deepEqual(JSON.parse(late[1]) ?? [], [], `${args.join(' ')}: modules loaded after the flags`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Run in a process of its own (no flag set before it): whether V8 takes a
 * code cache made under its default flags at each step (it checks a hash of
 * the flags that differ from their defaults, as Node does for its own
 * modules' cache).
 */
const PROBE = `import vm from 'node:vm';
const { keepHeapSmall, compileHotOnly, compileLess, workerStarting } = await import(process.argv[2]);
const { HostOps } = await import(process.argv[3]);
const { HostTreeReader } = await import(process.argv[4]);
const src = 'function f(a) { return a + 1 }\\nf(1);\\n';
let n = 0;
// Until cond holds, 10 s at most (a thread's start takes some 60-90 ms, longer on a loaded machine).
const until = async (cond) => { for (let t = 0; t < 200 && !cond(); t++) await new Promise((r) => setTimeout(r, 50)); };
const made = new vm.Script(src, { filename: 'made.js', produceCachedData: true }).cachedData;
// (each probe a file name of its own: the isolate's own cache would answer a second compile of one)
const taken = () => !new vm.Script(src, { filename: 'probe' + n++ + '.js', cachedData: made }).cachedDataRejected;
const out = { fresh: taken() };
compileHotOnly(); compileLess(); keepHeapSmall();
out.ours = taken();
const up = workerStarting(), up2 = workerStarting();
out.starting = taken();
up(); up();
out.oneOfTwoUp = taken();
up2();
out.bothUp = taken();
const ops = HostOps.start(true);
out.laneStarting = taken();
await until(() => !taken());
out.laneUp = taken();
await ops.finish(); await ops.stop();
HostTreeReader.prewarm();
out.readerStarting = taken();
await until(() => !taken());
out.readerUp = taken();
console.log(JSON.stringify(out));`;

test("a worker thread starts under V8's default flags (Node's cache of its own modules holds), ours set again once it is up: host_ops' lanes, the host tree's reader", () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpager-flags-'));
  try {
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, PROBE);
    const mod = (m: string) => new URL(`../../src/cli/${m}.js`, import.meta.url).href;
    const r = spawnSync(process.execPath, [probe, mod('heap_flags'), mod('host_ops'), mod('host_tree_reader')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      fresh: true,
      ours: false,
      starting: true,
      oneOfTwoUp: true,
      bothUp: false,
      laneStarting: true,
      laneUp: false,
      readerStarting: true,
      readerUp: false,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
