/*
 * FAT directory entries (cf. FreeBSD direntry.h and msdosfs_conv.c): the
 * 32-byte short entry, 8.3 names in an OEM code page with the NT case flags
 * of byte 12, VFAT long-name entries (UTF-16, 13 units each, checksummed
 * against the short name), DOS timestamps (local time, 2-second and
 * 10-millisecond fields), and for writing: which names FAT can hold, short
 * aliases with ~N tails, and the long-name entries of a name.
 *   name = shortName(raw, off, cp); acc.add(raw, off); acc.take(raw, off)
 */

import { EINVAL, ENAMETOOLONG } from '../../kern/errno.js';
import type { CodePage } from './msdosfs_codepage.js';

export const DIRENT_SIZE = 32;
export const SLOT_EMPTY = 0x00;
export const SLOT_DELETED = 0xe5;
/** A first name byte of 0x05 stands for 0xE5. */
export const SLOT_E5 = 0x05;

export const ATTR_READONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
/** A long-name entry's attribute byte. */
export const ATTR_WIN95 = 0x0f;

/** Byte 12: the base name, the extension, is stored upper case but shown lower (cf. LCASE_BASE/LCASE_EXT). */
export const LCASE_BASE = 0x08;
export const LCASE_EXT = 0x10;

/* Offsets in a short entry. */
export const DE_ATTR = 11;
export const DE_LCASE = 12;
export const DE_CHUNDREDTH = 13;
export const DE_CTIME = 14;
export const DE_CDATE = 16;
export const DE_ADATE = 18;
export const DE_HIGHCLUST = 20;
export const DE_MTIME = 22;
export const DE_MDATE = 24;
export const DE_STARTCLUST = 26;
export const DE_FILESIZE = 28;

/** Long-name entries: the last one's ordinal carries this flag; 20 entries of 13 units at most. */
export const WIN_LAST = 0x40;
export const WIN_CHARS = 13;
export const WIN_MAXLEN = 255;
const WIN_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

export const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
export const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
export function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v & 0xffff);
  put16(b, o + 2, Math.floor(v / 65536) & 0xffff);
}

/** The checksum of an 11-byte short name that its long-name entries carry (cf. winChksum). */
export function winChksum(b: Uint8Array, off: number): number {
  let s = 0;
  for (let i = 0; i < 11; i++) s = ((((s & 1) << 7) | (s >>> 1)) + b[off + i]) & 0xff;
  return s;
}

/**
 * Bytes [off, off+len) of a short name as Unicode through the code page,
 * trailing spaces gone. A control character or '/' (damage: no tool writes
 * them) shows as '_', so that the name stays one path component.
 */
function cpString(b: Uint8Array, off: number, len: number, cp: CodePage, first05: boolean): string {
  let end = len;
  while (end > 0 && b[off + end - 1] === 0x20) end--;
  let s = '';
  for (let i = 0; i < end; i++) {
    const c = i === 0 && first05 && b[off] === SLOT_E5 ? 0xe5 : b[off + i];
    s += c < 0x20 || c === 0x2f || c === 0x7f ? '_' : String.fromCharCode(cp.toUnicode[c]);
  }
  return s;
}

/** The 8.3 name of the short entry at off, as shown: NAME.EXT, lower-cased where byte 12 says. */
export function shortName(b: Uint8Array, off: number, cp: CodePage): string {
  const lcase = b[off + DE_LCASE];
  let base = cpString(b, off, 8, cp, true);
  let ext = cpString(b, off + 8, 3, cp, false);
  if ((lcase & LCASE_BASE) !== 0) base = base.toLowerCase();
  if ((lcase & LCASE_EXT) !== 0) ext = ext.toLowerCase();
  return ext === '' ? base : `${base}.${ext}`;
}

/**
 * Gathers the long-name entries that precede a short entry (cf. winChkName):
 * they must come last-first with ordinals n..1 and one checksum; the name
 * they spell is taken only when that checksum matches the short name.
 */
export class LongNameAcc {
  private units: number[] = [];
  private expect = 0;
  private chksum = -1;

  /** Forgets a partial name (a deleted or other entry came between). */
  reset(): void {
    this.expect = 0;
    this.chksum = -1;
  }

  /** Takes the long-name entry at off. */
  add(b: Uint8Array, off: number): void {
    const ord = b[off];
    const n = ord & 0x3f;
    const sum = b[off + 13];
    if ((ord & WIN_LAST) !== 0) {
      if (n < 1 || n > 20) return this.reset();
      this.units = new Array<number>(n * WIN_CHARS).fill(0xffff);
      this.expect = n;
      this.chksum = sum;
    } else if (this.expect === 0 || n !== this.expect || sum !== this.chksum) {
      return this.reset();
    }
    for (let i = 0; i < WIN_CHARS; i++) this.units[(n - 1) * WIN_CHARS + i] = u16(b, off + WIN_OFFSETS[i]);
    this.expect = n - 1;
    if (b[off + 26] !== 0 || b[off + 27] !== 0 || b[off + 12] !== 0) this.reset();
  }

  /** The long name belonging to the short entry at off, or null; the accumulator is reset. */
  take(b: Uint8Array, off: number): string | null {
    const ok = this.chksum >= 0 && this.expect === 0 && winChksum(b, off) === this.chksum;
    this.reset();
    if (!ok) return null;
    let end = this.units.indexOf(0);
    if (end < 0) end = this.units.length;
    // Before the terminating NUL, no padding, no control character, no '/' (the short name is shown then).
    for (let i = 0; i < end; i++) {
      const u = this.units[i];
      if (u === 0xffff || u < 0x20 || u === 0x2f) return null;
    }
    if (end === 0 || end > WIN_MAXLEN) return null;
    return String.fromCharCode(...this.units.slice(0, end));
  }
}

/** Seconds since the epoch of a DOS date and time in local time (cf. fattime2timespec); 0 for no date. */
export function dosTime(date: number, time: number, hundredths = 0): number {
  if (date === 0) return 0;
  const year = 1980 + (date >>> 9);
  const month = Math.max(1, Math.min(12, (date >>> 5) & 0xf));
  const day = Math.max(1, date & 0x1f);
  const t = new Date(year, month - 1, day, time >>> 11, (time >>> 5) & 0x3f, (time & 0x1f) * 2);
  return Math.floor(t.getTime() / 1000) + Math.floor(Math.min(hundredths, 199) / 100);
}

/** A time in seconds as DOS date, time and hundredths, in local time (cf. timespec2fattime). */
export function unixToDos(sec: number): { date: number; time: number; hundredths: number } {
  let d = new Date(Math.floor(sec) * 1000);
  if (d.getFullYear() < 1980) d = new Date(1980, 0, 1, 0, 0, 0);
  if (d.getFullYear() > 2107) d = new Date(2107, 11, 31, 23, 59, 58);
  const date = ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >>> 1);
  return { date, time, hundredths: (d.getSeconds() & 1) * 100 };
}

/* ---- writing names ---- */

/** Characters a long name may not hold (besides controls): Windows' list. */
const LONG_BAD = new Set([...'"*/:<>?\\|'].map((c) => c.charCodeAt(0)));
/** Characters a short name may not hold (besides those). */
const SHORT_BAD = new Set([...'+,;=[] .'].map((c) => c.charCodeAt(0)));

/** EINVAL or ENAMETOOLONG for a name FAT cannot hold: '/', controls, trailing dots or spaces, too long. */
export function checkLongName(name: string): number {
  if (name === '' || name === '.' || name === '..') return EINVAL;
  if (name.length > WIN_MAXLEN) return ENAMETOOLONG;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || LONG_BAD.has(c)) return EINVAL;
    // A lone surrogate: a byte that was not UTF-8 (kern/namebytes.ts). Long names are UTF-16, which has
    // no place for it (Linux's vfat refuses such a name too); two of them told apart only so were one name.
    if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && i + 1 < name.length && name.charCodeAt(i + 1) >= 0xdc00 && name.charCodeAt(i + 1) <= 0xdfff;
      if (!pair) return EINVAL;
      i++;
    }
  }
  if (name.endsWith('.') || name.endsWith(' ')) return EINVAL;
  return 0;
}

/** One character of a short name, upper-cased into the code page; -1 if it has no place there. */
function shortChar(ch: string, cp: CodePage): number {
  const u = ch.toUpperCase();
  if (u.length !== 1) return -1;
  const c = u.charCodeAt(0);
  if (c < 0x80) return c > 0x20 && !LONG_BAD.has(c) && !SHORT_BAD.has(c) ? c : -1;
  return cp.fromUnicode.get(c) ?? -1;
}

export interface ShortForm {
  /** The 11 bytes, space-padded. */
  name: Uint8Array;
  /** The name is exactly this 8.3 name (no long-name entries needed). */
  exact: boolean;
  /** The conversion dropped or replaced characters: the alias needs a ~N tail. */
  lossy: boolean;
}

/** The short form of a long name (cf. unix2dosfn without the tail). */
export function shortForm(name: string, cp: CodePage): ShortForm {
  const out = new Uint8Array(11).fill(0x20);
  const dot = name.lastIndexOf('.');
  const hasExt = dot > 0;
  const base = hasExt ? name.slice(0, dot) : name;
  const ext = hasExt ? name.slice(dot + 1) : '';
  let lossy = false;
  let caseOnly = false;
  const fill = (src: string, at: number, max: number) => {
    let n = 0;
    for (const ch of src) {
      const c = shortChar(ch, cp);
      if (ch === ' ' || ch === '.') {
        lossy = true;
        continue;
      }
      if (n === max) {
        lossy = true;
        break;
      }
      if (c < 0) {
        out[at + n++] = 0x5f; // '_'
        lossy = true;
        continue;
      }
      if (ch !== ch.toUpperCase()) caseOnly = true;
      out[at + n++] = c;
    }
    return n;
  };
  const nb = fill(base, 0, 8);
  fill(ext, 8, 3);
  if (nb === 0) {
    out[0] = 0x5f;
    lossy = true;
  }
  if (out[0] === SLOT_DELETED) out[0] = SLOT_E5;
  if (name.startsWith('.')) lossy = true;
  return { name: out, exact: !lossy && !caseOnly, lossy };
}

/** The alias of `f` with tail ~n: the base cut to make room (cf. unix2dosfn's generation). */
export function withTail(f: ShortForm, n: number): Uint8Array {
  const out = f.name.slice();
  const tail = `~${n}`;
  let len = 8;
  while (len > 0 && out[len - 1] === 0x20) len--;
  const at = Math.min(len, 8 - tail.length);
  for (let i = 0; i < tail.length; i++) out[at + i] = tail.charCodeAt(i);
  for (let i = at + tail.length; i < 8; i++) out[i] = 0x20;
  return out;
}

/** The long-name entries of `name` for a short name of checksum `sum`, in on-disk order (last part first). */
export function longNameEntries(name: string, sum: number): Uint8Array[] {
  const n = Math.ceil(name.length / WIN_CHARS);
  const out: Uint8Array[] = [];
  for (let k = n; k >= 1; k--) {
    const e = new Uint8Array(DIRENT_SIZE);
    e[0] = k | (k === n ? WIN_LAST : 0);
    e[DE_ATTR] = ATTR_WIN95;
    e[13] = sum;
    for (let i = 0; i < WIN_CHARS; i++) {
      const j = (k - 1) * WIN_CHARS + i;
      const unit = j < name.length ? name.charCodeAt(j) : j === name.length ? 0 : 0xffff;
      put16(e, WIN_OFFSETS[i], unit);
    }
    out.push(e);
  }
  return out;
}
