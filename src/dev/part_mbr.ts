/*
 * The MBR partition table (cf. FreeBSD g_part_mbr, Linux msdos.c): four
 * primary entries in sector 0; an extended entry (0x05, 0x0F, 0x85) starts a
 * chain of extended boot records, each holding one logical partition
 * relative to itself and a link relative to the extended partition's start.
 * Logical partitions are numbered from 5 as Linux numbers them.
 *   mbrDecode(sector0) => entries | null;  await mbrLogicals(dev, ext, sectorSize, warnings)
 */

import { type BlockDevice } from './device.js';
import { MBR_EXTENDED } from './part_types.js';

export const MBR_SIGNATURE_OFF = 510;
const ENTRIES_OFF = 446;
/** The longest EBR chain followed (Linux stops at a fixed count too). */
export const MAX_LOGICAL = 128;

export interface MbrEntry {
  /** 1..4 in the MBR; 5.. for logical partitions. */
  number: number;
  type: number;
  /** Absolute, in sectors. */
  lbaStart: number;
  lbaSize: number;
}

function hasSignature(s: Uint8Array): boolean {
  return s.length >= 512 && s[MBR_SIGNATURE_OFF] === 0x55 && s[MBR_SIGNATURE_OFF + 1] === 0xaa;
}

function decodeEntries(s: Uint8Array): Array<{ status: number; type: number; lbaStart: number; lbaSize: number }> {
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const out = [];
  for (let i = 0; i < 4; i++) {
    const o = ENTRIES_OFF + 16 * i;
    out.push({ status: s[o], type: s[o + 4], lbaStart: v.getUint32(o + 8, true), lbaSize: v.getUint32(o + 12, true) });
  }
  return out;
}

/**
 * True when s is the boot sector of a FAT or NTFS file system (a jump, a
 * sane bytes-per-sector, the file system's name where its BPB keeps it):
 * it carries 0x55AA too, and its boot code where an MBR's entries would be.
 */
function isFsBootSector(s: Uint8Array): boolean {
  const jump = (s[0] === 0xeb && s[2] === 0x90) || s[0] === 0xe9;
  const bps = s[11] | (s[12] << 8);
  if (!jump || (bps !== 512 && bps !== 1024 && bps !== 2048 && bps !== 4096)) return false;
  const text = (o: number, n: number) => String.fromCharCode(...s.subarray(o, o + n));
  return text(3, 4) === 'NTFS' || text(0x36, 3) === 'FAT' || text(0x52, 3) === 'FAT';
}

/**
 * The primary entries of sector 0, or null when it holds no MBR: no 0x55AA
 * signature, a file system's boot sector, a boot flag other than 0x00/0x80
 * (boot code where the entries would be), or not one entry in use.
 */
export function mbrDecode(s: Uint8Array): MbrEntry[] | null {
  if (!hasSignature(s) || isFsBootSector(s)) return null;
  const raw = decodeEntries(s);
  if (raw.some((e) => e.status !== 0 && e.status !== 0x80)) return null;
  const out: MbrEntry[] = [];
  raw.forEach((e, i) => {
    if (e.type !== 0 && e.lbaSize !== 0) out.push({ number: i + 1, type: e.type, lbaStart: e.lbaStart, lbaSize: e.lbaSize });
  });
  return out.length > 0 ? out : null;
}

/**
 * Walks the EBR chain of the extended partition ext, numbering its logical
 * partitions from firstNumber (5, or on after another extended partition's): one sector read per
 * EBR, at most MAX_LOGICAL of them; a link that points back at an EBR
 * already read, or out of the extended partition, ends the walk with a
 * warning, keeping what was found. => may sleep
 */
export async function mbrLogicals(dev: BlockDevice, ext: MbrEntry, ss: number, warnings: string[], firstNumber = 5): Promise<{ error: number; logicals: MbrEntry[] }> {
  const logicals: MbrEntry[] = [];
  const seen = new Set<number>();
  const extEnd = ext.lbaStart + ext.lbaSize;
  let at = ext.lbaStart;
  let number = firstNumber;
  for (let hops = 0; ; hops++) {
    if (hops >= MAX_LOGICAL) {
      warnings.push(`extended partition ${ext.number}: more than ${MAX_LOGICAL} logical partitions; the rest are ignored`);
      break;
    }
    if (seen.has(at)) {
      warnings.push(`extended partition ${ext.number}: its chain of boot records loops back to sector ${at}; stopped there`);
      break;
    }
    seen.add(at);
    if ((at + 1) * ss > dev.size) {
      warnings.push(`extended partition ${ext.number}: a boot record at sector ${at} lies past the end of the disk; stopped there`);
      break;
    }
    const s = new Uint8Array(ss);
    const error = await dev.readv([s], at * ss);
    if (error !== 0) return { error, logicals };
    if (!hasSignature(s)) {
      if (hops > 0) warnings.push(`extended partition ${ext.number}: no boot record signature at sector ${at}; stopped there`);
      break;
    }
    let next = -1;
    for (const e of decodeEntries(s)) {
      if (e.type === 0 || e.lbaSize === 0) continue;
      if (MBR_EXTENDED.has(e.type)) {
        if (next < 0) next = ext.lbaStart + e.lbaStart;
        continue;
      }
      const lbaStart = at + e.lbaStart;
      if (lbaStart < ext.lbaStart || lbaStart + e.lbaSize > extEnd) {
        warnings.push(`partition ${number} lies outside its extended partition ${ext.number}`);
      }
      logicals.push({ number: number++, type: e.type, lbaStart, lbaSize: e.lbaSize });
    }
    if (next < 0) break;
    if (next >= extEnd) {
      warnings.push(`extended partition ${ext.number}: a link to sector ${next} leaves the extended partition; stopped there`);
      break;
    }
    at = next;
  }
  return { error: 0, logicals };
}
