/*
 * Names as bytes, held in strings without loss. A Unix file name is any
 * bytes but '/' and NUL; most are UTF-8, and those become their characters.
 * A byte that is not part of a well-formed UTF-8 sequence (0x80-0xFF) becomes
 * the lone surrogate U+DC80-U+DCFF (no well-formed UTF-8 decodes to one), and
 * turns back into that byte on the way out. Decoding such a name with
 * U+FFFD for each bad byte, as TextDecoder does, makes 'caf\xe9' and
 * 'caf\xe8' one string: a lookup of either found the other's file.
 *   const s = nameDecode(buf, off, len);   // the name's string
 *   const b = nameEncode(s);               // its bytes again, exactly
 *   nameEscaped(s)                         // holds a byte that is not UTF-8
 */

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** The string of the name bytes buf[off, off + len). */
export function nameDecode(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len; i++) {
    const c = buf[i];
    if (c >= 0x80) return nonAscii(buf.subarray(off, off + len));
    s += String.fromCharCode(c);
  }
  return s;
}

function nonAscii(b: Uint8Array): string {
  try {
    return strict.decode(b);
  } catch {
    return escaped(b);
  }
}

/** b decoded sequence by sequence: a well-formed one as its character, each byte of anything else as U+DC00 + byte. */
function escaped(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const n = sequence(b, i);
    if (n === 0) {
      s += String.fromCharCode(0xdc00 + b[i]);
      i++;
    } else {
      s += lenient.decode(b.subarray(i, i + n));
      i += n;
    }
  }
  return s;
}

/** The length of the well-formed UTF-8 sequence at b[i] (RFC 3629: no overlong form, no surrogate, none past U+10FFFF), or 0. */
function sequence(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** A U+DC80-U+DCFF that is not the second half of a surrogate pair. */
export const NAME_ESCAPE = /(?:^|[^\ud800-\udbff])[\udc80-\udcff]/;

/** Whether s holds a byte that is not UTF-8 (a lone U+DC80-U+DCFF). */
export function nameEscaped(s: string): boolean {
  return NAME_ESCAPE.test(s);
}

/** The bytes of name s: UTF-8, each lone U+DC80-U+DCFF the byte it stands for. */
export function nameEncode(s: string): Uint8Array {
  // An ASCII name byte by byte (most are): TextEncoder gives each result a buffer outside V8's heap, which the
  // collector then sweeps (an image made from a tree of files encodes every name); a short array lies in the heap.
  const n = s.length;
  if (n <= ASCII_MAX) {
    let ascii = true;
    for (let i = 0; i < n && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
    if (ascii) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = s.charCodeAt(i);
      return b;
    }
  }
  return nameEscaped(s) ? escapedBytes(s) : encoder.encode(s);
}

/** nameEncode's longest name made byte by byte. */
const ASCII_MAX = 255;

/**
 * nameEncode's long way, self-contained (the host queue's workers run its
 * source text to make such names on the host).
 */
export function escapedBytes(s: string): Uint8Array {
  const utf8 = new TextEncoder();
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff) {
      out.push(c - 0xdc00);
      i++;
      continue;
    }
    const n = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1; // (a pair whole)
    for (const x of utf8.encode(s.slice(i, i + n))) out.push(x);
    i += n;
  }
  return Uint8Array.from(out);
}
