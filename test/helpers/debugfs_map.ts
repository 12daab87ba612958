/*
 * The block map of a file as debugfs reports it (`stat`'s BLOCKS: or
 * EXTENTS: section), as logical -> physical pairs of data blocks. Metadata
 * entries ((IND), (DIND), (TIND), (ETBn)) are left out; so are unwritten
 * extents, which read as zeros.
 */

import { debugfs } from './images.js';

export function debugfsBlockMap(image: string, path: string): Map<number, number> {
  const out = debugfs(image, `stat "${path}"`);
  const at = out.search(/^(BLOCKS|EXTENTS):/m);
  const map = new Map<number, number>();
  if (at < 0) return map;
  const body = out.slice(at).split('\n').slice(1).join(' ');
  const re = /\((\d+)(?:-(\d+))?\):(\[?u?\]?)?(\d+)(?:-(\d+))?(\s*\[uninit\])?/g;
  for (const m of body.matchAll(re)) {
    if (m[6] !== undefined) continue;
    const l0 = Number(m[1]);
    const l1 = m[2] !== undefined ? Number(m[2]) : l0;
    const p0 = Number(m[4]);
    for (let i = 0; i <= l1 - l0; i++) map.set(l0 + i, p0 + i);
  }
  return map;
}
