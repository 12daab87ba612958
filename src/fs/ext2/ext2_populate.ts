/*
 * VOP_POPULATE on ext2: a whole tree from outside made at once (cf.
 * e2fsprogs' populate_fs, behind `mke2fs -d`), with no vnode, VM object or
 * page per file. Each directory's names are known before its children are
 * made, so its blocks are planned (ext2_dir_build.ts) and promised first,
 * then allocated and written once, whole, when its children's inodes are
 * numbered; each file's bytes go from the source straight to the blocks
 * allocated for them, runs of neighbouring blocks (across files too) in one
 * device write, with a writeback hint to the device every 32 MiB.
 *   1. Each top entry: its name checked new in dvp (one lookup).
 *   2. Its inode allocated near dvp (a directory's spread by ext2Valloc),
 *      initialised with the source's mode, owner and times.
 *   3. A regular file: read in 1 MiB pieces (or taken as views of the
 *      source's memory); a 4 KiB (or block) piece of zeros is left a hole,
 *      the rest allocated (extents or block maps) and staged for the
 *      device. A symlink: in i_block, or one block. A device: its numbers
 *      in i_block. A directory: its names listed and planned, its blocks
 *      promised, its children made (2-4, depth first), then its blocks
 *      allocated after theirs, rendered and staged (the same run of the
 *      device as their bytes); its link count counts its subdirectories.
 *      A second name of a file (the source's link key) takes a link on the
 *      inode made for the first.
 *   4. The inode written to its buffer (ext2Update). Without MNT_ASYNC it
 *      is written not yet live: no links and a deletion time, as a deleted
 *      file looks (its real count kept aside).
 *   5. Without MNT_ASYNC, the staged blocks and every dirty buffer go to
 *      the disk (VFS_SYNC) before the entries that name the tops: once for
 *      all of them, or for each batch whose entries could fill half of
 *      RESERVE's blocks, and at the end of a top once COMMIT_MS have passed
 *      since the last batch (so a kill loses a second's tops, not all).
 *   6. The top entries entered in dvp through ext2DirEnter (its index
 *      kept), and written.
 *   7. Without MNT_ASYNC, the tree made live (commit): each inode given its
 *      links, parents before children (the order they were made), each
 *      inode table block written before the next one is changed. At every
 *      instant the live inodes are a tree hanging from dvp; an entry may
 *      name an inode not yet live, and what is not live is, to e2fsck, a
 *      deleted file whose bitmap bits are wrong: a crash at any point
 *      leaves only what e2fsck -p mends on its own (the tree up to there).
 * An error stops the walk; what was made up to it is finished as it stands
 * (each directory with the entries made, the file that failed with the
 * bytes written) and named, so nothing is allocated that no entry names;
 * the file left partly written is answered for the caller to remove. The
 * walk's own allocations leave RESERVE blocks free, so that the top entry
 * can still be entered when the tree ran the file system out of space.
 * A second name of a file made before the walk (the source knows its
 * inode by the link key) takes a link on that inode, as VOP_LINK does.
 *   const { error, partial, cause } = await ext2Populate(dvp, nodes, source)   => dvp locked exclusively
 */

import { nameEncode } from '../../kern/namebytes.js';
import { EEXIST, EINTEGRITY, EINVAL, EMLINK, ENOENT, ENOSPC, ENOTDIR, EOPNOTSUPP } from '../../kern/errno.js';
import { DEV_BSIZE } from '../../kern/param.js';
import type { Mount } from '../../vfs/mount.js';
import { vrele } from '../../vfs/vfs_subr.js';
import type { PopulateResult, TreeNode, TreeSource } from '../../vfs/vfs_tree.js';
import { VType, type Vnode } from '../../vfs/vnode.js';
import { devWrite } from '../../vfs/vfs_physwrite.js';
import type { Buf } from '../../vfs/buf.js';
import {
  DI_DTIME, DI_LINKS, EXT2_FT_DIR, EXT2_FT_REG_FILE, EXT2_FT_SYMLINK, EXT2_IBLOCK_BYTES, EXT2_INDEX_FL,
  RO_COMPAT_DIR_NLINK, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK,
} from './ext2_fs.js';
import type { Ext2Fs } from './ext2_mount.js';
import { ext2AllocRange, ext2AllocRangeNow } from './ext2_balloc.js';
import { ext2DirEnter } from './ext2_dir_write.js';
import { ext2DirPlan, ext2DirRender } from './ext2_dir_build.js';
import { ext2Valloc, ext2VallocNow, ext2Vfree } from './ext2_ialloc.js';
import { ext2Inode, type Inode } from './ext2_inode.js';
import { ext2InodeBuf, ext2InodeInit, ext2InodeInitNow, ext2Update, ext2UpdateNow } from './ext2_inode_write.js';
import { inodeCsumSet } from './ext2_csum.js';
import { EXT2_ATIME, EXT2_MTIME, ext2NowTime, ext2Stamp, ext2TimeFit } from './ext2_itimes.js';
import { ext2LookupLocked } from './ext2_lookup.js';
import { ext2DecLinks, ext2IncLinks, ext2LinkFull, ext2LinkLimits, ext2LinkMax } from './ext2_nlink.js';
import { entryName, ext2DirDone, ext2FastSymlink, ext2SymlinkTargetError } from './ext2_vnops_write.js';
import { ext2DevSet } from './ext2_mknod.js';
import { ext2SetLinks } from './ext2_rename.js';
import { ext2Writable } from './ext2_write.js';

/** Blocks the walk leaves free for the top entry's own directory to grow. */
export const RESERVE = 16;
/**
 * Without MNT_ASYNC, the top entries made are named and made live (steps
 * 5-7) once this long has passed since that was last done, as a journal
 * commits every few seconds: a kill then loses the tops made since (and
 * the one being made), not everything copied before it, for one sync a
 * second at most. VMPAGER_TEST_COMMIT_MS sets it for crash tests (0: after
 * every top).
 */
const COMMIT_MS = commitMs((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.VMPAGER_TEST_COMMIT_MS);

function commitMs(v: string | undefined): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return n >= 0 ? n : 1000;
}
const READ_PIECE = 1 << 20;
const STAGE = 4 << 20;
/** Bytes staged between two writeback hints to the device. */
const WRITEBACK_EVERY = 32 << 20;
const HOLE = 4096;
/** What TreeSource.next promises: every view but a file's last is a whole number of these (of blocks, then). */
const VIEW_UNIT = 64 << 10;

const FT = { file: EXT2_FT_REG_FILE, dir: EXT2_FT_DIR, chardev: 3, blockdev: 4, fifo: 5, socket: 6, symlink: EXT2_FT_SYMLINK } as const;
const IFMT = { file: S_IFREG, dir: S_IFDIR, chardev: S_IFCHR, blockdev: S_IFBLK, fifo: S_IFIFO, socket: S_IFSOCK, symlink: S_IFLNK } as const;

/** What making one entry left: its inode (0: none), and how the walk stopped, if it did. */
interface Made {
  ino: number;
  ft: number;
  /** A directory made new here (counts as a link of its parent). */
  newDir: boolean;
}

/** The walk's state: where it stopped, and why. */
class Stop {
  error = 0;
  partial: string | null = null;
  /** The entry it stopped at (its path below the populated directory). */
  at: string | null = null;
  cause: unknown = undefined;
}

/**
 * Blocks on their way to the device, a run of neighbouring blocks at a time;
 * one run is written while the next fills.
 */
class Stage {
  private buf: Uint8Array;
  private spare: Uint8Array;
  private start = 0;
  private blocks = 0;
  private pending: Promise<number> = Promise.resolve(0);
  private error = 0;
  /** Bytes sent since the last writeback hint. */
  private sent = 0;

  constructor(private readonly mp: Mount, private readonly fs: Ext2Fs) {
    this.buf = new Uint8Array(STAGE);
    this.spare = new Uint8Array(STAGE);
  }

  /**
   * Blocks pblk, pblk + 1 ... hold src[from, to), zeros after it to the last
   * block's end. Staged at once where they continue the run; a promise when
   * the run had to be written first.
   */
  put(pblk: number, src: Uint8Array, from: number, to: number): Promise<void> | undefined {
    const bsize = this.fs.bsize;
    while (from < to) {
      if (this.blocks > 0 && (pblk !== this.start + this.blocks || this.blocks * bsize === this.buf.length)) {
        const at = pblk;
        const rest = from;
        return this.send().then(() => this.put(at, src, rest, to));
      }
      if (this.blocks === 0) this.start = pblk;
      const at = this.blocks * bsize;
      const take = Math.min(to - from, this.buf.length - at);
      this.buf.set(src.subarray(from, from + take), at);
      const n = Math.ceil(take / bsize);
      if (take < n * bsize) this.buf.fill(0, at + take, at + n * bsize);
      this.blocks += n;
      pblk += n;
      from += take;
    }
    return undefined;
  }

  /** Starts the run's write (after the one before it has finished, whose buffer it takes). */
  private async send(): Promise<void> {
    const e = await this.pending;
    if (e !== 0 && this.error === 0) this.error = e;
    const full = this.buf;
    this.buf = this.spare;
    this.spare = full;
    const off = this.fs.fsbtodb(this.start) * DEV_BSIZE;
    this.pending = devWrite(this.mp.dev, off, [full.subarray(0, this.blocks * this.fs.bsize)]);
    this.sent += this.blocks * this.fs.bsize;
    this.blocks = 0;
    if (this.sent >= WRITEBACK_EVERY) {
      // The medium starts on what is written so far, beside the rest of the walk, not all at the final flush.
      this.sent = 0;
      void this.pending.then(() => this.mp.dev.writeback?.());
    }
  }

  /** Every staged block written; the first write error, or 0. */
  async flush(): Promise<number> {
    if (this.blocks > 0) await this.send();
    const e = await this.pending;
    this.pending = Promise.resolve(0);
    return this.error || e;
  }
}

/** VOP_POPULATE: makes each of `nodes` (names dvp does not hold) in dvp, from `src`. => dvp locked exclusively */
export async function ext2Populate(dvp: Vnode, nodes: readonly TreeNode[], src: TreeSource): Promise<PopulateResult> {
  const w = ext2Writable(dvp);
  if (w.error !== 0) return { error: w.error, partial: null };
  if (dvp.type !== VType.VDIR) return { error: ENOTDIR, partial: null };
  const dip = ext2Inode(dvp);
  if (dip.din.linksCount === 0 || dip.freed) return { error: ENOENT, partial: null };
  const mp = w.mp!;
  if (mp.vm === null) return { error: EOPNOTSUPP, partial: null };
  const b = new Builder(mp, dip.fs, src);
  let entered = false;
  // Top entries made and not yet named, named together: one sync for them all (step 5), not one each.
  const pending: Array<{ name: Uint8Array; at: string; made: Made; from: number }> = [];
  const pendingNames = new Set<string>();
  let pendingBytes = 0;
  let pendingDirs = 0;
  let committedAt = Date.now();
  const enter = async (): Promise<PopulateResult | null> => {
    if (pending.length === 0) return null;
    let e = mp.async ? 0 : await b.stage.flush();
    if (e === 0 && !mp.async) e = await mp.op.sync(mp); // the trees on disk before the entries that name them
    // dvp's count up for the new directories ('..' of each) and on disk before their names, so a kill
    // leaves it too high at worst, never too low (it was written with a later sync, after them).
    let uncounted = 0;
    for (const p of pending) if (p.made.newDir) uncounted++;
    if (e === 0 && uncounted > 0) {
      for (let i = 0; i < uncounted; i++) ext2IncLinks(dip);
      if (!mp.async) e = await ext2Update(mp, dip, true);
    }
    for (const p of pending) {
      if (e === 0) e = await ext2DirEnter(dvp, p.name, p.made.ino, p.made.ft);
      if (e !== 0) {
        // The directories not named take their counts back.
        for (let i = 0; i < uncounted; i++) ext2DecLinks(dip);
        // The trees named so far made live (their entries on disk first); this one and those after it are
        // left unnamed, and not live: deleted files to e2fsck.
        if (!mp.async && p !== pending[0] && (await ext2DirDone(dvp, mp)) === 0) await b.commit(p.from);
        return { error: e, partial: null, at: p.at };
      }
      entered = true;
      if (p.made.newDir) uncounted--;
    }
    pending.length = 0;
    pendingNames.clear();
    pendingBytes = 0;
    pendingDirs = 0;
    if (!mp.async) {
      e = await ext2DirDone(dvp, mp); // the entries on disk, then the trees made live below them
      if (e === 0) e = await b.commit();
      if (e !== 0) return { error: e, partial: null, at: null };
      committedAt = Date.now();
    }
    return null;
  };
  const walk = async (): Promise<PopulateResult> => {
    for (const node of nodes) {
      const name = checkName(node.name);
      if (typeof name === 'number') return (await enter()) ?? { error: name, partial: null, at: node.name };
      const r = await ext2LookupLocked(dvp, node.name);
      if (r.vp !== null || pendingNames.has(node.name)) {
        if (r.vp !== null) await vrele(r.vp);
        return (await enter()) ?? { error: EEXIST, partial: null, at: node.name };
      }
      if (r.error !== ENOENT) return (await enter()) ?? { error: r.error, partial: null, at: node.name };
      if (node.type === 'dir') {
        // Directories waiting to be named count as links of dvp already: near its limit, they are named first.
        if (pendingDirs > 0 && dip.din.linksCount + pendingDirs >= ext2LinkMax(dip)) {
          const failed = await enter();
          if (failed !== null) return failed;
        }
        if (ext2LinkFull(dip)) return { error: EMLINK, partial: null, at: node.name };
      }
      const from = b.made;
      const made = await b.make(node, dvp.ino, node.name);
      if (made.ino !== 0) {
        pending.push({ name, at: node.name, made, from });
        pendingNames.add(node.name);
        if (made.newDir) pendingDirs++;
        pendingBytes += 8 + ((name.length + 3) & ~3);
      }
      // Named at the end, or once their entries could fill half the blocks the walk leaves free (RESERVE: room to
      // name them), or COMMIT_MS after the last were.
      if (b.stop.error !== 0 || pendingBytes > (RESERVE / 2) * dip.fs.bsize || (!mp.async && Date.now() - committedAt >= COMMIT_MS)) {
        const failed = await enter();
        if (failed !== null) return failed;
      }
      if (b.stop.error !== 0) return { error: b.stop.error, partial: b.stop.partial, at: b.stop.at, cause: b.stop.cause };
    }
    return (await enter()) ?? { error: 0, partial: null };
  };
  let r: PopulateResult | undefined;
  try {
    r = await walk();
  } finally {
    // The last staged run is written here (an async mount stages every file's bytes till now): its failure is the result's.
    const e = await b.stage.flush();
    if (entered) await ext2DirDone(dvp, mp);
    if (e !== 0 && b.stop.error === 0) b.stop.error = e;
    if (e !== 0 && r !== undefined && r.error === 0) r = { error: e, partial: null, at: null };
  }
  return r;
}

/** A name's bytes for an entry, or the errno it earns. */
function checkName(name: string): Uint8Array | number {
  if (name === '.' || name === '..') return EINVAL;
  const n = entryName(name);
  return n.error !== 0 ? n.error : n.bytes;
}

class Builder {
  readonly stop = new Stop();
  readonly stage: Stage;
  private readonly links = new Map<string, { ino: number; ip: Inode; ft: number; slot: number }>();
  private readonly readBuf = new Uint8Array(READ_PIECE);
  /** The block numbers of the allocation in hand, and what collects them. */
  private readonly pblks: number[] = [];
  private readonly onNew = (_lbn: number, pblk: number): void => {
    this.pblks.push(pblk);
  };
  private readonly piece: number;
  private readonly now = ext2NowTime();
  /** Blocks promised to directories whose children are being made (allocated once they are). */
  private promised = 0;
  /** Written live at once (MNT_ASYNC), else made live by commit(). */
  private readonly live: boolean;
  /** The inodes to make live, in the order made (0: freed again), and their link counts; how many are live. */
  private readonly order: number[] = [];
  private readonly linkCounts: number[] = [];
  private committed = 0;

  constructor(private readonly mp: Mount, private readonly fs: Ext2Fs, private readonly src: TreeSource) {
    this.stage = new Stage(mp, fs);
    this.piece = Math.max(HOLE, fs.bsize);
    this.live = mp.async;
  }

  private fail(error: number, cause?: unknown): void {
    if (this.stop.error !== 0) return;
    this.stop.error = error;
    this.stop.cause = cause;
  }

  /** Makes `node` (and below it) for a directory of inode parentIno; `path`: its path below the populated directory. */
  async make(node: TreeNode, parentIno: number, path: string): Promise<Made> {
    const m = await this.makeOne(node, parentIno, path);
    this.stoppedIn(path);
    return m;
  }

  /** The walk stopped in the entry at path, unless it stopped deeper (the innermost entry is named). */
  private stoppedIn(path: string): void {
    if (this.stop.error !== 0 && this.stop.at === null) this.stop.at = path;
  }

  private async makeOne(node: TreeNode, parentIno: number, path: string): Promise<Made> {
    const none = { ino: 0, ft: 0, newDir: false };
    const ft = FT[node.type];
    if (node.link !== null) {
      const first = this.links.get(node.link);
      if (first !== undefined && !this.live && first.slot < this.committed) return this.linkOutside(first.ino, first.ft); // live already
      if (first !== undefined && !this.live) {
        if (this.linkCounts[first.slot] >= ext2LinkMax(first.ip)) {
          this.fail(EMLINK);
          return none;
        }
        this.linkCounts[first.slot]++;
        return { ino: first.ino, ft: first.ft, newDir: false };
      }
      if (first !== undefined) {
        if (ext2LinkFull(first.ip)) {
          this.fail(EMLINK);
          return none;
        }
        ext2IncLinks(first.ip);
        const e = await ext2Update(this.mp, first.ip, false);
        if (e !== 0) {
          first.ip.din.linksCount--;
          this.fail(e);
          return none;
        }
        return { ino: first.ino, ft: first.ft, newDir: false };
      }
      const ino = this.src.linked(node.link);
      if (ino !== 0) return this.linkOutside(ino, ft);
    }
    const isDir = node.type === 'dir';
    let listed: { children: TreeNode[]; names: Uint8Array[] } | null = null;
    if (isDir) {
      // Listed before anything is allocated: a directory the source cannot read is not made.
      try {
        const children = this.src.list(node);
        const names: Uint8Array[] = [];
        for (const c of children) {
          const n = checkName(c.name);
          if (typeof n === 'number') {
            this.fail(n);
            return none;
          }
          names.push(n);
        }
        listed = { children, names };
      } catch (e) {
        this.fail(EINVAL, e);
        return none;
      }
    }
    const now = ext2VallocNow(this.mp, parentIno, isDir);
    const a = typeof now !== 'number' ? now : await ext2Valloc(this.mp, parentIno, isDir);
    if (a.error !== 0) {
      this.fail(a.error);
      return none;
    }
    const mode = IFMT[node.type] | (node.perm & 0o7777);
    const links = isDir ? 2 : 1;
    const { error, ip } = ext2InodeInitNow(this.mp, a.ino, mode, links, this.now) ?? (await ext2InodeInit(this.mp, a.ino, mode, links, this.now));
    if (error !== 0 || ip === null) {
      await ext2Vfree(this.mp, a.ino, isDir);
      this.fail(error || EINTEGRITY);
      return none;
    }
    const slot = this.live ? -1 : this.order.push(a.ino) - 1;
    if (!this.live) this.linkCounts.push(0);
    const din = ip.din;
    din.uid = node.uid;
    din.gid = node.gid;
    ext2Stamp(din, EXT2_ATIME, ext2TimeFit(ip.raw, node.atime));
    ext2Stamp(din, EXT2_MTIME, ext2TimeFit(ip.raw, node.mtime));
    let made = true;
    switch (node.type) {
      case 'file':
        await this.fileData(node, ip, path);
        break;
      case 'dir':
        made = await this.dirData(listed!, ip, parentIno, path);
        break;
      case 'symlink':
        made = await this.symlinkData(node, ip);
        break;
      case 'chardev':
      case 'blockdev':
        ext2DevSet(ip, node.major, node.minor);
        break;
      default:
        break;
    }
    if (!made) {
      // Nothing allocated beyond the inode (a directory's or a symlink's blocks could not be had).
      await ext2Vfree(this.mp, a.ino, isDir);
      if (slot >= 0) this.order[slot] = 0;
      return none;
    }
    if (slot >= 0) {
      // Not live until commit(): to e2fsck, a deleted file.
      this.linkCounts[slot] = din.linksCount;
      din.linksCount = 0;
      ip.dtime = this.now.sec;
    }
    const e = ext2UpdateNow(this.mp, ip) ? 0 : await ext2Update(this.mp, ip, false);
    if (e !== 0) this.fail(e); // the inode's buffer is the image's own: what is in it is named, as on any write error
    if (node.link !== null) {
      this.links.set(node.link, { ino: a.ino, ip, ft, slot });
      this.src.made(node, a.ino);
    }
    return { ino: a.ino, ft, newDir: isDir };
  }

  /** Inodes made so far (a tree made next starts there, for commit). */
  get made(): number {
    return this.order.length;
  }

  /**
   * Makes live every inode made since the last commit (step 7), up to the
   * `upTo`-th made: its links and no deletion time, in the order made; an
   * inode table block is written before an inode of another block is
   * changed. => may sleep
   */
  async commit(upTo = this.order.length): Promise<number> {
    const fs = this.fs;
    const isize = fs.sb.inodeSize;
    const perBlock = fs.bsize / isize;
    let held: Buf | null = null;
    let heldKey = -1;
    for (; this.committed < upTo; this.committed++) {
      const ino = this.order[this.committed];
      if (ino === 0) continue;
      const key = Math.floor((ino - 1) / perBlock);
      if (held !== null && key !== heldKey) {
        const e = await this.mp.bufcache.bwrite(held);
        held = null;
        if (e !== 0) return e;
      }
      const off = (((ino - 1) % fs.sb.inodesPerGroup) * isize) % fs.bsize;
      if (held === null) {
        const r = await ext2InodeBuf(this.mp, ino);
        if (r.error !== 0 || r.bp === null) return r.error || EINTEGRITY;
        held = r.bp;
        heldKey = key;
      }
      const raw = held.data.subarray(off, off + isize);
      const dv = new DataView(raw.buffer, raw.byteOffset, isize);
      dv.setUint16(DI_LINKS, this.linkCounts[this.committed], true);
      dv.setUint32(DI_DTIME, 0, true);
      if (fs.metadataCsum) inodeCsumSet(fs, ino, raw);
    }
    return held === null ? 0 : this.mp.bufcache.bwrite(held);
  }

  /** One more link of inode ino, made before this walk (its vnode's inode, written as VOP_LINK writes it). */
  private async linkOutside(ino: number, ft: number): Promise<Made> {
    const none = { ino: 0, ft: 0, newDir: false };
    const r = await this.mp.op.vget(this.mp, ino);
    if (r.error !== 0 || r.vp === null) {
      this.fail(r.error || ENOENT);
      return none;
    }
    try {
      const ip = ext2Inode(r.vp);
      if (r.vp.type === VType.VDIR || ip.din.linksCount === 0 || ip.freed) {
        this.fail(ENOENT);
        return none;
      }
      if (ext2LinkFull(ip)) {
        this.fail(EMLINK);
        return none;
      }
      const e = await ext2SetLinks(r.vp, +1);
      if (e !== 0) {
        this.fail(e);
        return none;
      }
      return { ino, ft, newDir: false };
    } finally {
      await vrele(r.vp);
    }
  }

  /** A regular file's bytes from the source, holes kept; on an error, the file is what was written (answered as partial). */
  private async fileData(node: TreeNode, ip: Inode, path: string): Promise<void> {
    const buf = this.readBuf;
    let h = 0;
    let opened = false;
    let pos = 0;
    try {
      h = this.src.open(node);
      opened = true;
      for (;;) {
        // A view of the source's own memory, or a read into ours: to the end, or a whole piece (the next starts on a block).
        let v = this.src.next?.(h) ?? null;
        let eof: boolean;
        if (v !== null) {
          eof = v.length % VIEW_UNIT !== 0;
        } else {
          const want = Math.min(buf.length, Math.ceil(Math.max(node.size - pos + 1, 1) / this.piece) * this.piece);
          let n = 0;
          eof = false;
          while (n < want) {
            const got = this.src.read(h, buf.subarray(n, want), pos + n);
            n += got;
            if (n < want && got < want - (n - got)) {
              eof = true; // a short read is the end
              break;
            }
          }
          v = buf.subarray(0, n);
        }
        if (v.length === 0) break;
        // Each run of pieces with data allocated and staged; a piece of zeros is left a hole.
        const n = v.length;
        const piece = this.piece;
        for (let p = 0; p < n;) {
          while (p < n && isZero(v, p, Math.min(n, p + piece))) p += piece;
          let q = p;
          while (q < n && !isZero(v, q, Math.min(n, q + piece))) q += piece;
          if (q > p) {
            let error = this.writeRun(ip, pos, v, p, Math.min(n, q));
            if (typeof error !== 'number') error = await error;
            if (error !== 0) {
              ip.size = pos + p;
              this.fail(error);
              this.stop.partial = path;
              return;
            }
          }
          p = q;
        }
        pos += n;
        if (eof) break;
      }
      ip.size = pos;
    } catch (e) {
      ip.size = pos;
      this.fail(EINVAL, e);
      this.stop.partial = path;
    } finally {
      if (opened) {
        try {
          this.src.close(h);
        } catch (e) {
          this.fail(EINVAL, e);
        }
      }
    }
  }

  /**
   * Allocates and stages buf[p, q), which holds the file's bytes from byte
   * pos + p (p on a block): an error number, or a promise of one where a
   * step needed a task (most runs need none).
   */
  private writeRun(ip: Inode, pos: number, buf: Uint8Array, p: number, q: number): number | Promise<number> {
    const bsize = this.fs.bsize;
    const lbn = (pos + p) / bsize;
    const count = Math.ceil((q - p) / bsize);
    const pblks = this.pblks;
    pblks.length = 0;
    if (this.fs.sb.freeBlocksCount < count + RESERVE + this.promised) return ENOSPC;
    // Without a task as far as the extents and bitmaps in core go; the rest (if any) with one.
    const now = ext2AllocRangeNow(this.mp, ip, lbn, count, this.onNew);
    if (now.error !== 0) return now.error;
    if (now.done < count) return this.writeRunSlow(ip, lbn + now.done, count - now.done, buf, p, q);
    return this.stageRun(buf, p, q, 0);
  }

  private async writeRunSlow(ip: Inode, lbn: number, count: number, buf: Uint8Array, p: number, q: number): Promise<number> {
    const r = await ext2AllocRange(this.mp, ip, lbn, count, this.onNew);
    if (r.error !== 0) return r.error;
    return this.stageRun(buf, p, q, 0);
  }

  /** Stages buf[p, q) to the blocks in pblks, from its k-th block on: each run of neighbouring blocks in one piece. */
  private stageRun(buf: Uint8Array, p: number, q: number, k: number): number | Promise<number> {
    const bsize = this.fs.bsize;
    const pblks = this.pblks;
    const count = Math.ceil((q - p) / bsize);
    if (pblks.length !== count) return EINTEGRITY;
    while (k < count) {
      let j = k + 1;
      while (j < count && pblks[j] === pblks[k] + (j - k)) j++;
      const w = this.stage.put(pblks[k], buf, p + k * bsize, Math.min(q, p + j * bsize));
      k = j;
      if (w !== undefined) {
        const next = k;
        return w.then(() => this.stageRun(buf, p, q, next));
      }
    }
    return 0;
  }

  /** Blocks [lbn, lbn + count) of ip allocated, their numbers into pblks, RESERVE blocks and those promised left free. */
  private async alloc(ip: Inode, lbn: number, count: number, pblks: number[], promised = false): Promise<number> {
    if (this.fs.sb.freeBlocksCount < count + RESERVE + (promised ? this.promised - count : this.promised)) return ENOSPC;
    const r = await ext2AllocRange(this.mp, ip, lbn, count, (_l, pblk) => pblks.push(pblk));
    if (r.error !== 0) return r.error;
    return pblks.length === count ? 0 : EINTEGRITY;
  }

  /** A directory's children made and its blocks written; false when its blocks could not be had (nothing made). */
  private async dirData(listed: { children: TreeNode[]; names: Uint8Array[] }, ip: Inode, parentIno: number, path: string): Promise<boolean> {
    const fs = this.fs;
    const { children, names } = listed;
    const plan = ext2DirPlan(fs, names);
    let subdirs = 0;
    for (const c of children) if (c.type === 'dir') subdirs++;
    const dirNlink = (fs.sb.featureRoCompat & RO_COMPAT_DIR_NLINK) !== 0;
    if (2 + subdirs > ext2LinkMax(ip) && !(dirNlink && plan.version >= 0)) {
      this.fail(EMLINK);
      return false;
    }
    // Its blocks are promised now and allocated once its children are made: next to their bytes, in one write with them.
    if (this.fs.sb.freeBlocksCount < plan.blocks + RESERVE + this.promised) {
      this.fail(ENOSPC);
      return false;
    }
    this.promised += plan.blocks;
    const inos = new Uint32Array(children.length);
    const fts = new Uint8Array(children.length);
    let dirs = 0;
    for (let i = 0; i < children.length && this.stop.error === 0; i++) {
      const c = children[i];
      const at = `${path}/${c.name}`;
      const m = await this.makeOne(c, ip.ino, at);
      this.stoppedIn(at);
      inos[i] = m.ino;
      fts[i] = m.ft;
      if (m.newDir) dirs++;
    }
    const pblks: number[] = [];
    const e = await this.alloc(ip, 0, plan.blocks, pblks, true);
    this.promised -= plan.blocks;
    if (e !== 0) {
      // Only a damaged bitmap or a failing device gets here (the blocks were promised): the children stay unnamed, for e2fsck.
      this.fail(e);
      return false;
    }
    const blocks = ext2DirRender(fs, plan, names, inos, fts, ip.ino, ip.din.generation, parentIno);
    for (let k = 0; k < blocks.length; k++) await this.stage.put(pblks[k], blocks[k], 0, fs.bsize);
    ip.size = plan.blocks * fs.bsize;
    if (plan.version >= 0) ip.din.flags |= EXT2_INDEX_FL;
    const links = 2 + dirs;
    ip.din.linksCount = links > ext2LinkLimits.dirNlink && dirNlink ? 1 : links;
    return true;
  }

  /** A symlink's target: in i_block when shorter than it, else in one block. false: nothing made. */
  private async symlinkData(node: TreeNode, ip: Inode): Promise<boolean> {
    let t: Uint8Array;
    try {
      t = nameEncode(this.src.readlink(node));
    } catch (e) {
      this.fail(EINVAL, e);
      return false;
    }
    const bad = ext2SymlinkTargetError(this.fs, t);
    if (bad !== 0) {
      this.fail(bad);
      return false;
    }
    if (t.length < EXT2_IBLOCK_BYTES) {
      ext2FastSymlink(ip, t);
      return true;
    }
    ip.size = t.length;
    const pblks: number[] = [];
    const e = await this.alloc(ip, 0, 1, pblks);
    if (e !== 0) {
      this.fail(e);
      return false;
    }
    await this.stage.put(pblks[0], t, 0, t.length);
    return true;
  }
}

/** Whether b[from, to) is all zeros. */
function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}
