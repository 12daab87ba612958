/*
 * The facade's streams: createReadStream of a file several times the page
 * memory, hashed through a pipeline, equals the file, and its chunks stay
 * whole after the frames they came from are reused; createWriteStream from a
 * slow source and under back-pressure leaves the bytes on disk (debugfs
 * reads them) and the image clean (e2fsck -fn). Their options (encoding,
 * highWaterMark, start and end) and errors are judged by node:fs's own
 * streams on a host directory.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { createReadStream, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import * as hostFsp from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Vm } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';
import { fsckFat, mkfat } from '../helpers/fat_images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const MiB = 1 << 20;
const DATA = randomBytes(6 * MiB + 12345, 11);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('createReadStream of a 6 MiB file through 1 MiB of pages, piped into a hash, equals the file', async () => {
  const image = mkext2(join(tmp.dir, 'r.img'), [{ path: 'big', data: DATA }], { type: 'ext4', size: 16 * MiB });
  const root = await new Vm({ memory: MiB }).mount(image);
  try {
    const hash = createHash('sha256');
    const rs = root.promises.createReadStream('/big');
    await pipeline(rs, hash);
    assert.equal(hash.digest('hex'), sha(DATA));
    assert.equal(rs.bytesRead, DATA.length);
  } finally {
    await root.unmount();
  }
});

test('read-stream chunks are the consumer\'s own: kept chunks stay right while the frames are reused', async () => {
  const image = mkext2(join(tmp.dir, 'k.img'), [{ path: 'big', data: DATA }], { type: 'ext2', size: 16 * MiB });
  const root = await new Vm({ memory: MiB }).mount(image);
  try {
    const chunks: Buffer[] = [];
    for await (const c of root.promises.createReadStream('/big', { highWaterMark: 256 * 1024 })) chunks.push(c as Buffer);
    assert.ok(chunks.length > 10);
    assert.equal(sha(Buffer.concat(chunks)), sha(DATA));
    const part: Buffer[] = [];
    for await (const c of root.promises.createReadStream('/big', { start: 4095, end: 3 * MiB + 7 })) part.push(c as Buffer);
    assert.equal(sha(Buffer.concat(part)), sha(DATA.subarray(4095, 3 * MiB + 8)), 'start and end (inclusive) as Node\'s');
    await assert.rejects(once(root.promises.createReadStream('/missing'), 'data'), { code: 'ENOENT', syscall: 'open' });
  } finally {
    await root.unmount();
  }
});

test('createWriteStream from a slow source ends with the bytes on disk', async () => {
  const image = mkext2(join(tmp.dir, 'w.img'), [{ path: 'd/keep', data: new Uint8Array([1]) }], { type: 'ext2', size: 16 * MiB });
  const root = await new Vm({ memory: MiB }).mount(image, { readOnly: false });
  const want = DATA.subarray(0, 300_000);
  try {
    async function* slow(): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < want.length; off += 17_000) {
        await sleep(3);
        yield want.subarray(off, off + 17_000);
      }
    }
    const ws = root.promises.createWriteStream('/d/slow', { mode: 0o600 });
    await pipeline(Readable.from(slow()), ws);
    assert.equal(ws.bytesWritten, want.length);
    assert.equal(sha(debugfsCat(image, '/d/slow')), sha(want), "on disk at 'finish', before unmount");
    assert.equal((await root.promises.stat('/d/slow')).mode & 0o777, 0o600);
  } finally {
    await root.unmount();
  }
  assert.equal(sha(debugfsCat(image, '/d/slow')), sha(want));
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('createWriteStream under back-pressure (4 MiB through 16 KiB of buffer and 1 MiB of pages) writes every byte', async () => {
  const image = mkext2(join(tmp.dir, 'b.img'), [{ path: 'old', data: DATA.subarray(0, 100) }], { type: 'ext2', size: 16 * MiB, blockSize: 1024 });
  const root = await new Vm({ memory: MiB }).mount(image, { readOnly: false });
  const want = DATA.subarray(0, 4 * MiB + 3);
  let waits = 0;
  try {
    const ws = root.promises.createWriteStream('/old', { highWaterMark: 16 * 1024 });
    for (let off = 0; off < want.length; off += 64 * 1024) {
      if (!ws.write(want.subarray(off, off + 64 * 1024))) {
        waits++;
        await once(ws, 'drain');
      }
    }
    ws.end();
    await finished(ws);
    assert.ok(waits > 10, `write() said to wait (${waits} times)`);
    const app = root.promises.createWriteStream('/old', { flags: 'a' });
    app.end('tail');
    await finished(app);
    assert.equal(sha(await root.promises.readFile('/old')), sha(Buffer.concat([want, Buffer.from('tail')])));
  } finally {
    await root.unmount();
  }
  assert.equal(sha(debugfsCat(image, '/old')), sha(Buffer.concat([want, Buffer.from('tail')])));
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test("two createWriteStream({ flags: 'a' }) writing at once keep every chunk (each at the end as its write finds it), e2fsck clean", async () => {
  const image = mkext2(join(tmp.dir, 'a.img'), [{ path: 'log', data: new TextEncoder().encode('start\n') }], { type: 'ext4', size: 16 * MiB });
  const root = await new Vm({ memory: MiB }).mount(image, { readOnly: false });
  try {
    const [a, b] = [root.promises.createWriteStream('/log', { flags: 'a' }), root.promises.createWriteStream('/log', { flags: 'a' })];
    for (let i = 0; i < 20; i++) {
      a.write(`a${i}\n`);
      b.write(`b${i}\n`);
      if (i % 5 === 4) await sleep(1);
    }
    a.end();
    b.end();
    await Promise.all([finished(a), finished(b)]);
    const lines = (await root.promises.readFile('/log', 'utf8')).split('\n');
    assert.equal(lines[0], 'start');
    const want = ['', 'start', ...Array.from({ length: 20 }, (_, i) => [`a${i}`, `b${i}`]).flat()];
    assert.deepEqual(lines.sort(), want.sort());
  } finally {
    await root.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

/** What the stream script needs: node:fs/promises and node:fs's two streams, or the facade (which has both). */
interface StreamFs {
  fsp: typeof hostFsp;
  createReadStream: (path: string, opts?: object | string) => Readable;
  createWriteStream: (path: string, opts?: object | string) => Writable;
}

/** Stream steps run against the host and an image; each step's result or error (name, code, message) is logged. */
async function streamScript(fs: StreamFs, root: string): Promise<Array<[string, unknown]>> {
  const log: Array<[string, unknown]> = [];
  const P = (rel: string): string => (root === '/' ? '/' : root + '/') + rel;
  const step = async (label: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      log.push([label, { ok: await fn() }]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      log.push([label, { error: [err.name, err.code, err.message.replaceAll(root, '')] }]);
    }
  };
  const written = async (ws: Writable, chunks: Array<[string, BufferEncoding?]>, path: string): Promise<string> => {
    for (const [c, enc] of chunks) (enc === undefined ? ws.write(c) : ws.write(c, enc));
    ws.end();
    await finished(ws);
    return fs.fsp.readFile(path, 'latin1');
  };
  const sizes = async (rs: Readable): Promise<number[]> => {
    const out: number[] = [];
    for await (const c of rs) out.push((c as Buffer | string).length);
    return out;
  };
  await fs.fsp.writeFile(P('ten'), Buffer.alloc(10_000, 7));
  await step('write stream encoding hex', () => written(fs.createWriteStream(P('h1'), { encoding: 'hex' }), [['414243']], P('h1')));
  await step("write stream options 'hex'", () => written(fs.createWriteStream(P('h2'), 'hex'), [['4142']], P('h2')));
  await step('write stream chunk with its own encoding', () => written(fs.createWriteStream(P('h3'), { encoding: 'hex' }), [['44'], ['RQ==', 'base64'], ['46']], P('h3')));
  await step('write stream start', async () => {
    await fs.fsp.writeFile(P('s'), '0123456789');
    return written(fs.createWriteStream(P('s'), { flags: 'r+', start: 3 }), [['ab'], ['c']], P('s'));
  });
  await step('read stream chunks keep to highWaterMark', () => sizes(fs.createReadStream(P('ten'), { highWaterMark: 1000 })));
  await step('read stream chunks from start to end', () => sizes(fs.createReadStream(P('ten'), { highWaterMark: 3000, start: 100, end: 9000 })));
  await step('read stream chunks with an encoding', () => sizes(fs.createReadStream(P('ten'), { highWaterMark: 4096, encoding: 'hex' })));
  await step('read stream end Infinity', () => sizes(fs.createReadStream(P('ten'), { end: Infinity })));
  await step('read stream start = end', () => sizes(fs.createReadStream(P('ten'), { start: 9999, end: 9999 })));
  for (const [label, opts] of [
    ['start past end', { start: 5, end: 2 }], ['start -1', { start: -1 }], ["start '1'", { start: '1' }], ['end 1.5', { end: 1.5 }],
    ['start Infinity', { start: Infinity }], ['end -1', { end: -1 }], ['encoding nope', { encoding: 'nope' }],
  ] as const) {
    await step(`read stream ${label}`, async () => fs.createReadStream(P('ten'), opts).destroy() && 'made');
  }
  await step('write stream start -1', async () => fs.createWriteStream(P('w1'), { start: -1 }).destroy() && 'made');
  await step('write stream encoding nope', async () => fs.createWriteStream(P('w1'), { encoding: 'nope' }).destroy() && 'made');
  await step("write stream options 'nope'", async () => fs.createWriteStream(P('w1'), 'nope').destroy() && 'made');
  await step('names', async () => (await fs.fsp.readdir(P(''))).filter((n) => n !== 'lost+found').sort());
  return log;
}

async function compareStreams(image: string, hostDir: string): Promise<void> {
  const expected = await streamScript({ fsp: hostFsp, createReadStream, createWriteStream } as unknown as StreamFs, hostDir);
  const root = await new Vm({ memory: MiB }).mount(image, { readOnly: false });
  try {
    const f = root.promises;
    const got = await streamScript({ fsp: f as unknown as typeof hostFsp, createReadStream: f.createReadStream, createWriteStream: f.createWriteStream } as StreamFs, '/');
    assert.equal(got.length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.deepEqual(got[i], expected[i], `step ${expected[i][0]}`);
  } finally {
    await root.unmount();
  }
}

test("stream options and their errors are node:fs's (encoding, highWaterMark, start, end), on ext4, e2fsck clean", async () => {
  const host = join(tmp.dir, 'opts-host');
  mkdirSync(host);
  const image = mkext2(join(tmp.dir, 'opts.img'), [], { type: 'ext4', size: 16 * MiB });
  await compareStreams(image, host);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test("stream options and their errors are node:fs's (encoding, highWaterMark, start, end), on FAT, fsck.fat clean", async () => {
  const host = join(tmp.dir, 'opts-host-fat');
  mkdirSync(host);
  writeFileSync(join(host, 'keep'), 'k');
  const image = mkfat(join(tmp.dir, 'opts-fat.img'), [{ path: 'keep', data: new TextEncoder().encode('k') }], { fat: 16, kib: 16384 });
  await compareStreams(image, host);
  const ck = fsckFat(image);
  assert.ok(ck.clean, ck.output);
});
