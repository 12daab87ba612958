/*
 * Image locks: a read-write mount holds its image file exclusively, a
 * read-only one shares it with other readers, across every vmpager process.
 * Node has no flock(2), so the lock is a folder of files beside the image,
 * `IMAGE.vmpager-lock/`: `write` (linked into place: made once) for the writer and one
 * `read.PID.NONCE` per reader, each naming its owner { pid, host, start,
 * nonce }. Both sides announce before they look (the reader makes its file,
 * then looks for a writer; the writer makes its file, then looks for
 * readers), so two can both fail but never both win.
 * An owner that is gone is recovered: on this host its pid is dead (or now
 * another process, told by the start time in /proc); on another host its
 * file was not refreshed for STALE_MS (owners touch theirs every REFRESH_MS).
 * Mounts in one process are arbitrated in memory first; where the image's
 * folder cannot be written, the lock is in memory only.
 * An image file has as many paths as it has hard links (and a bind mount
 * gives it more), and each path's folder is its own: so the lock is taken
 * twice, in the folder beside the path and in one named by the file's
 * device and inode numbers under /tmp/vmpager-locks (every name of the
 * file meets there), both or neither; in memory it is keyed by those
 * numbers too.
 *   const r = acquireImageLock(path, 'write'); if (r.lock === null) ...r.holder; ... r.lock.release()
 */

import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export type LockMode = 'read' | 'write';

interface Owner {
  pid: number;
  host: string;
  /** The process's start time (clock ticks since boot, from /proc), or null where there is no /proc. */
  start: number | null;
  nonce: string;
  mode: LockMode;
}

export interface ImageLock {
  readonly mode: LockMode;
  /** Lets the image go (idempotent). */
  release(): void;
}

export type LockResult = { lock: ImageLock; holder: null } | { lock: null; holder: string };

/** How often a holder touches its file, and when another host's untouched file counts as abandoned. */
export const REFRESH_MS = 10_000;
export const STALE_MS = 60_000;
/** A `break` file (a recovery in progress) older than this was left by a recovery that died. */
const BREAK_STALE_MS = 10_000;

const SUFFIX = '.vmpager-lock';

/** Locks held by this process, by the image's real path. */
const held = new Map<string, { readers: number; writer: boolean }>();

const me: Owner = { pid: process.pid, host: hostname(), start: procStart(process.pid), nonce: '', mode: 'read' };

/**
 * n hex digits telling this owner's files from another's with the same pid
 * (a restarted process, another host): unique, not secret, so Math.random
 * (seeded per process) does, and no command loads node:crypto for it.
 */
function nonce(n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  return s.slice(0, n);
}

/** The lock folder of an image. */
export function lockDirOf(path: string): string {
  return realPath(path) + SUFFIX;
}

/** Where the locks named by device and inode are (one folder for every user: sticky, as /tmp is). */
export const INODE_LOCKS = '/tmp/vmpager-locks';

/** Takes the image's lock in `mode`, or says who holds it. Never waits. */
export function acquireImageLock(path: string, mode: LockMode): LockResult {
  const real = realPath(path);
  const ino = inodeName(real);
  const key = ino ?? real;
  const local = held.get(key) ?? { readers: 0, writer: false };
  if (local.writer || (mode === 'write' && local.readers > 0)) {
    return { lock: null, holder: `in use by another mount in this process (${local.writer ? 'read-write' : 'read-only'})` };
  }
  const owner: Owner = { ...me, nonce: nonce(16), mode };
  liveNonces.add(owner.nonce);
  // Beside the path, then by inode (where /tmp lets it be made): both or neither.
  const dirs = [real + SUFFIX];
  if (ino !== null && inodeLocks()) {
    dirs.push(join(INODE_LOCKS, ino + SUFFIX));
    sweepOnce();
  }
  const files: { dir: string; file: string | null }[] = [];
  for (const dir of dirs) {
    const taken = mode === 'write' ? takeWrite(dir, owner) : takeRead(dir, owner);
    if ('holder' in taken) {
      for (const f of files) letGo(f.dir, f.file);
      liveNonces.delete(owner.nonce);
      return { lock: null, holder: taken.holder };
    }
    files.push({ dir, file: taken.file }); // file null: that folder cannot be written, the lock is in memory only
  }
  if (mode === 'write') local.writer = true;
  else local.readers++;
  held.set(key, local);

  const timer = files.some((f) => f.file !== null) ? setInterval(() => files.forEach((f) => f.file !== null && touch(f.file)), REFRESH_MS) : null;
  timer?.unref();
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    if (timer !== null) clearInterval(timer);
    if (mode === 'write') local.writer = false;
    else local.readers--;
    if (!local.writer && local.readers === 0) held.delete(key);
    liveNonces.delete(owner.nonce);
    for (const f of files) letGo(f.dir, f.file);
    exitHooks.delete(release);
  };
  exitHooks.add(release);
  return { lock: { mode, release }, holder: null };
}

/** Removes a lock file this process made, and its folder where it was the last in it. */
function letGo(dir: string, file: string | null): void {
  if (file === null) return;
  unlinkQuiet(file);
  try {
    rmdirSync(dir); // the last one out tidies up; another may be arriving: ENOTEMPTY or ENOENT
  } catch {
    // someone else's file is in it, or it is gone already
  }
}

/** The image file's device and inode numbers as a name ("DEV-INO"), or null where it cannot be stat'ed (not made yet). */
function inodeName(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}-${st.ino}`;
  } catch {
    return null;
  }
}

/** Whether INODE_LOCKS is there (made open to every user, sticky, on first use); no /tmp to write: no second lock. */
function inodeLocks(): boolean {
  try {
    mkdirSync(INODE_LOCKS);
    chmodSync(INODE_LOCKS, 0o1777); // (the creation mask would narrow the mode mkdir gives)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
  }
  return true;
}

let swept = false;

/**
 * Once a process, the folders under INODE_LOCKS whose holders are all gone
 * go (a thousand looked at, at most): a holder killed after its image was removed
 * left one that no later command of that image would ever come to recover.
 * Each file goes as breakStale lets a stale lock go (only the one judged
 * gone, under the folder's break file), then the folder if it is empty.
 */
function sweepOnce(): void {
  if (swept) return;
  swept = true;
  for (const name of listQuiet(INODE_LOCKS).slice(0, 1024)) {
    if (!name.endsWith(SUFFIX)) continue;
    const dir = join(INODE_LOCKS, name);
    const files = listQuiet(dir).filter((f) => f === 'write' || f.startsWith('read.'));
    const owners = files.map((f) => ({ file: join(dir, f), o: readOwner(join(dir, f)) }));
    if (owners.some(({ file, o }) => o === null || !isGone(file, o))) continue;
    for (const { file, o } of owners) breakStale(dir, file, o);
    try {
      rmdirSync(dir);
    } catch {
      // someone's file is in it again, or it is gone already
    }
  }
}

/** What taking a lock file gave: its path (null: memory only), or who holds the image. */
type Taken = { file: string | null } | { holder: string };

/** The writer: `write` made exclusively, then no live reader may be there. */
function takeWrite(dir: string, owner: Owner): Taken {
  const file = join(dir, 'write');
  for (let attempt = 0; attempt < 4; attempt++) {
    const made = createOwned(dir, file, owner);
    if (made === 'readonly') return { file: null };
    if (made === 'exists') {
      const other = readOwner(file);
      if (other !== null && !isGone(file, other)) return { holder: holderText(other) };
      breakStale(dir, file, other);
      continue;
    }
    for (const name of listQuiet(dir)) {
      if (name.endsWith('.new')) {
      const age = ageMs(join(dir, name));
      if (age !== null && age > BREAK_STALE_MS) unlinkQuiet(join(dir, name)); // a record a killed process never linked
      continue;
    }
    if (!name.startsWith('read.')) continue;
      const rf = join(dir, name);
      const reader = readOwner(rf);
      if (reader === null || isGone(rf, reader)) {
        if (reader !== null) unlinkQuiet(rf); // a reader's name is its own: no one else can make it again
        continue;
      }
      unlinkQuiet(file);
      return { holder: holderText(reader) };
    }
    return { file };
  }
  return { holder: 'in use by another vmpager process (its lock keeps changing)' };
}

/** A reader: its own `read.PID.NONCE`, then no live writer may be there. */
function takeRead(dir: string, owner: Owner): Taken {
  const file = join(dir, `read.${owner.pid}.${owner.nonce}`);
  for (let attempt = 0; attempt < 4; attempt++) {
    const made = createOwned(dir, file, owner);
    if (made === 'readonly') return { file: null };
    if (made === 'exists') continue; // cannot happen with a fresh nonce; try again
    const wf = join(dir, 'write');
    const writer = readOwner(wf);
    if (writer === null && !existsQuiet(wf)) return { file };
    if (writer !== null && !isGone(wf, writer)) {
      unlinkQuiet(file);
      return { holder: holderText(writer) };
    }
    breakStale(dir, wf, writer);
    return { file };
  }
  return { holder: 'in use by another vmpager process (its lock keeps changing)' };
}

/**
 * Makes `file` exclusively with owner's record, making the folder first when
 * needed. The record is written to a file of its own and then linked into
 * place (link(2) fails if the name exists), so a lock file is never seen
 * half-written.
 */
function createOwned(dir: string, file: string, owner: Owner): 'made' | 'exists' | 'readonly' {
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      mkdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return 'readonly';
      if (code !== 'EEXIST') throw e;
    }
    const tmp = `${file}.${owner.pid}.${nonce(12)}.new`;
    try {
      writeFileSync(tmp, JSON.stringify(owner), { flag: 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue; // the folder was tidied away between the two calls
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'ENOSPC') return 'readonly';
      throw e;
    }
    try {
      linkSync(tmp, file);
      return 'made';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return 'exists';
      if (code === 'ENOENT') continue;
      if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') return 'readonly'; // no hard links here
      throw e;
    } finally {
      unlinkQuiet(tmp);
    }
  }
  return 'readonly';
}

/**
 * Removes a lock file whose owner is gone, under the folder's `break` file so
 * that two recoveries cannot remove a lock a third has just made.
 */
function breakStale(dir: string, file: string, seen: Owner | null): void {
  const brk = join(dir, 'break');
  if (createOwned(dir, brk, { ...me, nonce: 'break', mode: 'write' }) !== 'made') {
    const age = ageMs(brk);
    const other = readOwner(brk);
    if (age !== null && (age > BREAK_STALE_MS || (other !== null && isGone(brk, other)))) unlinkQuiet(brk);
    return; // someone else is recovering it: the caller looks again
  }
  try {
    const now = readOwner(file);
    // Only the lock that was judged gone, not one made since (or one still being written: null and young).
    if ((seen !== null && now !== null && now.nonce === seen.nonce) || (seen === null && now === null && (ageMs(file) ?? 0) > 1000)) unlinkQuiet(file);
  } finally {
    unlinkQuiet(brk);
  }
}

/** True when the owner of `file` is no longer there. */
function isGone(file: string, o: Owner): boolean {
  if (o.host !== me.host) {
    const age = ageMs(file);
    return age === null || age > STALE_MS;
  }
  if (o.pid === me.pid) return o.start !== me.start || !liveNonces.has(o.nonce); // left by this process (or a namesake), not held now
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const start = procStart(o.pid);
  return start !== null && o.start !== null && start !== o.start; // the pid now names another process
}

/** The nonces of the locks this process holds. */
const liveNonces = new Set<string>();

function holderText(o: Owner): string {
  const who = o.host === me.host ? `pid ${o.pid}` : `pid ${o.pid} on ${o.host}`;
  return `in use by another vmpager process (${who}${o.mode === 'read' ? ', reading' : ''})`;
}

function readOwner(file: string): Owner | null {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Owner;
    if (typeof o.pid !== 'number' || typeof o.host !== 'string' || typeof o.nonce !== 'string') return null;
    return o;
  } catch {
    return null; // gone, or being written (an empty file): judged by age
  }
}

/** The process's start time from /proc/PID/stat (field 22), or null. */
function procStart(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function ageMs(file: string): number | null {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // gone: the release is under way
  }
}

function existsQuiet(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

function listQuiet(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Locks still held when the process exits are let go (an 'exit' handler may only do synchronous work). */
const exitHooks = new Set<() => void>();

/**
 * Lets every lock this process holds go at once: for a process about to be
 * ended by a signal (no 'exit' handler runs then), so that no lock folder
 * is left for the next command to recover (the image is as a kill leaves it).
 */
export function releaseAllImageLocks(): void {
  for (const release of [...exitHooks]) release();
}
globalThis.process?.on?.('exit', () => {
  for (const release of [...exitHooks]) release();
});
