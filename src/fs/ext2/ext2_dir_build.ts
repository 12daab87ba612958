/*
 * A whole directory laid out at once, for a directory made with all its
 * names known (ext2_populate.ts; cf. e2fsck's rehash, which packs a
 * directory the same way): the blocks are planned from the names before
 * any inode is numbered, then rendered once the inodes are known.
 *   - Linear: "." and ".." then every name in order, each block's last
 *     entry spanning to its end (or to the checksum tail).
 *   - Indexed, where dir_index is on and the names need more than one
 *     block (the kernel indexes a directory that grows past one): names
 *     sorted by hash into full leaves, the root's entries pointing at them,
 *     or, past the root's limit, at one level of index nodes (a name whose
 *     hash equals the last one of the leaf before is marked continued, as
 *     a split leaves it). More than two levels: linear instead.
 *   const plan = ext2DirPlan(fs, names); ... const blocks = ext2DirRender(fs, plan, ino, gen, parent, inos, fts)
 */

import { EXT2_FT_DIR, direntRecLen, encodeRecLen } from './ext2_fs.js';
import type { Ext2Fs } from './ext2_mount.js';
import { dirCsumSet, dirTailInit } from './ext2_csum.js';
import { putEntry, usable } from './ext2_dir_block.js';
import { ext2Dirhash, EXT2_FLAGS_UNSIGNED_HASH, EXT2_HTREE_UNSIGNED } from './ext2_htree_hash.js';
import { NODE_COUNT, ROOT_COUNT, ROOT_INFO, nodeLimit } from './ext2_htree.js';

const COMPAT_DIR_INDEX = 0x20;
const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);

/** Where each name goes: leaves[k] lists the names (indexes into the caller's array) of leaf block k. */
export interface DirPlan {
  /** Blocks the directory takes (the root and index nodes of an indexed one included). */
  blocks: number;
  /** Indexed: the hash version written in the root; -1 for a linear directory. */
  version: number;
  /** The names of each leaf, in order. Linear: leaf k is block k. Indexed: leaf k is block 1 + nodes + k. */
  leaves: number[][];
  /** Indexed: the hash (with the continued bit) each leaf starts at; leaf 0's is 0. */
  starts: number[];
  /** Indexed: index nodes below the root (0 for one level). */
  nodes: number;
}

/** The plan of a directory holding `names` (besides "." and ".."). */
export function ext2DirPlan(fs: Ext2Fs, names: readonly Uint8Array[]): DirPlan {
  const linear = planLinear(fs, names);
  if (linear.blocks <= 1 || (fs.sb.featureCompat & COMPAT_DIR_INDEX) === 0) return linear;
  return planIndexed(fs, names) ?? linear;
}

function planLinear(fs: Ext2Fs, names: readonly Uint8Array[]): DirPlan {
  const room = usable(fs);
  const leaves: number[][] = [[]];
  let used = direntRecLen(1) + direntRecLen(2);
  for (let i = 0; i < names.length; i++) {
    const len = direntRecLen(names[i].length);
    if (used + len > room) {
      leaves.push([]);
      used = 0;
    }
    leaves[leaves.length - 1].push(i);
    used += len;
  }
  return { blocks: leaves.length, version: -1, leaves, starts: [], nodes: 0 };
}

function planIndexed(fs: Ext2Fs, names: readonly Uint8Array[]): DirPlan | null {
  const stored = fs.sb.defHashVersion <= 2 ? fs.sb.defHashVersion : 1;
  const version = stored < EXT2_HTREE_UNSIGNED && (fs.sb.flags & EXT2_FLAGS_UNSIGNED_HASH) !== 0 ? stored + EXT2_HTREE_UNSIGNED : stored;
  const hashes = new Float64Array(names.length);
  const minors = new Float64Array(names.length);
  for (let i = 0; i < names.length; i++) {
    const h = ext2Dirhash(version, names[i], fs.sb.hashSeed);
    if (h === null) return null;
    hashes[i] = h.hash;
    minors[i] = h.minor;
  }
  const order = Array.from(names.keys()).sort((a, b) => hashes[a] - hashes[b] || minors[a] - minors[b]);
  const room = usable(fs);
  const leaves: number[][] = [[]];
  const starts = [0];
  let used = 0;
  for (const i of order) {
    const len = direntRecLen(names[i].length);
    if (used + len > room) {
      const prev = leaves[leaves.length - 1];
      const last = hashes[prev[prev.length - 1]];
      leaves.push([]);
      starts.push(hashes[i] === last ? hashes[i] + 1 : hashes[i]); // the low bit: continued from the leaf before
      used = 0;
    }
    leaves[leaves.length - 1].push(i);
    used += len;
  }
  const rootMax = nodeLimit(fs, ROOT_COUNT);
  const nodeMax = nodeLimit(fs, NODE_COUNT);
  let nodes = 0;
  if (leaves.length > rootMax) {
    nodes = Math.ceil(leaves.length / nodeMax);
    if (nodes > rootMax) return null;
  }
  return { blocks: 1 + nodes + leaves.length, version: stored, leaves, starts, nodes };
}

/**
 * The directory's blocks: inos[i] and fts[i] are name i's inode and file
 * type (an inode 0 leaves its name out: a linear directory's space is then
 * merged into the entry before). Checksums (metadata_csum) are stored.
 */
export function ext2DirRender(
  fs: Ext2Fs, plan: DirPlan, names: readonly Uint8Array[], inos: ArrayLike<number>, fts: ArrayLike<number>,
  ino: number, gen: number, parent: number,
): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  if (plan.version < 0) {
    for (let k = 0; k < plan.leaves.length; k++) {
      const head = k === 0 ? [{ name: DOT, ino, ft: EXT2_FT_DIR }, { name: DOTDOT, ino: parent, ft: EXT2_FT_DIR }] : [];
      blocks.push(leaf(fs, head, plan.leaves[k], names, inos, fts));
    }
  } else {
    blocks.push(root(fs, plan, ino, parent));
    const nodeMax = nodeLimit(fs, NODE_COUNT);
    for (let n = 0; n < plan.nodes; n++) {
      const first = n * nodeMax;
      const count = Math.min(nodeMax, plan.leaves.length - first);
      blocks.push(indexBlock(fs, NODE_COUNT, nodeMax, count, (j) => plan.starts[first + j], (j) => 1 + plan.nodes + first + j, fs.bsize));
    }
    for (const l of plan.leaves) blocks.push(leaf(fs, [], l, names, inos, fts));
  }
  if (fs.metadataCsum) for (const b of blocks) dirCsumSet(fs, ino, gen, b);
  return blocks;
}

/** One leaf: `head` entries, then the planned names; the last live entry spans the rest. */
function leaf(
  fs: Ext2Fs, head: ReadonlyArray<{ name: Uint8Array; ino: number; ft: number }>, idx: readonly number[],
  names: readonly Uint8Array[], inos: ArrayLike<number>, fts: ArrayLike<number>,
): Uint8Array {
  const b = new Uint8Array(fs.bsize);
  const room = usable(fs);
  let off = 0;
  let lastOff = -1;
  const put = (name: Uint8Array, ino: number, ft: number): void => {
    putEntry(fs, b, off, ino, direntRecLen(name.length), name, ft);
    lastOff = off;
    off += direntRecLen(name.length);
  };
  for (const h of head) put(h.name, h.ino, h.ft);
  for (const i of idx) if (inos[i] !== 0) put(names[i], inos[i], fts[i]);
  const dv = new DataView(b.buffer);
  if (lastOff < 0) dv.setUint16(4, encodeRecLen(room, fs.bsize), true); // an empty leaf: one unused entry spanning it
  else dv.setUint16(lastOff + 4, encodeRecLen(room - lastOff, fs.bsize), true);
  if (fs.metadataCsum) dirTailInit(b);
  return b;
}

/** The root block: "." and ".." (spanning the block), dx_root_info, then the entries of leaves or nodes. */
function root(fs: Ext2Fs, plan: DirPlan, ino: number, parent: number): Uint8Array {
  const nodeMax = nodeLimit(fs, NODE_COUNT);
  const rootMax = nodeLimit(fs, ROOT_COUNT);
  const b = plan.nodes === 0
    ? indexBlock(fs, ROOT_COUNT, rootMax, plan.leaves.length, (j) => plan.starts[j], (j) => 1 + j, 0)
    : indexBlock(fs, ROOT_COUNT, rootMax, plan.nodes, (j) => plan.starts[j * nodeMax], (j) => 1 + j, 0);
  putEntry(fs, b, 0, ino, direntRecLen(1), DOT, EXT2_FT_DIR);
  putEntry(fs, b, 12, parent, fs.bsize - 12, DOTDOT, EXT2_FT_DIR);
  b[ROOT_INFO + 4] = plan.version;
  b[ROOT_INFO + 5] = 8; // info_length
  b[ROOT_INFO + 6] = plan.nodes === 0 ? 0 : 1; // indirect levels
  return b;
}

/**
 * An index block with its count/limit at `co` and `count` entries (entry 0's
 * hash is implied); an interior node starts with one empty entry spanning
 * the block (`span`, 0 for the root, whose "." and ".." the caller writes).
 */
function indexBlock(fs: Ext2Fs, co: number, max: number, count: number, hash: (j: number) => number, block: (j: number) => number, span: number): Uint8Array {
  const b = new Uint8Array(fs.bsize);
  const dv = new DataView(b.buffer);
  if (span !== 0) dv.setUint16(4, encodeRecLen(span, fs.bsize), true);
  dv.setUint16(co, max, true);
  dv.setUint16(co + 2, count, true);
  for (let j = 0; j < count; j++) {
    if (j > 0) dv.setUint32(co + 8 * j, hash(j), true);
    dv.setUint32(co + 8 * j + 4, block(j), true);
  }
  return b;
}
