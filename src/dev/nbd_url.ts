/*
 * NBD URLs, the way an NBD export is named where an image path would be:
 *   nbd://host[:port][/export]          TCP, port 10809 by default
 *   nbd+unix:///export?socket=/path     a Unix-domain socket
 * The export is the path after its first slash, percent-decoded; an empty
 * one is the server's default export. Parsed strictly: anything else (user
 * names, other query parameters, fragments, bad ports) is refused with a
 * reason, so a typo never connects somewhere unintended.
 *   const { target, reason } = parseNbdUrl('nbd://127.0.0.1:10809/disk')
 */

import { MAX_STRING, NBD_DEFAULT_PORT } from './nbd_proto.js';

export type NbdTarget =
  | { kind: 'tcp'; host: string; port: number; exportName: string }
  | { kind: 'unix'; path: string; exportName: string };

/** Whether `source` names an NBD export rather than an image file. */
export function isNbdUrl(source: string): boolean {
  return /^nbd(\+unix)?:\/\//i.test(source);
}

/** `target` on success; otherwise null and why. */
export function parseNbdUrl(url: string): { target: NbdTarget | null; reason: string } {
  const m = /^(nbd|nbd\+unix):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(url);
  if (m === null) return bad('not an NBD URL (nbd://host[:port]/export or nbd+unix:///export?socket=PATH)');
  const [, scheme, authority, path, query, fragment] = m;
  if (fragment !== undefined) return bad('an NBD URL has no #fragment');
  const exportName = decode(path.slice(1));
  if (exportName === null) return bad('bad percent-encoding in the export name');
  if (exportName.includes('\0')) return bad('the export name contains a NUL byte');
  if (new TextEncoder().encode(exportName).length > MAX_STRING) return bad(`the export name is longer than ${MAX_STRING} bytes`);

  if (scheme.toLowerCase() === 'nbd+unix') {
    if (authority !== '') return bad('nbd+unix:// takes no host (nbd+unix:///export?socket=PATH)');
    const params = parseQuery(query);
    if (params === null) return bad('bad query in the NBD URL');
    const socket = params.get('socket');
    for (const k of params.keys()) if (k !== 'socket') return bad(`unsupported NBD URL parameter '${k}'`);
    if (socket === undefined || socket === '') return bad('nbd+unix:// needs ?socket=PATH');
    return { target: { kind: 'unix', path: socket, exportName }, reason: '' };
  }

  if (query !== undefined) return bad('query parameters are not supported in nbd:// URLs');
  if (authority.includes('@')) return bad('user names are not supported in NBD URLs');
  const hp = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::(\d*))?$/.exec(authority);
  if (hp === null) return bad(authority === '' ? 'the NBD URL has no host' : `bad host '${authority}'`);
  const host = hp[1].startsWith('[') ? hp[1].slice(1, -1) : hp[1];
  let port = NBD_DEFAULT_PORT;
  if (hp[2] !== undefined && hp[2] !== '') {
    port = Number(hp[2]);
    if (!(port >= 1 && port <= 65535)) return bad(`bad port ${hp[2]} (1 to 65535)`);
  }
  return { target: { kind: 'tcp', host, port, exportName }, reason: '' };
}

/** Host:port or the socket path, for messages. */
export function describeTarget(t: NbdTarget): string {
  if (t.kind === 'unix') return t.path;
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

function bad(reason: string): { target: null; reason: string } {
  return { target: null, reason };
}

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** name=value pairs, each decoded once; null on malformed encoding or a repeated name. */
function parseQuery(query: string | undefined): Map<string, string> | null {
  const out = new Map<string, string>();
  if (query === undefined || query === '?') return out;
  for (const part of query.slice(1).split('&')) {
    const eq = part.indexOf('=');
    const k = decode(eq < 0 ? part : part.slice(0, eq));
    const v = decode(eq < 0 ? '' : part.slice(eq + 1));
    if (k === null || v === null || out.has(k)) return null;
    out.set(k, v);
  }
  return out;
}
