/*
 * Writing ext4 images with inline_data (mke2fs -O inline_data -d: small
 * files and small directories kept in the inode), 1 KiB and 4 KiB blocks,
 * with metadata_csum: a write, a truncate or a mapping's write-back turns an
 * inline file into an ordinary one, and a new, removed or renamed entry
 * turns an inline directory into one with a block; the other inline files
 * keep their bytes, the system.data attribute goes with the flag, and
 * debugfs and e2fsck -fn judge every step. A file longer than its inline
 * bytes (mke2fs -d keeps a file of holes so) reads zeros past them, and
 * turns ordinary as any other, the rest a hole.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm, type MountedFs } from '../../../src/api/index.js';
import { debugfs, debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../../helpers/images.js';
import { buildImage } from '../../helpers/ext2_images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

async function step(image: string, what: string, fn: (fs: MountedFs) => Promise<void>): Promise<void> {
  const fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    await fn(fs);
  } finally {
    await fs.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, `${what}: ${ck.output}`);
}

/** Is path's inode inline (EXT4_INLINE_DATA_FL), as debugfs stat shows its flags? */
function inline(image: string, path: string): boolean {
  const m = /Flags: 0x([0-9a-f]+)/.exec(debugfs(image, `stat "${path}"`));
  assert.ok(m !== null);
  return (parseInt(m[1], 16) & 0x10000000) !== 0;
}

/** debugfs cat cut to the inode's size (for a file still inline, debugfs 1.47 dumps all 60 bytes of i_block). */
function cat(image: string, path: string): Buffer {
  const size = Number(/Size: (\d+)/.exec(debugfs(image, `stat "${path}"`))![1]);
  return debugfsCat(image, path).subarray(0, size);
}

function names(image: string, path: string): string[] {
  return debugfs(image, `ls "${path}"`).split(/\s+/).filter((w) => /^[a-z.][\w.]*$/.test(w) && !/^\d+$/.test(w)).sort();
}

const bytes = (s: string) => new TextEncoder().encode(s);

for (const bs of [1024, 4096]) {
  describe(`ext4 with inline_data, ${bs}-byte blocks, metadata_csum`, () => {
    const image = join(tmp.dir, `inline-${bs}.img`);
    const small = randomBytes(40, 1);
    const mid = randomBytes(100, 2);
    mkext2(image, [
      { path: 'small', data: small }, { path: 'mid', data: mid }, { path: 'keep', data: randomBytes(30, 3) },
      { path: 'dir/a', data: bytes('a\n') }, { path: 'dir/sub/b', data: bytes('b\n') }, { path: 'empty', dir: true },
      { path: 'other/c', data: bytes('c\n') }, { path: 'map', data: randomBytes(90, 4) },
    ], { type: 'ext4', blockSize: bs, size: 8 << 20, extra: ['-O', 'inline_data,metadata_csum', '-I', '256'] });

    test('the image as mke2fs made it: small files and directories inline', () => {
      for (const p of ['/small', '/mid', '/keep', '/dir', '/dir/sub', '/empty', '/map']) assert.ok(inline(image, p), p);
    });

    test('a write past the inline bytes makes the file ordinary: bytes kept and added, the others still inline', async () => {
      await step(image, 'append', async (fs) => {
        const f = await fs.open('/small');
        await f.write(small.length, bytes('appended'));
        await f.close();
      });
      assert.ok(!inline(image, '/small'));
      assert.deepEqual(debugfsCat(image, '/small'), Buffer.concat([Buffer.from(small), Buffer.from('appended')]));
      assert.ok(inline(image, '/keep'));
      assert.deepEqual(cat(image, '/keep'), Buffer.from(randomBytes(30, 3)));
      assert.doesNotMatch(debugfs(image, 'ea_list /small'), /system\.data/);
    });

    test('a truncate of an inline file keeps its first bytes', async () => {
      await step(image, 'truncate', async (fs) => {
        const f = await fs.open('/mid');
        await f.truncate(70);
        await f.close();
      });
      assert.ok(!inline(image, '/mid'));
      assert.deepEqual(debugfsCat(image, '/mid'), Buffer.from(mid.subarray(0, 70)));
    });

    test('a shared mapping written and synced converts the file through the pager', async () => {
      await step(image, 'mmap', async (fs) => {
        const f = await fs.open('/map');
        const m = await f.mmap({ offset: 0, length: f.size, shared: true, writable: true });
        await m.write(10, bytes('MAPPED'));
        await m.sync();
        await m.unmap();
        await f.close();
      });
      const want = Buffer.from(randomBytes(90, 4));
      want.set(Buffer.from('MAPPED'), 10);
      assert.deepEqual(debugfsCat(image, '/map'), want);
    });

    test('an entry added to, removed from and renamed out of inline directories: blocks, entries kept', async () => {
      await step(image, 'create', async (fs) => {
        const f = await fs.open('/dir/new', { create: true });
        await f.write(0, bytes('new\n'));
        await f.close();
      });
      assert.ok(!inline(image, '/dir'));
      assert.deepEqual(names(image, '/dir'), ['.', '..', 'a', 'new', 'sub']);
      await step(image, 'unlink', (fs) => fs.unlink('/other/c'));
      assert.deepEqual(names(image, '/other'), ['.', '..']);
      await step(image, 'rename a directory to another parent', (fs) => fs.rename('/dir/sub', '/other/sub'));
      assert.deepEqual(names(image, '/other/sub'), ['.', '..', 'b']);
      assert.match(debugfs(image, 'ls -l /other/sub'), new RegExp(`^\\s*${/Inode: (\d+)/.exec(debugfs(image, 'stat /other'))![1]}\\s+40755 \\(2\\).*\\s\\.\\.\\s*$`, 'm'));
      assert.deepEqual(cat(image, '/other/sub/b'), Buffer.from('b\n'));
      await step(image, 'rmdir', (fs) => fs.rmdir('/empty'));
      assert.ok(!names(image, '/').includes('empty'));
    });

    test('an attribute set on an inline file keeps its data inline', async () => {
      await step(image, 'setxattr', (fs) => fs.setxattr('/keep', 'user.tag', 'v'));
      assert.ok(inline(image, '/keep'));
      assert.deepEqual(cat(image, '/keep'), Buffer.from(randomBytes(30, 3)));
      assert.match(debugfs(image, 'ea_list /keep'), /user\.tag \(1\) = "v"/);
    });
  });
}

for (const bs of [1024, 4096]) {
  describe(`a file longer than its inline bytes (mke2fs -d keeps a file of holes inline, i_size past its 60 bytes), ${bs}-byte blocks`, () => {
    const image = join(tmp.dir, `inline-holes-${bs}.img`);
    const names = ['holes', 'shrinks', 'grows', 'mapped'];
    buildImage(image, {
      type: 'ext4', blockSize: bs, size: 8 << 20, extra: ['-O', 'inline_data,metadata_csum', '-I', '256'],
      files: [{ path: 'front', data: bytes('hi\n') }],
      sparse: names.map((path) => ({ path, size: 10_000, writes: [] })),
    });
    debugfs(image, 'sif /front size 9000', true); // inline bytes, then zeros: e2fsck takes it as mke2fs's own
    /** The expected bytes: zeros of size, with `at` written. */
    const model = (size: number, ...at: Array<[number, string]>) => {
      const b = Buffer.alloc(size);
      for (const [off, s] of at) b.write(s, off, 'latin1');
      return b;
    };

    test('the image as mke2fs made it: e2fsck clean, every file inline', () => {
      const ck = e2fsck(image);
      assert.ok(ck.clean, ck.output);
      for (const p of ['/front', ...names.map((n) => `/${n}`)]) assert.ok(inline(image, p), p);
    });

    test('readFile, read and a mapping give the inline bytes, then zeros up to i_size; nothing changes', async () => {
      await step(image, 'read', async (fs) => {
        assert.ok(Buffer.from(await fs.promises.readFile('/holes')).equals(model(10_000)));
        assert.ok(Buffer.from(await fs.promises.readFile('/front')).equals(model(9000, [0, 'hi\n'])));
        const f = await fs.open('/front');
        assert.ok(Buffer.from(await f.read(4090, 100)).equals(model(100)));
        const m = await f.mmap({ offset: 0, length: f.size, shared: false });
        assert.ok(Buffer.from(await m.read(0, f.size)).equals(model(9000, [0, 'hi\n'])));
        await m.unmap();
        await f.close();
      });
      for (const p of ['/front', '/holes']) assert.ok(inline(image, p), p);
    });

    test('a write inside, a truncate down or up and a mapping\'s write-back make each an ordinary file holding the same bytes', async () => {
      await step(image, 'write', async (fs) => {
        const f = await fs.open('/holes');
        await f.write(5000, bytes('mid'));
        await f.close();
        const g = await fs.open('/front');
        await g.write(0, bytes('HI'));
        await g.close();
      });
      await step(image, 'truncate', async (fs) => {
        await fs.promises.truncate('/shrinks', 3000);
        await fs.promises.truncate('/grows', 20_000);
      });
      await step(image, 'mmap', async (fs) => {
        const f = await fs.open('/mapped');
        const m = await f.mmap({ offset: 0, length: f.size, shared: true, writable: true });
        await m.write(7000, bytes('MAPPED'));
        await m.sync();
        await m.unmap();
        await f.close();
      });
      const want: Array<[string, Buffer]> = [
        ['/holes', model(10_000, [5000, 'mid'])], ['/front', model(9000, [0, 'HI\n'])], ['/shrinks', model(3000)],
        ['/grows', model(20_000)], ['/mapped', model(10_000, [7000, 'MAPPED'])],
      ];
      for (const [p, data] of want) {
        assert.ok(!inline(image, p), p);
        assert.ok(debugfsCat(image, p).equals(data), p);
        assert.doesNotMatch(debugfs(image, `ea_list ${p}`), /system\.data/, p);
      }
    });
  });
}
