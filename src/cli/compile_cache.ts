/*
 * Runs the bundled command (a CommonJS file) through V8's code cache, kept
 * in the user's cache folder: Node 20 has no compile cache of its own, and
 * compiling the command's ~850 KB of JavaScript was a third of what a short
 * command spent beyond Node's own start-up.
 *   runCommonJs(path, compileCacheDir(process.env), atExit, profile)   // once, at start
 * A cache is used only when everything it was made from is the same. Its
 * key is the bundle's SHA-256 (the bundle's last line, written by the
 * build), a CRC-32 of the bundle as read (an edit since the build changes
 * it), Node's version, the architecture and the V8 flags given (execArgv,
 * NODE_OPTIONS) and set (profile: heap_flags.ts, the command's); the key
 * names the file and is written inside it, with a CRC-32 of the contents,
 * and both are checked before V8 sees the contents (V8 itself checks only
 * its version, its flags and the source's length).
 * The file must be the user's own, writable by no one else. A cache that is
 * missing, damaged, foreign or refused by V8 is ignored and a fresh one is
 * written at exit, whole or not at all; a failure to read or write one is
 * silent and changes nothing else. Nothing is written beside the package.
 */

import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import * as zlib from 'node:zlib';

/** zlib's CRC-32 (Node 20.15 and later; before, no cache). */
const crc32 = (zlib as { crc32?: (data: Buffer | string) => number }).crc32;

/** A cache file: MAGIC, the key's length (2 bytes) and the key, the contents' CRC-32 (4 bytes), the contents. */
const MAGIC = Buffer.from('VMPGCC1\n', 'latin1');
/** The bundle's last line, as the build writes it. */
const DIGEST_LINE = /\n\/\/# vmpager-sha256=([0-9a-f]{64})\n?$/;
/** Cache files kept in the folder (one per bundle and Node): the most recently written. */
const KEEP = 8;
/** The largest cache file read (the command's is about half a MiB). */
const MAX_CACHE = 64 * 2 ** 20;

/**
 * The folder of the code cache, or null for none: VMPAGER_COMPILE_CACHE if
 * set ('' or '0': no cache), else vmpager/ in XDG_CACHE_HOME or ~/.cache.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv): string | null {
  const own = env.VMPAGER_COMPILE_CACHE;
  if (own !== undefined) return own === '' || own === '0' ? null : own;
  if (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME.startsWith('/')) return join(env.XDG_CACHE_HOME, 'vmpager');
  if (env.HOME !== undefined && env.HOME.startsWith('/')) return join(env.HOME, '.cache', 'vmpager');
  return null;
}

/** The cache key of source (the bundle's bytes) under this Node, or null when the bundle has no digest line. */
export function cacheKeyOf(source: Buffer, profile = ''): string | null {
  if (crc32 === undefined) return null;
  const digest = DIGEST_LINE.exec(source.subarray(Math.max(0, source.length - 100)).toString('latin1'));
  if (digest === null) return null;
  const node = crc32([process.version, process.arch, process.execArgv.join('\0'), process.env.NODE_OPTIONS ?? '', profile].join('\0'));
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  return `cli-${digest[1].slice(0, 32)}-${hex(crc32(source))}-${hex(node)}`;
}

/** The file holding key's cache under dir. */
export function cacheFileOf(dir: string, key: string): string {
  return join(dir, `${key}.v8cache`);
}

/** The checked contents of key's cache file, or undefined when it is missing, damaged, another key's or not the user's own. */
export function readCodeCache(file: string, key: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    // Only a file of the user's own that no one else may change: V8 trusts what it is given.
    if (!st.isFile() || (process.getuid !== undefined && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) return undefined;
    const head = MAGIC.length + 2 + key.length + 4;
    if (st.size <= head || st.size > MAX_CACHE) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) return undefined;
      got += n;
    }
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    if (buf.readUInt16BE(MAGIC.length) !== key.length || buf.toString('latin1', MAGIC.length + 2, MAGIC.length + 2 + key.length) !== key) return undefined;
    const data = buf.subarray(head);
    return crc32 !== undefined && crc32(data) === buf.readUInt32BE(head - 4) ? data : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes what make() gives as key's cache file (whole or not at all),
 * keeping the KEEP newest caches in its folder. make() is called only once
 * the file could be created: a folder that cannot be written costs no
 * serialisation at every run. Never throws.
 */
export function writeCodeCache(file: string, key: string, make: () => Buffer): void {
  if (crc32 === undefined) return;
  const dir = dirname(file);
  const tmp = `${file}.${process.pid}.tmp`;
  let fd = -1;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openSync(tmp, 'w', 0o600);
    const data = make();
    const head = Buffer.alloc(MAGIC.length + 2 + key.length + 4);
    MAGIC.copy(head);
    head.writeUInt16BE(key.length, MAGIC.length);
    head.write(key, MAGIC.length + 2, 'latin1');
    head.writeUInt32BE(crc32(data), head.length - 4);
    writeFileSync(fd, Buffer.concat([head, data]));
    closeSync(fd);
    fd = -1;
    renameSync(tmp, file);
  } catch {
    try {
      if (fd >= 0) closeSync(fd);
      unlinkSync(tmp);
    } catch {
      // never made
    }
    return;
  }
  try {
    const old = readdirSync(dir)
      .filter((n) => n.startsWith('cli-') && (n.endsWith('.v8cache') || n.endsWith('.tmp')))
      .map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const o of old.slice(KEEP)) if (o.path !== file) unlinkSync(o.path);
  } catch {
    // another process tidied at the same time: nothing lost
  }
}

/** What runCommonJs did with the cache. */
export type CacheUse = 'used' | 'made' | 'none';

/**
 * Runs the CommonJS file at path as Node would (require, module, __filename,
 * __dirname), compiled with its code cache under cacheDir when one fits;
 * when none did, a fresh one is written by atExit (by default at the
 * process's exit: it then holds every function the run compiled, not only
 * the top level). 'used': the cache was used; 'made': one will be written;
 * 'none': no cache (none asked for, or the file has no digest line).
 * => the file has no import() (the bundle turns them into require)
 */
export function runCommonJs(path: string, cacheDir: string | null, atExit: (write: () => void) => void = (w) => process.once('exit', w), profile = ''): CacheUse {
  const source = readFileSync(path);
  const key = cacheDir === null ? null : cacheKeyOf(source, profile);
  const file = key === null ? null : cacheFileOf(cacheDir!, key);
  const cachedData = file === null ? undefined : readCodeCache(file, key!);
  // The wrapper keeps the file's line numbers: it adds nothing before the first line but its own text.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`, { filename: path, cachedData });
  let use: CacheUse = 'none';
  if (file !== null) {
    use = cachedData !== undefined && script.cachedDataRejected !== true ? 'used' : 'made';
    if (use === 'made') {
      atExit(() => writeCodeCache(file, key!, () => script.createCachedData()));
    }
  }
  const fn = script.runInThisContext() as (e: object, r: NodeRequire, m: object, f: string, d: string) => void;
  const module = { exports: {}, filename: path, id: path };
  fn.call(module.exports, module.exports, createRequire(path), module, path, dirname(path));
  return use;
}
