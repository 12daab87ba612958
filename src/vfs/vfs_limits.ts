/*
 * What the metadata of a mount may hold, derived from the memory the user
 * granted for page frames (cf. FreeBSD's vntblinit sizing desiredvnodes
 * from physical memory, nbuf's buffer space, ufs_dirhash's dirhash_maxmem):
 * in-core vnodes (with their inodes), VM objects kept cached after their
 * last close, the metadata buffer cache's bytes and the names dirhash keeps.
 *   const lim = vfsLimits(memory); mount with lim.bufcacheBytes; mp.maxVnodes = lim.maxVnodes
 * Each grows with memory between a floor (what a small Vm still needs) and a
 * ceiling (past which more helps no walk).
 */

export interface VfsLimits {
  /** In-core vnodes per mount past which unreferenced ones are recycled (cf. desiredvnodes). */
  maxVnodes: number;
  /** Unreferenced VM objects kept with their pages (cf. vm_object_cache_max); below maxVnodes, as each holds its vnode. */
  objectCacheMax: number;
  /** The metadata buffer cache's bytes, per mount. */
  bufcacheBytes: number;
  /** Names the dirhashes of one file system hold together (cf. dirhash_maxmem). */
  dirhashMaxEntries: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.floor(x)));
}

/**
 * The limits for `memory` bytes of frames: a vnode per 128 KiB (64 at
 * 8 MiB, 512 at the default 64 MiB), an eighth of them as cached objects,
 * a sixteenth of memory as buffer cache (at least 1 MiB) and a dirhash
 * name per 512 bytes (128 Ki names at 64 MiB).
 */
export function vfsLimits(memory: number): VfsLimits {
  const maxVnodes = clamp(memory / (128 * KiB), 64, 1 << 18);
  return {
    maxVnodes,
    objectCacheMax: clamp(maxVnodes / 8, 8, 1 << 17),
    bufcacheBytes: clamp(memory / 16, 1 * MiB, 256 * MiB),
    dirhashMaxEntries: clamp(memory / 512, 4096, 1 << 22),
  };
}
