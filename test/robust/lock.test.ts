/*
 * Image locks across processes and within one: a writer holds its image
 * alone, readers share it, a conflict fails at once in one line naming the
 * holder and changes nothing, a lock left by a dead process is recovered,
 * and two `vmpager put`s started together never corrupt the image.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Vm, VmError } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { CLI } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function vmpager(args: string[]): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Runs the command without waiting (spawnSync would block the event loop the lock's owner needs). */
function vmpagerAsync(args: string[]): Promise<{ status: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args]);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ status: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
  });
}

let n = 0;
function image(files: { path: string; data: Uint8Array }[] = [{ path: 'a', data: randomBytes(50_000, 1) }]): string {
  const p = join(tmp.dir, `img-${n++}.img`);
  mkext2(p, files, { type: 'ext2', blockSize: 4096, size: 64 << 20 });
  return p;
}

const oneLine = (s: string) => s.trimEnd().split('\n').length === 1;

test('a put while this process has the image mounted read-write fails at once, in one line naming our pid, and writes nothing', async () => {
  const img = image();
  const src = join(tmp.dir, 'src1');
  writeFileSync(src, randomBytes(10_000, 2));
  const fs = await new Vm().mount(img, { readOnly: false });
  const r = await vmpagerAsync(['put', img, '/new', '--from', src]);
  await fs.unmount();
  assert.equal(r.status, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, new RegExp(`^vmpager: .*img-\\d+\\.img: in use by another vmpager process \\(pid ${process.pid}\\)\\n$`));
  assert.ok(!debugfsCat(img, '/new').length, '/new must not exist');
  assert.ok(e2fsck(img).clean);
  assert.ok(!existsSync(img + '.vmpager-lock'), 'the lock folder is gone after unmount');
});

test('readers share an image; a writer is refused while one reads, naming it as a reader', async () => {
  const img = image();
  const fs = await new Vm().mount(img); // read-only
  const cat = await vmpagerAsync(['cat', img, '/a']);
  assert.equal(cat.status, 0, cat.stderr);
  assert.ok(cat.stdout.equals(Buffer.from(randomBytes(50_000, 1))));
  const put = await vmpagerAsync(['mkdir', img, '/d']);
  await fs.unmount();
  assert.equal(put.status, 2);
  assert.match(put.stderr, new RegExp(`in use by another vmpager process \\(pid ${process.pid}, reading\\)`));
  assert.equal(vmpager(['mkdir', img, '/d']).status, 0, 'once the reader is gone, the writer goes ahead');
});

test('--no-lock reads an image another mount is writing', async () => {
  const img = image();
  const fs = await new Vm().mount(img, { readOnly: false });
  const r = await vmpagerAsync(['--no-lock', 'cat', img, '/a']);
  await fs.unmount();
  assert.equal(r.status, 0, r.stderr);
});

test('two mounts of one image in one process: a second writer or a reader beside a writer is EBUSY, readers share', async () => {
  const img = image();
  const vm = new Vm();
  const w = await vm.mount(img, { readOnly: false });
  await assert.rejects(vm.mount(img, { readOnly: false }), (e: unknown) => e instanceof VmError && e.code === 'EBUSY' && /in use by another mount in this process/.test(e.message));
  await assert.rejects(new Vm().mount(img), (e: unknown) => e instanceof VmError && e.code === 'EBUSY');
  await w.unmount();
  const r1 = await vm.mount(img);
  const r2 = await vm.mount(img);
  await assert.rejects(vm.mount(img, { readOnly: false }), (e: unknown) => e instanceof VmError && e.code === 'EBUSY');
  await r1.unmount();
  await r2.unmount();
  const again = await vm.mount(img, { readOnly: false, lock: false });
  const other = await vm.mount(img, { lock: false });
  await other.unmount();
  await again.unmount();
});

test('a second name of the image (a hard link) meets the same lock: a writer through it is EBUSY, as is a second mount in this process', async () => {
  const img = image();
  const other = join(tmp.dir, 'hard-link-of-it.img');
  linkSync(img, other);
  const src = join(tmp.dir, 'src-hl');
  writeFileSync(src, randomBytes(10_000, 3));
  const fs = await new Vm().mount(img, { readOnly: false });
  const r = await vmpagerAsync(['put', other, '/new', '--from', src]);
  const c = await vmpagerAsync(['cat', other, '/a']);
  await assert.rejects(new Vm().mount(other, { readOnly: false }), (e: unknown) => e instanceof VmError && e.code === 'EBUSY' && /another mount in this process/.test(e.message));
  await fs.unmount();
  assert.equal(r.status, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, new RegExp(`in use by another vmpager process \\(pid ${process.pid}\\)\\n$`));
  assert.equal(c.status, 2, 'a reader through the other name is kept out too');
  assert.ok(!debugfsCat(img, '/new').length, '/new must not exist');
  assert.ok(e2fsck(img).clean);
  assert.ok(!existsSync(other + '.vmpager-lock') && !existsSync(img + '.vmpager-lock'), 'both folders beside the names are gone');
  const w = vmpager(['put', other, '/new', '--from', src]);
  assert.equal(w.status, 0, w.stderr);
});

test('a writer ended by SIGINT, SIGTERM or SIGHUP leaves no lock folder behind (beside the image, or by its inode)', async () => {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const img = image();
    const child = spawn(process.execPath, [CLI, 'put', img, '/from-stdin'], { stdio: ['pipe', 'ignore', 'pipe'] });
    child.stdin.write('some bytes, and the rest never comes');
    const dir = img + '.vmpager-lock';
    for (let i = 0; i < 200 && !existsSync(dir); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(existsSync(dir), 'the writer holds its lock');
    const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.kill(sig);
    assert.equal(await ended, sig, 'ended by the signal, as it would be');
    assert.ok(!existsSync(dir), `${sig}: the folder beside the image is gone`);
    const ino = statSync(img);
    assert.ok(!existsSync(join('/tmp/vmpager-locks', `${ino.dev}-${ino.ino}.vmpager-lock`)), `${sig}: the one by inode too`);
  }
});

test('a lock by inode left by a process that is gone (its image removed since) is swept away by the next command', () => {
  const dead = spawnSync('true').pid!;
  const stale = join('/tmp/vmpager-locks', `999999-${process.pid}${Date.now()}.vmpager-lock`);
  mkdirSync(stale, { recursive: true });
  writeFileSync(join(stale, 'write'), JSON.stringify({ pid: dead, host: hostname(), start: null, nonce: 'gone', mode: 'write' }));
  const live = join('/tmp/vmpager-locks', `999998-${process.pid}${Date.now()}.vmpager-lock`);
  mkdirSync(live);
  writeFileSync(join(live, 'write'), JSON.stringify({ pid: process.pid, host: hostname(), start: null, nonce: 'held-here', mode: 'write' }));
  try {
    const r = vmpager(['ls', image(), '/']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(stale), 'the dead holder\'s folder is gone');
    assert.ok(existsSync(join(live, 'write')), 'a live holder\'s stays');
  } finally {
    rmSync(live, { recursive: true, force: true });
    rmSync(stale, { recursive: true, force: true });
  }
});

test('a lock left by a process that is gone is recovered, on this host at once and from another host once it is stale', async () => {
  const img = image();
  const dir = img + '.vmpager-lock';
  const dead = spawnSync('true').pid!; // exited: its pid names no process (for now)
  mkdirSync(dir);
  writeFileSync(join(dir, 'write'), JSON.stringify({ pid: dead, host: hostname(), start: null, nonce: 'gone', mode: 'write' }));
  let r = vmpager(['mkdir', img, '/d1']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(dir), 'recovered and tidied away');

  mkdirSync(dir);
  writeFileSync(join(dir, 'read.1.x'), JSON.stringify({ pid: 1, host: 'elsewhere', start: null, nonce: 'x', mode: 'read' }));
  r = vmpager(['mkdir', img, '/d2']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /in use by another vmpager process \(pid 1 on elsewhere, reading\)/);
  const old = new Date(Date.now() - 120_000);
  utimesSync(join(dir, 'read.1.x'), old, old);
  r = vmpager(['mkdir', img, '/d2']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.endsWith('.vmpager-lock')), []);
  assert.ok(e2fsck(img).clean);
});

test('20 trials of two puts started together (and a cat beside them): never a corrupt image, the loser told in one line', async () => {
  for (let trial = 0; trial < 20; trial++) {
    const old = randomBytes(100_000, 100 + trial);
    const img = image([{ path: 'c', data: old }]);
    const a = join(tmp.dir, `a${trial}`);
    const b = join(tmp.dir, `b${trial}`);
    writeFileSync(a, randomBytes(4 << 20, 200 + trial));
    writeFileSync(b, randomBytes(4 << 20, 300 + trial));
    const [ra, rb, rc] = await Promise.all([
      vmpagerAsync(['put', img, '/x', '--from', a]),
      vmpagerAsync(['put', img, '/x', '--from', b]),
      vmpagerAsync(['cat', img, '/c']),
    ]);
    for (const [r, what] of [[ra, 'a'], [rb, 'b'], [rc, 'cat']] as const) {
      assert.ok(r.status === 0 || (r.status === 2 && oneLine(r.stderr) && /in use by another vmpager process \(pid \d+/.test(r.stderr)), `trial ${trial} ${what}: ${r.status} ${r.stderr}`);
    }
    assert.ok(ra.status === 0 || rb.status === 0 || rc.status === 0, `trial ${trial}: someone must have had the image`);
    if (rc.status === 0) assert.ok(rc.stdout.equals(Buffer.from(old)), `trial ${trial}: cat read a whole /c`);
    const ck = e2fsck(img);
    assert.ok(ck.clean, `trial ${trial}: ${ck.output}`);
    const x = debugfsCat(img, '/x');
    if (ra.status === 0 || rb.status === 0) {
      const want = [ra.status === 0 ? a : null, rb.status === 0 ? b : null].filter((p) => p !== null).map((p) => randomBytes(4 << 20, p === a ? 200 + trial : 300 + trial));
      assert.ok(want.some((w) => x.equals(Buffer.from(w))), `trial ${trial}: /x is one whole put's bytes`);
    } else {
      assert.equal(x.length, 0);
    }
  }
});
