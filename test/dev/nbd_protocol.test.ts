/*
 * The NBD client against a scripted server written here with node:net, for
 * what real servers never send: wrong magics, oversized option replies, an
 * export size beyond 2^53, a reply to a request nobody made, replies out of
 * order, a connection cut in the middle of a payload, a server that never
 * answers, and the NBD_OPT_EXPORT_NAME fallback for a server without
 * NBD_OPT_GO. Each ends in a clean errno and reason (or the right bytes),
 * never a crash, an unhandled rejection or a hang. (Correctness is judged
 * by real servers in nbd.test.ts.)
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { NbdDevice } from '../../src/api/index.js';
import { EACCES, ECONNREFUSED, EINVAL, EIO, ENOENT, ENOSPC, EOPNOTSUPP, ETIMEDOUT } from '../../src/kern/errno.js';
import { randomBytes } from '../helpers/images.js';

const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');
const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
const OPT_REPLY_MAGIC = Buffer.from('0003e889045565a9', 'hex');
const OPT_GO = 7;
const OPT_EXPORT_NAME = 1;
const OPT_STRUCTURED_REPLY = 8;
const OPT_SET_META_CONTEXT = 10;
const REP_META_CONTEXT = 4;
const REP_ACK = 1;
const REP_INFO = 3;
const ERR = 0x80000000;
const TFLAG_HAS_FLAGS = 1;
const TFLAG_SEND_FLUSH = 4;

/** Reads exactly n bytes from a socket (the server's side of the script). */
class Reader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  ended = false;

  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    sock.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  async read(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

type Script = (sock: Socket, r: Reader) => Promise<void>;

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A server on 127.0.0.1 that plays `script` to each connection; resolves to its nbd:// URL. */
async function fake(script: Script, exportName = 'x'): Promise<string> {
  const srv = createServer((sock) => {
    sock.on('error', () => undefined);
    void script(sock, new Reader(sock)).catch(() => sock.destroy());
  });
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const a = srv.address();
  return `nbd://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/${exportName}`;
}

function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function be64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function greet(sock: Socket, hflags = 3): void {
  sock.write(Buffer.concat([NBDMAGIC, IHAVEOPT, be16(hflags)]));
}

/**
 * Reads the client flags and one option: { flags, option, data }. The
 * structured-reply and meta-context options come first from the client; the
 * scripts here answer them NBD_REP_ERR_UNSUP (a server of simple replies)
 * unless `extensions` plays them.
 */
async function clientOption(r: Reader, withFlags = true, extensions: Extensions | null = null): Promise<{ flags: number; option: number; data: Buffer }> {
  const flags = withFlags ? (await r.read(4))!.readUInt32BE(0) : -1;
  for (;;) {
    const h = (await r.read(16))!;
    assert.ok(h.subarray(0, 8).equals(IHAVEOPT));
    const data = (await r.read(h.readUInt32BE(12)))!;
    const option = h.readUInt32BE(8);
    if (option === OPT_STRUCTURED_REPLY || option === OPT_SET_META_CONTEXT) {
      if (extensions === null) optReply(r.sock, option, ERR + 1);
      else extensions(r.sock, option, data);
      continue;
    }
    return { flags, option, data };
  }
}

/** Plays NBD_OPT_STRUCTURED_REPLY and NBD_OPT_SET_META_CONTEXT. */
type Extensions = (sock: Socket, option: number, data: Buffer) => void;

/** A server that agrees to structured replies and gives base:allocation the context id `ctx`. */
function structuredServer(ctx = 7): Extensions {
  return (sock, option, data) => {
    if (option === OPT_STRUCTURED_REPLY) return optReply(sock, option, REP_ACK);
    const query = data.subarray(4 + data.readUInt32BE(0) + 8).toString('latin1');
    assert.equal(query, 'base:allocation');
    optReply(sock, option, REP_META_CONTEXT, Buffer.concat([be32(ctx), Buffer.from(query, 'latin1')]));
    optReply(sock, option, REP_ACK);
  };
}

function optReply(sock: Socket, option: number, type: number, data: Buffer = Buffer.alloc(0), length = data.length): void {
  sock.write(Buffer.concat([OPT_REPLY_MAGIC, be32(option), be32(type), be32(length), data]));
}

function exportInfo(size: bigint, flags: number): Buffer {
  return Buffer.concat([be16(0), be64(size), be16(flags)]);
}

interface Req {
  type: number;
  flags: number;
  cookie: Buffer;
  offset: number;
  length: number;
  data: Buffer | null;
}

/** The handshake done right (GO answered with size and flags), then each request handed to onRequest. */
function serving(size: number, flags: number, onRequest: (sock: Socket, req: Req) => void | Promise<void>, extensions: Extensions | null = null): Script {
  return async (sock, r) => {
    greet(sock);
    const opt = await clientOption(r, true, extensions);
    assert.equal(opt.option, OPT_GO);
    optReply(sock, OPT_GO, REP_INFO, exportInfo(BigInt(size), flags));
    optReply(sock, OPT_GO, REP_ACK);
    for (;;) {
      const h = await r.read(28);
      if (h === null) return;
      const type = h.readUInt16BE(6);
      const length = h.readUInt32BE(24);
      const req: Req = { type, flags: h.readUInt16BE(4), cookie: Buffer.from(h.subarray(8, 16)), offset: Number(h.readBigUInt64BE(16)), length, data: null };
      if (type === 1) req.data = await r.read(length);
      await onRequest(sock, req);
      if (type === 2) return;
    }
  };
}

function simpleReply(sock: Socket, cookie: Buffer, error = 0, payload?: Uint8Array): void {
  sock.write(Buffer.concat([be32(0x67446698), be32(error), cookie, ...(payload ? [payload] : [])]));
}

async function openFails(url: string, error: number, reason: RegExp, opts = {}): Promise<void> {
  const r = await NbdDevice.open(url, true, opts);
  assert.equal(r.dev, null);
  assert.equal(r.error, error, r.reason);
  assert.match(r.reason ?? '', reason);
  assert.doesNotMatch(r.reason ?? '', /[\n\r]/);
}

describe('handshake abuse', () => {
  test('something that is not an NBD server (an SSH banner, a wrong second magic)', async () => {
    await openFails(await fake(async (sock) => void sock.write('SSH-2.0-OpenSSH_9.2p1 Debian\r\n')), EIO, /^not an NBD server$/);
    await openFails(await fake(async (sock) => void sock.write(Buffer.concat([NBDMAGIC, Buffer.from('NOTOPTS!'), be16(1)]))), EIO, /^not an NBD server \(unknown handshake\)$/);
  });

  test('a server that closes at once, or says nothing until the timeout', async () => {
    await openFails(await fake(async (sock) => void sock.end()), EIO, /^the server closed the connection during the handshake$/);
    const t0 = Date.now();
    await openFails(await fake(async () => undefined), ETIMEDOUT, /^no answer from 127\.0\.0\.1:\d+ within 0\.3 s$/, { timeoutMs: 300 });
    assert.ok(Date.now() - t0 < 3000);
  });

  test('an option reply of 4 GiB is refused before anything is allocated', async () => {
    const url = await fake(async (sock, r) => {
      greet(sock);
      await clientOption(r);
      optReply(sock, OPT_GO, REP_INFO, Buffer.alloc(0), 0xfffffff0);
    });
    await openFails(url, EIO, /^protocol error: an option reply of 4294967280 bytes$/);
  });

  test('an export size that is not a safe integer, and other malformed NBD_OPT_GO replies', async () => {
    const cases: Array<[string, (sock: Socket) => void, RegExp]> = [
      ['size 2^63', (s) => optReply(s, OPT_GO, REP_INFO, exportInfo(1n << 63n, 1)), /^protocol error: an export size of 0x8000000000000000 bytes$/],
      ['size 2^53', (s) => optReply(s, OPT_GO, REP_INFO, exportInfo(1n << 53n, 1)), /^protocol error: an export size of/],
      ['short NBD_INFO_EXPORT', (s) => optReply(s, OPT_GO, REP_INFO, Buffer.concat([be16(0), be64(4096n)])), /^protocol error: NBD_INFO_EXPORT of 10 bytes$/],
      ['flags without HAS_FLAGS', (s) => optReply(s, OPT_GO, REP_INFO, exportInfo(4096n, 0)), /without NBD_FLAG_HAS_FLAGS$/],
      ['a reply to another option', (s) => optReply(s, 3, REP_ACK), /^protocol error: a reply to option 3, not to NBD_OPT_GO$/],
      ['NBD_REP_ACK without the size', (s) => optReply(s, OPT_GO, REP_ACK), /^protocol error: NBD_OPT_GO succeeded without telling the export size$/],
      ['an unknown reply type', (s) => optReply(s, OPT_GO, 99), /^protocol error: unexpected option reply type 99$/],
      ['bad option reply magic', (s) => s.write(Buffer.alloc(20, 0x41)), /^protocol error: bad option reply magic$/],
      ['block sizes that are not powers of two', (s) => optReply(s, OPT_GO, REP_INFO, Buffer.concat([be16(3), be32(3), be32(4096), be32(65536)])), /^protocol error: block sizes minimum 3/],
    ];
    for (const [what, send, reason] of cases) {
      const url = await fake(async (sock, r) => {
        greet(sock);
        await clientOption(r);
        send(sock);
        if (what === 'NBD_REP_ACK without the size' || what.includes('size 2^')) optReply(sock, OPT_GO, REP_ACK);
      });
      await openFails(url, EIO, reason);
    }
  });

  test('option errors become errnos with the export named and the server quoted on one line', async () => {
    const cases: Array<[number, number, RegExp]> = [
      [ERR + 6, ENOENT, /^export 'x' not found on the server \(server says: no such thing\)$/],
      [ERR + 2, EACCES, /^the server refuses export 'x' \(server says: no such thing\)$/],
      [ERR + 5, EOPNOTSUPP, /^the server requires TLS, which vmpager does not speak/],
      [ERR + 7, EIO, /^the server is shutting down/],
      [ERR + 3, EINVAL, /invalid/],
      [ERR + 77, EIO, /^the server refused export 'x' \(error 0x8000004d\)/],
    ];
    for (const [type, errno, reason] of cases) {
      let aborted = false;
      const url = await fake(async (sock, r) => {
        greet(sock);
        await clientOption(r);
        optReply(sock, OPT_GO, type, Buffer.from('no such\nthing\u0007'));
        aborted = (await clientOption(r, false)).option === 2;
      });
      await openFails(url, errno, reason);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(aborted, 'the client said NBD_OPT_ABORT before leaving');
    }
  });

  test('a server without NBD_OPT_GO gets NBD_OPT_EXPORT_NAME, zero padding and all', async () => {
    const disk = randomBytes(64 * 1024, 3);
    for (const hflags of [1, 3]) {
      let clientFlags = -1;
      let asked = '';
      const url = await fake(async (sock, r) => {
        greet(sock, hflags);
        const go = await clientOption(r);
        clientFlags = go.flags;
        optReply(sock, OPT_GO, ERR + 1);
        const en = await clientOption(r, false);
        assert.equal(en.option, OPT_EXPORT_NAME);
        asked = en.data.toString();
        sock.write(Buffer.concat([be64(BigInt(disk.length)), be16(TFLAG_HAS_FLAGS), ...(hflags & 2 ? [] : [Buffer.alloc(124)])]));
        for (;;) {
          const h = await r.read(28);
          if (h === null || h.readUInt16BE(6) === 2) return;
          const off = Number(h.readBigUInt64BE(16));
          simpleReply(sock, Buffer.from(h.subarray(8, 16)), 0, disk.subarray(off, off + h.readUInt32BE(24)));
        }
      }, 'my%20disk');
      const o = await NbdDevice.open(url, false);
      assert.equal(o.error, 0, o.reason);
      const dev = o.dev!;
      assert.equal(asked, 'my disk');
      assert.equal(clientFlags, hflags & 2 ? 3 : 1, 'NO_ZEROES only when offered');
      assert.equal(dev.negotiatedWith, 'export-name');
      assert.equal(dev.size, disk.length);
      const a = new Uint8Array(5000);
      const b = new Uint8Array(3192);
      assert.equal(await dev.readv([a, b], 4096), 0);
      assert.ok(Buffer.concat([a, b]).equals(disk.subarray(4096, 4096 + 8192)));
      await dev.close();
    }
  });

  test('NBD_OPT_EXPORT_NAME for an export the server does not have: it hangs up, we say so', async () => {
    const url = await fake(async (sock, r) => {
      greet(sock);
      await clientOption(r);
      optReply(sock, OPT_GO, ERR + 1);
      await clientOption(r, false);
      sock.end();
    });
    await openFails(url, ENOENT, /^export 'x' not found on the server \(it closed the connection\)$/);
  });

  test('a port nobody listens on', async () => {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const a = srv.address();
    await new Promise((resolve) => srv.close(resolve));
    await openFails(`nbd://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/`, ECONNREFUSED, /^connection refused$/);
  });
});

describe('transmission abuse', () => {
  const SIZE = 1 << 20;
  const disk = randomBytes(SIZE, 9);
  const read = (s: Socket, req: Req) => simpleReply(s, req.cookie, 0, disk.subarray(req.offset, req.offset + req.length));

  async function open(script: Script): Promise<NbdDevice> {
    const o = await NbdDevice.open(await fake(script), false);
    assert.equal(o.error, 0, o.reason);
    return o.dev!;
  }

  test('a reply with a cookie nobody sent ends the connection: that read and every later one EIO', async () => {
    const dev = await open(serving(SIZE, 1, (s, req) => simpleReply(s, Buffer.alloc(8, 0xee), 0, disk.subarray(0, req.length))));
    assert.equal(await dev.readv([new Uint8Array(4096)], 0), EIO);
    assert.match(dev.failure ?? '', /^protocol error: a reply for request \d+, which is not in flight$/);
    assert.equal(await dev.readv([new Uint8Array(4096)], 0), EIO);
    assert.equal(await dev.close(), 0);
  });

  test('a bad reply magic, a structured reply never negotiated', async () => {
    for (const [magic, reason] of [
      [0x12345678, /bad reply magic 0x12345678/],
      [0x668e33ef, /a structured reply, never negotiated/],
    ] as const) {
      const dev = await open(serving(SIZE, 1, (s, req) => void s.write(Buffer.concat([be32(magic), be32(0), req.cookie]))));
      assert.equal(await dev.readv([new Uint8Array(512)], 0), EIO);
      assert.match(dev.failure ?? '', reason);
      await dev.close();
    }
  });

  test('the connection cut halfway through a payload: every read in flight ends EIO', async () => {
    let n = 0;
    const dev = await open(
      serving(SIZE, 1, (s, req) => {
        if (++n < 3) return; // hold the first two
        s.write(Buffer.concat([be32(0x67446698), be32(0), req.cookie, disk.subarray(0, req.length / 2)]));
        setTimeout(() => s.destroy(), 20);
      }),
    );
    const results = await Promise.all([0, 1, 2].map((i) => dev.readv([new Uint8Array(65536)], i * 65536)));
    assert.deepEqual(results, [EIO, EIO, EIO]);
    assert.match(dev.failure ?? '', /^the server closed the connection$/);
    assert.equal(await dev.writev([new Uint8Array(512)], 0), EIO);
  });

  test('replies out of order are matched by cookie; payloads land in the right buffers', async () => {
    const held: Req[] = [];
    const dev = await open(
      serving(SIZE, 1, (s, req) => {
        held.push(req);
        if (held.length === 4) for (const r of held.reverse()) read(s, r);
      }),
    );
    const bufs = [0, 1, 2, 3].map((i) => [new Uint8Array(1000 + i), new Uint8Array(3096 - i)]);
    const res = await Promise.all(bufs.map((b, i) => dev.readv(b, i * 100_000)));
    assert.deepEqual(res, [0, 0, 0, 0]);
    for (const [i, b] of bufs.entries()) assert.ok(Buffer.concat(b).equals(disk.subarray(i * 100_000, i * 100_000 + 4096)), `read ${i}`);
    assert.equal(dev.peakInFlight, 4);
    await dev.close();
  });

  test('a payload trickling in odd pieces lands in buffers of odd sizes, empty ones among them', async () => {
    const dev = await open(
      serving(SIZE, 1, async (s, req) => {
        const whole = Buffer.concat([be32(0x67446698), be32(0), req.cookie, disk.subarray(req.offset, req.offset + req.length)]);
        // The header with a few payload bytes, then pieces of every size, each its own socket read.
        for (let at = 0, k = 19; at < whole.length; at += k, k = k * 3 + 1) {
          s.write(whole.subarray(at, Math.min(whole.length, at + k)));
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }),
    );
    const sizes = [0, 20_000, 0, 100_001, 7, 40_000, 0];
    const bufs = sizes.map((n) => new Uint8Array(n));
    for (const off of [0, 12_345]) {
      assert.equal(await dev.readv(bufs, off), 0);
      assert.ok(Buffer.concat(bufs).equals(disk.subarray(off, off + 160_008)), `read at ${off}`);
    }
    await dev.close();
  });

  test('a server error answers that request only; the connection goes on', async () => {
    const dev = await open(
      serving(SIZE, 1 | TFLAG_SEND_FLUSH, (s, req) => {
        if (req.type === 1) simpleReply(s, req.cookie, 28); // NBD_ENOSPC
        else if (req.type === 3) simpleReply(s, req.cookie, 1); // NBD_EPERM
        else if (req.type === 0) read(s, req);
      }),
    );
    assert.equal(await dev.writev([new Uint8Array(4096)], 0), ENOSPC);
    assert.equal(await dev.flush(), EACCES);
    const b = new Uint8Array(512);
    assert.equal(await dev.readv([b], 512), 0);
    assert.ok(Buffer.from(b).equals(disk.subarray(512, 1024)));
    assert.equal(dev.stats.writes, 0);
    assert.equal(dev.stats.reads, 1);
    await dev.close();
  });

  test('NBD_ESHUTDOWN: EIO, and no new request is sent', async () => {
    let requests = 0;
    const dev = await open(
      serving(SIZE, 1, (s, req) => {
        requests++;
        if (req.type === 0) simpleReply(s, req.cookie, 108);
      }),
    );
    assert.equal(await dev.readv([new Uint8Array(512)], 0), EIO);
    assert.equal(await dev.readv([new Uint8Array(512)], 512), EIO);
    assert.equal(requests, 1);
    await dev.close();
  });

  test('transfers past the end are refused without asking; close() waits for reads in flight, then NBD_CMD_DISC', async () => {
    const seen: number[] = [];
    let discSeen = (): void => {};
    const disc = new Promise<void>((resolve) => (discSeen = resolve));
    const dev = await open(
      serving(SIZE, 1, (s, req) => {
        seen.push(req.type);
        if (req.type === 0) setTimeout(() => read(s, req), 100);
        if (req.type === 2) discSeen();
      }),
    );
    assert.equal(await dev.readv([new Uint8Array(1024)], SIZE - 512), EIO);
    assert.equal(await dev.readv([new Uint8Array(512)], -512), EIO);
    const b = new Uint8Array(2048);
    const pending = dev.readv([b], 8192);
    assert.equal(await dev.close(), 0);
    assert.equal(await pending, 0);
    assert.ok(Buffer.from(b).equals(disk.subarray(8192, 8192 + 2048)));
    // close() ends once the disconnect is sent, not once the server has read it and closed: wait for the server to see it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([disc, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no NBD_CMD_DISC within 2 s')), 2000)))]);
    clearTimeout(timer);
    assert.deepEqual(seen, [0, 2], 'one read, then the disconnect');
    assert.equal(await dev.readv([b], 0), EIO, 'closed');
  });
});

describe('structured replies and block status (scripted server)', () => {
  const SIZE = 4 << 20;
  const disk = randomBytes(SIZE, 21);
  const SMAGIC = 0x668e33ef;
  const DONE = 1;
  const T_NONE = 0;
  const T_DATA = 1;
  const T_HOLE = 2;
  const T_STATUS = 5;
  const T_ERROR = 0x8001;
  const CMD_BLOCK_STATUS = 7;

  /** One structured reply chunk. */
  function chunk(cookie: Buffer, flags: number, type: number, payload: Buffer, length = payload.length): Buffer {
    return Buffer.concat([be32(SMAGIC), be16(flags), be16(type), cookie, be32(length), payload]);
  }
  const data = (cookie: Buffer, off: number, len: number, flags = 0) => chunk(cookie, flags, T_DATA, Buffer.concat([be64(BigInt(off)), disk.subarray(off, off + len)]));
  const hole = (cookie: Buffer, off: number, len: number, flags = 0) => chunk(cookie, flags, T_HOLE, Buffer.concat([be64(BigInt(off)), be32(len)]));
  const none = (cookie: Buffer) => chunk(cookie, DONE, T_NONE, Buffer.alloc(0));
  const errorChunk = (cookie: Buffer, error: number, msg: string, type = T_ERROR) => chunk(cookie, DONE, type, Buffer.concat([be32(error), be16(msg.length), Buffer.from(msg)]));
  /** A block-status chunk: (length, flags) pairs. */
  const status = (cookie: Buffer, ctx: number, ext: number[]) => chunk(cookie, DONE, T_STATUS, Buffer.concat([be32(ctx), ...ext.map((n) => be32(n))]));

  async function open(onRequest: (sock: Socket, req: Req) => void | Promise<void>, connections = 1): Promise<NbdDevice> {
    const o = await NbdDevice.open(await fake(serving(SIZE, 1 | TFLAG_SEND_FLUSH, onRequest, structuredServer())), false, { connections });
    assert.equal(o.error, 0, o.reason);
    assert.equal(o.dev!.structured, true);
    return o.dev!;
  }
  /** Answers block status with the whole export as data (so reads go to the server). */
  const allData = (s: Socket, req: Req): void => void s.write(status(req.cookie, 7, [req.length, 0]));
  const filled = (n: number) => new Uint8Array(n).fill(0xa5);

  test('a read answered in chunks out of order, data and holes, interleaved with another read: each lands byte for byte, holes zeroed', async () => {
    const held: Req[] = [];
    const dev = await open((s, req) => {
      if (req.type === CMD_BLOCK_STATUS) return allData(s, req);
      held.push(req);
      if (held.length < 2) return;
      const [a, b] = held;
      // a: [64K, 128K) data, then [0, 16K) hole, then [16K, 64K) data; b: one hole and one data chunk; interleaved.
      s.write(data(a.cookie, a.offset + 65536, 65536));
      s.write(hole(b.cookie, b.offset, 4096));
      s.write(hole(a.cookie, a.offset, 16384));
      s.write(data(b.cookie, b.offset + 4096, 4096, DONE));
      s.write(data(a.cookie, a.offset + 16384, 49152));
      s.write(none(a.cookie));
    });
    const a = [filled(1000), filled(131072 - 1000)];
    const b = [filled(8192)];
    assert.deepEqual(await Promise.all([dev.readv(a, 0), dev.readv(b, 1 << 20)]), [0, 0]);
    const wantA = Buffer.from(disk.subarray(0, 131072));
    wantA.fill(0, 0, 16384);
    assert.ok(Buffer.concat(a).equals(wantA), 'read a');
    const wantB = Buffer.from(disk.subarray(1 << 20, (1 << 20) + 8192));
    wantB.fill(0, 0, 4096);
    assert.ok(Buffer.concat(b).equals(wantB), 'read b');
    assert.equal(dev.failure, null);
    await dev.close();
  });

  test('an error chunk fails that read only, with its errno; one of unknown type with the error bit too; the connection goes on', async () => {
    let n = 0;
    const dev = await open((s, req) => {
      if (req.type === CMD_BLOCK_STATUS) return allData(s, req);
      n++;
      if (n === 1) s.write(errorChunk(req.cookie, 28, 'no space left'));
      else if (n === 2) s.write(Buffer.concat([data(req.cookie, req.offset, 512), errorChunk(req.cookie, 22, 'odd', 0x8077)]));
      else s.write(data(req.cookie, req.offset, req.length, DONE));
    });
    assert.equal(await dev.readv([new Uint8Array(4096)], 0), ENOSPC);
    assert.equal(await dev.readv([new Uint8Array(4096)], 0), EINVAL);
    const ok = new Uint8Array(4096);
    assert.equal(await dev.readv([ok], 8192), 0);
    assert.ok(Buffer.from(ok).equals(disk.subarray(8192, 12288)));
    assert.equal(dev.failure, null);
    await dev.close();
  });

  test('malformed chunks end the connection with a protocol error: that read and every later one EIO, no hang', async () => {
    const cases: Array<[string, (s: Socket, req: Req) => void, RegExp]> = [
      ['unknown type, no error bit', (s, req) => s.write(chunk(req.cookie, DONE, 9, Buffer.alloc(4))), /a chunk of unknown type 9/],
      ['data chunk too short', (s, req) => s.write(chunk(req.cookie, DONE, T_DATA, Buffer.alloc(8))), /a data chunk of 8 bytes/],
      ['hole chunk of 10 bytes', (s, req) => s.write(chunk(req.cookie, DONE, T_HOLE, Buffer.alloc(10))), /a hole chunk of 10 bytes/],
      ['overlapping chunks', (s, req) => s.write(Buffer.concat([data(req.cookie, req.offset, 2048), hole(req.cookie, req.offset + 1024, 3072, DONE)])), /over earlier chunks/],
      ['data outside the read', (s, req) => s.write(data(req.cookie, req.offset + 4096, 512, DONE)), /outside the read/],
      ['a wrong cookie', (s, req) => s.write(data(Buffer.alloc(8, 0xee), req.offset, req.length, DONE)), /which is not in flight/],
      ['a read answered short', (s, req) => s.write(data(req.cookie, req.offset, 1024, DONE)), /a read of 4096 bytes answered for 1024/],
      ['an error message longer than its chunk', (s, req) => s.write(chunk(req.cookie, DONE, T_ERROR, Buffer.concat([be32(5), be16(200), Buffer.alloc(10)]))), /an error message of 200 bytes/],
      ['an error chunk claiming 64 KiB', (s, req) => s.write(chunk(req.cookie, DONE, T_ERROR, Buffer.alloc(0), 65536)), /an error chunk of 65536 bytes/],
      ['NONE not marked last', (s, req) => s.write(chunk(req.cookie, 0, T_NONE, Buffer.alloc(0))), /a NONE chunk that is not the last/],
      ['a simple reply with data to a read', (s, req) => simpleReply(s, req.cookie, 0, disk.subarray(0, req.length)), /a simple reply to a read, with structured replies negotiated/],
      ['block status for a read', (s, req) => s.write(status(req.cookie, 7, [4096, 0])), /block status for a request that is not a block-status request/],
    ];
    for (const [what, reply, reason] of cases) {
      const dev = await open((s, req) => (req.type === CMD_BLOCK_STATUS ? allData(s, req) : reply(s, req)));
      assert.equal(await settledWithin(dev.readv([new Uint8Array(4096)], 0), 5000).catch((e) => assert.fail(`${what}: ${e}`)), EIO, what);
      assert.match(dev.failure ?? '', /^protocol error: /, what);
      assert.match(dev.failure ?? '', reason, what);
      assert.equal(await settledWithin(dev.readv([new Uint8Array(512)], 0), 5000), EIO, `${what}: later`);
      assert.equal(await settledWithin(dev.close(), 5000), 0, what);
    }
  });

  test('malformed block-status replies: a context never given, a zero-length extent, a bad length, two chunks', async () => {
    const cases: Array<[string, (s: Socket, req: Req) => void, RegExp]> = [
      ['another context', (s, req) => s.write(status(req.cookie, 8, [req.length, 3])), /metadata context 8, which was not negotiated/],
      ['an extent of length 0', (s, req) => s.write(status(req.cookie, 7, [0, 3, req.length, 0])), /an extent of length 0/],
      ['a bad length', (s, req) => s.write(chunk(req.cookie, DONE, T_STATUS, Buffer.alloc(10))), /a block-status chunk of 10 bytes/],
      ['two chunks', (s, req) => s.write(Buffer.concat([chunk(req.cookie, 0, T_STATUS, Buffer.concat([be32(7), be32(4096), be32(0)])), status(req.cookie, 7, [4096, 0])])), /two block-status chunks/],
      ['no chunk at all', (s, req) => s.write(none(req.cookie)), /a block-status reply without extents/],
    ];
    for (const [what, reply, reason] of cases) {
      const dev = await open((s, req) => (req.type === CMD_BLOCK_STATUS ? reply(s, req) : void s.write(data(req.cookie, req.offset, req.length, DONE))));
      assert.equal(await settledWithin(dev.readv([new Uint8Array(4096)], 0), 5000).catch((e) => assert.fail(`${what}: ${e}`)), EIO, what);
      assert.match(dev.failure ?? '', reason, what);
      await dev.close();
    }
  });

  test('runs the server reports as zeros are read without a request; a write makes the device ask again', async () => {
    const reads: Array<[number, number]> = [];
    let queries = 0;
    let written = false;
    const dev = await open((s, req) => {
      if (req.type === CMD_BLOCK_STATUS) {
        queries++;
        // [0, 256K) data, [256K, 3M) zeros (hole + zero), the rest data; after the write, all data.
        s.write(status(req.cookie, 7, written ? [req.length, 0] : [256 << 10, 0, (3 << 20) - (256 << 10), 3, SIZE - (3 << 20), 0]));
      } else if (req.type === 0) {
        reads.push([req.offset, req.length]);
        s.write(data(req.cookie, req.offset, req.length, DONE));
      } else {
        written = true;
        simpleReply(s, req.cookie);
      }
    });
    // Wholly inside the zero run: zeros, no read request.
    const z = filled(65536);
    assert.equal(await dev.readv([z], 1 << 20), 0);
    assert.ok(z.every((b) => b === 0));
    assert.deepEqual(reads, []);
    // Across the edge: the data part asked for, the zero part filled here.
    const edge = filled(128 << 10);
    assert.equal(await dev.readv([edge], 192 << 10), 0);
    assert.deepEqual(reads, [[192 << 10, 64 << 10]]);
    assert.ok(Buffer.from(edge.subarray(0, 64 << 10)).equals(disk.subarray(192 << 10, 256 << 10)));
    assert.ok(edge.subarray(64 << 10).every((b) => b === 0));
    assert.equal(queries, 1, 'one query for the region');
    assert.equal(dev.zeroBytesSkipped, (64 << 10) + (64 << 10));
    // A write there: what was known is forgotten, the next read asks the server again.
    assert.equal(await dev.writev([new Uint8Array(4096).fill(1)], 1 << 20), 0);
    reads.length = 0;
    assert.equal(await dev.readv([filled(4096)], 1 << 20), 0);
    assert.deepEqual(reads, [[1 << 20, 4096]]);
    assert.equal(queries, 2);
    await dev.close();
  });

  test('a read of a run known to be zeros fails EIO like any other once the connection has ended', async () => {
    let reads = 0;
    const dev = await open((s, req) => {
      if (req.type === CMD_BLOCK_STATUS) s.write(status(req.cookie, 7, [req.length, 3]));
      else if (req.type === 0) reads++;
    });
    assert.equal(await dev.readv([filled(4096)], 8192), 0);
    assert.equal(await dev.close(), 0);
    assert.equal(await dev.readv([filled(4096)], 8192), EIO);
    assert.equal(reads, 0);
  });

  test('block status the server refuses (an error chunk): reads go to the server, the connection goes on', async () => {
    let reads = 0;
    const dev = await open((s, req) => {
      if (req.type === CMD_BLOCK_STATUS) return void s.write(errorChunk(req.cookie, 95, 'not supported'));
      reads++;
      s.write(data(req.cookie, req.offset, req.length, DONE));
    });
    const b = filled(8192);
    assert.equal(await dev.readv([b], 4096), 0);
    assert.ok(Buffer.from(b).equals(disk.subarray(4096, 12288)));
    assert.equal(await dev.readv([b], 4096), 0);
    assert.equal(reads, 2);
    assert.equal(dev.blockStatusQueries, 1, 'asked once, not before every read');
    await dev.close();
  });
});

function settledWithin<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms))),
  ]);
}
