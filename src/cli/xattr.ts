/*
 * The xattr command's values, as getfattr(1) shows them: text in double
 * quotes when the bytes are printable, else 0x and hex; and what it takes
 * on input: 0x... hex, or the text itself (UTF-8).
 *   formatXattrValue(bytes)   parseXattrValue('0x00ff') / parseXattrValue('text')
 */

import { nameEncode } from '../api/names.js';
import { Buffer } from 'node:buffer';

/** Printable text: valid UTF-8 without control characters (a trailing NUL, as C strings carry, allowed). */
export function xattrText(v: Uint8Array): string | null {
  const body = v.length > 0 && v[v.length - 1] === 0 ? v.subarray(0, v.length - 1) : v;
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b-\u001f\u007f]/.test(s) ? null : s;
}

/** A value as getfattr prints it: "text" (quotes, backslashes and newlines escaped; a trailing NUL as \000) or 0xHEX. */
export function formatXattrValue(v: Uint8Array): string {
  const t = xattrText(v);
  if (t === null || v.length === 0) return v.length === 0 ? '""' : '0x' + Buffer.from(v).toString('hex');
  const nul = v[v.length - 1] === 0 ? '\\000' : '';
  return '"' + t.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\012').replace(/\t/g, '\\011') + nul + '"';
}

/** VALUE from the command line: 0x followed by an even number of hex digits, else the text's bytes as given (api/names.ts). null: bad hex. */
export function parseXattrValue(s: string): Uint8Array | null {
  if (!/^0x/i.test(s)) return nameEncode(s);
  const hex = s.slice(2);
  if (!/^([0-9a-f]{2})*$/i.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
