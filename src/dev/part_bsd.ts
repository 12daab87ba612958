/*
 * The BSD disklabel (cf. <sys/disklabel.h>, FreeBSD g_part_bsd): in the
 * second sector of a slice (or of a bare disk), magic 0x82564557 in d_magic
 * and d_magic2, a 16-bit XOR checksum over the label up to the end of
 * d_partitions[d_npartitions], and up to 22 partitions `a`, `b`, ... whose
 * offsets count from the disk's start or the slice's: the raw partition `c`
 * says which (cf. g_part_bsd_read). `c` itself is not listed.
 *   bsdDecode(sector) => { label } | { label: null, reason } (reason '' when there is none)
 */

export const BSD_DISKMAGIC = 0x82564557;
/** The label is in this sector of its slice (LABELSECTOR). */
export const BSD_LABEL_SECTOR = 1;
const PARTITIONS_OFF = 148;
/** All that fit in a 512-byte sector. */
const MAX_PARTITIONS = 22;
const RAW_PART = 2;

export interface BsdPart {
  /** 'a', 'b', ... */
  letter: string;
  fstype: number;
  /** In d_secsize sectors, relative to the slice. */
  offset: number;
  size: number;
}

export interface BsdLabel {
  secsize: number;
  parts: BsdPart[];
  /** Partitions dropped because they start before the slice. */
  skipped: string[];
}

/** True when sector s begins with a disklabel's two magics. */
export function hasBsdMagic(s: Uint8Array): boolean {
  if (s.length < PARTITIONS_OFF) return false;
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  return v.getUint32(0, true) === BSD_DISKMAGIC && v.getUint32(132, true) === BSD_DISKMAGIC;
}

/** Decodes and checks the label at the start of s (512 bytes). */
export function bsdDecode(s: Uint8Array): { label: BsdLabel | null; reason: string } {
  if (!hasBsdMagic(s)) return { label: null, reason: '' };
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const npart = v.getUint16(138, true);
  if (npart < 1 || npart > MAX_PARTITIONS || PARTITIONS_OFF + 16 * npart > s.length) return { label: null, reason: `bad partition count ${npart}` };
  let sum = 0;
  for (let o = 0; o < PARTITIONS_OFF + 16 * npart; o += 2) sum ^= v.getUint16(o, true);
  if (sum !== 0) return { label: null, reason: 'bad checksum' };
  const secsize = v.getUint32(40, true);
  if (secsize !== 512 && secsize !== 1024 && secsize !== 2048 && secsize !== 4096) return { label: null, reason: `bad sector size ${secsize}` };
  // Offsets are relative to the raw partition's offset: 0 in a relative label, the slice's start in an absolute one.
  const base = npart > RAW_PART ? v.getUint32(PARTITIONS_OFF + 16 * RAW_PART + 4, true) : 0;
  const parts: BsdPart[] = [];
  const skipped: string[] = [];
  for (let i = 0; i < npart; i++) {
    if (i === RAW_PART) continue;
    const o = PARTITIONS_OFF + 16 * i;
    const size = v.getUint32(o, true);
    const offset = v.getUint32(o + 4, true);
    const letter = String.fromCharCode(0x61 + i);
    if (size === 0) continue;
    if (offset < base) {
      skipped.push(letter);
      continue;
    }
    parts.push({ letter, fstype: s[o + 12], offset: offset - base, size });
  }
  return { label: { secsize, parts, skipped }, reason: '' };
}
