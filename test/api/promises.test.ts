/*
 * The node:fs/promises facade judged by node:fs/promises itself: one script
 * runs against a host directory and against an image of the same tree
 * (mke2fs -d), and both logs must be equal — listings with types, stat
 * fields, file bytes, writes, renames, links, symlinks, removals and the
 * error codes; e2fsck -fn judges the image after.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as hostFsp from 'node:fs/promises';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { FsError, Vm } from '../../src/api/index.js';
import { debugfs, e2fsck, randomBytes, tempDir } from '../helpers/images.js';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';

const tmp = tempDir();
after(() => tmp.cleanup());

/** The part of node:fs/promises the script uses: vmpager's facade must fit Node's own types. */
type Fsp = Pick<
  typeof hostFsp,
  | 'readFile' | 'writeFile' | 'appendFile' | 'readdir' | 'stat' | 'lstat' | 'mkdir' | 'rm' | 'rmdir' | 'rename' | 'link'
  | 'symlink' | 'readlink' | 'unlink' | 'chmod' | 'chown' | 'utimes' | 'truncate' | 'access' | 'open' | 'copyFile'
  | 'lchown' | 'lutimes'
>;

const BIN = randomBytes(300_000, 7);

/** The tree both sides start from. */
function makeTree(dir: string): void {
  mkdirSync(join(dir, 'sub/deep'), { recursive: true });
  mkdirSync(join(dir, 'empty'));
  mkdirSync(join(dir, 'full/inner'), { recursive: true });
  writeFileSync(join(dir, 'full/inner/x'), 'x');
  writeFileSync(join(dir, 'hello.txt'), 'hello, world\n');
  chmodSync(join(dir, 'hello.txt'), 0o640);
  writeFileSync(join(dir, 'bin.dat'), BIN);
  chmodSync(join(dir, 'bin.dat'), 0o755);
  writeFileSync(join(dir, 'sub/a.txt'), 'a\n'.repeat(5000));
  writeFileSync(join(dir, 'sub/deep/b.txt'), 'béé ✓\n');
  symlinkSync('hello.txt', join(dir, 'link'));
  symlinkSync('sub', join(dir, 'dirlink'));
  execFileSync('mkfifo', ['-m', '0620', join(dir, 'sub/pipe')]);
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Runs the same steps on fsp under root; returns the log both sides must agree on. */
async function script(fsp: Fsp, root: string): Promise<unknown[]> {
  const log: unknown[] = [];
  const P = (rel: string): string => posix.join(root, rel);
  const note = (label: string, v: unknown): void => void log.push([label, v]);
  /** An error as the log keeps it: code and syscall (paths differ between the sides by root). */
  const fails = async (label: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
      note(label, 'no error');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      note(label, [err.code, err.syscall, err instanceof Error]);
    }
  };
  const statOf = async (rel: string, link = false): Promise<unknown> => {
    const s = await (link ? fsp.lstat(P(rel)) : fsp.stat(P(rel)));
    return {
      file: s.isFile(), dir: s.isDirectory(), symlink: s.isSymbolicLink(),
      size: s.isDirectory() ? 'dir' : s.size, mode: s.mode.toString(8), nlink: s.nlink, uid: s.uid, gid: s.gid,
    };
  };
  const listing = async (rel: string): Promise<unknown> =>
    (await fsp.readdir(P(rel), { withFileTypes: true }))
      .filter((d) => d.name !== 'lost+found')
      .map((d) => [d.name, d.isFile(), d.isDirectory(), d.isSymbolicLink(), d.isFIFO()])
      .sort();

  // Reading what mke2fs -d copied.
  note('ls /', await listing(''));
  note('ls sub', await listing('sub'));
  note('names sub', (await fsp.readdir(P('sub'))).sort());
  note('recursive', (await fsp.readdir(P('sub'), { recursive: true })).sort());
  note(
    'recursive types',
    (await fsp.readdir(P('full'), { recursive: true, withFileTypes: true }))
      .map((d) => [posix.relative(root, d.parentPath), d.name, d.isDirectory()])
      .sort(),
  );
  note('parentPath', (await fsp.readdir(P('sub'), { withFileTypes: true })).map((d) => posix.relative(root, d.parentPath)));
  note('fifo', [await statOf('sub/pipe'), (await fsp.stat(P('sub/pipe'))).isFIFO()]);
  for (const [rel, l] of [['hello.txt', false], ['bin.dat', false], ['sub', false], ['empty', false], ['link', true], ['link', false], ['dirlink', true], ['sub/deep/b.txt', false]] as const) {
    note(`stat ${rel} ${l}`, await statOf(rel, l));
  }
  note('mtime hello', Math.floor((await fsp.stat(P('hello.txt'))).mtimeMs / 1000) > 0);
  note('text', await fsp.readFile(P('hello.txt'), 'utf8'));
  note('utf8', await fsp.readFile(P('sub/deep/b.txt'), { encoding: 'utf8' }));
  note('base64', await fsp.readFile(P('sub/deep/b.txt'), { encoding: 'base64' }));
  const bin = await fsp.readFile(P('bin.dat'));
  note('binary', [Buffer.isBuffer(bin), bin.length, sha(bin)]);
  note('via link', await fsp.readFile(P('link'), 'utf8'));
  note('a.txt', sha(await fsp.readFile(P('dirlink/a.txt'))));

  // Writing.
  await fsp.writeFile(P('new.txt'), 'new file');
  note('new', [await fsp.readFile(P('new.txt'), 'utf8'), await statOf('new.txt')]);
  await fsp.writeFile(P('hello.txt'), new TextEncoder().encode('replaced\n'));
  note('replaced', [await fsp.readFile(P('hello.txt'), 'utf8'), await statOf('hello.txt')]);
  await fsp.appendFile(P('hello.txt'), 'appended\n');
  await fsp.appendFile(P('made-by-append'), Buffer.from([0, 1, 2, 255]));
  note('appended', [await fsp.readFile(P('hello.txt'), 'utf8'), [...(await fsp.readFile(P('made-by-append')))]]);
  await fsp.writeFile(P('private'), 'secret', { mode: 0o600 });
  note('mode on create', await statOf('private'));
  await fsp.writeFile(P('private'), 'still private', { mode: 0o666 });
  note('mode kept', await statOf('private'));
  await fsp.writeFile(P('big.bin'), BIN.subarray(0, 200_000));
  await fsp.writeFile(P('big.bin'), BIN.subarray(100_000));
  note('rewritten big', sha(await fsp.readFile(P('big.bin'))));
  await fsp.writeFile(P('link'), 'through the link\n');
  note('write via symlink', [await fsp.readFile(P('hello.txt'), 'utf8'), await statOf('link', true)]);
  await fails('writeFile wx', () => fsp.writeFile(P('new.txt'), 'x', { flag: 'wx' }));
  await fsp.writeFile(P('fresh-x'), 'x', { flag: 'wx' });
  note('wx fresh', await fsp.readFile(P('fresh-x'), 'utf8'));

  // A FileHandle.
  const h = await fsp.open(P('handle.bin'), 'w+');
  await h.write(Buffer.from('0123456789'));
  await h.write('abc', 3);
  const buf = Buffer.alloc(8);
  note('handle read', [(await h.read(buf, 0, 8, 0)).bytesRead, buf.toString()]);
  note('handle stat', [(await h.stat()).size, (await h.stat()).isFile()]);
  await h.truncate(5);
  note('handle readFile', [await h.readFile('utf8')]);
  await h.close();
  note('handle after', await fsp.readFile(P('handle.bin'), 'utf8'));
  const r = await fsp.open(P('handle.bin'));
  await fails('write on r', () => r.write('x'));
  await r.close();
  const a = await fsp.open(P('handle.bin'), 'a');
  await a.write('Z', 0);
  await a.close();
  note('append handle', await fsp.readFile(P('handle.bin'), 'utf8'));
  await fsp.truncate(P('handle.bin'), 2);
  note('truncate', await fsp.readFile(P('handle.bin'), 'utf8'));
  await fsp.copyFile(P('bin.dat'), P('copy.dat'));
  note('copy', sha(await fsp.readFile(P('copy.dat'))));
  await fails('copy excl', () => fsp.copyFile(P('bin.dat'), P('copy.dat'), hostFsp.constants.COPYFILE_EXCL));

  // Directories.
  note('mkdir -p', posix.relative(root, (await fsp.mkdir(P('x/y/z'), { recursive: true }))!));
  note('mkdir -p again', await fsp.mkdir(P('x/y/z'), { recursive: true }));
  note('mkdir -p part', posix.relative(root, (await fsp.mkdir(P('x/y/w/v'), { recursive: true }))!));
  await fsp.mkdir(P('x/plain'));
  await fsp.mkdir(P('x/moded'), { mode: 0o700 });
  note('ls x', await listing('x'));
  note('ls x/y', await listing('x/y'));
  note('stat x', [await statOf('x'), await statOf('x/y'), await statOf('x/moded')]);

  // Renames.
  await fsp.rename(P('new.txt'), P('sub/renamed.txt'));
  note('renamed', [await fsp.readFile(P('sub/renamed.txt'), 'utf8'), await listing('sub')]);
  await fsp.rename(P('fresh-x'), P('sub/renamed.txt'));
  note('rename over', await fsp.readFile(P('sub/renamed.txt'), 'utf8'));
  await fsp.rename(P('x/y'), P('empty/moved'));
  note('rename dir', [await listing('x'), await listing('empty/moved'), await statOf('x'), await statOf('empty')]);

  // Links.
  await fsp.link(P('bin.dat'), P('sub/hard'));
  note('nlink 2', [await statOf('bin.dat'), await statOf('sub/hard')]);
  await fsp.writeFile(P('sub/hard'), 'both names');
  note('write hard link', await fsp.readFile(P('bin.dat'), 'utf8'));
  await fsp.unlink(P('bin.dat'));
  note('nlink 1', [await statOf('sub/hard'), (await fsp.readdir(P(''))).includes('bin.dat')]);
  await fsp.symlink('renamed.txt', P('sub/sym'));
  note('symlink', [await fsp.readlink(P('sub/sym')), await fsp.readFile(P('sub/sym'), 'utf8'), await statOf('sub/sym', true)]);
  await fsp.symlink('/nowhere', P('dangling'));
  note('dangling', [await fsp.readlink(P('dangling')), await statOf('dangling', true)]);

  // Attributes.
  await fsp.chmod(P('sub/hard'), 0o604);
  await fsp.chown(P('sub/hard'), 1234, 5678);
  await fsp.utimes(P('sub/hard'), 1_000_000_000, new Date(1_200_000_000_000));
  const st = await fsp.stat(P('sub/hard'));
  note('attrs', [st.mode.toString(8), st.uid, st.gid, st.atimeMs, st.mtimeMs, st.mtime.toISOString()]);
  await fsp.access(P('sub/hard'));
  await fsp.lchown(P('sub/sym'), 4321, 8765);
  await fsp.lutimes(P('sub/sym'), 1_100_000_000, 1_150_000_000);
  const ls = await fsp.lstat(P('sub/sym'));
  note('symlink attrs', [ls.uid, ls.gid, ls.atimeMs, ls.mtimeMs, (await fsp.stat(P('sub/sym'))).uid]);
  await fails('ENOENT lchown', () => fsp.lchown(P('missing'), 1, 1));
  await fails('ENOENT lutimes', () => fsp.lutimes(P('missing'), 1, 1));

  // Errors, each the same way on both sides.
  await fails('ENOENT readFile', () => fsp.readFile(P('missing')));
  await fails('ENOENT stat', () => fsp.stat(P('missing')));
  await fails('ENOENT lstat', () => fsp.lstat(P('sub/missing')));
  await fails('ENOENT readdir', () => fsp.readdir(P('missing')));
  await fails('ENOENT open', () => fsp.open(P('missing')));
  await fails('ENOENT writeFile parent', () => fsp.writeFile(P('nodir/f'), 'x'));
  await fails('ENOENT mkdir parent', () => fsp.mkdir(P('nodir/d')));
  await fails('ENOENT rename', () => fsp.rename(P('missing'), P('other')));
  await fails('ENOENT unlink', () => fsp.unlink(P('missing')));
  await fails('ENOENT rm', () => fsp.rm(P('missing')));
  await fails('rm force', () => fsp.rm(P('missing'), { force: true }));
  await fails('ENOENT access', () => fsp.access(P('missing')));
  await fails('ENOENT dangling', () => fsp.readFile(P('dangling')));
  await fails('ENOENT chmod', () => fsp.chmod(P('missing'), 0o644));
  await fails('ENOENT truncate', () => fsp.truncate(P('missing')));
  await fails('EEXIST mkdir', () => fsp.mkdir(P('sub')));
  await fails('EEXIST mkdir -p file', () => fsp.mkdir(P('hello.txt'), { recursive: true }));
  await fails('EEXIST link', () => fsp.link(P('hello.txt'), P('sub/hard')));
  await fails('EEXIST symlink', () => fsp.symlink('x', P('hello.txt')));
  await fails('EEXIST open wx', () => fsp.open(P('hello.txt'), 'wx'));
  await fails('EEXIST wx dangling', () => fsp.open(P('dangling'), 'wx'));
  await fails('ENOTDIR readdir', () => fsp.readdir(P('hello.txt')));
  await fails('ENOTDIR stat', () => fsp.stat(P('hello.txt/x')));
  await fails('ENOTDIR mkdir -p', () => fsp.mkdir(P('hello.txt/x'), { recursive: true }));
  await fails('ENOTDIR rmdir', () => fsp.rmdir(P('hello.txt')));
  await fails('ENOTDIR open', () => fsp.writeFile(P('hello.txt/x'), 'x'));
  await fails('ENOTDIR rename', () => fsp.rename(P('x'), P('hello.txt')));
  await fails('EISDIR readFile', () => fsp.readFile(P('sub')));
  await fails('EISDIR writeFile', () => fsp.writeFile(P('sub'), 'x'));
  await fails('EISDIR appendFile', () => fsp.appendFile(P('sub'), 'x'));
  await fails('EISDIR open w', () => fsp.open(P('sub'), 'w'));
  await fails('EISDIR unlink', () => fsp.unlink(P('sub')));
  await fails('EISDIR rename', () => fsp.rename(P('hello.txt'), P('x')));
  await fails('ENOTEMPTY rmdir', () => fsp.rmdir(P('sub')));
  await fails('ENOTEMPTY rename', () => fsp.rename(P('sub'), P('full')));
  await fails('EINVAL readlink', () => fsp.readlink(P('hello.txt')));
  await fails('EINVAL rename into itself', () => fsp.rename(P('sub'), P('sub/deep/in')));
  await fails('EPERM link dir', () => fsp.link(P('sub'), P('sublink')));
  await fails('rm dir', () => fsp.rm(P('sub')));
  await fails('ENOTDIR stat slash', () => fsp.stat(P('hello.txt') + '/'));
  await fails('ENOTDIR readFile slash', () => fsp.readFile(P('hello.txt') + '/'));
  await fails('ENOTDIR unlink slash', () => fsp.unlink(P('hello.txt') + '/'));
  await fails('EISDIR writeFile slash', () => fsp.writeFile(P('newfile') + '/', 'x'));
  await fails('ENOTDIR writeFile slash', () => fsp.writeFile(P('hello.txt') + '/', 'x'));
  await fails('ENOTDIR appendFile slash', () => fsp.appendFile(P('hello.txt') + '/', 'x'));
  note('stat dir slash', (await fsp.stat(P('sub') + '/')).isDirectory());
  await fsp.mkdir(P('slashed') + '/');
  await fsp.rmdir(P('slashed') + '/');

  // Removals.
  await fsp.rmdir(P('x/plain'));
  await fsp.rm(P('link'));
  await fsp.rm(P('sub'), { recursive: true });
  await fsp.rm(P('empty'), { recursive: true, force: true });
  await fsp.unlink(P('dangling'));
  note('after rm', await listing(''));

  // The whole tree at the end: names, types, bytes.
  const walk = async (rel: string): Promise<unknown[]> => {
    const out: unknown[] = [];
    for (const d of (await fsp.readdir(P(rel), { withFileTypes: true })).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      if (d.name === 'lost+found') continue;
      const child = posix.join(rel, d.name);
      if (d.isDirectory()) out.push([child, 'dir', await walk(child)]);
      else if (d.isSymbolicLink()) out.push([child, 'symlink', await fsp.readlink(P(child))]);
      else if (d.isFIFO()) out.push([child, 'fifo', await statOf(child)]);
      else out.push([child, 'file', sha(await fsp.readFile(P(child))), await statOf(child)]);
    }
    return out;
  };
  note('final tree', await walk(''));
  return log;
}

for (const bs of [1024, 4096]) {
  test(`one script gives the same results on node:fs/promises and on an ext2 image (${bs}-byte blocks), e2fsck clean after`, async () => {
    const host = join(tmp.dir, `host-${bs}`);
    mkdirSync(host);
    makeTree(host);
    const image = join(tmp.dir, `tree-${bs}.img`);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', String(bs), '-d', host, image, '8M'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const expected = await script(hostFsp, host);

    const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
    let got: unknown[];
    try {
      got = await script(root.promises as unknown as Fsp, '/');
      assert.deepEqual((await root.readdir('/')).filter((e) => e.name.startsWith('.vmpager')), [], 'no hidden file left');
    } finally {
      await root.unmount();
    }
    assert.equal(got.length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.deepEqual(got[i], expected[i], `step ${(expected[i] as unknown[])[0]}`);
    const ck = e2fsck(image);
    assert.ok(ck.clean, ck.output);
  });
}

test("errors are Errors with Node's fields: code, negative errno, syscall, path and dest", async () => {
  const host = join(tmp.dir, 'errs');
  mkdirSync(host);
  writeFileSync(join(host, 'f'), 'f');
  const image = join(tmp.dir, 'errs.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', host, image, '2M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  const fsp = root.promises;
  try {
    const pairs: Array<[() => Promise<unknown>, () => Promise<unknown>]> = [
      [() => hostFsp.readFile(join(host, 'nope')), () => fsp.readFile('/nope')],
      [() => hostFsp.rmdir(join(host, 'f')), () => fsp.rmdir('/f')],
      [() => hostFsp.rename(join(host, 'nope'), join(host, 'g')), () => fsp.rename('/nope', '/g')],
      [() => hostFsp.link(join(host, 'f'), join(host, 'f')), () => fsp.link('/f', '/f')],
    ];
    for (const [onHost, onImage] of pairs) {
      const want = (await onHost().catch((e: unknown) => e)) as NodeJS.ErrnoException & { dest?: string };
      const got = (await onImage().catch((e: unknown) => e)) as FsError;
      assert.ok(got instanceof FsError && got instanceof Error);
      assert.equal(got.code, want.code);
      assert.equal(got.errno, want.errno);
      assert.equal(got.syscall, want.syscall);
      assert.equal(got.path, want.path!.slice(host.length));
      assert.equal(got.dest, want.dest?.slice(host.length));
      assert.equal(got.message.replace(/^\w+: [^,]*/, ''), want.message.replace(/^\w+: [^,]*/, '').replaceAll(host, ''));
    }
    const { readFile, stat } = fsp; // bound: destructured like node:fs/promises' own functions
    assert.equal(await readFile('/f', 'utf8'), 'f');
    assert.ok((await stat('f')).isFile(), 'a relative path is taken from the root');
  } finally {
    await root.unmount();
  }
});

test('writeFile over a file that does not fit: ENOSPC, the old file whole, no hidden file left, e2fsck clean', async () => {
  const image = join(tmp.dir, 'full.img');
  const src = join(tmp.dir, 'full-src');
  mkdirSync(src);
  writeFileSync(join(src, 'keep'), BIN.subarray(0, 100_000));
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', src, image, '2M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    const fsp = root.promises;
    await assert.rejects(fsp.writeFile('/keep', new Uint8Array(4 << 20)), (e: FsError) => e.code === 'ENOSPC' && e.syscall === 'write' && e.path === '/keep');
    assert.equal(sha(await fsp.readFile('/keep')), sha(BIN.subarray(0, 100_000)));
    assert.deepEqual(await fsp.readdir('/'), ['lost+found', 'keep']);
    // Chunks as they come (an async iterable, as a Readable is) replace it all the same.
    async function* parts(): AsyncGenerator<string | Uint8Array> {
      yield 'one,';
      yield Buffer.from('two,');
      yield 'three';
    }
    await fsp.writeFile('/keep', parts());
    assert.equal(await fsp.readFile('/keep', 'utf8'), 'one,two,three');
    await fsp.appendFile('/keep', ['!', '?']);
    assert.equal(await fsp.readFile('/keep', 'utf8'), 'one,two,three!?');
  } finally {
    await root.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('a read-only mount reads through the facade and refuses every change with EROFS', async () => {
  const src = join(tmp.dir, 'ro-src');
  mkdirSync(join(src, 'd'), { recursive: true });
  writeFileSync(join(src, 'd/f'), 'ro');
  const image = join(tmp.dir, 'ro.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', src, image, '2M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const root = await new Vm({ memory: 1 << 20 }).mount(image);
  try {
    const fsp = root.promises;
    assert.equal(await fsp.readFile('/d/f', 'utf8'), 'ro');
    await fsp.access('/d/f', fsp.constants.R_OK);
    const erofs = (syscall: string) => (e: FsError) => e.code === 'EROFS' && e.syscall === syscall && e.errno === -30;
    await assert.rejects(fsp.writeFile('/d/f', 'x'), erofs('open'));
    await assert.rejects(fsp.appendFile('/d/g', 'x'), erofs('open'));
    await assert.rejects(fsp.mkdir('/d/e'), erofs('mkdir'));
    await assert.rejects(fsp.mkdir('/d/e/f', { recursive: true }), erofs('mkdir'));
    await assert.rejects(fsp.rm('/d', { recursive: true }), erofs('unlink'));
    await assert.rejects(fsp.rename('/d/f', '/f'), erofs('rename'));
    await assert.rejects(fsp.chmod('/d/f', 0o600), erofs('chmod'));
    await assert.rejects(fsp.access('/d/f', fsp.constants.W_OK), erofs('access'));
    await assert.rejects(fsp.open('/d/f', 'r+'), erofs('open'));
    const ws = fsp.createWriteStream('/d/f');
    await assert.rejects(once(ws, 'open'), erofs('open'));
    assert.equal(await fsp.readFile('/d/f', 'utf8'), 'ro');
  } finally {
    await root.unmount();
  }
});

test('stat gives birthtime where the inode keeps one (debugfs crtime), the epoch where it does not (128-byte inodes)', async () => {
  const src = join(tmp.dir, 'bt-src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'born');
  for (const [extra, kept] of [[['-t', 'ext4'], true], [['-t', 'ext2', '-I', '128'], false]] as const) {
    const image = join(tmp.dir, `bt-${kept}.img`);
    execFileSync('mke2fs', ['-q', '-F', ...extra, '-d', src, image, '4M'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const root = await new Vm({ memory: 1 << 20 }).mount(image);
    try {
      const st = await root.promises.stat('/f');
      const m = /crtime: 0x([0-9a-f]+)/.exec(debugfs(image, 'stat /f'));
      assert.equal(st.birthtimeMs, kept ? parseInt(m![1], 16) * 1000 : 0);
      assert.equal(st.birthtime.getTime(), st.birthtimeMs);
      assert.equal(st.blocks > 0, true, 'st_blocks counts 512-byte units in use');
    } finally {
      await root.unmount();
    }
  }
});

test("rm of the root, or of a path ending in '.' or '..', with recursive is refused before anything is removed, with rmdir's errno (EBUSY, EINVAL, ENOTEMPTY)", async () => {
  const src = join(tmp.dir, 'rmroot-src');
  mkdirSync(join(src, 'd/e'), { recursive: true });
  writeFileSync(join(src, 'keep'), 'kept');
  writeFileSync(join(src, 'd/e/f'), 'f');
  const image = join(tmp.dir, 'rmroot.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, image, '4M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    for (const [p, code] of [['/', 'EBUSY'], ['/d/.', 'EINVAL'], ['/d/e/..', 'ENOTEMPTY']]) {
      await assert.rejects(root.promises.rm(p, { recursive: true, force: true }), (e: FsError) => e.code === code && e.syscall === 'rm' && e.path === p, p);
      await assert.rejects(root.rm(p, { recursive: true }), (e: Error) => /cannot be removed/.test(e.message), p);
    }
    assert.deepEqual((await root.promises.readdir('/')).sort(), ['d', 'keep', 'lost+found']);
    assert.equal(await root.promises.readFile('/d/e/f', 'utf8'), 'f');
  } finally {
    await root.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test("the root as a call's last name gets Linux's errno: mkdir, link and symlink EEXIST, unlink and open EISDIR, rmdir and rename EBUSY; nothing changes", async () => {
  const image = join(tmp.dir, 'rootcalls.img');
  const src = join(tmp.dir, 'rootcalls-src');
  mkdirSync(src);
  writeFileSync(join(src, 'a'), 'a');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, image, '4M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  const p = root.promises;
  try {
    const calls: Array<[string, string, () => Promise<unknown>]> = [
      ['mkdir', 'EEXIST', () => p.mkdir('/')],
      ['link', 'EEXIST', () => p.link('/a', '/')],
      ['symlink', 'EEXIST', () => p.symlink('a', '/')],
      ['unlink', 'EISDIR', () => p.unlink('/')],
      ['open', 'EISDIR', () => p.writeFile('/', 'x')],
      ['rmdir', 'EBUSY', () => p.rmdir('/')],
      ['rename', 'EBUSY', () => p.rename('/', '/b')],
      ['rename', 'EBUSY', () => p.rename('/a', '/')],
    ];
    for (const [syscall, code, call] of calls) {
      await assert.rejects(call(), (e: FsError) => e.code === code && e.syscall === syscall, `${syscall} ${code}`);
    }
    assert.deepEqual((await p.readdir('/')).sort(), ['a', 'lost+found']);
  } finally {
    await root.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('writeFile over a file open elsewhere writes it in place, as Node does: the handle reads the new bytes and its later writes land in the file', async () => {
  const image = join(tmp.dir, 'open-wf.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', image, '8M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const host = join(tmp.dir, 'open-wf-host');
  mkdirSync(host);
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    const seen: unknown[] = [];
    for (const [fsp, r] of [[hostFsp as unknown as Fsp, host], [root.promises as unknown as Fsp, '']] as const) {
      await fsp.writeFile(`${r}/log`, 'AAAA');
      const h = await fsp.open(`${r}/log`, 'r+');
      const ino = (await h.stat()).ino;
      await fsp.writeFile(`${r}/log`, 'BBBBBB');
      const viaHandle = await h.readFile('utf8');
      await h.write('ZZ', 0);
      await h.close();
      seen.push([viaHandle, (await fsp.stat(`${r}/log`)).ino === ino, await fsp.readFile(`${r}/log`, 'utf8')]);
    }
    assert.deepEqual(seen[1], seen[0]);
    assert.deepEqual(seen[1], ['BBBBBB', true, 'ZZBBBB']);
    // Not open: replaced whole by a new file, as put replaces one.
    const before = (await root.promises.stat('/log')).ino;
    await root.promises.writeFile('/log', 'CC');
    assert.notEqual((await root.promises.stat('/log')).ino, before);
  } finally {
    await root.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('O_CREAT with O_DIRECTORY is EINVAL before anything is made or replaced, as Linux (6.4 on) gives it; e2fsck clean', async () => {
  const src = join(tmp.dir, 'odir-src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'kept');
  const image = join(tmp.dir, 'odir.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, image, '4M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    const fsp = root.promises;
    const { O_WRONLY, O_RDONLY, O_CREAT, O_TRUNC, O_DIRECTORY } = fsp.constants;
    const einval = (e: FsError): boolean => e.code === 'EINVAL' && e.syscall === 'open';
    await assert.rejects(fsp.open('/new', O_RDONLY | O_CREAT | O_DIRECTORY), einval);
    await assert.rejects(fsp.writeFile('/f', 'gone', { flag: O_WRONLY | O_CREAT | O_TRUNC | O_DIRECTORY } as object), einval);
    assert.deepEqual((await fsp.readdir('/')).sort(), ['f', 'lost+found']);
    assert.equal(await fsp.readFile('/f', 'utf8'), 'kept');
  } finally {
    await root.unmount();
  }
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});
