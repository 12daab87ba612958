/*
 * vmpager stat [--json] IMAGE PATH: the inode's fields and its block map as
 * runs of device blocks (holes shown as runs without a physical block).
 */

import { escapeName } from './context.js';
import type { FileStat } from '../api/mounted_fs.js';
import type { PartitionInfo } from '../api/partitions.js';

/** A time as ISO 8601, to the nanosecond where the file system keeps nanoseconds. */
function time(t: number, nsec?: number): string {
  const d = new Date(t * 1000);
  if (Number.isNaN(d.getTime())) return String(t); // (past what a Date holds)
  const iso = d.toISOString();
  return nsec === undefined ? iso : `${iso.slice(0, 19)}.${String(nsec).padStart(9, '0')}Z`;
}

/** Fields of `extra` already printed from the common ones. */
const shown = new Set(['flags', 'links', 'generation', 'size', 'mode', 'major', 'minor']);

/** What the type bits of a mode name (cf. stat(1)'s %F). */
export function kindOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o100000: return 'regular file';
    case 0o040000: return 'directory';
    case 0o120000: return 'symbolic link';
    case 0o020000: return 'character device';
    case 0o060000: return 'block device';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return 'unknown';
  }
}

export function formatStat(path: string, st: FileStat, partition: PartitionInfo | null = null): string {
  const kind = kindOf(st.mode);
  const dev = kind.endsWith('device') ? ` ${String(st.extra.major ?? st.rdev >>> 8)},${String(st.extra.minor ?? st.rdev & 0xff)}` : '';
  const lines = [
    `path: ${escapeName(path)}`,
    `type: ${kind}${dev}`,
    `inode: ${st.ino}`,
    `size: ${st.size}`,
    `mode: 0${st.mode.toString(8).padStart(6, '0')}`,
    `links: ${st.nlink}`,
    `uid: ${st.uid}  gid: ${st.gid}`,
    `bytes allocated: ${st.bytes}`,
    `generation: ${st.gen}`,
    `flags: 0x${st.flags.toString(16)}`,
    `atime: ${time(st.atime, st.atimeNsec)}`,
    `mtime: ${time(st.mtime, st.mtimeNsec)}`,
    `ctime: ${time(st.ctime, st.ctimeNsec)}`,
  ];
  if (st.birthtime) lines.push(`crtime: ${time(st.birthtime, st.birthtimeNsec)}`);
  for (const [k, v] of Object.entries(st.extra)) if (!shown.has(k)) lines.push(`${k}: ${String(v)}`);
  lines.push(`block size: ${st.blockSize}`);
  // The map stays in the file system's own addresses; say where they count from.
  if (partition !== null) lines.push(`partition: ${partition.index}, starts at byte ${partition.start} of the disk (block addresses count from there)`);
  // Addresses count fragments where blocks are split (UFS): a block spans `per` of them.
  const per = st.blockSize / st.addressSize;
  if (per !== 1) lines.push(`address unit: ${st.addressSize}-byte fragment (${per} per block)`);
  lines.push(`block map (${st.blockMap.length} run${st.blockMap.length === 1 ? '' : 's'}):`);
  for (const r of st.blockMap) {
    const logical = r.count === 1 ? `${r.logical}` : `${r.logical}-${r.logical + r.count - 1}`;
    const physical = r.physical === null ? 'hole' : r.count * per === 1 ? `${r.physical}` : `${r.physical}-${r.physical + r.count * per - 1}`;
    lines.push(`  ${logical} -> ${physical} (${r.count} block${r.count === 1 ? '' : 's'})`);
  }
  if (st.blockMapTruncated) lines.push('  ... (block map cut short)');
  return lines.join('\n') + '\n';
}

export function statJson(path: string, st: FileStat, partition: PartitionInfo | null = null): unknown {
  return partition === null ? { path, ...st } : { path, ...st, partition: { index: partition.index, start: partition.start } };
}
