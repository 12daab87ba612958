/*
 * Extended attributes of host files, for trees copied in and out. Node has
 * no xattr calls, so the attr package's tools do it: one `getfattr -R -d -m
 * - -e hex` over a whole source tree, one `setfattr --restore` for a whole
 * copied-out tree. Where they are not installed, attributes are not copied
 * (reading: silently; writing: one warning).
 *   const xa = await hostXattrsOf(dir); xa.get(resolve(file))   // [[name, bytes], ...] or undefined
 *   await hostXattrsRestore([{ path, attrs }], warn)
 */

import { Buffer } from 'node:buffer';
import { resolve } from 'node:path';
import { nameDecode, nameEncode } from '../api/names.js';

export type HostXattrs = [name: string, value: Uint8Array][];

/** getfattr's escapes in names and paths: \ooo octal and \\ (cf. attr's quote/unquote). */
function unquote(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'latin1');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i++;
    } else {
      bytes.push(raw[i]);
    }
  }
  return nameDecode(Uint8Array.from(bytes), 0, bytes.length); // (a byte that is not UTF-8 kept: api/names.ts)
}

/** A path or name for setfattr --restore: bytes outside printable ASCII, spaces, '=' and '\' as \ooo. */
function quote(s: string): string {
  let out = '';
  for (const b of nameEncode(s)) {
    out += b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x3d ? '\\' + b.toString(8).padStart(3, '0') : String.fromCharCode(b);
  }
  return out;
}

/**
 * The attributes of every file below dir (itself included), by absolute
 * path, symlinks not followed. Empty when getfattr is missing or the host
 * file system keeps none.
 */
export async function hostXattrsOf(dir: string): Promise<Map<string, HostXattrs>> {
  const out = new Map<string, HostXattrs>();
  const { spawn } = await import('node:child_process'); // loaded by the commands that copy trees only
  const text = await new Promise<string | null>((done) => {
    const child = spawn('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '--absolute-names', '-e', 'hex', resolve(dir)], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', () => done(null)); // not installed
    child.on('close', () => done(Buffer.concat(chunks).toString('latin1')));
  });
  if (text === null) return out;
  let cur: HostXattrs | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      cur = [];
      out.set(unquote(line.slice(8)), cur);
      continue;
    }
    const eq = line.indexOf('=');
    if (cur === null || eq <= 0) continue;
    const v = line.slice(eq + 1);
    if (!/^0x([0-9a-f]{2})*$/i.test(v) && v !== '') continue;
    cur.push([unquote(line.slice(0, eq)), Uint8Array.from(Buffer.from(v.slice(2), 'hex'))]);
  }
  return out;
}

/** Sets the attributes on host files in one setfattr run; what fails is one warning. */
export async function hostXattrsRestore(files: readonly { path: string; attrs: Readonly<HostXattrs> }[], warn: (msg: string) => void): Promise<void> {
  if (files.length === 0) return;
  const { spawnSync } = await import('node:child_process');
  let dump = '';
  for (const f of files) {
    dump += `# file: ${quote(resolve(f.path))}\n`;
    for (const [n, v] of f.attrs) dump += `${quote(n)}=0x${Buffer.from(v).toString('hex')}\n`;
    dump += '\n';
  }
  const r = spawnSync('setfattr', ['-h', '--restore=-'], { input: dump, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error !== undefined) {
    warn(`extended attributes not copied: setfattr not found (install the attr package)`);
    return;
  }
  if (r.status !== 0) warn(`extended attributes not all copied: ${String(r.stderr).split('\n')[0]}`);
}
