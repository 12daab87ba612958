/*
 * The GUID partition table (cf. FreeBSD g_part_gpt, UEFI 2.x chapter 5):
 * a header in LBA 1 and its backup in the disk's last LBA, each with a
 * CRC32 of itself and of the entry array it points at. LBAs count logical
 * sectors of 512 or 4096 bytes: the header is looked for at both.
 *   gptHeaderDecode(bytes, lba, ss, diskSectors) => { header } | { reason }
 *   gptEntriesDecode(array, header) => entries (slot numbers from 1)
 */

import { crc32 } from '../kern/crc32.js';

export const GPT_SIGNATURE = 'EFI PART';
const HEADER_MIN = 92;
/** The largest entry array read (the usual one is 16 KiB). */
export const GPT_MAX_ARRAY = 1 << 20;

export interface GptHeader {
  sectorSize: number;
  myLba: number;
  alternateLba: number;
  firstUsable: number;
  lastUsable: number;
  entriesLba: number;
  numEntries: number;
  entrySize: number;
  entriesCrc: number;
  /** Bytes of the entry array. */
  arrayBytes: number;
}

export interface GptEntry {
  /** The slot's number, from 1 (the number Linux gives the partition). */
  number: number;
  typeGuid: string;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  name: string;
}

const u64 = (v: DataView, o: number) => Number(v.getBigUint64(o, true));

export function hasGptSignature(b: Uint8Array, off: number): boolean {
  if (off + 8 > b.length) return false;
  for (let i = 0; i < 8; i++) if (b[off + i] !== GPT_SIGNATURE.charCodeAt(i)) return false;
  return true;
}

/**
 * Decodes and checks the header in sector bytes `s` read from LBA `lba`:
 * signature, size, its own CRC32, that it says it is where it was found,
 * and every LBA and count bounded by the disk. => s.length === ss
 */
export function gptHeaderDecode(s: Uint8Array, lba: number, ss: number, diskSectors: number): { header: GptHeader | null; reason: string } {
  const bad = (reason: string) => ({ header: null, reason });
  if (!hasGptSignature(s, 0)) return bad('no GPT signature');
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const headerSize = v.getUint32(12, true);
  if (headerSize < HEADER_MIN || headerSize > ss) return bad(`bad header size ${headerSize}`);
  const h = s.slice(0, headerSize);
  const stored = v.getUint32(16, true);
  h.fill(0, 16, 20);
  if (crc32(h) !== stored) return bad('header CRC32 mismatch');
  const myLba = u64(v, 24);
  const header: GptHeader = {
    sectorSize: ss,
    myLba,
    alternateLba: u64(v, 32),
    firstUsable: u64(v, 40),
    lastUsable: u64(v, 48),
    entriesLba: u64(v, 72),
    numEntries: v.getUint32(80, true),
    entrySize: v.getUint32(84, true),
    entriesCrc: v.getUint32(88, true),
    arrayBytes: 0,
  };
  if (myLba !== lba) return bad(`header says it is at LBA ${myLba}, found at LBA ${lba}`);
  if (header.entrySize < 128 || header.entrySize % 8 !== 0 || header.entrySize > 4096) return bad(`bad entry size ${header.entrySize}`);
  if (header.numEntries < 1 || header.numEntries * header.entrySize > GPT_MAX_ARRAY) {
    return bad(`absurd entry array (${header.numEntries} entries of ${header.entrySize} bytes)`);
  }
  header.arrayBytes = header.numEntries * header.entrySize;
  const arraySectors = Math.ceil(header.arrayBytes / ss);
  if (header.entriesLba < 2 && lba === 1 || header.entriesLba + arraySectors > diskSectors) return bad(`entry array at LBA ${header.entriesLba} lies outside the disk`);
  if (header.firstUsable > header.lastUsable + 1 || header.lastUsable >= diskSectors) return bad('usable LBAs outside the disk');
  return { header, reason: '' };
}

/** The GUID as text (its first three fields are little-endian on disk). */
export function guidString(b: Uint8Array, o: number): string {
  const hex = (i: number) => b[o + i].toString(16).padStart(2, '0');
  const part = (idx: number[]) => idx.map(hex).join('');
  return `${part([3, 2, 1, 0])}-${part([5, 4])}-${part([7, 6])}-${part([8, 9])}-${part([10, 11, 12, 13, 14, 15])}`.toUpperCase();
}

/** Checks the array's CRC32 against the header's; '' when it matches. */
export function gptArrayCheck(array: Uint8Array, h: GptHeader): string {
  return crc32(array.subarray(0, h.arrayBytes)) === h.entriesCrc ? '' : 'entry array CRC32 mismatch';
}

/** The entries in use (type GUID not zero), slot numbers from 1. => gptArrayCheck passed */
export function gptEntriesDecode(array: Uint8Array, h: GptHeader, warnings: string[]): GptEntry[] {
  const v = new DataView(array.buffer, array.byteOffset, array.byteLength);
  const out: GptEntry[] = [];
  for (let i = 0; i < h.numEntries; i++) {
    const o = i * h.entrySize;
    if (array.subarray(o, o + 16).every((b) => b === 0)) continue;
    const firstLba = u64(v, o + 32);
    const lastLba = u64(v, o + 40);
    if (lastLba < firstLba) {
      warnings.push(`GPT entry ${i + 1} ends before it starts (LBA ${firstLba} to ${lastLba}); ignored`);
      continue;
    }
    let end = 0;
    while (end < 36 && v.getUint16(o + 56 + 2 * end, true) !== 0) end++;
    const name = new TextDecoder('utf-16le').decode(array.subarray(o + 56, o + 56 + 2 * end));
    out.push({ number: i + 1, typeGuid: guidString(array, o), firstLba, lastLba, name });
  }
  return out;
}
