/*
 * The command line's arguments as they were given. Node decodes argv as
 * UTF-8, a byte that is not UTF-8 becoming U+FFFD, so a name such as
 * 'caf\xe9' (Latin-1) arrives as 'caf\uFFFD' and cannot be told from
 * 'caf\xe8'. Where an argument holds U+FFFD, its bytes are read again from
 * /proc/self/cmdline (the arguments are its last entries) and kept as
 * names keep them (api/names.ts: each such byte a lone U+DC80-U+DCFF).
 * Without /proc, or where the two do not line up, argv is taken as Node
 * gave it (a name with U+FFFD then finds no entry but one named so: never
 * another by a guess).
 *   const args = exactArgs(process.argv.slice(2));
 */

import { readFileSync } from 'node:fs';
import { nameDecode } from '../api/names.js';

export function exactArgs(args: readonly string[]): string[] {
  if (!args.some((a) => a.includes('\uFFFD'))) return [...args];
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return [...args];
  }
  const parts: Buffer[] = [];
  for (let at = 0; at < raw.length; ) {
    const nul = raw.indexOf(0, at);
    const end = nul < 0 ? raw.length : nul;
    parts.push(raw.subarray(at, end));
    at = end + 1;
  }
  if (parts.length < args.length) return [...args];
  const tail = parts.slice(parts.length - args.length);
  // Each must read as Node gave it, or this is not the same command line.
  if (tail.some((b, i) => b.toString('utf8') !== args[i])) return [...args];
  return args.map((a, i) => (a.includes('\uFFFD') ? nameDecode(tail[i], 0, tail[i].length) : a));
}
