/*
 * The partition-table walk (cf. FreeBSD GEOM's part class tasting each
 * scheme, Linux's check_partition): what tables a device holds, nested
 * labels included, as a flat list of byte windows.
 *   const { error, reason, entries, warnings } = await readPartitions(dev)
 *   entries null: no partition table (a bare file system, or nothing).
 * One read of the disk's first 32 KiB finds an MBR, a GPT (its header and
 * entry array, for 512- and 4096-byte sectors), or a bare BSD disklabel;
 * then one small read per EBR and per nested disklabel. Every entry is
 * bounded by the disk: one starting past the end is dropped, one running
 * past it is cut at the end, overlaps are reported (warnings).
 */

import { EINTEGRITY } from '../kern/errno.js';
import { type BlockDevice } from './device.js';
import { BSD_LABEL_SECTOR, bsdDecode, hasBsdMagic } from './part_bsd.js';
import { GPT_MAX_ARRAY, type GptHeader, gptArrayCheck, gptEntriesDecode, gptHeaderDecode, hasGptSignature } from './part_gpt.js';
import { mbrDecode, mbrLogicals } from './part_mbr.js';
import { GPT_FREEBSD_LABEL, MBR_BSD_SLICE, MBR_EXTENDED, MBR_GPT_PROTECTIVE, bsdFstypeName, mbrTypeString } from './part_types.js';

export type PartScheme = 'mbr' | 'gpt' | 'bsd';

export interface PartEntry {
  /** As Linux and `vmpager parts` number it: '2', '5', '1a', or 'a' in a bare disklabel. */
  index: string;
  scheme: PartScheme;
  /** '0x83', the GPT type GUID, or the BSD fstype name (partTypeName() names it for people). */
  type: string;
  /** Bytes from the start of the disk. */
  start: number;
  size: number;
  /** The GPT partition name; null elsewhere or when empty. */
  name: string | null;
  /** An extended partition or a slice holding a disklabel: its contents are other entries. */
  container: boolean;
}

export interface PartTableResult {
  error: number;
  reason: string;
  entries: PartEntry[] | null;
  warnings: string[];
}

/** Bytes read first: sector 0 and, for 512- and 4096-byte sectors, the GPT header and a 128-entry array. */
export const HEAD_BYTES = 32 * 1024;
const MBR_SECTOR = 512;
const MAX_OVERLAP_WARNINGS = 4;

/** Reads [off, off + n) of dev into a new buffer. => n bounded by the caller */
async function readAt(dev: BlockDevice, off: number, n: number): Promise<{ error: number; b: Uint8Array }> {
  const b = new Uint8Array(n);
  return { error: await dev.readv([b], off), b };
}

/** Walks dev's partition tables. => may sleep */
export async function readPartitions(dev: BlockDevice): Promise<PartTableResult> {
  const warnings: string[] = [];
  const headLen = Math.min(HEAD_BYTES, Math.floor(dev.size / MBR_SECTOR) * MBR_SECTOR);
  if (headLen < 2 * MBR_SECTOR) return { error: 0, reason: '', entries: null, warnings };
  const { error, b: head } = await readAt(dev, 0, headLen);
  if (error !== 0) return { error, reason: 'cannot read the start of the image (partition table or superblock)', entries: null, warnings };

  const mbr = mbrDecode(head.subarray(0, MBR_SECTOR));
  const gptSig = hasGptSignature(head, 512) || hasGptSignature(head, 4096);
  let entries: PartEntry[];
  if (mbr !== null && mbr.some((e) => e.type === MBR_GPT_PROTECTIVE)) {
    const g = await gptRead(dev, head, warnings);
    if (g.error !== 0) return { error: g.error, reason: g.reason, entries: null, warnings };
    entries = g.entries;
  } else if (mbr === null && gptSig) {
    const g = await gptRead(dev, head, warnings);
    if (g.error !== 0) return { error: g.error, reason: g.reason, entries: null, warnings };
    warnings.push('a GPT without a protective MBR');
    entries = g.entries;
  } else if (mbr !== null) {
    entries = [];
    let nextLogical = 5;
    const primaries: PartEntry[] = [];
    for (const e of mbr) {
      const p = place(mbrEntry(String(e.number), e.type, e.lbaStart, e.lbaSize), dev.size, warnings);
      if (p !== null) primaries.push(p);
    }
    overlaps(primaries, warnings);
    for (const p of primaries) {
      entries.push(p);
      if (!p.container) continue;
      const ext = mbr.find((e) => String(e.number) === p.index)!;
      const r = await mbrLogicals(dev, { ...ext, lbaSize: p.size / MBR_SECTOR }, MBR_SECTOR, warnings, nextLogical);
      nextLogical += r.logicals.length;
      if (r.error !== 0) return { error: r.error, reason: 'cannot read an extended boot record', entries: null, warnings };
      const logicals: PartEntry[] = [];
      for (const l of r.logicals) {
        const q = place(mbrEntry(String(l.number), l.type, l.lbaStart, l.lbaSize), dev.size, warnings);
        if (q !== null) logicals.push(q);
      }
      overlaps(logicals, warnings);
      entries.push(...logicals);
    }
    entries.sort((a, b) => Number(a.index) - Number(b.index));
  } else if (hasBsdMagic(head.subarray(MBR_SECTOR * BSD_LABEL_SECTOR, MBR_SECTOR * (BSD_LABEL_SECTOR + 1)))) {
    const whole = { index: '', start: 0, size: dev.size };
    const bsd = bsdEntries(whole, head.subarray(MBR_SECTOR, 2 * MBR_SECTOR), warnings);
    if (bsd === null) return { error: 0, reason: '', entries: null, warnings };
    return { error: 0, reason: '', entries: bsd, warnings };
  } else {
    return { error: 0, reason: '', entries: null, warnings };
  }

  // Nested disklabels: in BSD slices of an MBR, in freebsd partitions of a GPT (one read each).
  const out: PartEntry[] = [];
  for (const e of entries) {
    out.push(e);
    const bsdSlice = e.scheme === 'mbr' ? MBR_BSD_SLICE.has(parseInt(e.type, 16)) : e.type === GPT_FREEBSD_LABEL;
    if (!bsdSlice || e.size < 2 * MBR_SECTOR) continue;
    const r = await readAt(dev, e.start + MBR_SECTOR * BSD_LABEL_SECTOR, MBR_SECTOR);
    if (r.error !== 0) return { error: r.error, reason: `partition ${e.index}: cannot read its disklabel`, entries: null, warnings };
    const nested = bsdEntries(e, r.b, warnings);
    if (nested === null) continue;
    e.container = true;
    out.push(...nested);
  }
  return { error: 0, reason: '', entries: out, warnings };
}

function mbrEntry(index: string, type: number, lbaStart: number, lbaSize: number): PartEntry {
  return {
    index, scheme: 'mbr', type: mbrTypeString(type), start: lbaStart * MBR_SECTOR,
    size: lbaSize * MBR_SECTOR, name: null, container: MBR_EXTENDED.has(type),
  };
}

/** The entries of the disklabel in sector s of slice, or null when there is none (a warning when it is damaged). */
function bsdEntries(slice: { index: string; start: number; size: number }, s: Uint8Array, warnings: string[]): PartEntry[] | null {
  const { label, reason } = bsdDecode(s);
  const where = slice.index === '' ? 'the disk' : `partition ${slice.index}`;
  if (label === null) {
    if (reason !== '') warnings.push(`${where}: BSD disklabel ignored: ${reason}`);
    return null;
  }
  for (const l of label.skipped) warnings.push(`${where}: disklabel partition ${l} starts before the slice; ignored`);
  const out: PartEntry[] = [];
  for (const p of label.parts) {
    const e: PartEntry = {
      index: slice.index + p.letter, scheme: 'bsd', type: bsdFstypeName(p.fstype),
      start: slice.start + p.offset * label.secsize, size: p.size * label.secsize, name: null, container: false,
    };
    const q = place(e, slice.start + slice.size, warnings, where);
    if (q !== null) out.push(q);
  }
  overlaps(out, warnings);
  return out;
}

/**
 * e bounded by end (the disk's, or its slice's): dropped when it starts
 * at or past end, cut at end when it runs past it (as Linux does).
 */
function place(e: PartEntry, end: number, warnings: string[], where = 'the disk'): PartEntry | null {
  if (!Number.isSafeInteger(e.start) || e.start >= end) {
    warnings.push(`partition ${e.index} starts past the end of ${where}; ignored`);
    return null;
  }
  if (e.start + e.size > end) {
    warnings.push(`partition ${e.index} runs past the end of ${where} (by ${e.start + e.size - end} bytes); cut at the end`);
    e.size = end - e.start;
  }
  return e;
}

/** Warns of entries that share bytes (a few at most). */
function overlaps(entries: readonly PartEntry[], warnings: string[]): void {
  const sorted = [...entries].sort((a, b) => a.start - b.start);
  let n = 0;
  for (let i = 1; i < sorted.length && n < MAX_OVERLAP_WARNINGS; i++) {
    for (let j = i - 1; j >= 0 && n < MAX_OVERLAP_WARNINGS; j--) {
      if (sorted[j].start + sorted[j].size <= sorted[i].start) continue;
      warnings.push(`partitions ${sorted[j].index} and ${sorted[i].index} overlap`);
      n++;
      break;
    }
  }
}

/**
 * The GPT: the primary header (at LBA 1 of 512- or 4096-byte sectors) and
 * its array, else the backup at the disk's last LBA with a warning (cf.
 * g_part_gpt_read); both damaged is EINTEGRITY.
 */
async function gptRead(dev: BlockDevice, head: Uint8Array, warnings: string[]): Promise<{ error: number; reason: string; entries: PartEntry[] }> {
  let primaryWhy = 'no GPT header at LBA 1';
  let sizes = [512, 4096];
  for (const ss of [512, 4096]) {
    if (!hasGptSignature(head, ss) || 2 * ss > head.length) continue;
    sizes = [ss];
    const r = await gptLoad(dev, head, head.subarray(ss, 2 * ss), 1, ss, warnings);
    if (r.error !== 0) return { error: r.error, reason: 'cannot read the GPT', entries: [] };
    if (r.entries !== null) return { error: 0, reason: '', entries: gptPlace(r.entries, dev.size, warnings) };
    primaryWhy = r.reason;
    break;
  }
  let backupWhy = 'no backup header';
  for (const ss of sizes) {
    const last = Math.floor(dev.size / ss) - 1;
    if (last < 2) continue;
    const s = await readAt(dev, last * ss, ss);
    if (s.error !== 0) return { error: s.error, reason: 'cannot read the backup GPT header', entries: [] };
    const r = await gptLoad(dev, head, s.b, last, ss, warnings);
    if (r.error !== 0) return { error: r.error, reason: 'cannot read the GPT', entries: [] };
    if (r.entries !== null) {
      warnings.push(`the primary GPT is damaged (${primaryWhy}); using the backup at LBA ${last}`);
      return { error: 0, reason: '', entries: gptPlace(r.entries, dev.size, warnings) };
    }
    if (hasGptSignature(s.b, 0)) {
      backupWhy = r.reason;
      break;
    }
  }
  return { error: EINTEGRITY, reason: `damaged GPT: primary header: ${primaryWhy}; backup header: ${backupWhy}`, entries: [] };
}

/** One header and its array: decoded, checked, entries made. => s holds LBA lba */
async function gptLoad(dev: BlockDevice, head: Uint8Array, s: Uint8Array, lba: number, ss: number, warnings: string[]): Promise<{ error: number; reason: string; entries: PartEntry[] | null }> {
  const { header, reason } = gptHeaderDecode(s, lba, ss, Math.floor(dev.size / ss));
  if (header === null) return { error: 0, reason, entries: null };
  const a = await gptArray(dev, head, header);
  if (a.error !== 0) return { error: a.error, reason: '', entries: null };
  const why = gptArrayCheck(a.b, header);
  if (why !== '') return { error: 0, reason: why, entries: null };
  const entries = gptEntriesDecode(a.b, header, warnings).map((g): PartEntry => ({
    index: String(g.number), scheme: 'gpt', type: g.typeGuid,
    start: g.firstLba * ss, size: (g.lastLba - g.firstLba + 1) * ss, name: g.name === '' ? null : g.name, container: false,
  }));
  return { error: 0, reason: '', entries };
}

/** The entry array: from the first read when it lies there, else one more read. => h checked (arrayBytes <= GPT_MAX_ARRAY) */
async function gptArray(dev: BlockDevice, head: Uint8Array, h: GptHeader): Promise<{ error: number; b: Uint8Array }> {
  const off = h.entriesLba * h.sectorSize;
  if (off + h.arrayBytes <= head.length) return { error: 0, b: head.subarray(off, off + h.arrayBytes) };
  return readAt(dev, off, Math.min(h.arrayBytes, GPT_MAX_ARRAY));
}

function gptPlace(entries: PartEntry[], end: number, warnings: string[]): PartEntry[] {
  const out: PartEntry[] = [];
  for (const e of entries) {
    const q = place(e, end, warnings);
    if (q !== null) out.push(q);
  }
  overlaps(out, warnings);
  return out;
}
