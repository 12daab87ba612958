/*
 * Partitions for the library and the command line: the table walk of
 * dev/part.ts, what file system each partition holds (found by a read-only
 * mount of it, so every file system fs_probe.ts knows shows up here), and
 * the choice of the partition a mount uses.
 *   await listPartitions(dev) => { error, reason, parts, warnings }
 *   await choosePartition(dev, '2' | '1a' | 'rootfs' | undefined) => { error, reason, dev, partition, warnings }
 */

import { EINVAL, ENOENT, ENXIO } from '../kern/errno.js';
import type { BlockDevice } from '../dev/device.js';
import { type PartEntry, readPartitions } from '../dev/part.js';
import { SliceDevice } from '../dev/slice.js';
import { mountFileSystem } from './fs_probe.js';

/** A partition type's name for people ("Linux", "EFI System", "freebsd-ufs"). */
export { partTypeName } from '../dev/part_types.js';

export interface PartitionInfo {
  /** '2', '5', '15', '1a', or 'a' in a bare disklabel: what `partition` takes. */
  index: string;
  scheme: 'mbr' | 'gpt' | 'bsd';
  /** The MBR type byte ('0x83'), the GPT type GUID, or the BSD fstype name ('4.2BSD'). */
  type: string;
  /** Bytes from the start of the disk. */
  start: number;
  /** Bytes. */
  size: number;
  /** The GPT partition name, else the file system's label, else null. */
  name: string | null;
  /** The file system vmpager finds there ('ext4', 'ufs2', ...), or null. */
  fs: string | null;
}

/** The partitions of a disk, with the warnings its tables gave. */
export type Partitions = PartitionInfo[] & { warnings: readonly string[] };

/** What a partition holds: the type and label a read-only mount finds. => may sleep */
async function probeFs(dev: BlockDevice): Promise<{ fs: string | null; label: string | null }> {
  const r = await mountFileSystem(dev, { readOnly: true });
  if (r.error !== 0 || r.mp === null) return { fs: null, label: null };
  const { fstype, label } = r.mp.stat;
  await r.mp.op.unmount(r.mp);
  return { fs: fstype, label: label === '' ? null : label };
}

function info(e: PartEntry, fs: string | null, label: string | null): PartitionInfo {
  return { index: e.index, scheme: e.scheme, type: e.type, start: e.start, size: e.size, name: e.name ?? label, fs };
}

/** Every partition's info, probing each one that is not a container. => may sleep */
async function probeAll(dev: BlockDevice, entries: readonly PartEntry[]): Promise<PartitionInfo[]> {
  const out: PartitionInfo[] = [];
  for (const e of entries) {
    const p = e.container ? { fs: null, label: null } : await probeFs(new SliceDevice(dev, e.start, e.size));
    out.push(info(e, p.fs, p.label));
  }
  return out;
}

/** Every partition of dev, nested labels included; none for a device without a partition table. => may sleep */
export async function listPartitions(dev: BlockDevice): Promise<{ error: number; reason: string; parts: PartitionInfo[]; warnings: string[] }> {
  const t = await readPartitions(dev);
  if (t.error !== 0 || t.entries === null) return { error: t.error, reason: t.reason, parts: [], warnings: t.warnings };
  return { error: 0, reason: '', parts: await probeAll(dev, t.entries), warnings: t.warnings };
}

export interface ChosenPartition {
  error: number;
  reason: string;
  /** The slice to mount, or dev itself when it has no partition table. */
  dev: BlockDevice | null;
  partition: PartitionInfo | null;
  warnings: string[];
}

const quoted = (p: PartitionInfo) => (p.name !== null ? ` "${p.name}"` : '');

/**
 * The device a mount of dev uses. wanted: a partition's index ('2', '1a')
 * or a GPT name / file-system label (exactly, else without regard to case); undefined: the one partition holding a
 * file system vmpager reads (an error when none or several do), or dev
 * itself when it has no partition table. => may sleep
 */
export async function choosePartition(dev: BlockDevice, wanted: string | undefined): Promise<ChosenPartition> {
  const t = await readPartitions(dev);
  const warnings = t.warnings;
  // A failure is one line: what the tables' checks found goes into it.
  const fail = (error: number, reason: string): ChosenPartition => ({ error, reason: [reason, ...warnings].join('; '), dev: null, partition: null, warnings });
  if (t.error !== 0) return fail(t.error, t.reason);
  if (t.entries === null) {
    if (wanted !== undefined) return fail(ENXIO, `no partition table, so no partition '${wanted}' (a bare file system image is mounted without one)`);
    return { error: 0, reason: '', dev, partition: null, warnings };
  }
  const entries = t.entries;
  const chosen = (e: PartEntry, p: PartitionInfo): ChosenPartition => ({ error: 0, reason: '', dev: new SliceDevice(dev, e.start, e.size), partition: p, warnings });

  if (wanted !== undefined) {
    const e = entries.find((x) => x.index === wanted);
    if (e !== undefined) {
      if (e.container) {
        const inside = entries.filter((x) => x !== e && x.start >= e.start && x.start < e.start + e.size).map((x) => x.index);
        return fail(EINVAL, `partition ${e.index} holds other partitions (${inside.join(', ') || 'none'}), not a file system`);
      }
      return chosen(e, info(e, null, null));
    }
    const parts = await probeAll(dev, entries);
    // The name as given; failing that, without regard to case (FAT labels are upper case, people type lower).
    let named = parts.filter((p) => p.name === wanted);
    if (named.length === 0) named = parts.filter((p) => p.name !== null && p.name.toLowerCase() === wanted.toLowerCase());
    if (named.length === 1) return chosen(entries[parts.indexOf(named[0])], named[0]);
    if (named.length > 1) return fail(EINVAL, `partitions ${named.map((p) => p.index).join(', ')} are all named '${wanted}'; choose one by number`);
    return fail(ENOENT, `no partition '${wanted}' (partitions: ${parts.map((p) => p.index + quoted(p)).join(', ')})`);
  }

  const parts = await probeAll(dev, entries);
  const withFs = parts.filter((p) => p.fs !== null);
  if (withFs.length === 1) return chosen(entries[parts.indexOf(withFs[0])], withFs[0]);
  if (withFs.length === 0) {
    return fail(EINVAL, `no partition holds a file system vmpager reads (partitions: ${parts.map((p) => p.index).join(', ') || 'none'})`);
  }
  const list = withFs.map((p) => `${p.index}: ${p.fs}${quoted(p)}`).join(', ');
  return fail(EINVAL, `${withFs.length} partitions hold file systems (${list}); choose one with --partition`);
}
