/*
 * dirhash (cf. FreeBSD ufs_dirhash): an in-memory index of a large
 * directory, name -> inode number, built by one scan at its first lookup,
 * so that later lookups cost one Map probe instead of a scan of the whole
 * directory. It lives in the in-core inode and goes with it. Bounded: only
 * directories of DIRHASH_MINSIZE bytes or more are hashed, and the hashes of
 * one file system hold at most DIRHASH_MAXENTRIES names together (or what
 * dirhashSetLimit set from the Vm's memory, cf. dirhash_maxmem), the least
 * recently used directory's whole hash dropped first. Any file system's in-core directory
 * inode can be hashed: all it needs is a size and the file system it is in.
 *   ino = dirhashLookup(ip, key)  // undefined: no hash; 0: not there
 *   dirhashStore(ip, entries)     // after a full scan
 *   dirhashAdd / dirhashRemove    // a directory changed: the hash follows
 *   { error, ino } = await dirhashResolve(ip, nameBytes, scan)   // a lookup's hashed part
 * Keys are the name's bytes as a latin1 string, so that any byte sequence
 * (not only UTF-8) has exactly one key.
 */

/** What dirhash needs of a directory's in-core inode. */
export interface DirhashDir {
  readonly size: number;
  /** The file system it belongs to: the bound on names is per file system. */
  readonly fs: object;
}

export const DIRHASH_MINSIZE = 16 * 1024;
export const DIRHASH_MAXENTRIES = 1 << 17;

interface FsHashes {
  /** Hashed directories, least recently used first. */
  lru: Set<DirhashDir>;
  entries: number;
  /** The most names held together. */
  maxEntries: number;
}

const byFs = new WeakMap<object, FsHashes>();
const hashes = new WeakMap<DirhashDir, Map<string, number>>();

function fsHashes(fs: object): FsHashes {
  let h = byFs.get(fs);
  if (h === undefined) {
    h = { lru: new Set(), entries: 0, maxEntries: DIRHASH_MAXENTRIES };
    byFs.set(fs, h);
  }
  return h;
}

/** Sets the most names the hashes of file system fs hold together; older hashes go at once if they hold more. */
export function dirhashSetLimit(fs: object, maxEntries: number): void {
  const h = fsHashes(fs);
  h.maxEntries = maxEntries;
  while (h.entries > h.maxEntries && h.lru.size > 0) dirhashDrop(h.lru.values().next().value as DirhashDir);
}

/** Names held by the hashes of file system fs (for tests and stats). */
export function dirhashEntries(fs: object): number {
  return byFs.get(fs)?.entries ?? 0;
}

/** The inode number of `key` in ip's hash: undefined when ip has none, 0 when the name is absent. */
export function dirhashLookup(ip: DirhashDir, key: string): number | undefined {
  const map = hashes.get(ip);
  if (map === undefined) return undefined;
  const h = fsHashes(ip.fs);
  h.lru.delete(ip);
  h.lru.add(ip);
  return map.get(key) ?? 0;
}

/** Should a lookup in ip build a hash? */
export function dirhashWanted(ip: DirhashDir): boolean {
  return ip.size >= DIRHASH_MINSIZE && !hashes.has(ip);
}

/** Keeps the hash of ip built from a complete scan; drops older hashes to stay in bounds. */
export function dirhashStore(ip: DirhashDir, map: Map<string, number>): void {
  const h = fsHashes(ip.fs);
  if (map.size > h.maxEntries) return;
  dirhashDrop(ip);
  while (h.entries + map.size > h.maxEntries) {
    const old = h.lru.values().next().value as DirhashDir;
    dirhashDrop(old);
  }
  hashes.set(ip, map);
  h.lru.add(ip);
  h.entries += map.size;
}

/** Forgets ip's hash (the inode is reclaimed, or the directory changed). */
export function dirhashDrop(ip: DirhashDir): void {
  const map = hashes.get(ip);
  if (map === undefined) return;
  const h = fsHashes(ip.fs);
  hashes.delete(ip);
  h.lru.delete(ip);
  h.entries -= map.size;
}

/** The directory gained the entry key -> ino: a hash, if any, learns it. */
export function dirhashAdd(ip: DirhashDir, key: string, ino: number): void {
  const map = hashes.get(ip);
  if (map === undefined || map.has(key)) return;
  map.set(key, ino);
  fsHashes(ip.fs).entries++;
}

/** The directory lost the entry key: a hash, if any, forgets it. */
export function dirhashRemove(ip: DirhashDir, key: string): void {
  const map = hashes.get(ip);
  if (map === undefined || !map.delete(key)) return;
  fsHashes(ip.fs).entries--;
}

/** A name's bytes as a key. */
export function dirhashKey(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(buf[off + i]);
  return s;
}

/** Walks every live entry of a directory until fn answers false; resolves to an errno. */
export type DirhashScan = (fn: (ino: number, buf: Uint8Array, off: number, len: number) => boolean) => Promise<number>;

/**
 * A lookup of the name bytes `want` through ip's hash, which one scan of the
 * whole directory builds when ip is large enough (the first of duplicate
 * names wins, as in a scan). ino 0: not there; undefined: ip is not hashed,
 * the caller scans itself. => may sleep
 */
export async function dirhashResolve(ip: DirhashDir, want: Uint8Array, scan: DirhashScan): Promise<{ error: number; ino: number | undefined }> {
  const key = dirhashKey(want, 0, want.length);
  const hit = dirhashLookup(ip, key);
  if (hit !== undefined || !dirhashWanted(ip)) return { error: 0, ino: hit };
  const map = new Map<string, number>();
  const error = await scan((ino, buf, off, len) => {
    const k = dirhashKey(buf, off, len);
    if (!map.has(k)) map.set(k, ino);
    return true;
  });
  if (error !== 0) return { error, ino: undefined };
  dirhashStore(ip, map);
  return { error: 0, ino: map.get(key) ?? 0 };
}
