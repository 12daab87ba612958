/*
 * What a script ported from node:fs/promises meets at its edges, judged by
 * node:fs/promises itself: one script runs against a host directory and
 * against an image made from the same tree (mke2fs -t ext4 -d; mkfs.fat +
 * mcopy for the steps FAT can take), and every step's result or error
 * (code, errno, syscall, path, dest, message) must be the same on both.
 * Trailing slashes, '.' as a last name, flags that forbid the call, bad
 * arguments, FileHandle's call shapes, times; e2fsck -fn / fsck.fat -n after.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as hostFsp from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { Vm } from '../../src/api/index.js';
import { e2fsck, tempDir, writeTree, type TreeFile } from '../helpers/images.js';
import { fsckFat, mcopyRead, mdirPaths, mkfat } from '../helpers/fat_images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The tree both sides start from (FAT-safe names, no links). */
const TREE: TreeFile[] = [
  { path: 'config.txt', data: text('dtparam=audio=on\n') },
  { path: 'cmdline.txt', data: text('console=tty1 root=/dev/mmcblk0p2\n') },
  { path: 'sub/a.txt', data: text('a\n'.repeat(50)) },
  { path: 'full/inner/x', data: text('x') },
  { path: 'empty', dir: true },
];

type Fsp = typeof hostFsp;

/** Calls on an open file: Node's errors for these carry no path, ours name the file (a documented difference). */
const FD_CALLS = new Set(['read', 'write', 'fstat', 'ftruncate', 'fsync', 'close']);

/** Runs the steps on fsp under root; `links`: the file system has symlinks, hard links and permission bits. */
async function script(fsp: Fsp, root: string, links: boolean): Promise<Array<[string, unknown]>> {
  const log: Array<[string, unknown]> = [];
  // Not path.join: '.', '..' and trailing slashes must reach the call as written.
  const P = (rel: string): string => (root === '/' ? '/' : root + '/') + rel;
  const rel = (p: unknown): unknown => (typeof p === 'string' && root !== '/' ? p.replaceAll(root, '') : p);
  const shown = (e: unknown): unknown => {
    const err = e as NodeJS.ErrnoException & { dest?: string };
    if (err.code === undefined || !err.code.startsWith('E') || err.syscall === undefined) return [err.name, err.code, rel(err.message)];
    const fd = FD_CALLS.has(err.syscall);
    return {
      name: err.name, code: err.code, errno: err.errno, syscall: err.syscall,
      path: fd ? 'fd' : rel(err.path), dest: rel(err.dest),
      message: fd ? err.message.replace(/ '.*'$/, '') : rel(err.message),
    };
  };
  const step = async (label: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      log.push([label, { ok: await fn() }]);
    } catch (e) {
      log.push([label, { error: shown(e) }]);
    }
  };
  const names = async (r: string): Promise<string[]> => (await fsp.readdir(P(r))).filter((n) => n !== 'lost+found').sort();

  // Trailing slashes and '.' as the last name.
  await step('rm file/', () => fsp.rm(P('config.txt/')));
  await step('rm file/ force', () => fsp.rm(P('config.txt/'), { force: true }));
  await step('rename file to x/', () => fsp.rename(P('config.txt'), P('moved/')));
  await step('rename file/ to x', () => fsp.rename(P('config.txt/'), P('moved')));
  await step('rename dir to x/', () => fsp.rename(P('empty'), P('empty2/')));
  await step('rename dir/. ', () => fsp.rename(P('full/.'), P('dotted')));
  await step('rename onto dir/..', () => fsp.rename(P('empty2'), P('full/..')));
  await step('access file/', () => fsp.access(P('config.txt/')));
  await step('names after slashes', () => names(''));
  await step('config kept', () => fsp.readFile(P('config.txt'), 'utf8'));

  // Flags that forbid the call, arguments Node refuses (nothing made or changed).
  await step('writeFile flag r', () => fsp.writeFile(P('config.txt'), 'gone', { flag: 'r' }));
  await step('appendFile flag r', () => fsp.appendFile(P('config.txt'), 'gone', { flag: 'r' }));
  await step('writeFile number', () => fsp.writeFile(P('n1'), 42 as unknown as string));
  await step('writeFile object', () => fsp.writeFile(P('n2'), {} as unknown as string));
  await step('open bad flag', () => fsp.open(P('config.txt'), 'q'));
  await step('utimes non-numeric', () => fsp.utimes(P('config.txt'), 'soon', 'later'));
  await step('copyFile dir', () => fsp.copyFile(P('sub'), P('n3')));
  const aborted = (): AbortSignal => AbortSignal.abort();
  await step('writeFile aborted signal', () => fsp.writeFile(P('n4'), 'x', { signal: aborted() }));
  await step('readFile aborted signal', () => fsp.readFile(P('config.txt'), { signal: aborted() }));
  await step('appendFile aborted signal', () => fsp.appendFile(P('config.txt'), 'x', { signal: aborted() } as object));
  await step('readFile number path', () => fsp.readFile(123456 as unknown as string));
  await step('readdir null path', () => fsp.readdir(null as unknown as string));
  await step('readFile NUL in path', () => fsp.readFile(P('a\0b')));
  await step('rename number newPath', () => fsp.rename(P('config.txt'), 7 as unknown as string));
  await step('truncate string len', () => fsp.truncate(P('config.txt'), '3' as unknown as number));
  await step('truncate fraction len', () => fsp.truncate(P('config.txt'), 1.5));
  await step('access mode 99', () => fsp.access(P('config.txt'), 99));
  await step('access mode string', () => fsp.access(P('config.txt'), '3' as unknown as number));
  await step('open mode zzz', () => fsp.open(P('n5'), 'w', 'zzz'));
  await step('writeFile mode -1', () => fsp.writeFile(P('n6'), 'x', { mode: -1 }));
  await step('mkdir mode -1', () => fsp.mkdir(P('n7'), { mode: -1 }));
  const nope = 'nope' as BufferEncoding;
  await step('readFile encoding nope', () => fsp.readFile(P('config.txt'), nope));
  await step('readFile of nothing, encoding nope', () => fsp.readFile(P('n9'), { encoding: nope }));
  await step('writeFile encoding nope', () => fsp.writeFile(P('n9'), 'x', nope));
  await step('appendFile encoding nope', () => fsp.appendFile(P('n9'), 'x', { encoding: nope }));
  await step('readdir encoding nope', () => fsp.readdir(P('sub'), nope));
  await step('realpath encoding nope', () => fsp.realpath(P('sub'), nope));
  await step('handle readFile encoding nope', async () => {
    await using h = await fsp.open(P('config.txt'));
    return await h.readFile(nope);
  });
  if (links) {
    await step('chmod -1', () => fsp.chmod(P('config.txt'), -1));
    await step('chmod rwx', () => fsp.chmod(P('config.txt'), 'rwx'));
    await step('chmod 1.5', () => fsp.chmod(P('config.txt'), 1.5));
    await step('chown uid string', () => fsp.chown(P('config.txt'), '5' as unknown as number, 0));
    await step('mode unchanged', async () => ((await fsp.stat(P('config.txt'))).mode & 0o7777).toString(8));
    await step('chown (uid_t)-1 keeps the owner', async () => {
      await fsp.chown(P('config.txt'), 0, 0);
      await fsp.chown(P('config.txt'), 4294967295, 7);
      await fsp.chown(P('config.txt'), -1, 8);
      const st = await fsp.stat(P('config.txt'));
      return [st.uid, st.gid];
    });
    await step('symlink empty target', () => fsp.symlink('', P('n8')));
  }
  await step('nothing made', () => names(''));
  await step('config unchanged', () => fsp.readFile(P('config.txt'), 'utf8'));
  await step('truncate negative', async () => {
    await fsp.writeFile(P('t'), 'abc');
    await fsp.truncate(P('t'), -5);
    return (await fsp.stat(P('t'))).size;
  });

  // Calls started together: appends all land (O_APPEND's end is taken as each write runs), a file
  // created by two callers at once is opened by the later one, not refused (only 'wx' refuses).
  const settled = async (calls: Array<Promise<unknown>>): Promise<string[]> =>
    (await Promise.allSettled(calls)).map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as NodeJS.ErrnoException).code ?? 'thrown')).sort();
  const sorted = (s: string): string => [...s].sort().join('');
  await step('appendFile together', async () => {
    await fsp.writeFile(P('log'), 'start\n');
    await Promise.all([fsp.appendFile(P('log'), 'one\n'), fsp.appendFile(P('log'), 'two\n'), fsp.appendFile(P('log'), 'three\n')]);
    const lines = (await fsp.readFile(P('log'), 'utf8')).split('\n');
    return [lines[0], lines.sort()];
  });
  await step("two 'a' handles writing together", async () => {
    await fsp.writeFile(P('log'), '');
    const [a, b] = [await fsp.open(P('log'), 'a'), await fsp.open(P('log'), 'a')];
    await Promise.all([a.write('AAAA'), b.write('BB'), a.write('aa')]);
    await Promise.all([a.close(), b.close()]);
    return sorted(await fsp.readFile(P('log'), 'utf8'));
  });
  await step('writes at the file position together', async () => {
    const h = await fsp.open(P('log'), 'w');
    await Promise.all([h.write(Buffer.from('xxx')), h.write('yyy'), h.write(Buffer.from('zz'))]);
    await h.close();
    return sorted(await fsp.readFile(P('log'), 'utf8'));
  });
  await step('writeFile of a new file together', async () => {
    const r = await settled([fsp.writeFile(P('race1'), 'a'), fsp.writeFile(P('race1'), 'b')]);
    return [r, ['a', 'b'].includes(await fsp.readFile(P('race1'), 'utf8'))];
  });
  await step('appendFile of a new file together', async () => {
    const r = await settled([fsp.appendFile(P('race2'), 'a'), fsp.appendFile(P('race2'), 'b'), fsp.appendFile(P('race2'), 'c')]);
    return [r, sorted(await fsp.readFile(P('race2'), 'utf8'))];
  });
  await step("open 'w' of a new file together", async () => {
    const opened = [fsp.open(P('race3'), 'w'), fsp.open(P('race3'), 'w')];
    const r = await settled(opened);
    for (const h of await Promise.allSettled(opened)) if (h.status === 'fulfilled') await h.value.close();
    return r;
  });
  await step("open 'wx' of a new file together", async () => {
    const opened = [fsp.open(P('race4'), 'wx'), fsp.open(P('race4'), 'wx')];
    const r = await settled(opened);
    for (const h of await Promise.allSettled(opened)) if (h.status === 'fulfilled') await h.value.close();
    return r;
  });
  await step('writeFile of an existing file together', async () => {
    const r = await settled([fsp.writeFile(P('race1'), 'c'), fsp.writeFile(P('race1'), 'd'), fsp.writeFile(P('race1'), 'e')]);
    return [r, ['c', 'd', 'e'].includes(await fsp.readFile(P('race1'), 'utf8'))];
  });
  await step('raced files', async () => (await names('')).filter((n) => n.startsWith('race') || n === 'log'));

  // O_DIRECTORY (numeric flags: no string flag says it): anything but a directory is ENOTDIR, before a truncation.
  const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } = fsp.constants;
  const opened = async (path: string, flags: number): Promise<string> => {
    await using h = await fsp.open(path, flags);
    return (await h.stat()).isDirectory() ? 'dir' : 'file';
  };
  await step('O_DIRECTORY on a file', () => opened(P('config.txt'), O_RDONLY | O_DIRECTORY));
  await step('O_DIRECTORY | O_TRUNC on a file', async () => [await opened(P('config.txt'), O_RDWR | O_TRUNC | O_DIRECTORY).catch(shown), await fsp.readFile(P('config.txt'), 'utf8')]);
  await step('O_DIRECTORY on a directory', () => opened(P('sub'), O_RDONLY | O_DIRECTORY));
  await step('O_DIRECTORY | O_RDWR on a directory', () => opened(P('sub'), O_RDWR | O_DIRECTORY));
  await step('O_DIRECTORY on nothing', () => opened(P('nope'), O_RDONLY | O_DIRECTORY));
  await step('O_NOFOLLOW on a file', () => opened(P('config.txt'), O_RDONLY | O_NOFOLLOW));

  // Error messages in Node's words.
  await step('EEXIST', () => fsp.mkdir(P('sub')));
  await step('EISDIR', () => fsp.open(P('sub'), 'r+'));
  await step('EEXIST wx', () => fsp.writeFile(P('config.txt'), 'x', { flag: 'wx' }));

  // FileHandle's call shapes.
  await step('read(buffer, options)', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    const b = Buffer.alloc(10);
    const r = await h.read(b, { offset: 2, length: 7, position: 8 });
    return [r.bytesRead, b.toString('latin1')];
  });
  await step('read({ buffer, offset, length, position })', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    const b = Buffer.alloc(6);
    const r = await h.read({ buffer: b, offset: 1, length: 4 });
    const again = await h.read({ buffer: b, position: 0 });
    return [r.bytesRead, again.bytesRead, b.toString('latin1')];
  });
  await step('read length past the buffer', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    return await h.read(Buffer.alloc(4), 0, 10, 0);
  });
  await step('read offset past the buffer', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    return await h.read(Buffer.alloc(4), 5, 1, 0);
  });
  await step('read of length 0, the offset past the buffer', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    return (await h.read(Buffer.alloc(5), 6, 0, 0)).bytesRead;
  });
  await step('read offset -1', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    return await h.read(Buffer.alloc(5), -1, 0, 0);
  });
  await step('read into an empty buffer', async () => {
    await using h = await fsp.open(P('cmdline.txt'));
    return await h.read(Buffer.alloc(0), 0, 1, 0);
  });
  await step('write offset past the buffer', async () => {
    await using h = await fsp.open(P('cmdline.txt'), 'r+');
    return await h.write(Buffer.alloc(5), 6, 0, 0);
  });
  await step('write fractions', async () => {
    await using h = await fsp.open(P('cmdline.txt'), 'r+');
    return [await h.write(Buffer.alloc(5), 1.5, 1, 0).catch(shown), await h.write(Buffer.alloc(5), 1, 1.5, 0).catch(shown)];
  });
  await step('write(buffer, options)', async () => {
    await fsp.writeFile(P('w'), '0123456789');
    const h = await fsp.open(P('w'), 'r+');
    // Node 20 takes write(buffer, options); its types do not say so yet.
    const write = h.write.bind(h) as unknown as (b: Buffer, o: object) => Promise<{ bytesWritten: number }>;
    const r = await write(Buffer.from('abcd'), { offset: 1, length: 2, position: 4 });
    await h.close();
    return [r.bytesWritten, await fsp.readFile(P('w'), 'utf8')];
  });
  await step('readv and writev', async () => {
    const h = await fsp.open(P('w'), 'r+');
    const [a, b] = [Buffer.alloc(3), Buffer.alloc(4)];
    const r = await h.readv([a, b], 1);
    const w = await h.writev([Buffer.from('XY'), Buffer.from('Z')]);
    await h.close();
    return [r.bytesRead, a.toString() + b.toString(), w.bytesWritten, await fsp.readFile(P('w'), 'utf8')];
  });
  await step('handle writeFile of chunks, appendFile at the position', async () => {
    const h = await fsp.open(P('w'), 'r+');
    await h.read(Buffer.alloc(2), 0, 2, null);
    await h.writeFile(['p', 'q'] as unknown as string); // an iterable of chunks, as Node takes
    await h.appendFile('!');
    await h.close();
    return fsp.readFile(P('w'), 'utf8');
  });
  await step('handle truncate on r', async () => {
    await using h = await fsp.open(P('w'));
    return await h.truncate(1);
  });
  await step('handle after close', async () => {
    const h = await fsp.open(P('w'));
    await h.close();
    const e = (await h.read(Buffer.alloc(1), 0, 1, 0).catch((x: unknown) => x)) as NodeJS.ErrnoException;
    return [h.fd, await h.close(), e.code, e.syscall, e.errno, e.message];
  });

  // Times as Node reads them.
  await step('utimes negative is now', async () => {
    await fsp.utimes(P('w'), -1, -1);
    return Math.abs((await fsp.stat(P('w'))).mtimeMs - Date.now()) < 60_000;
  });
  await step('utimes numeric strings', async () => {
    await fsp.utimes(P('w'), '1000000000', '1100000000');
    return (await fsp.stat(P('w'))).mtimeMs;
  });
  // Calls the facade lacked at first: realpath, opendir, a handle's streams and lines; '' names nothing.
  await step('realpath', async () => rel(await fsp.realpath(P('sub/../full/./inner//'))));
  await step('realpath file/', () => fsp.realpath(P('config.txt/')));
  await step('realpath file/..', () => fsp.realpath(P('config.txt/..')));
  await step('realpath missing', () => fsp.realpath(P('full/nope')));
  await step('opendir', async () => {
    const dir = await fsp.opendir(P('full'));
    const first = await dir.read();
    const rest = [await dir.read()];
    await dir.close();
    const closed = (await dir.close().catch((e: unknown) => e)) as NodeJS.ErrnoException;
    const all: string[] = [];
    for await (const d of await fsp.opendir(P('sub'))) all.push(`${d.name}:${d.isFile()}:${rel(d.parentPath) as string}`);
    return [first?.name, rest, rel(dir.path), closed.code, closed.message, all.sort()];
  });
  await step('opendir file', () => fsp.opendir(P('config.txt')));
  await step('handle createReadStream', async () => {
    const h = await fsp.open(P('cmdline.txt'));
    let got = '';
    for await (const c of h.createReadStream({ start: 8, end: 11, encoding: 'utf8' })) got += c;
    return [got, h.fd];
  });
  await step('handle createWriteStream at the position, then closed', async () => {
    await fsp.writeFile(P('hw'), '0123456789');
    const h = await fsp.open(P('hw'), 'r+');
    await h.read(Buffer.alloc(3), 0, 3, null);
    const ws = h.createWriteStream();
    ws.write('ab');
    ws.end(Buffer.from('c'));
    await finished(ws);
    return [await fsp.readFile(P('hw'), 'utf8'), h.fd, ws.bytesWritten];
  });
  await step('handle createWriteStream from start, encoding, autoClose false', async () => {
    const h = await fsp.open(P('hw'), 'r+');
    const ws = h.createWriteStream({ start: 6, encoding: 'hex', autoClose: false });
    ws.end('5a5a');
    await finished(ws);
    const open = h.fd !== -1;
    await h.write('Q'); // at the handle's own position: the stream's start left it
    // (Node's handle stays held by a stream that is not closed: destroyed, then the handle closed.)
    ws.destroy();
    await finished(ws).catch(() => {});
    await h.close();
    return [await fsp.readFile(P('hw'), 'utf8'), open];
  });
  await step("handle createWriteStream on an 'a' handle", async () => {
    const h = await fsp.open(P('hw'), 'a');
    const ws = h.createWriteStream({ start: 0 });
    ws.end('END');
    await finished(ws);
    return [await fsp.readFile(P('hw'), 'utf8'), h.fd];
  });
  await step("handle createWriteStream on an 'r' handle", async () => {
    const h = await fsp.open(P('hw'), 'r');
    const ws = h.createWriteStream();
    ws.end('x');
    return [await finished(ws).catch(shown), h.fd, await fsp.readFile(P('hw'), 'utf8')];
  });
  await step('handle readLines', async () => {
    await fsp.writeFile(P('lines'), 'one\r\ntwo\n\nthree');
    const h = await fsp.open(P('lines'));
    await h.read(Buffer.alloc(5), 0, 5, null);
    const lines: string[] = [];
    for await (const l of h.readLines()) lines.push(l);
    return [lines, h.fd];
  });
  await step("stat ''", () => fsp.stat(''));
  await step("readFile ''", () => fsp.readFile(''));
  await step("mkdir ''", () => fsp.mkdir(''));
  await step("unlink ''", () => fsp.unlink(''));
  await step("rename '' and onto ''", async () => [await fsp.rename('', P('x')).catch((e: NodeJS.ErrnoException) => e.code), await fsp.rename(P('config.txt'), '').catch((e: NodeJS.ErrnoException) => e.code)]);
  await step("rmdir '', chmod '', link ''", async () => Promise.all([fsp.rmdir(''), fsp.chmod('', 0o644), fsp.link('', P('y'))].map((p) => p.catch((e: NodeJS.ErrnoException) => e.code))));
  // cp, as Node's fsPromises.cp.
  await step('cp a tree', async () => {
    await fsp.cp(P('full'), P('copied'), { recursive: true });
    await fsp.cp(P('sub'), P('copied'), { recursive: true }); // into an existing directory: merged
    return [(await fsp.readdir(P('copied'), { recursive: true })).sort(), await fsp.readFile(P('copied/inner/x'), 'utf8')];
  });
  await step('cp a file, parents made', async () => {
    await fsp.cp(P('config.txt'), P('deep/er/config.txt'));
    return fsp.readFile(P('deep/er/config.txt'), 'utf8');
  });
  await step('cp over a file: force, no force, errorOnExist', async () => {
    await fsp.writeFile(P('deep/er/config.txt'), 'mine');
    await fsp.cp(P('config.txt'), P('deep/er/config.txt'), { force: false });
    const kept = await fsp.readFile(P('deep/er/config.txt'), 'utf8');
    const refused = await fsp.cp(P('config.txt'), P('deep/er/config.txt'), { force: false, errorOnExist: true }).catch(shown);
    await fsp.cp(P('config.txt'), P('deep/er/config.txt'));
    return [kept, refused, await fsp.readFile(P('deep/er/config.txt'), 'utf8')];
  });
  await step('cp with a filter', async () => {
    const seen: string[] = [];
    await fsp.cp(P('sub'), P('filtered'), { recursive: true, filter: async (src, dest) => (seen.push(`${rel(src) as string}>${rel(dest) as string}`), !src.endsWith('a.txt')) });
    return [await fsp.readdir(P('filtered')), seen.sort()];
  });
  await step('cp a directory without recursive', () => fsp.cp(P('sub'), P('nope')));
  await step('cp into itself', () => fsp.cp(P('full'), P('full/inner/again'), { recursive: true }));
  await step('cp onto itself', () => fsp.cp(P('config.txt'), P('config.txt')));
  await step('cp a directory onto a file', () => fsp.cp(P('full'), P('config.txt'), { recursive: true }));
  await step('cp a file onto a directory', () => fsp.cp(P('config.txt'), P('full')));
  await step('cp missing', () => fsp.cp(P('missing'), P('x')));
  await step('utimes invalid Date', () => fsp.utimes(P('w'), new Date('never'), new Date('never')));
  await step("mkdir 'd/.'", () => fsp.mkdir(P('sub/.')));
  await step("mkdir 'missing/.'", () => fsp.mkdir(P('nope/.')));
  // A last name '.' or '..' is no entry of its own: each call gets Linux's errno for it, after the walk to it.
  await step("unlink 'd/.'", () => fsp.unlink(P('sub/.')));
  await step("unlink 'd/..'", () => fsp.unlink(P('sub/..')));
  await step("unlink 'missing/..'", () => fsp.unlink(P('nope/..')));
  await step("rmdir 'd/.'", () => fsp.rmdir(P('sub/.')));
  await step("rmdir 'd/e/..'", () => fsp.rmdir(P('full/inner/..')));
  await step("rmdir 'file/..'", () => fsp.rmdir(P('config.txt/..')));
  await step("writeFile 'd/.'", () => fsp.writeFile(P('sub/.'), 'x'));
  await step("open 'd/..' wx", () => fsp.open(P('sub/..'), 'wx'));
  await step('rm dir', () => fsp.rm(P('sub')));
  await step("readdir 'buffer'", async () => (await fsp.readdir(P('full'), 'buffer')).map((b) => [Buffer.isBuffer(b), b.toString()]));
  await step('Dirent fields', async () => (await fsp.readdir(P('sub'), { withFileTypes: true })).map((d) => Object.keys(d).sort()));

  if (links) {
    await step("link onto 'd/.'", () => fsp.link(P('config.txt'), P('full/.')));
    await step("symlink onto 'd/..'", () => fsp.symlink('x', P('full/inner/..')));
    await step('utimes fractions', async () => {
      await fsp.utimes(P('w'), 1_000_000_000.5, 1_100_000_000.25);
      const s = await fsp.stat(P('w'));
      return [s.atimeMs, s.mtimeMs, s.mtime.getTime()];
    });
    await step('bigint stats', async () => {
      const s = await fsp.stat(P('w'), { bigint: true });
      await using h = await fsp.open(P('w'));
      const f = await h.stat({ bigint: true });
      return [typeof s.size, s.size, s.mode, s.nlink, s.isFile(), s.mtimeNs, s.mtimeMs, s.atimeNs, s.mtime.getTime(), f.size, f.mtimeNs, s.ino === f.ino];
    });
    await fsp.symlink('config.txt', P('link'));
    await fsp.symlink('sub', P('dirlink'));
    await step('readlink link/', () => fsp.readlink(P('link/')));
    await step('readlink dirlink/', () => fsp.readlink(P('dirlink/')));
    await step('rename link to x/', () => fsp.rename(P('link'), P('link2/')));
    await step('rm link/', () => fsp.rm(P('link/')));
    // A symlink to a directory, a trailing slash, recursive: Node removes nothing (the directory's files went).
    await step('rm dirlink/ recursive', () => fsp.rm(P('dirlink/'), { recursive: true }));
    await step('rm dirlink/ recursive force', () => fsp.rm(P('dirlink/'), { recursive: true, force: true }));
    await step('names after rm dirlink/', async () => [await names(''), await names('sub')]);
    await step('realpath through links', async () => [rel(await fsp.realpath(P('dirlink/../dirlink/a.txt'))), rel(await fsp.realpath(P('link')))]);
    await fsp.symlink('loopB', P('loopA'));
    await fsp.symlink('loopA', P('loopB'));
    await step('realpath loop', () => fsp.realpath(P('loopA')));
    // Writing through a dangling symlink makes its target (resolv.conf -> ../run/... in a root image).
    await fsp.mkdir(P('run'));
    await fsp.symlink('../run/stub.conf', P('sub/resolv.conf'));
    await fsp.symlink(P('run/opened'), P('dangling-abs')); // absolute: the image's /run, the host's <root>/run
    await step('writeFile through a dangling link', async () => {
      await fsp.writeFile(P('sub/resolv.conf'), 'nameserver 10.0.0.1\n', { mode: 0o640 });
      const st = await fsp.stat(P('run/stub.conf'));
      return [await fsp.readFile(P('run/stub.conf'), 'utf8'), st.mode.toString(8), (await fsp.lstat(P('sub/resolv.conf'))).isSymbolicLink()];
    });
    await step('open w through an absolute dangling link', async () => {
      const h = await fsp.open(P('dangling-abs'), 'w');
      await h.write('opened');
      await h.close();
      return fsp.readFile(P('run/opened'), 'utf8');
    });
    await step('wx through a dangling link', async () => {
      await fsp.symlink('run/never', P('dangling-x'));
      return await fsp.writeFile(P('dangling-x'), 'x', { flag: 'wx' });
    });
    // O_NOFOLLOW: a final symlink is ELOOP (created through or not; ENOTDIR with O_DIRECTORY); a trailing slash follows it.
    await step('O_NOFOLLOW on a symlink', () => opened(P('link'), O_RDONLY | O_NOFOLLOW));
    await step('O_NOFOLLOW | O_CREAT on a symlink', () => opened(P('link'), O_WRONLY | O_CREAT | O_NOFOLLOW));
    await step('O_NOFOLLOW | O_CREAT on a dangling symlink', () => opened(P('dangling-x'), O_WRONLY | O_CREAT | O_NOFOLLOW));
    await step('O_NOFOLLOW | O_CREAT | O_EXCL on a dangling symlink', () => opened(P('dangling-x'), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW));
    await step('O_NOFOLLOW on dirlink/', () => opened(P('dirlink/'), O_RDONLY | O_NOFOLLOW));
    await step('O_NOFOLLOW through a symlink to a directory', () => opened(P('dirlink/a.txt'), O_RDONLY | O_NOFOLLOW));
    await step('O_DIRECTORY through a symlink', () => opened(P('dirlink'), O_RDONLY | O_DIRECTORY));
    await step('O_DIRECTORY | O_NOFOLLOW on a symlink to a directory', () => opened(P('dirlink'), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    await step('O_NOFOLLOW made nothing', async () => [await fsp.readFile(P('config.txt'), 'utf8'), (await fsp.readdir(P('run'))).sort()]);
    // mkdir -p meeting symlinks: a dangling one is named itself (ENOTDIR above the last name, ENOENT as it).
    await step('mkdir -p through a dangling symlink', () => fsp.mkdir(P('dangling-x/a/b'), { recursive: true }));
    await step('mkdir -p of a dangling symlink', () => fsp.mkdir(P('dangling-x'), { recursive: true }));
    await step('mkdir -p through a symlink to a file', () => fsp.mkdir(P('link/a'), { recursive: true }));
    await step('mkdir -p through a symlink to a directory', async () => rel(await fsp.mkdir(P('dirlink/made/here'), { recursive: true })));
    await step('unlink dirlink/', () => fsp.unlink(P('dirlink/')));
    await step('rmdir dirlink/', () => fsp.rmdir(P('dirlink/')));
    await step('rm dirlink/', () => fsp.rm(P('dirlink/')));
    await step('unlink dir/', () => fsp.unlink(P('sub/')));
    await step('chown -1 keeps that id', async () => {
      await fsp.chown(P('w'), 1234, 5678);
      await fsp.chown(P('w'), -1, 8765);
      await fsp.lchown(P('link'), 4321, -1);
      await using h = await fsp.open(P('w'));
      await h.chown(-1, -1);
      const [s, l] = [await fsp.stat(P('w')), await fsp.lstat(P('link'))];
      return [s.uid, s.gid, l.uid];
    });
    await step('access X_OK', async () => {
      await fsp.chmod(P('w'), 0o644);
      const plain = await fsp.access(P('w'), fsp.constants.X_OK).catch((e: NodeJS.ErrnoException) => shown(e));
      await fsp.chmod(P('w'), 0o744);
      return [plain, await fsp.access(P('w'), fsp.constants.X_OK), await fsp.access(P('sub'), fsp.constants.X_OK)];
    });
    await step('cp keeps modes, makes links anew', async () => {
      await fsp.chmod(P('full/inner'), 0o700);
      await fsp.chmod(P('full/inner/x'), 0o751);
      await fsp.symlink('x', P('full/inner/rel'));
      await fsp.cp(P('full'), P('full2'), { recursive: true });
      await fsp.cp(P('full'), P('full3'), { recursive: true, verbatimSymlinks: true });
      const mode = async (r: string): Promise<string> => (await fsp.lstat(P(r))).mode.toString(8);
      return [await mode('full2/inner'), await mode('full2/inner/x'), rel(await fsp.readlink(P('full2/inner/rel'))), await fsp.readlink(P('full3/inner/rel'))];
    });
    await step('cp a link, and through it', async () => {
      await fsp.cp(P('link'), P('link-copy'));
      await fsp.cp(P('link'), P('link-deref'), { dereference: true });
      return [rel(await fsp.readlink(P('link-copy'))), (await fsp.lstat(P('link-deref'))).isFile()];
    });
    await step('cp keeps times when asked', async () => {
      await fsp.utimes(P('config.txt'), 1_000_000_000, 1_100_000_000);
      await fsp.cp(P('config.txt'), P('timed'), { preserveTimestamps: true });
      return (await fsp.stat(P('timed'))).mtimeMs;
    });
    await step('cp over one of two hard links', async () => {
      await fsp.writeFile(P('h1'), 'h');
      await fsp.link(P('h1'), P('h2'));
      await fsp.cp(P('config.txt'), P('h2'));
      return [await fsp.readFile(P('h1'), 'utf8'), (await fsp.stat(P('h1'))).nlink];
    });
    await step('links kept', async () => [await fsp.readlink(P('link')), (await fsp.lstat(P('link'))).isSymbolicLink()]);
    // What a differential run against node:fs found.
    await step('a symlink to "file/" asks for a directory', async () => {
      await fsp.writeFile(P('slashed-f'), 'f');
      await fsp.symlink('slashed-f/', P('slashed-l'));
      const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: NodeJS.ErrnoException) => `${e.code} ${e.syscall}`);
      return [await code(fsp.writeFile(P('slashed-l'), 'x')), await code(fsp.truncate(P('slashed-l'), 0)), await code(fsp.utimes(P('slashed-l'), 1, 2)),
        await code(fsp.readFile(P('slashed-l'))), await fsp.readFile(P('slashed-f'), 'utf8')];
    });
    await step('a handle\'s chmod and utimes after its name is renamed or gone', async () => {
      const h = await fsp.open(P('fh-c'), 'w');
      await fsp.rename(P('fh-c'), P('fh-a'));
      await h.chmod(0o700);
      await h.utimes(1000, 2000);
      const st = await h.stat();
      await fsp.unlink(P('fh-a'));
      await h.chmod(0o640);
      const gone = await h.stat();
      await h.close();
      return [st.mode & 0o7777, st.mtimeMs, gone.mode & 0o7777];
    });
    await step('a positional write on an append handle moves no position', async () => {
      const h = await fsp.open(P('app'), 'a+');
      await h.write(Buffer.from('0123456789'), 0, 10, 5000);
      const r = await h.read(Buffer.alloc(100), 0, 100);
      await h.close();
      return [r.bytesRead, (await fsp.stat(P('app'))).size];
    });
    await step('mkdir keeps no set-ID bits of its mode; a set-group-ID parent hands its bit down', async () => {
      await fsp.mkdir(P('sg'), 0o2755);
      await fsp.chmod(P('sg'), 0o2755);
      await fsp.mkdir(P('sg/c'));
      await fsp.mkdir(P('sg/e/f'), { recursive: true });
      await fsp.writeFile(P('sg/file'), '');
      const mode = async (r: string) => ((await fsp.stat(P(r))).mode & 0o7777).toString(8);
      await fsp.mkdir(P('su'), 0o4755);
      return [await mode('sg/c'), await mode('sg/e/f'), await mode('sg/file'), await mode('su')];
    });
    await step('rename walks both parents before it looks at the names', async () => {
      const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: NodeJS.ErrnoException) => e.code);
      await fsp.writeFile(P('pf'), 'f');
      return [await code(fsp.rename(P('missing'), P('pf/c'))), await code(fsp.rename(P('pf/c'), P('nope/c'))), await code(fsp.rename(P('nope/x'), P('pf2/.'))),
        await code(fsp.rename(P('pf'), P('nope/.')))];
    });
    await step('O_EXCL on a symlink that loops', async () => {
      await fsp.symlink('loop', P('loop'));
      return fsp.open(P('loop'), 'wx');
    });
    await step('reads and writes of nothing check no flags', async () => {
      const w = await fsp.open(P('nothing'), 'w');
      const r0 = await w.read(Buffer.alloc(4), 0, 0);
      await w.close();
      const r = await fsp.open(P('nothing'), 'r');
      const w0 = await r.write(Buffer.alloc(0));
      await r.close();
      return [r0.bytesRead, w0.bytesWritten];
    });
    await step('utimes keeps the microsecond Node\'s utimes keeps', async () => {
      await fsp.writeFile(P('us'), '');
      await fsp.utimes(P('us'), 1000000000.000001, 1000000000.000001);
      return (await fsp.stat(P('us'), { bigint: true })).mtimeNs;
    });
  } else {
    // FAT keeps no mode for a directory; mkdir with one does not fail for it (nor does Linux's vfat).
    await step('mkdir with a mode', async () => [await fsp.mkdir(P('m'), 0o700), (await fsp.stat(P('m'))).isDirectory()]);
    await step('mkdir -p with a mode', async () => rel(await fsp.mkdir(P('m/a/b'), { recursive: true, mode: 0o750 })));
  }
  await step('final names', () => names(''));
  return log;
}

async function compare(image: string, hostDir: string, links: boolean): Promise<void> {
  const host = await hostFsp.realpath(hostDir); // realpath's answers are then the same below the root
  const expected = await script(hostFsp, host, links);
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  let got: Array<[string, unknown]>;
  try {
    got = await script(root.promises as unknown as Fsp, '/', links);
  } finally {
    await root.unmount();
  }
  assert.equal(got.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.deepEqual(got[i], expected[i], `step ${expected[i][0]}`);
}

test('edge cases of ported scripts give what node:fs/promises gives, on ext4 (mke2fs -t ext4 defaults), e2fsck clean after', async () => {
  const host = join(tmp.dir, 'host-ext4');
  mkdirSync(host);
  writeTree(host, TREE);
  const image = join(tmp.dir, 'ext4.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', host, image, '16M'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await compare(image, host, true);
  const ck = e2fsck(image);
  assert.ok(ck.clean, ck.output);
});

test('edge cases of ported scripts give what node:fs/promises gives, on FAT (mkfs.fat, mcopy), fsck.fat clean after', async () => {
  const host = join(tmp.dir, 'host-fat');
  mkdirSync(host);
  writeTree(host, TREE);
  const image = mkfat(join(tmp.dir, 'fat.img'), TREE, { fat: 16, kib: 16384 });
  await compare(image, host, false);
  const ck = fsckFat(image);
  assert.ok(ck.clean, ck.output);
});

test("on FAT a file rewritten through another case keeps the name it was made with, as Linux's vfat does (mdir lists it), fsck.fat clean", async () => {
  const image = mkfat(join(tmp.dir, 'case.img'), [{ path: 'config.txt', data: text('old\n') }, { path: 'overlays/README', data: text('r') }], { fat: 32, kib: 40000 });
  const before = mdirPaths(image).sort();
  const root = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
  try {
    const fsp = root.promises;
    await fsp.writeFile('/CONFIG.TXT', 'new\n');
    await fsp.appendFile('/Config.Txt', 'more\n');
    await fsp.writeFile('/OVERLAYS/readme', 'R');
    assert.equal(await fsp.readFile('/config.txt', 'utf8'), 'new\nmore\n');
  } finally {
    await root.unmount();
  }
  assert.deepEqual(mdirPaths(image).sort(), before);
  assert.equal(mcopyRead(image, '/config.txt').toString(), 'new\nmore\n');
  assert.equal(mcopyRead(image, '/overlays/README').toString(), 'R');
  const ck = fsckFat(image);
  assert.ok(ck.clean, ck.output);
});
