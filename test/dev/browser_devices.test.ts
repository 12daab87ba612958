/*
 * The browser entry's devices, run in Node (which has fetch and Blob): the
 * Blob device over in-memory Blobs and a file-backed one (fs.openAsBlob)
 * that changes under it; the HTTP device against a local range server
 * (test/helpers/http_ranges.ts) that answers ranges, answers without them,
 * changes the ETag, sends short, long or misplaced bodies, or fails. Then
 * the browser entry's Vm mounts ext2, ext4 and UFS2 images (mke2fs -d, makefs)
 * through both devices and reads every file back byte for byte, the server
 * counting one range request per device transfer. The OPFS device over a
 * synchronous access handle backed by a host file: an ext4 image changed
 * through it, judged by e2fsck and debugfs, and its failures (the real
 * handle in Chromium: test/browser/explorer.test.ts).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, fsyncSync, openAsBlob, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BlobDevice } from '../../src/dev/blob.js';
import { HttpDevice } from '../../src/dev/http.js';
import { OpfsDevice, type SyncAccessHandle } from '../../src/dev/opfs.js';
import { Vm, VmError, type MountedFs } from '../../src/api/browser.js';
import { EINVAL, EIO, EROFS } from '../../src/kern/errno.js';
import { debugfs, mkext2, randomBytes, tempDir, type TreeFile } from '../helpers/images.js';
import { mkufs } from '../helpers/ufs_images.js';
import { startRangeServer, type RangeServer } from '../helpers/http_ranges.js';

const KiB = 1024;
const MiB = 2 ** 20;
const tmp = tempDir('vmpager-browserdev-');
after(() => tmp.cleanup());

/** An iovec of frames of these sizes. */
const frames = (...sizes: number[]): Uint8Array[] => sizes.map((n) => new Uint8Array(n));
const joined = (iov: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(iov.reduce((n, v) => n + v.length, 0));
  let at = 0;
  for (const v of iov) {
    out.set(v, at);
    at += v.length;
  }
  return out;
};

describe('Blob device', () => {
  const data = randomBytes(256 * KiB + 77, 1);

  test('a cluster read fills every frame with the slice of the blob', async () => {
    const dev = new BlobDevice(new Blob([data]), 'mem.img');
    assert.equal(dev.size, data.length);
    const iov = frames(4096, 4096, 0, 8192, 100);
    assert.equal(await dev.readv(iov, 12_345), 0);
    assert.deepEqual(joined(iov), data.subarray(12_345, 12_345 + 16_484));
    assert.deepEqual(dev.stats, { reads: 1, writes: 0, bytesRead: 16_484, bytesWritten: 0 });
    assert.deepEqual([...dev.transferSizes], [[16_484, 1]]);
  });

  test('a read past the end, a write, and a read after close are refused', async () => {
    const dev = new BlobDevice(new Blob([data]), 'mem.img');
    assert.equal(await dev.readv(frames(4096), data.length - 4095), EIO);
    assert.equal(await dev.writev(), EROFS);
    assert.equal(await dev.readv(frames(10), data.length - 10), 0);
    await dev.close();
    assert.equal(await dev.readv(frames(10), 0), EIO);
  });

  test('a file changed after it was opened as a blob fails EIO with the reason kept', async () => {
    const path = join(tmp.dir, 'changing.img');
    writeFileSync(path, data);
    const dev = new BlobDevice(await openAsBlob(path), 'changing.img');
    assert.equal(await dev.readv(frames(4096), 0), 0);
    writeFileSync(path, data.subarray(0, 1000)); // smaller, and a new mtime: the snapshot is gone
    assert.equal(await dev.readv(frames(4096), 8192), EIO);
    assert.ok(dev.failure !== null && dev.failure.length > 0);
  });
});

describe('HTTP device', () => {
  const data = randomBytes(512 * KiB + 5, 2);
  let s: RangeServer;
  before(async () => {
    s = await startRangeServer(data);
  });
  after(() => s.close());

  const fresh = async () => {
    s.mode = 'ranges';
    const r = await HttpDevice.open(s.url);
    assert.equal(r.error, 0, r.reason);
    s.log.length = 0;
    return r.dev!;
  };

  test('open learns the size from Content-Range and each transfer is one request for exactly its bytes', async () => {
    s.mode = 'ranges';
    s.log.length = 0;
    const r = await HttpDevice.open(s.url);
    assert.equal(r.error, 0, r.reason);
    const dev = r.dev!;
    assert.equal(dev.size, data.length);
    assert.deepEqual(s.log, [{ method: 'GET', range: 'bytes=0-0', status: 206 }]);
    s.log.length = 0;
    const iov = frames(4096, 4096, 4096, 4096);
    assert.equal(await dev.readv(iov, 65_536), 0);
    assert.deepEqual(joined(iov), data.subarray(65_536, 65_536 + 16_384));
    assert.equal(await dev.readv(frames(5), data.length - 5), 0);
    assert.deepEqual(s.log, [
      { method: 'GET', range: 'bytes=65536-81919', status: 206 },
      { method: 'GET', range: `bytes=${data.length - 5}-${data.length - 1}`, status: 206 },
    ]);
    assert.equal(dev.stats.reads, 2);
    assert.equal(await dev.readv(frames(6), data.length - 5), EIO, 'past the end: refused without asking');
    assert.equal(s.log.length, 2);
    assert.equal(await dev.writev(), EROFS);
  });

  test('concurrent transfers are all in flight at once', async () => {
    const dev = await fresh();
    s.delayMs = 100;
    s.peakOpen = 0;
    try {
      const iovs = Array.from({ length: 8 }, () => frames(8192));
      const errors = await Promise.all(iovs.map((iov, i) => dev.readv(iov, i * 8192)));
      assert.deepEqual(errors, new Array(8).fill(0));
      iovs.forEach((iov, i) => assert.deepEqual(iov[0], data.subarray(i * 8192, (i + 1) * 8192)));
      assert.equal(s.peakOpen, 8);
      assert.equal(dev.peakInFlight, 8);
    } finally {
      s.delayMs = 0;
    }
  });

  test('a server without range support is refused at open, naming it, without reading the whole image', async () => {
    s.mode = 'no-ranges';
    s.log.length = 0;
    const r = await HttpDevice.open(s.url);
    assert.equal(r.dev, null);
    assert.match(r.reason ?? '', /does not answer range requests \(200/);
    assert.equal(s.log.length, 1);
  });

  test('a server that does not state the size is refused at open', async () => {
    s.mode = 'no-size';
    const r = await HttpDevice.open(s.url);
    assert.equal(r.dev, null);
    assert.match(r.reason ?? '', /does not state the image size/);
  });

  test('a missing image is ENOENT', async () => {
    const r = await HttpDevice.open(s.origin + '/nothing');
    assert.equal(r.dev, null);
    assert.match(r.reason ?? '', /404/);
  });

  for (const [mode, why] of [
    ['etag-changes', /the image changed on the server \(ETag "v1" at open, now ETag "v\d+"\)/],
    ['short-body', /4095 of 4096 bytes came back/],
    ['long-body', /more than 4096 bytes came back/],
    ['wrong-range', /Content-Range bytes 4097-8192\/\d+ for bytes 4096-8191/],
    ['error-500', /HTTP 500/],
    ['no-ranges', /whole file \(200\)/],
  ] as const) {
    test(`a transfer answered wrongly (${mode}) fails EIO with the reason kept, and the frames are not taken as read`, async () => {
      s.mode = mode === 'etag-changes' ? 'etag-changes' : 'ranges';
      const r = await HttpDevice.open(s.url);
      assert.equal(r.error, 0, r.reason);
      const dev = r.dev!;
      s.mode = mode;
      assert.equal(await dev.readv(frames(4096), 4096), EIO);
      assert.match(dev.failure ?? '', why);
      assert.equal(dev.stats.reads, 0);
    });
  }

  test('close aborts what is in flight and later transfers fail', async () => {
    const dev = await fresh();
    s.delayMs = 300;
    try {
      const pending = dev.readv(frames(4096), 0);
      await new Promise((r) => setTimeout(r, 50));
      await dev.close();
      assert.equal(await pending, EIO);
      assert.equal(await dev.readv(frames(4096), 0), EIO);
    } finally {
      s.delayMs = 0;
    }
  });
});

describe('the browser entry mounts images through both devices', () => {
  const files = new Map<string, Uint8Array>();
  files.set('/big.bin', randomBytes(3 * MiB + 4321, 10));
  for (let i = 0; i < 12; i++) files.set(`/dir/f${i}`, randomBytes(1 + ((i * 7919) % 90_000), 20 + i));
  files.set('/empty', new Uint8Array(0));
  const tree: TreeFile[] = [...files].map(([p, data]) => ({ path: p.slice(1), data }));

  const images = {
    ext2: mkext2(join(tmp.dir, 'e2.img'), tree, { type: 'ext2', blockSize: 1024, size: 16 * MiB }),
    ext4: mkext2(join(tmp.dir, 'e.img'), tree, { type: 'ext4', blockSize: 4096, size: 16 * MiB }),
    ufs2: mkufs(join(tmp.dir, 'u.img'), tree, { version: 2, bsize: 32768, fsize: 4096, size: 16 * MiB }),
  };

  async function readAll(fs: MountedFs): Promise<void> {
    for (const [path, want] of files) {
      const f = await fs.open(path);
      const got = await f.read(0, f.size);
      await f.close();
      assert.ok(Buffer.from(got).equals(Buffer.from(want)), `${fs.type} ${path}`);
    }
    const names = (await fs.readdir('/dir')).map((e) => e.name).sort();
    assert.deepEqual(names, [...files.keys()].filter((p) => p.startsWith('/dir/')).map((p) => p.slice(5)).sort());
  }

  for (const [kind, image] of Object.entries(images)) {
    test(`${kind}: every file read back through a Blob, in 1 MiB of memory`, async () => {
      const vm = new Vm({ memory: 1 * MiB });
      const fs = await vm.mount(new Blob([readFileSync(image)]));
      await readAll(fs);
      await fs.unmount();
    });

    test(`${kind}: every file read back over HTTP, one range request per device transfer`, async () => {
      const s = await startRangeServer(readFileSync(image));
      try {
        const vm = new Vm({ memory: 1 * MiB });
        const fs = await vm.mount(s.url);
        await readAll(fs);
        const st = vm.stats();
        await fs.unmount();
        const ranges = s.log.filter((e) => e.range !== null && e.status === 206);
        assert.equal(ranges.length, s.log.length, 'every request asked for a range');
        assert.equal(ranges.length, st.device.reads + 1, 'the probe, then one request per transfer');
        assert.ok(st.vnodein > 0 && st.vnodein <= st.device.reads);
      } finally {
        await s.close();
      }
    });
  }

  test('a sequential reader keeps the device\'s readAheadDepth windows in flight (two by default, one request each); a depth that is not a whole number of 1 or more is EINVAL', async () => {
    const big = randomBytes(12 * MiB, 31);
    const image = mkext2(join(tmp.dir, 'ra.img'), [{ path: 'big.bin', data: big }], { type: 'ext4', blockSize: 4096, size: 32 * MiB });
    const s = await startRangeServer(readFileSync(image));
    s.delayMs = 20; // every answer waits: what is in flight together is seen together
    try {
      const peaks: number[] = [];
      for (const depth of [undefined, 5]) {
        const vm = new Vm({ memory: 16 * MiB });
        const fs = await vm.mount(s.url, { http: { readAheadDepth: depth } });
        const f = await fs.open('/big.bin');
        f.advise('sequential');
        const requests = s.log.length;
        const reads = vm.stats().device.reads;
        s.peakOpen = 0;
        const got = new Uint8Array(f.size);
        let at = 0;
        await f.sendfile((views) => {
          for (const v of views) {
            got.set(v, at);
            at += v.length;
          }
        });
        assert.ok(Buffer.from(got).equals(Buffer.from(big)));
        assert.equal(s.log.length - requests, vm.stats().device.reads - reads, 'one request per device transfer');
        peaks.push(s.peakOpen);
        await f.close();
        await fs.unmount();
      }
      // The fault's own transfer, then the windows ahead of it.
      assert.ok(peaks[0] >= 2 && peaks[0] <= 3, `default: ${peaks[0]} requests open at most`);
      assert.ok(peaks[1] >= 5 && peaks[1] <= 6, `depth 5: ${peaks[1]} requests open at most`);
      for (const bad of [0, -1, 1.5, NaN]) {
        await assert.rejects(new Vm().mount(s.url, { http: { readAheadDepth: bad } }), (e: unknown) => e instanceof VmError && e.code === 'EINVAL' && e.message.includes(`readAheadDepth ${bad}`));
      }
    } finally {
      await s.close();
    }
  });

  test('a server without range support fails the mount with the reason in the message', async () => {
    const s = await startRangeServer(readFileSync(images.ext4));
    s.mode = 'no-ranges';
    try {
      await assert.rejects(new Vm().mount(s.url), (e: unknown) => e instanceof VmError && /does not answer range requests/.test(e.message) && e.message.startsWith(s.url));
      await assert.rejects(new Vm().mount(s.url, { readOnly: false }), (e: unknown) => e instanceof VmError && e.code === 'EROFS');
    } finally {
      await s.close();
    }
  });
});

/** A synchronous access handle over a host file (the OPFS handle's calls, as a worker makes them). */
function fileHandle(path: string, opts: { failWritesAfter?: number } = {}): SyncAccessHandle & { flushes: number; closed: boolean } {
  const fd = openSync(path, 'r+');
  let writes = 0;
  const h = {
    flushes: 0,
    closed: false,
    read: (b: Uint8Array, o: { at: number }) => readSync(fd, b, 0, b.length, o.at),
    write: (b: Uint8Array, o: { at: number }) => {
      if (opts.failWritesAfter !== undefined && ++writes > opts.failWritesAfter) throw Object.assign(new Error('quota exceeded'), { name: 'QuotaExceededError' });
      return writeSync(fd, b, 0, b.length, o.at);
    },
    flush: () => {
      fsyncSync(fd);
      h.flushes++;
    },
    getSize: () => fstatSync(fd).size,
    close: () => {
      closeSync(fd);
      h.closed = true;
    },
  };
  return h;
}

describe('OPFS device (a synchronous access handle)', () => {
  const tree: TreeFile[] = [{ path: 'etc/hostname', data: new TextEncoder().encode('old\n') }, { path: 'big.bin', data: randomBytes(2 * MiB + 5, 41) }];

  test('the browser entry mounts it read-write: a tree changed through it is e2fsck -fn clean and debugfs reads it', async () => {
    const image = mkext2(join(tmp.dir, 'opfs.img'), tree, { type: 'ext4', blockSize: 4096, size: 16 * MiB });
    const h = fileHandle(image);
    const dev = new OpfsDevice(h, 'opfs.img');
    assert.equal(dev.size, statSync(image).size);
    const fs = await new Vm({ memory: 1 * MiB }).mount(dev, { readOnly: false });
    const fresh = randomBytes(3 * MiB + 77, 42);
    const f = await fs.open('/etc/hostname', { create: true });
    await f.truncate(0);
    await f.write(0, new TextEncoder().encode('browser\n'));
    await f.close();
    await fs.mkdir('/new');
    const g = await fs.open('/new/fresh.bin', { create: true });
    await g.write(0, fresh);
    await g.close();
    await fs.unlink('/big.bin');
    await fs.unmount();
    assert.ok(h.flushes > 0, 'the unmount flushed the handle');
    assert.equal(await dev.close(), 0);
    assert.ok(h.closed);
    assert.ok(dev.stats.writes > 0 && dev.stats.reads > 0);
    const fsck = spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
    assert.equal(debugfs(image, 'cat /etc/hostname'), 'browser\n');
    assert.ok(Buffer.from(debugfs(image, 'cat /new/fresh.bin'), 'latin1').equals(Buffer.from(fresh)));
    assert.doesNotMatch(debugfs(image, 'ls -l /'), /big\.bin/);
  });

  test('a read-only device, a file or a URL refuses a read-write mount with EROFS; a read-only mount of the device reads', async () => {
    const image = mkext2(join(tmp.dir, 'opfs-ro.img'), tree, { type: 'ext4', blockSize: 4096, size: 16 * MiB });
    const before = readFileSync(image);
    const ro = new OpfsDevice(fileHandle(image), 'opfs-ro.img', true);
    await assert.rejects(new Vm({ memory: 1 * MiB }).mount(ro, { readOnly: false }), (e: VmError) => e.code === 'EROFS');
    await assert.rejects(new Vm({ memory: 1 * MiB }).mount(new Blob([before]), { readOnly: false }), (e: VmError) => e.code === 'EROFS');
    assert.equal(await ro.writev([new Uint8Array(512)], 0), EROFS);
    const fs = await new Vm({ memory: 1 * MiB }).mount(ro);
    const f = await fs.open('/etc/hostname');
    assert.equal(new TextDecoder().decode(await f.read(0, f.size)), 'old\n');
    await f.close();
    await fs.unmount();
    await ro.close();
    assert.ok(readFileSync(image).equals(before), 'nothing written');
  });

  test('a transfer past the end, after close, or whose handle throws (quota) is EIO with the reason kept; the first failure stays', async () => {
    const path = join(tmp.dir, 'raw.bin');
    writeFileSync(path, randomBytes(64 * KiB, 43));
    const dev = new OpfsDevice(fileHandle(path, { failWritesAfter: 1 }), 'raw.bin');
    assert.equal(await dev.readv(frames(4096), 64 * KiB - 4095), EIO);
    assert.match(dev.failure!, /past the end \(65536 bytes\)/);
    const first = dev.failure;
    assert.equal(await dev.writev(frames(512, 512), 0), EIO); // the second frame's write throws
    assert.equal(dev.failure, first);
    const fresh = new OpfsDevice(fileHandle(path, { failWritesAfter: 0 }), 'raw.bin');
    assert.equal(await fresh.writev(frames(512), 4096), EIO);
    assert.equal(fresh.failure, 'writing 512 bytes at 4096: quota exceeded');
    const iov = frames(4096, 4096);
    assert.equal(await fresh.readv(iov, 8192), 0);
    assert.deepEqual(joined(iov), new Uint8Array(readFileSync(path)).subarray(8192, 16384));
    await fresh.close();
    assert.equal(await fresh.readv(frames(16), 0), EIO);
    await dev.close();
  });

  test('open() outside a browser worker says there is no origin private file system', async () => {
    const r = await OpfsDevice.open('disk.img');
    assert.deepEqual([r.error, r.dev, r.reason], [EINVAL, null, 'no origin private file system here']);
  });
});
