/*
 * The facade's extended-attribute calls (named after the system calls, as
 * node:fs has none): values as Buffers or strings in an encoding, errors as
 * Node's (code, syscall, path), what they set read back by debugfs.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm } from '../../src/api/index.js';
import { FsError } from '../../src/api/fs_error.js';
import { debugfs, e2fsck, mkext2, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

test('promises.setxattr/getxattr/listxattr/removexattr: Buffers or encoded strings, Node-shaped errors, kept by writeFile, debugfs agrees', async () => {
  const image = join(tmp.dir, 'p.img');
  mkext2(image, [{ path: 'f', data: new Uint8Array(3) }], { type: 'ext4', size: 8 << 20 });
  {
    await using root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
    const fsp = root.promises;
    await fsp.setxattr('f', 'user.note', 'héllo');
    await fsp.setxattr('/f', 'user.raw', new Uint8Array([1, 2, 3]));
    assert.deepEqual((await fsp.listxattr('/f')).sort(), ['user.note', 'user.raw']);
    assert.equal(await fsp.getxattr('/f', 'user.note', 'utf8'), 'héllo');
    assert.deepEqual(await fsp.getxattr('/f', 'user.raw'), Buffer.from([1, 2, 3]));
    assert.equal(await fsp.getxattr('/f', 'user.raw', { encoding: 'hex' }), '010203');
    await fsp.removexattr('/f', 'user.raw');
    const e = await fsp.getxattr('/f', 'user.raw').then(() => null, (x: unknown) => x);
    assert.ok(e instanceof FsError);
    assert.equal(e.code, 'ENODATA');
    assert.equal(e.syscall, 'getxattr');
    assert.equal(e.path, '/f');
    await assert.rejects(fsp.setxattr('/f', 'user.note', 'x', { flag: 'create' }), (x: unknown) => x instanceof FsError && x.code === 'EEXIST');
    const ino = (await fsp.stat('/f')).ino;
    await fsp.writeFile('/f', 'new bytes'); // replaced by a new inode, as Node's would be rewritten: attributes kept
    assert.notEqual((await fsp.stat('/f')).ino, ino);
    assert.equal(await fsp.getxattr('/f', 'user.note', 'utf8'), 'héllo');
  }
  assert.ok(e2fsck(image).clean);
  assert.match(debugfs(image, 'ea_list /f'), /user\.note \(6\) = 68 c3 a9 6c 6c 6f/);
});

test('the attribute calls take a symlink\'s own with { follow: false } and follow it otherwise, all four alike', async () => {
  const img = join(tmp.dir, 'follow.img');
  mkext2(img, [{ path: 'target', data: Buffer.from('t\n') }], { type: 'ext4', size: 8 << 20 });
  const fs = await new Vm().mount(img, { readOnly: false });
  try {
    const fsp = fs.promises;
    await fsp.symlink('target', '/link');
    await fsp.setxattr('/link', 'trusted.own', 'L', { follow: false });
    await fsp.setxattr('/link', 'user.via', 'T');
    assert.deepEqual(await fsp.listxattr('/link', { follow: false }), ['trusted.own']);
    assert.deepEqual(await fsp.listxattr('/link'), ['user.via']);
    assert.equal(await fsp.getxattr('/link', 'trusted.own', { encoding: 'utf8', follow: false }), 'L');
    await assert.rejects(fsp.getxattr('/link', 'trusted.own'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    await fsp.removexattr('/link', 'trusted.own', { follow: false });
    assert.deepEqual(await fsp.listxattr('/link', { follow: false }), []);
    await fsp.removexattr('/link', 'user.via');
    assert.deepEqual(await fsp.listxattr('/target'), []);
  } finally {
    await fs.unmount();
  }
  assert.ok(e2fsck(img).clean);
});
