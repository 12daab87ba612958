/*
 * vmpager get IMAGE PATH [DEST]: a file or a whole tree out of an image onto
 * the host, like `cp -a` (and `debugfs rdump`): modes, access and
 * modification times, symlinks, hard links as links, owners when run as
 * root, holes kept (4 KiB runs of zeros are not written). A new DEST becomes
 * the copy; an existing directory DEST receives it inside (the root's
 * entries go straight into DEST), merged: what is in the way of a file,
 * symlink or link is replaced by a new one (host_ops.ts), a directory in
 * the way stops it; '-' writes a file to stdout (commands.ts).
 * Extended attributes follow with one `setfattr --restore` at the end where
 * the attr tools are installed. Device nodes, FIFOs and sockets are reported
 * and skipped: Node cannot make them.
 * The tree is read by file number (tree_read.ts: no lookup by name per
 * entry; a plain regular file without a vnode, from its inode as it lies in
 * core), a window of a directory's entries at a time; the regular files of
 * a window (and a file got alone: its holes never read) come straight from
 * the device by their block maps, side by side
 * ones in one read (direct_read.ts: the image is mounted read-only) made
 * straight into the host queue's batch (no copy), the others (inline data,
 * a damaged map) through the page frames (sendfile). Where the image is a
 * host file (a raw image, or a partition of one: BlockDevice.hostFile),
 * that read is the lane's: its worker reads the bytes into the batch and
 * finds their holes itself, and the reading thread only maps the files
 * (measured on the bench's tree: 0.1 s of the reading thread's CPU, the
 * copy's critical path, moved to the lanes, which had it to spare).
 * What the host must do is queued to two worker threads that do it while
 * the reading goes on (host_ops.ts), a directory's contents on one lane,
 * the lane with less work waiting when the directory is met: a directory
 * is made on its parent's lane (a creation in the parent, before the
 * parent's attributes) and again on its own lane where that is the other
 * (mkdir -p: it finds it or makes it), and gets its mode and times on its
 * own lane after its contents; a hard link waits for its first name's
 * creation, on whichever lane that was.
 */

import { hostName } from './host_names.js';
import { closeSync, lstatSync, mkdirSync, openSync, realpathSync, statSync, type Stats } from 'node:fs';
import { cat, fdSink } from './cat.js';
import { basename, dirname, join, normalize, resolve } from 'node:path';
import { EEXIST, EOPNOTSUPP, VmError, hostError } from '../api/errors.js';
import type { MountedFs } from '../api/mounted_fs.js';
import { countHostRead, DIRECT_BYTES, type FileRuns, type HostFile, hostFileOf, readDirect } from '../api/direct_read.js';
import { type TreeEntry, TreeFile, TreeNode, treeNode } from '../api/tree_read.js';
import { compileHotOnly } from './heap_flags.js';
import { hostCall } from './host_tree.js';
import { hostXattrsRestore } from './host_xattr.js';
import { HostOps, type Mark, SET_MODE, SET_OWNER, SET_SIZE, SET_SIZE_IF_SHORT } from './host_ops.js';

const HOLE = 4096;
/** Owners are given only by root (asked once: a system call each time). */
const asRoot = process.getuid?.() === 0;
const euid = process.geteuid?.() ?? -1;
const egid = process.getegid?.() ?? -1;
/**
 * A time as the host queue takes it: seconds with their fraction, a double.
 * Node's utimes keeps microseconds (libuv cuts the nanoseconds: Node 20 has
 * no form that sets them), cutting the double's fraction: s + 0.545980 is
 * 0.54597999... and was set a microsecond early. Half a microsecond more
 * (less before 1970, where the fraction is cut toward zero from below)
 * lands the cut on the microsecond meant.
 */
export function secs(s: number, nsec: number | undefined): number {
  return s + (Math.floor((nsec ?? 0) / 1000) + (s < 0 ? -0.5 : 0.5)) / 1e6;
}

/** The creation mask, read once: a file created with a mode it leaves whole needs no chmod. */
const umask = process.umask();

/**
 * A directory's entries whose vnodes are held at once: the regular files
 * among them are read together (16 small files make about one device read;
 * 64 read hardly fewer, and kept more alive for the collector to copy).
 */
const WINDOW = 16;

/** The most one device read brings (half a host batch, so that two fit one). */
const READ_BYTES = DIRECT_BYTES / 2;

interface Copy {
  fs: MountedFs;
  ops: HostOps;
  /** The image as a host file the lanes read themselves (none: files' bytes are read here, into the lanes' batches). */
  host: HostFile | null;
  /** The buffer of readDirect, made on first use. */
  buf: Uint8Array | null;
  /** Where the first name of each file with several links went, and where its lane's queue stood after its creation. */
  links: Map<number, { path: string; made: Mark }>;
  /** Directories copied or being copied: a damaged image may link one twice (a loop). */
  dirs: Set<number>;
  xattrs: { path: string; attrs: readonly [string, Uint8Array][] }[];
  warn: (msg: string) => void;
  /**
   * Everything the copy makes is new and gets the process's own user and
   * group (no set-group-ID directory above it hands its group down): an
   * owner equal to those needs no chown.
   */
  ownerKept: boolean;
}

/** SET_OWNER where the owner must be set: as root, unless what is made has it already. */
function owner(c: Copy, uid: number, gid: number): number {
  return asRoot && !(c.ownerKept && uid === euid && gid === egid) ? SET_OWNER : 0;
}

/** A host path's lstat, undefined where nothing is there; any other failure is the host's, in one line naming the path. */
function hostLstat(p: string): Stats | undefined {
  return hostCall(p, () => lstatSync(hostName(p), { throwIfNoEntry: false }));
}

/**
 * Does what the copy makes at target get the process's own user and group?
 * Only when target is new (nothing of it kept from before) and the nearest
 * existing directory above it has no set-group-ID bit (the directories the
 * copy makes get theirs only after their contents).
 */
function madeAsOwn(target: string): boolean {
  if (hostLstat(target) !== undefined) return false;
  let d = dirname(resolve(target));
  for (;;) {
    const st = hostLstat(d);
    if (st !== undefined) return st.isDirectory() && (st.mode & 0o2000) === 0;
    if (dirname(d) === d) return false;
    d = dirname(d);
  }
}

/**
 * DEST as the directory the copy goes into, where it is one: the path
 * itself, or where it is a symlink to a directory, the directory's own path
 * (as cp -a follows DEST); null where it is not a directory or not there.
 */
function hostDirectory(dest: string): string | null {
  const st = hostLstat(dest);
  if (st === undefined) return null;
  if (st.isDirectory()) return dest;
  if (!st.isSymbolicLink()) return null;
  const real = hostCall(dest, () => (statSync(hostName(dest), { throwIfNoEntry: false })?.isDirectory() === true ? realpathSync(hostName(dest)) : null));
  return real;
}

/** Writes file `path` of the image into the host device or FIFO at dest, opened for writing (nothing made, no attribute set). */
async function intoDevice(fs: MountedFs, path: string, dest: string): Promise<void> {
  const fd = hostCall(dest, () => openSync(hostName(dest), 'w'));
  try {
    let failure: unknown;
    await cat(fs, [path], fdSink(fd, dest), (e) => (failure ??= e));
    if (failure !== undefined) throw failure;
  } finally {
    closeSync(fd);
  }
}

/**
 * The directory a tree goes into, made here (not by a lane's mkdir -p):
 * its parent must be there, as cp -a wants it (a lane made every missing
 * parent, and looped for ever under /proc, where Node's recursive mkdir
 * does). One already there is merged into.
 */
function makeTop(target: string): void {
  if (hostLstat(target)?.isDirectory() === true) return;
  try {
    mkdirSync(hostName(target));
  } catch (e) {
    throw hostError(e, 'mkdir', target, null);
  }
}

/**
 * Copies PATH out to the host path dest. The reading goes on while a worker
 * thread makes the host's files (host_ops.ts); the first failure on either
 * side stops the copy and is thrown, with what was queued before it done.
 */
export async function get(fs: MountedFs, path: string, dest: string, warn: (msg: string) => void): Promise<void> {
  const top = await treeNode(fs, path);
  if (top.type !== 'dir' && top.type !== 'file' && top.type !== 'symlink') {
    // Alone it is the whole copy: not made is a failure (in a tree it is skipped with a line).
    await top.release();
    throw new VmError(EOPNOTSUPP, 'get', fs.image, path, 'a device node, FIFO or socket: Node cannot make one, so get cannot copy it');
  }
  if (top.type === 'dir') compileHotOnly(); // a walk through much code, little of it hot (heap_flags.ts)
  // Into an existing directory DEST (a symlink to one too, followed here once: below it, a
  // symlink in the way of a directory is refused, host_ops.ts), as cp does; the root's entries go straight into DEST.
  const root = path.split('/').every((p) => p === '');
  const dir = hostDirectory(dest);
  const into = dir !== null ? (root ? dir : join(dir, basename(path))) : dest;
  const target = normalize(into).replace(/(.)\/+$/, '$1'); // its entries' paths are target + '/' + name
  if (top.type !== 'dir') {
    // A device or FIFO the user named (/dev/null, a named pipe) takes the bytes, as cp writes into it: it is not replaced.
    const at = hostCall(target, () => statSync(hostName(target), { throwIfNoEntry: false }));
    if (at !== undefined && !at.isFile() && !at.isDirectory()) {
      try {
        if (top.type !== 'file' || !(at.isCharacterDevice() || at.isFIFO())) {
          throw new VmError(EEXIST, 'get', fs.image, path, `${target}: a ${at.isBlockDevice() ? 'block device' : at.isSocket() ? 'socket' : at.isFIFO() ? 'FIFO' : 'device node'} is there: not replaced`);
        }
        await intoDevice(fs, path, target);
      } finally {
        await top.release();
      }
      return;
    }
  }
  const threaded = top.type === 'dir';
  const host = threaded ? hostFileOf(fs) : null;
  const ownerKept = madeAsOwn(target); // (before the host queue's workers start: a failure here leaves none running)
  if (threaded) makeTop(target);
  const copy: Copy = { fs, ops: HostOps.start(threaded), host, buf: null, links: new Map(), dirs: new Set(), xattrs: [], warn, ownerKept };
  try {
    try {
      await copyOut(copy, top, target, copy.ops.pick());
    } catch (e) {
      if (e instanceof VmError) await copy.ops.drop(); // (throws the host's failure if it came first)
      throw e;
    }
    await copy.ops.finish();
  } catch (thrown) {
    const e = await copy.ops.settled(thrown); // a host failure: the first by queue order, both lanes done
    if (e instanceof VmError) throw e;
    throw hostError(e, 'write', (e as { path?: string }).path || target, null);
  } finally {
    await top.release();
    await copy.ops.stop();
  }
  await hostXattrsRestore(copy.xattrs, warn); // last: a read-only copy still takes them as root
}

/** Queues node n (and, for a directory, everything below it) to be made at host path `to`, on lane (its parent's contents'). */
async function copyOut(c: Copy, n: TreeNode | TreeFile, to: string, lane: number): Promise<void> {
  const st = n.stat;
  if (n instanceof TreeFile) {
    // (Met here only as a second name: a first one goes with its window's files.)
    const first = st.nlink > 1 ? c.links.get(st.ino) : undefined;
    if (first !== undefined) await c.ops.link(lane, first.path, to, first.made);
    else await copyFiles(c, [{ node: n, runs: n.runs, path: n.path, to, end: 0, atOpen: false }], lane);
    return;
  }
  if (n.type === 'dir') {
    // Each directory once: a second name for one (damage: directories have one) could loop forever.
    if (c.dirs.has(st.ino)) {
      c.warn(`${n.path}: directory inode ${st.ino} was copied already (the image links it twice): skipped`);
      return;
    }
    c.dirs.add(st.ino);
  }
  const first = n.type === 'file' && st.nlink > 1 ? c.links.get(st.ino) : undefined;
  if (first === undefined && (n.type === 'dir' || n.type === 'file' || n.type === 'symlink')) {
    const attrs = await n.xattrs();
    if (attrs.length > 0) c.xattrs.push({ path: to, attrs });
  }
  switch (n.type) {
    case 'dir': {
      await c.ops.mkdir(lane, to);
      const own = c.ops.pick();
      if (own !== lane) await c.ops.mkdir(own, to);
      const base = to.endsWith('/') ? to : `${to}/`; // (a name holds no '/', and is never '.' or '..')
      const ents = await n.entries();
      for (let i = 0; i < ents.length; i += WINDOW) await copyWindow(c, n, ents.slice(i, i + WINDOW), base, own);
      // After the contents, on their lane: their making changed the directory's times.
      await c.ops.attrs(own, to, owner(c, st.uid, st.gid) | SET_MODE, st.uid, st.gid, st.mode & 0o7777, secs(st.atime, st.atimeNsec), secs(st.mtime, st.mtimeNsec));
      return;
    }
    case 'symlink':
      await c.ops.symlink(lane, await n.readlink(), to, owner(c, st.uid, st.gid), st.uid, st.gid, secs(st.atime, st.atimeNsec), secs(st.mtime, st.mtimeNsec));
      return;
    case 'file':
      if (first !== undefined) {
        await c.ops.link(lane, first.path, to, first.made);
        return;
      }
      {
        // Straight from the device by its block map where it has one (a sparse file's holes are never read).
        const runs = await n.runs();
        if (runs !== null) {
          await copyFiles(c, [{ node: n, runs, path: n.path, to, end: 0, atOpen: false }], lane);
          return;
        }
      }
      await copyFile(c, n, to, lane);
      if (st.nlink > 1) c.links.set(st.ino, { path: to, made: c.ops.mark(lane) });
      return;
    default:
      c.warn(`${n.path}: a device node, FIFO or socket: skipped (Node cannot make one)`);
  }
}

/**
 * A window of a directory's entries, their vnodes held together: runs of
 * regular files read straight from the device go out together (copyFiles),
 * the rest one by one, all in directory order. An entry that cannot be got
 * fails when its turn comes, after everything before it.
 */
async function copyWindow(c: Copy, dir: TreeNode, ents: readonly TreeEntry[], base: string, lane: number): Promise<void> {
  const kids: (TreeNode | TreeFile | { failure: unknown })[] = [];
  try {
    for (const e of ents) {
      const f = dir.fileNow(e);
      if (f !== null) {
        kids.push(f);
        continue;
      }
      try {
        kids.push(await dir.child(e));
      } catch (failure) {
        kids.push({ failure });
      }
    }
    for (let k = 0; k < kids.length; ) {
      const group: Direct[] = [];
      for (; k < kids.length; k++) {
        const kid = kids[k];
        if (!(kid instanceof TreeFile || kid instanceof TreeNode) || kid.type !== 'file') break;
        // A second name of a file is a link to its first; one named twice in the group waits for it.
        if (kid.stat.nlink > 1 && (c.links.has(kid.stat.ino) || group.some((g) => g.node.stat.ino === kid.stat.ino))) break;
        const runs = kid instanceof TreeFile ? kid.runs : await kid.runs();
        if (runs === null) break;
        group.push({ node: kid, runs, path: kid.path, to: base + ents[k].name, end: 0, atOpen: false });
      }
      if (group.length > 0) {
        await copyFiles(c, group, lane);
        continue;
      }
      const kid = kids[k];
      if (!(kid instanceof TreeFile || kid instanceof TreeNode)) throw kid.failure;
      await copyOut(c, kid, base + ents[k].name, lane);
      k++;
    }
  } finally {
    for (const kid of kids) if (kid instanceof TreeNode) await kid.release();
  }
}

/** A regular file read straight from the device (direct_read.ts), and where its bytes went. */
interface Direct {
  node: TreeNode | TreeFile;
  runs: FileRuns;
  path: string;
  to: string;
  /** The end of the last bytes written. */
  end: number;
  /** Its mode given at creation. */
  atOpen: boolean;
}

/**
 * Files read straight from the device, in order, each made as copyFile
 * makes it; each read goes into the lane's batch in place (no copy), its
 * calls counted: a file begun and ended (OPEN 3 numbers, CLOSE 9) per file,
 * a WRITE (5) per run of data, at most one per 8 KiB and two per piece.
 */
async function copyFiles(c: Copy, files: Direct[], lane: number): Promise<void> {
  c.buf ??= new Uint8Array(READ_BYTES);
  const host = c.host;
  let fetched = false; // (the pieces handed now are bytes the lane reads itself)
  await readDirect(c.fs, files, c.buf, {
    buffer: (bytes, pieces) => c.ops.reserve(lane, bytes, files.length * 12 + 6 + (Math.ceil(bytes / 8192) + 2 * pieces) * 5),
    fetch: (into, from) => {
      fetched = host !== null && from + into.length <= host.size && c.ops.read(lane, host.fd, host.offset + from, into, c.fs.image);
      if (fetched) countHostRead(c.fs, into.length); // (the device's bytes all the same: its counts say so)
      return fetched;
    },
    // (A file read without a vnode has no attributes: no task for it.)
    start: (i) => {
      const f = files[i];
      return f.node instanceof TreeNode ? xattrsThenOpen(c, f, f.node, lane) : openDirect(c, f, lane);
    },
    data: (i, pos, bytes) => (fetched ? c.ops.sparse(lane, pos, bytes) : putBytes(c, lane, files[i], pos, bytes)),
    end: (i) => {
      const f = files[i];
      const st = f.node.stat;
      if (st.nlink > 1) c.links.set(st.ino, { path: f.to, made: c.ops.mark(lane) });
      // (Where the lane reads the bytes, it finds the holes and knows where the last write ends.)
      const size = host !== null ? SET_SIZE_IF_SHORT : f.end !== st.size ? SET_SIZE : 0;
      const flags = owner(c, st.uid, st.gid) | (f.atOpen ? 0 : SET_MODE) | size;
      return c.ops.close(lane, st.size, flags, st.uid, st.gid, st.mode & 0o7777, secs(st.atime, st.atimeNsec), secs(st.mtime, st.mtimeNsec));
    },
  });
}

/** Creates file f on the host, its mode given at creation where the creation mask leaves it whole. */
function openDirect(c: Copy, f: Direct, lane: number): Promise<void> | void {
  const mode = f.node.stat.mode & 0o7777;
  f.atOpen = modeAtOpen(mode);
  return c.ops.open(lane, f.to, f.atOpen ? mode : 0o600);
}

/** openDirect after taking the file's extended attributes (for the host's at the end). */
async function xattrsThenOpen(c: Copy, f: Direct, node: TreeNode, lane: number): Promise<void> {
  const attrs = await node.xattrs();
  if (attrs.length > 0) c.xattrs.push({ path: f.to, attrs });
  await openDirect(c, f, lane);
}

/** A mode the creation mask leaves whole (and no set-id or sticky bit) is given at creation. */
function modeAtOpen(mode: number): boolean {
  return (mode & 0o7000) === 0 && (mode & umask) === 0;
}

/**
 * Queues bytes of the open file f at pos, each run of 4 KiB pieces with
 * data one write, runs of zeros left as holes; f.end becomes where the
 * last bytes written end. A promise only where the queue made it wait.
 */
function putBytes(c: Copy, lane: number, f: { end: number }, pos: number, b: Uint8Array): Promise<void> | void {
  let runAt = -1;
  for (let p = 0; p < b.length; p += HOLE) {
    const q = Math.min(b.length, p + HOLE);
    if (!isZero(b, p, q)) {
      if (runAt < 0) runAt = p;
      continue;
    }
    if (runAt >= 0) {
      f.end = pos + p;
      const w = c.ops.write(lane, pos + runAt, b.subarray(runAt, p));
      if (w !== undefined) return w.then(() => putBytes(c, lane, f, pos + q, b.subarray(q)));
      runAt = -1;
    }
  }
  if (runAt >= 0) {
    f.end = pos + b.length;
    return c.ops.write(lane, pos + runAt, b.subarray(runAt));
  }
}

/**
 * A file's bytes from the page frames into the host queue; zero runs become
 * holes (the size set at the end only when the file ends in one). A mode
 * the creation mask leaves whole is given at creation; owner, mode and
 * times go through the open descriptor, before it closes.
 */
async function copyFile(c: Copy, n: TreeNode, to: string, lane: number): Promise<void> {
  const st = n.stat;
  const mode = st.mode & 0o7777;
  const atOpen = modeAtOpen(mode);
  await c.ops.open(lane, to, atOpen ? mode : 0o600);
  let pos = 0;
  const out = { end: 0 };
  const size = await n.sendfile(async (frames) => {
    for (const b of frames) {
      await putBytes(c, lane, out, pos, b);
      pos += b.length;
    }
  });
  const flags = owner(c, st.uid, st.gid) | (atOpen ? 0 : SET_MODE) | (out.end !== size ? SET_SIZE : 0);
  await c.ops.close(lane, size, flags, st.uid, st.gid, mode, secs(st.atime, st.atimeNsec), secs(st.mtime, st.mtimeNsec));
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}
