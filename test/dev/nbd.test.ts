/*
 * The NBD client against real servers on 127.0.0.1: nbdkit (the file plugin,
 * with its log, error, pause and blocksize-policy filters) and nbd-server,
 * over images made by mke2fs -d (and one by makefs -t ffs) from a generated tree. Reads are judged by
 * the tree and by debugfs, writes by e2fsck -fn and debugfs once the server
 * has stopped; nbdkit's log shows that read-only commands send no write.
 * Failures (connection refused, unknown export, read-only export, server
 * errors, a server killed mid-transfer) end in one line and exit 2 for the
 * command, in a VmError for the library, never in a hang or a crash.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { NbdDevice, Vm, VmError } from '../../src/api/index.js';
import { EROFS } from '../../src/kern/errno.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { CLI } from '../helpers/cli.js';
import { freePort, startNbdkit, startNbdServer, type NbdTestServer } from '../helpers/nbd_servers.js';

const MiB = 2 ** 20;
const tmp = tempDir('vmpager-nbd-');
after(() => tmp.cleanup());

/** The tree every image holds: a multi-MiB file, forty small ones, an empty one, a symlink. */
const files = new Map<string, Uint8Array>();
files.set('/big.bin', randomBytes(6 * MiB + 123, 1));
for (let i = 0; i < 40; i++) files.set(`/dir/f${String(i).padStart(2, '0')}`, randomBytes(1 + ((i * 7919) % 150_000), 100 + i));
files.set('/empty', new Uint8Array(0));
const tree: TreeFile[] = [...files].map(([p, data]) => ({ path: p.slice(1), data }));
tree.push({ path: 'link', symlink: 'big.bin' });

const image = join(tmp.dir, 'read.img');
mkext2(image, tree, { type: 'ext4', blockSize: 4096, size: 24 * MiB });
const imageBytes = readFileSync(image);

/** A fresh copy of the image for a server that is written to. */
function copyOf(name: string, type: 'ext2' | 'ext3' = 'ext2'): string {
  const p = join(tmp.dir, name);
  mkext2(p, tree, { type, blockSize: 1024, size: 24 * MiB });
  return p;
}

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the command; kills it (and fails) after timeoutMs. */
function vmpager(args: string[], opts: { timeoutMs?: number; onStdout?: (got: number) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let got = 0;
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out.push(d);
      got += d.length;
      opts.onStdout?.(got);
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`vmpager ${args.join(' ')}: no exit within ${opts.timeoutMs ?? 30_000} ms (${err})`));
    }, opts.timeoutMs ?? 30_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

function assertOneLineFailure(r: Run, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

async function readAll(fs: Awaited<ReturnType<Vm['mount']>>, path: string): Promise<Uint8Array> {
  const f = await fs.open(path);
  try {
    return await f.read(0, f.size);
  } finally {
    await f.close();
  }
}

function same(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${what}: bytes differ`);
}

/** Sends a command to the pause filter's control socket and waits for its answer. */
function pauseControl(socket: string, cmd: 'p' | 'r'): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ path: socket });
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      s.destroy();
      if (d.toString() === cmd.toUpperCase()) resolve();
      else reject(new Error(`pause control answered ${d.toString()}`));
    });
    s.write(cmd);
  });
}

function settledWithin<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms))),
  ]);
}

describe('nbdkit, file plugin', () => {
  let srv: NbdTestServer;
  const log = join(tmp.dir, 'read.log');
  before(async () => {
    srv = await startNbdkit(['--filter=log', 'file', `file=${image}`, `logfile=${log}`]);
  });
  after(() => srv?.stop());

  test('mount, readdir and every file byte for byte, against the tree and debugfs', async () => {
    const vm = new Vm({ memory: 8 * MiB });
    const fs = await vm.mount(srv.url());
    try {
      const root = (await fs.readdir('/')).map((e) => e.name).sort();
      assert.deepEqual(root, ['big.bin', 'dir', 'empty', 'link', 'lost+found']);
      const dir = (await fs.readdir('/dir')).filter((e) => e.type === 'file').map((e) => e.name).sort();
      assert.equal(dir.length, 40);
      for (const [p, data] of files) {
        const got = await readAll(fs, p);
        same(got, data, p);
        same(got, debugfsCat(image, p), `${p} (debugfs)`);
      }
      same(await readAll(fs, '/link'), files.get('/big.bin')!, '/link');
    } finally {
      await fs.unmount();
    }
    assert.equal(vm.stats().device.writes, 0);
  });

  test('vmpager cat equals the file; ls -R lists what the image file lists', async () => {
    const big = await vmpager(['cat', srv.url(), '/big.bin']);
    assert.equal(big.status, 0, big.stderr);
    same(big.stdout, files.get('/big.bin')!, 'cat /big.bin');
    const two = await vmpager(['--memory', '1MiB', 'cat', srv.url(), '/dir/f07', '/link']);
    assert.equal(two.status, 0, two.stderr);
    same(two.stdout, Buffer.concat([files.get('/dir/f07')!, files.get('/big.bin')!]), 'cat f07 link');
    const overNbd = await vmpager(['ls', '-R', srv.url()]);
    const direct = await vmpager(['ls', '-R', image]);
    assert.equal(overNbd.status, 0, overNbd.stderr);
    assert.equal(overNbd.stdout.toString(), direct.stdout.toString());
    assert.match(overNbd.stdout.toString(), /\/dir\/f39$/m);
    const st = await vmpager(['stat', '--json', srv.url(), '/big.bin']);
    assert.equal(st.status, 0, st.stderr);
  });

  test('many concurrent reads of different files through one mount: all in flight together, each right', async () => {
    const r = await NbdDevice.open(srv.url(), true);
    assert.equal(r.error, 0, r.reason);
    const dev = r.dev!;
    const vm = new Vm({ memory: 4 * MiB });
    const fs = await vm.mount(dev);
    try {
      const big = files.get('/big.bin')!;
      const ranges = Array.from({ length: 12 }, (_, i) => [(i * 524_287) % (big.length - 300_000), 1000 + i * 25_000] as const);
      const f = await fs.open('/big.bin');
      const [smalls, pieces] = await Promise.all([
        Promise.all([...files.keys()].filter((p) => p.startsWith('/dir/')).map(async (p) => [p, await readAll(fs, p)] as const)),
        Promise.all(ranges.map(([off, len]) => f.read(off, len))),
      ]);
      for (const [p, got] of smalls) same(got, files.get(p)!, p);
      for (const [i, [off, len]] of ranges.entries()) same(pieces[i], big.subarray(off, off + len), `big.bin at ${off}`);
      await f.close();
      assert.ok(dev.peakInFlight > 1, `requests were pipelined (peak ${dev.peakInFlight} in flight)`);
    } finally {
      await fs.unmount();
    }
  });

  test('read-only commands send the server no write and no flush, and leave the image as it was', async () => {
    for (const args of [['ls', '-R', srv.url()], ['cat', srv.url(), '/dir/f01'], ['stat', srv.url(), '/big.bin']]) {
      const r = await vmpager(args);
      assert.equal(r.status, 0, r.stderr);
    }
    const text = readFileSync(log, 'utf8');
    assert.match(text, / Read id=/);
    assert.doesNotMatch(text, / (Write|Flush|Trim|Zero) id=/);
    assert.match(text, / Connect export="" .*write=1/, 'the export itself was writable');
    assert.ok(readFileSync(image).equals(imageBytes));
  });
});

describe('nbdkit: a server that is shutting down', () => {
  test('reads the server answers with ESHUTDOWN fail with EIO saying so (nbdkit keeps the connection open meanwhile)', async () => {
    const img = copyOf('shutdown.img');
    const trigger = join(tmp.dir, 'shutdown-now');
    rmSync(trigger, { force: true });
    const srv = await startNbdkit(['--filter=error', 'file', `file=${img}`, 'error-pread-rate=100%', 'error-pread=ESHUTDOWN', `error-file=${trigger}`]);
    try {
      const fs = await new Vm({ memory: 1 << 20 }).mount(srv.url());
      try {
        writeFileSync(trigger, '');
        await assert.rejects(fs.readdir('/dir'), (e: unknown) => e instanceof VmError && e.code === 'EIO' && /\(the server is shutting down\)$/.test(e.message));
      } finally {
        await fs.unmount().catch(() => {});
      }
    } finally {
      await srv.stop();
    }
  });
});

describe('nbdkit: transfers above the maximum payload, alignment, Unix sockets', () => {
  test('a server whose maximum payload is 64 KiB gets every transfer split, reads and writes', async () => {
    const rw = copyOf('split.img');
    const srv = await startNbdkit(['--filter=blocksize-policy', 'file', `file=${rw}`, 'blocksize-maximum=65536', 'blocksize-error-policy=error']);
    try {
      // Simple replies: no block status, so every byte of the range is asked for (zero runs would be skipped).
      const r = await NbdDevice.open(srv.url(), false, { structuredReplies: false });
      assert.equal(r.error, 0, r.reason);
      const dev = r.dev!;
      assert.equal(dev.maxPayload, 65536);
      // One 3 MiB device read in three buffers of odd sizes: 48 requests, each within the limit.
      const bufs = [new Uint8Array(1_000_448), new Uint8Array(1024), new Uint8Array(3 * MiB - 1_000_448 - 1024)];
      const before = dev.requests;
      assert.equal(await dev.readv(bufs, 512), 0);
      assert.equal(dev.requests - before, 48);
      same(Buffer.concat(bufs), readFileSync(rw).subarray(512, 512 + 3 * MiB), 'split read');
      await dev.close();

      const data = randomBytes(3 * MiB + 5, 77);
      const src = join(tmp.dir, 'split-src');
      writeFileSync(src, data);
      const put = await vmpager(['put', srv.url(), '/new.bin', '--from', src]);
      assert.equal(put.status, 0, put.stderr);
      const cat = await vmpager(['cat', srv.url(), '/new.bin']);
      same(cat.stdout, data, 'cat after put');
    } finally {
      await srv.stop();
    }
    const ck = e2fsck(rw);
    assert.ok(ck.clean, ck.output);
  });

  test('a server that needs 4 KiB-aligned requests is refused with the reason', async () => {
    const srv = await startNbdkit(['--filter=blocksize-policy', 'file', `file=${image}`, 'blocksize-minimum=4096', 'blocksize-error-policy=error']);
    try {
      const r = await vmpager(['ls', srv.url()]);
      assertOneLineFailure(r, /^vmpager: nbd:\/\/127\.0\.0\.1:\d+\/: the server needs requests aligned to 4096 bytes/);
    } finally {
      await srv.stop();
    }
  });

  test('nbd+unix:// reaches a server on a Unix socket', async () => {
    const sock = join(tmp.dir, 'nbd.sock');
    const srv = await startNbdkit(['-r', 'file', `file=${image}`], { unix: sock });
    try {
      const r = await vmpager(['cat', srv.url(), '/dir/f12']);
      assert.equal(r.status, 0, r.stderr);
      same(r.stdout, files.get('/dir/f12')!, 'cat over a Unix socket');
    } finally {
      await srv.stop();
    }
  });

  test('servers without fixed newstyle negotiation (plain newstyle, oldstyle) are refused cleanly', async () => {
    for (const [flag, reason] of [
      ['--mask-handshake=0', /: the server does not offer fixed newstyle negotiation$/],
      ['--oldstyle', /: the server speaks only the oldstyle NBD handshake, which has no export names$/],
    ] as const) {
      const srv = await startNbdkit([flag, '-r', 'file', `file=${image}`]);
      try {
        assertOneLineFailure(await vmpager(['ls', srv.url()]), reason);
      } finally {
        await srv.stop();
      }
    }
  });
});

describe('writing through NBD (nbdkit)', () => {
  test('put, mkdir and a library write; after the server stops, e2fsck is clean and debugfs dumps the bytes', async () => {
    const rw = copyOf('write.img', 'ext3');
    const srv = await startNbdkit(['file', `file=${rw}`]);
    const data = randomBytes(5 * MiB + 77, 5);
    const small = randomBytes(10_000, 6);
    try {
      const src = join(tmp.dir, 'put-src');
      writeFileSync(src, data);
      assert.equal((await vmpager(['mkdir', srv.url(), '/new'])).status, 0);
      const put = await vmpager(['--memory', '2MiB', 'put', srv.url(), '/new/put.bin', '--from', src]);
      assert.equal(put.status, 0, put.stderr);

      const vm = new Vm({ memory: 4 * MiB });
      const fs = await vm.mount(srv.url(), { readOnly: false });
      const f = await fs.open('/dir/f03', { create: true });
      await f.truncate(0);
      await f.write(0, small);
      await f.close();
      await fs.rm('/empty');
      await fs.unmount();
      assert.ok(vm.stats().device.writes > 0);
    } finally {
      await srv.stop();
    }
    const ck = e2fsck(rw);
    assert.ok(ck.clean, ck.output);
    same(debugfsCat(rw, '/new/put.bin'), data, '/new/put.bin (debugfs)');
    same(debugfsCat(rw, '/dir/f03'), small, '/dir/f03 (debugfs)');
    same(debugfsCat(rw, '/dir/f04'), files.get('/dir/f04')!, 'an untouched file');
  });
});

/** Bytes the log filter saw in Read requests, and the distinct connections that sent requests of `kind`. */
function logged(log: string, kind = 'Read'): { readBytes: number; connections: Set<string> } {
  let readBytes = 0;
  const connections = new Set<string>();
  for (const m of readFileSync(log, 'utf8').matchAll(/connection=(\d+) (\w+) id=\d+(?: offset=0x[0-9a-f]+ count=0x([0-9a-f]+))?/g)) {
    if (m[2] === 'Read') readBytes += parseInt(m[3], 16);
    if (m[2] === kind) connections.add(m[1]);
  }
  return { readBytes, connections };
}

/** The whole export through the device, a MiB a readv. */
async function readExport(dev: NbdDevice): Promise<Buffer> {
  const out = Buffer.alloc(dev.size);
  const reads: Array<Promise<number>> = [];
  for (let off = 0; off < dev.size; off += MiB) reads.push(dev.readv([out.subarray(off, Math.min(dev.size, off + MiB))], off));
  assert.deepEqual(new Set(await Promise.all(reads)), new Set([0]));
  return out;
}

describe('structured replies and block status against nbdkit', () => {
  test('sparse-random: the export read with block status equals nbdcopy\'s copy; zero runs never cross the wire; simple replies read it all', async () => {
    const log = join(tmp.dir, 'sparse.log');
    const srv = await startNbdkit(['-r', '--filter=log', 'sparse-random', 'size=32M', 'seed=5', 'percent=40', 'runlength=262144', `logfile=${log}`]);
    try {
      const copy = join(tmp.dir, 'sparse.bin');
      const nc = spawnSync('nbdcopy', [srv.url(), copy]);
      assert.equal(nc.status, 0, nc.stderr?.toString());
      const want = readFileSync(copy);
      const before = logged(log).readBytes;
      const r = await NbdDevice.open(srv.url(), true, { connections: 1 });
      assert.equal(r.error, 0, r.reason);
      const dev = r.dev!;
      assert.equal(dev.structured, true);
      const got = await readExport(dev);
      same(got, want, 'structured read of the export');
      await dev.close();
      assert.ok(dev.zeroBytesSkipped > 0 && dev.blockStatusQueries > 0, `zero runs skipped: ${dev.zeroBytesSkipped}`);
      const sent = logged(log).readBytes - before;
      assert.equal(sent + dev.zeroBytesSkipped, dev.size, 'every byte either read or known zero');
      // The same with simple replies: every byte asked for, the same bytes.
      const s = await NbdDevice.open(srv.url(), true, { structuredReplies: false, connections: 1 });
      assert.equal(s.error, 0, s.reason);
      same(await readExport(s.dev!), want, 'simple-reply read of the export');
      assert.equal(s.dev!.zeroBytesSkipped, 0);
      await s.dev!.close();
    } finally {
      await srv.stop();
    }
  });

  test('data plugin: zero runs filled here; with the noextents filter (all data) every byte is read; the bytes are the same', async () => {
    const want = Buffer.alloc(8 * MiB);
    want.set([1, 2, 3], 0);
    want.set([4, 5, 6], 0x200000);
    want[0x500001] = 7;
    for (const filters of [[], ['--filter=noextents']]) {
      const srv = await startNbdkit(['-r', ...filters, 'data', 'data=1 2 3 @0x200000 4 5 6 @0x500001 7', 'size=8M']);
      try {
        const r = await NbdDevice.open(srv.url(), true);
        assert.equal(r.error, 0, r.reason);
        same(await readExport(r.dev!), want, `data plugin ${filters.join(' ')}`);
        if (filters.length === 0) assert.ok(r.dev!.zeroBytesSkipped >= 6 * MiB, `skipped ${r.dev!.zeroBytesSkipped}`);
        else assert.equal(r.dev!.zeroBytesSkipped, 0);
        await r.dev!.close();
      } finally {
        await srv.stop();
      }
    }
  });

  test('reads through the delay filter: several requests in flight, out of order, each right', async () => {
    const srv = await startNbdkit(['-r', '--filter=delay', 'file', `file=${image}`, 'delay-read=30ms']);
    try {
      const r = await NbdDevice.open(srv.url(), true, { connections: 1 });
      assert.equal(r.error, 0, r.reason);
      const dev = r.dev!;
      same(await readExport(dev), imageBytes, 'the image through the delay filter');
      assert.ok(dev.peakInFlight > 4, `peak ${dev.peakInFlight} in flight`);
      await dev.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('NBD_FLAG_CAN_MULTI_CONN (nbdkit)', () => {
  test('--connections 3: requests on three connections; a put, then cat, byte for byte; e2fsck clean, debugfs agrees', async () => {
    const rw = copyOf('multi.img');
    const log = join(tmp.dir, 'multi.log');
    const srv = await startNbdkit(['--filter=log', 'file', `file=${rw}`, `logfile=${log}`]);
    const data = randomBytes(5 * MiB + 77, 31);
    const src = join(tmp.dir, 'multi-src');
    writeFileSync(src, data);
    try {
      const r = await NbdDevice.open(srv.url(), true, { connections: 3 });
      assert.equal(r.error, 0, r.reason);
      assert.equal(r.dev!.multiConn, true);
      assert.equal(r.dev!.connections, 3);
      await r.dev!.close();
      const put = await vmpager(['--connections', '3', 'put', srv.url(), '/multi.bin', '--from', src]);
      assert.equal(put.status, 0, put.stderr);
      assert.equal(logged(log, 'Write').connections.size, 3, 'writes went over three connections');
      assert.ok(logged(log, 'Flush').connections.size >= 1, 'a flush');
      const cat = await vmpager(['--connections', '3', 'cat', srv.url(), '/multi.bin']);
      assert.equal(cat.status, 0, cat.stderr);
      same(cat.stdout, data, 'cat after put');
      assert.ok(logged(log).connections.size >= 3, 'reads over several connections');
      assert.equal((await vmpager(['--connections', '5', 'ls', srv.url()])).status, 1, '--connections 5 is a usage error');
    } finally {
      await srv.stop();
    }
    const ck = e2fsck(rw);
    assert.ok(ck.clean, ck.output);
    same(debugfsCat(rw, '/multi.bin'), data, 'debugfs');
  });

  test('parts takes --connections as the other commands do', async () => {
    for (const n of [1, 3]) {
      const log = join(tmp.dir, `parts-${n}.log`);
      const srv = await startNbdkit(['-r', '--filter=log', 'file', `file=${image}`, `logfile=${log}`]);
      try {
        const r = await vmpager(['--connections', String(n), 'parts', srv.url()]);
        assert.equal(r.status, 0, r.stderr);
      } finally {
        await srv.stop();
      }
      const connects = new Set([...readFileSync(log, 'utf8').matchAll(/connection=(\d+) Connect/g)].map((m) => m[1]));
      assert.equal(connects.size, n, `parts --connections ${n}`);
    }
  });

  test('a large transfer is cut only across connections with nothing in flight: alone, a piece on each; beside a busy connection, whole', async () => {
    const log = join(tmp.dir, 'spread.log');
    const srv = await startNbdkit(['-r', '--filter=log', 'file', `file=${image}`, `logfile=${log}`]);
    try {
      // Simple replies: no block-status query comes before a read, so the only requests are the reads.
      const r = await NbdDevice.open(srv.url(), true, { connections: 2, structuredReplies: false });
      assert.equal(r.error, 0, r.reason);
      const dev = r.dev!;
      assert.equal(dev.connections, 2);
      const a = Buffer.alloc(MiB);
      let before = dev.requests;
      assert.equal(await dev.readv([a], 0), 0);
      assert.equal(dev.requests - before, 2, 'a lone 1 MiB read: a 512 KiB piece on each idle connection');
      same(a, imageBytes.subarray(0, MiB), 'the lone read');
      // Two at once: the first finds both connections idle and is cut in two; the second finds none idle and goes whole.
      const b = Buffer.alloc(MiB);
      const c = Buffer.alloc(MiB);
      before = dev.requests;
      assert.deepEqual(await Promise.all([dev.readv([b], MiB), dev.readv([c], 3 * MiB)]), [0, 0]);
      assert.equal(dev.requests - before, 3, 'the second read, sent while both connections were busy, went as one request');
      same(b, imageBytes.subarray(MiB, 2 * MiB), 'the first of two');
      same(c, imageBytes.subarray(3 * MiB, 4 * MiB), 'the second of two');
      await dev.close();
    } finally {
      await srv.stop();
    }
    const counts = [...readFileSync(log, 'utf8').matchAll(/ Read id=\d+ offset=0x([0-9a-f]+) count=0x([0-9a-f]+)/g)].map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]);
    assert.deepEqual(
      counts.sort((x, y) => x[0] - y[0]),
      [
        [0, MiB / 2],
        [MiB / 2, MiB / 2],
        [MiB, MiB / 2],
        [MiB + MiB / 2, MiB / 2],
        [3 * MiB, MiB],
      ],
      'the server saw the pieces and the whole read',
    );
  });

  test('close() sends NBD_CMD_DISC and does not wait for the server to tear the connection down (delay-close 3 s)', async () => {
    const log = join(tmp.dir, 'disc.log');
    // The log filter sits outside the delay filter: it records the disconnect when the client sends it.
    const srv = await startNbdkit(['-r', '--filter=log', '--filter=delay', 'file', `file=${image}`, 'delay-close=3', `logfile=${log}`]);
    try {
      const t0 = performance.now();
      const r = await vmpager(['--connections', '2', 'cat', srv.url(), '/dir/f07']);
      const ms = performance.now() - t0;
      assert.equal(r.status, 0, r.stderr);
      same(r.stdout, files.get('/dir/f07')!, 'cat');
      assert.ok(ms < 2500, `the command ended ${ms.toFixed(0)} ms after it started, not after the server's 3 s close`);
      const lib = await NbdDevice.open(srv.url(), true, { connections: 1 });
      assert.equal(lib.error, 0, lib.reason);
      const t1 = performance.now();
      assert.equal(await lib.dev!.close(), 0);
      assert.ok(performance.now() - t1 < 1000, `close() took ${(performance.now() - t1).toFixed(0)} ms`);
      assert.equal(lib.dev!.failure, 'disconnected');
    } finally {
      await srv.stop();
    }
    const discs = [...readFileSync(log, 'utf8').matchAll(/connection=(\d+) Disconnect/g)].map((m) => m[1]);
    assert.equal(new Set(discs).size, 3, `each of the three connections sent NBD_CMD_DISC: ${readFileSync(log, 'utf8')}`);
  });

  test('a server without the flag (multi-conn filter, disable) gets one connection whatever is asked', async () => {
    const srv = await startNbdkit(['-r', '--filter=multi-conn', 'file', `file=${image}`, 'multi-conn-mode=disable']);
    try {
      const r = await NbdDevice.open(srv.url(), true, { connections: 4 });
      assert.equal(r.error, 0, r.reason);
      assert.equal(r.dev!.multiConn, false);
      assert.equal(r.dev!.connections, 1);
      same(await readExport(r.dev!), imageBytes, 'the image over one connection');
      await r.dev!.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('nbd-server (the reference server): named exports', () => {
  let srv: NbdTestServer;
  const rw = copyOf('nbd-server-rw.img');
  before(async () => {
    srv = await startNbdServer([
      { name: 'disk', file: rw },
      { name: 'ro', file: image, readOnly: true },
    ]);
  });
  after(() => srv?.stop());

  test('reads every file of a named export byte for byte', async () => {
    const vm = new Vm({ memory: 2 * MiB });
    const fs = await vm.mount(srv.url('ro'));
    try {
      for (const [p, data] of files) same(await readAll(fs, p), data, p);
    } finally {
      await fs.unmount();
    }
    const r = await vmpager(['cat', srv.url('disk'), '/big.bin']);
    assert.equal(r.status, 0, r.stderr);
    same(r.stdout, files.get('/big.bin')!, 'cat from the writable export');
  });

  test('an export the server does not have: one line naming it, exit 2', async () => {
    assertOneLineFailure(await vmpager(['ls', srv.url('nope')]), /^vmpager: nbd:\/\/127\.0\.0\.1:\d+\/nope: export 'nope' not found on the server/);
    assertOneLineFailure(await vmpager(['cat', srv.url(''), '/x']), /: the server has no default export/);
    await assert.rejects(new Vm().mount(srv.url('nope')), (e: unknown) => e instanceof VmError && e.code === 'ENOENT');
  });

  test('a read-only export: writing is refused with EROFS before anything is sent, reading works', async () => {
    const put = await vmpager(['put', srv.url('ro'), '/x']);
    assertOneLineFailure(put, /^vmpager: nbd:\/\/127\.0\.0\.1:\d+\/ro: the server exports it read-only$/);
    await assert.rejects(new Vm().mount(srv.url('ro'), { readOnly: false }), (e: unknown) => e instanceof VmError && e.code === 'EROFS');
    const r = await NbdDevice.open(srv.url('ro'), false);
    assert.equal(r.error, 0, r.reason);
    assert.ok(r.dev!.readOnly && r.dev!.exportReadOnly);
    assert.equal(await r.dev!.writev([new Uint8Array(512)], 0), EROFS);
    await r.dev!.close();
    const cat = await vmpager(['cat', srv.url('ro'), '/dir/f03']);
    assert.equal(cat.status, 0, cat.stderr);
    same(cat.stdout, files.get('/dir/f03')!, 'cat from the read-only export');
    assert.ok(readFileSync(image).equals(imageBytes));
  });

  test('writing to a named export; e2fsck and debugfs judge the file it serves', async () => {
    const data = randomBytes(2 * MiB + 3, 9);
    const src = join(tmp.dir, 'ns-src');
    writeFileSync(src, data);
    const put = await vmpager(['put', srv.url('disk'), '/put.bin', '--from', src]);
    assert.equal(put.status, 0, put.stderr);
    assert.equal((await vmpager(['rm', srv.url('disk'), '/dir/f00'])).status, 0);
    const ck = e2fsck(rw);
    assert.ok(ck.clean, ck.output);
    same(debugfsCat(rw, '/put.bin'), data, '/put.bin (debugfs)');
  });
});

describe('a UFS image over NBD (nbdkit)', () => {
  let srv: NbdTestServer;
  const ufs = join(tmp.dir, 'ufs.img');
  before(async () => {
    mkufs(ufs, tree, { version: 2, bsize: 32 * 1024, fsize: 4096, endian: 'be', size: 32 * MiB });
    srv = await startNbdkit(['--readonly', 'file', `file=${ufs}`]);
  });
  after(() => srv?.stop());

  test('found from its superblock, listed and read byte for byte; writes refused in one line', async () => {
    const r = await vmpager(['cat', srv.url(), '/big.bin', '/link', '/dir/f07']);
    assert.equal(r.status, 0, r.stderr);
    same(r.stdout, Buffer.concat([files.get('/big.bin')!, files.get('/big.bin')!, files.get('/dir/f07')!]), 'cat');
    const vm = new Vm({ memory: 4 * MiB });
    const fs = await vm.mount(srv.url());
    try {
      assert.equal(fs.type, 'ufs2');
      for (const [p, data] of files) same(await readAll(fs, p), data, p);
    } finally {
      await fs.unmount();
    }
    assertOneLineFailure(await vmpager(['mkdir', srv.url(), '/new']), /^vmpager: nbd:\/\/.*: (UFS is read-only in vmpager|the server exports it read-only)$/);
  });
});

describe('failures', () => {
  test('connection refused: one line, exit 2, no stack trace', async () => {
    const port = await freePort();
    assertOneLineFailure(await vmpager(['ls', `nbd://127.0.0.1:${port}/`]), new RegExp(`^vmpager: nbd://127\\.0\\.0\\.1:${port}/: connection refused$`));
    await assert.rejects(new Vm().mount(`nbd://127.0.0.1:${port}/x`), (e: unknown) => e instanceof VmError && e.code === 'ECONNREFUSED');
  });

  test('a malformed URL: one line naming what is wrong', async () => {
    assertOneLineFailure(await vmpager(['ls', 'nbd://127.0.0.1:70000/']), /: bad port 70000 \(1 to 65535\)$/);
    assertOneLineFailure(await vmpager(['cat', 'nbd://user@127.0.0.1/x', '/a']), /: user names are not supported in NBD URLs$/);
  });

  test('server read errors (error filter): EIO names the file, the mount lives on and reads again once they stop', async () => {
    const trigger = join(tmp.dir, 'inject');
    rmSync(trigger, { force: true });
    const srv = await startNbdkit(['--filter=error', 'file', `file=${image}`, 'error-pread-rate=100%', `error-pread-file=${trigger}`]);
    try {
      const vm = new Vm({ memory: 4 * MiB });
      const fs = await vm.mount(srv.url());
      const f = await fs.open('/big.bin');
      writeFileSync(trigger, '');
      await assert.rejects(f.read(MiB, 100_000), (e: unknown) => e instanceof VmError && e.code === 'EIO' && /\/big\.bin: /.test(e.message));
      rmSync(trigger);
      same(await f.read(MiB, 100_000), files.get('/big.bin')!.subarray(MiB, MiB + 100_000), 'after the errors stop');
      await f.close();
      await fs.unmount();

      writeFileSync(trigger, '');
      assertOneLineFailure(await vmpager(['cat', srv.url(), '/big.bin']), /^vmpager: nbd:\/\/127\.0\.0\.1:\d+\/: cannot read the start of the image \(partition table or superblock\)$/);
    } finally {
      rmSync(trigger, { force: true });
      await srv.stop();
    }
  });

  test('the server killed with reads in flight (pause filter): each ends in EIO, later ones too, no hang', async () => {
    const ctl = join(tmp.dir, 'pause.ctl');
    const srv = await startNbdkit(['--filter=pause', 'file', `file=${image}`, `pause-control=${ctl}`]);
    try {
      const vm = new Vm({ memory: 4 * MiB });
      const fs = await vm.mount(srv.url());
      const f = await fs.open('/big.bin');
      const g = await fs.open('/dir/f20');
      await pauseControl(ctl, 'p');
      const reads = [f.read(0, 300_000), f.read(3 * MiB, 300_000), g.read(0, 1000)].map((p) => p.then(() => 'read', (e: unknown) => e));
      let settled = 0;
      for (const p of reads) void p.then(() => settled++);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(settled, 0, 'the reads wait for the paused server');
      srv.kill();
      for (const r of await settledWithin(Promise.all(reads), 5000)) assert.ok(r instanceof VmError && r.code === 'EIO', String(r));
      await assert.rejects(f.read(5 * MiB, 1000), (e: unknown) => e instanceof VmError && e.code === 'EIO');
      await f.close();
      await g.close();
      await settledWithin(fs.unmount(), 5000);
    } finally {
      await srv.stop();
    }
  });

  test('--timeout against a SIGSTOPped nbdkit: reads fail EIO within the timeout and a second, the command in one line', async () => {
    const srv = await startNbdkit(['file', `file=${image}`]);
    try {
      const vm = new Vm({ memory: 4 * MiB });
      const fs = await vm.mount(srv.url(), { timeout: 1 });
      const f = await fs.open('/big.bin');
      srv.signal('SIGSTOP');
      const t0 = performance.now();
      await assert.rejects(f.read(0, 300_000), (e: unknown) => e instanceof VmError && e.code === 'EIO');
      const waited = performance.now() - t0;
      assert.ok(waited >= 900 && waited < 2000, `failed after ${Math.round(waited)} ms`);
      await f.close().catch(() => {});
      await settledWithin(fs.unmount().catch(() => {}), 5000);
      srv.signal('SIGCONT');
      // The command: stopped once the first bytes are out; it ends on its own, in one line.
      let stopped = 0;
      const r = await vmpager(['--timeout', '1', '--memory', '1MiB', 'cat', srv.url(), '/big.bin'], {
        timeoutMs: 15_000,
        onStdout: () => {
          if (stopped === 0) {
            stopped = performance.now();
            srv.signal('SIGSTOP');
          }
        },
      });
      const after = performance.now() - stopped;
      assertOneLineFailure(r, /^vmpager: nbd:\/\/127\.0\.0\.1:\d+\/: \/big\.bin: input\/output error \(no reply from the server within 1 s\)$/);
      // The watchdog fires when the oldest request comes due (no polling period): within the timeout and a second, start-up and exit included.
      assert.ok(after < 2000, `ended ${Math.round(after)} ms after the server stopped`);
      assert.equal((await vmpager(['--timeout', '0', 'ls', srv.url()])).status, 1, '--timeout 0 is a usage error');
    } finally {
      srv.signal('SIGCONT');
      await srv.stop();
    }
  });

  test('vmpager cat whose server dies mid-file: one line, exit 2, no hang', async () => {
    const ctl = join(tmp.dir, 'pause2.ctl');
    // 20 ms a read: the file takes long enough that the pause lands in the middle.
    const srv = await startNbdkit(['--filter=pause', '--filter=delay', 'file', `file=${image}`, `pause-control=${ctl}`, 'delay-read=20ms']);
    try {
      let paused: Promise<void> | null = null;
      const run = vmpager(['--memory', '1MiB', 'cat', srv.url(), '/big.bin'], {
        timeoutMs: 15_000,
        onStdout: () => {
          // The first bytes are out: stop the server's answers, then kill it.
          paused ??= pauseControl(ctl, 'p').then(() => srv.kill());
        },
      });
      const r = await run;
      await paused;
      assertOneLineFailure(r, /^vmpager: nbd:\/\/127\.0\.0\.1:\d+\/: \/big\.bin: input\/output error( \((the server closed the connection|connection reset by peer)\))?$/);
      assert.ok(r.stdout.length > 0 && r.stdout.length < files.get('/big.bin')!.length, `${r.stdout.length} bytes before the end`);
    } finally {
      await srv.stop();
    }
  });
});
