/*
 * The hash of a directory entry's name in an htree (cf. FreeBSD
 * ext2_hash.c, e2fsprogs dirhash.c): legacy, half-MD4 and TEA, each signed
 * or unsigned (the superblock's s_flags say which chars are), seeded by
 * s_hash_seed unless it is all zeros.
 *   { hash, minor } = ext2Dirhash(version, name, seed)   (version 3..5: unsigned)
 */

export const EXT2_HTREE_LEGACY = 0;
export const EXT2_HTREE_HALF_MD4 = 1;
export const EXT2_HTREE_TEA = 2;
/** Added to the version when the superblock says chars are unsigned. */
export const EXT2_HTREE_UNSIGNED = 3;
/** s_flags */
export const EXT2_FLAGS_SIGNED_HASH = 0x1;
export const EXT2_FLAGS_UNSIGNED_HASH = 0x2;

const rol = (x: number, s: number) => ((x << s) | (x >>> (32 - s))) >>> 0;

/** One char of the name as the hash sees it: signed bytes are -128..127. */
function chr(b: number, unsigned: boolean): number {
  return unsigned || b < 128 ? b : b - 256;
}

function legacy(name: Uint8Array, unsigned: boolean): number {
  let h0 = 0x12a3fe2d;
  let h1 = 0x37abe8f9;
  for (let i = 0; i < name.length; i++) {
    let h = (h1 + ((h0 ^ Math.imul(chr(name[i], unsigned), 7152373)) >>> 0)) >>> 0;
    if ((h & 0x80000000) !== 0) h = (h - 0x7fffffff) >>> 0;
    h1 = h0;
    h0 = h;
  }
  return (h0 << 1) >>> 0;
}

/** Packs up to num*4 chars of name[from..] into num words, padded with the length (cf. str2hashbuf). */
function hashBuf(name: Uint8Array, from: number, num: number, unsigned: boolean): Uint32Array {
  let len = name.length - from;
  const out = new Uint32Array(num);
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  let k = 0;
  if (len > num * 4) len = num * 4;
  for (let i = 0; i < len; i++) {
    val = (chr(name[from + i], unsigned) + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out[k++] = val;
      val = pad;
    }
  }
  if (k < num) out[k++] = val;
  while (k < num) out[k++] = pad;
  return out;
}

function halfMd4(buf: Uint32Array, x: Uint32Array): void {
  let [a, b, c, d] = buf;
  const F = (p: number, q: number, r: number) => (r ^ (p & (q ^ r))) >>> 0;
  const G = (p: number, q: number, r: number) => ((p & q) + ((p ^ q) & r)) >>> 0;
  const H = (p: number, q: number, r: number) => (p ^ q ^ r) >>> 0;
  const K2 = 0x5a827999;
  const K3 = 0x6ed9eba1;
  const R = (f: typeof F, w: number, p: number, q: number, r: number, m: number, s: number) => rol((w + f(p, q, r) + m) >>> 0, s);
  a = R(F, a, b, c, d, x[0], 3); d = R(F, d, a, b, c, x[1], 7); c = R(F, c, d, a, b, x[2], 11); b = R(F, b, c, d, a, x[3], 19);
  a = R(F, a, b, c, d, x[4], 3); d = R(F, d, a, b, c, x[5], 7); c = R(F, c, d, a, b, x[6], 11); b = R(F, b, c, d, a, x[7], 19);
  a = R(G, a, b, c, d, x[1] + K2, 3); d = R(G, d, a, b, c, x[3] + K2, 5); c = R(G, c, d, a, b, x[5] + K2, 9); b = R(G, b, c, d, a, x[7] + K2, 13);
  a = R(G, a, b, c, d, x[0] + K2, 3); d = R(G, d, a, b, c, x[2] + K2, 5); c = R(G, c, d, a, b, x[4] + K2, 9); b = R(G, b, c, d, a, x[6] + K2, 13);
  a = R(H, a, b, c, d, x[3] + K3, 3); d = R(H, d, a, b, c, x[7] + K3, 9); c = R(H, c, d, a, b, x[2] + K3, 11); b = R(H, b, c, d, a, x[6] + K3, 15);
  a = R(H, a, b, c, d, x[1] + K3, 3); d = R(H, d, a, b, c, x[5] + K3, 9); c = R(H, c, d, a, b, x[0] + K3, 11); b = R(H, b, c, d, a, x[4] + K3, 15);
  buf[0] += a;
  buf[1] += b;
  buf[2] += c;
  buf[3] += d;
}

function tea(buf: Uint32Array, x: Uint32Array): void {
  let sum = 0;
  let b0 = buf[0];
  let b1 = buf[1];
  const [a, b, c, d] = x;
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >>> 5) + b)) >>> 0)) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >>> 5) + d)) >>> 0)) >>> 0;
  }
  buf[0] += b0;
  buf[1] += b1;
}

/** The major hash (low bit clear) and minor hash of name; null for an unknown version. */
export function ext2Dirhash(version: number, name: Uint8Array, seed: Uint32Array): { hash: number; minor: number } | null {
  const buf = Uint32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476);
  if (seed.some((w) => w !== 0)) buf.set(seed);
  const unsigned = version >= EXT2_HTREE_UNSIGNED;
  let hash: number;
  let minor = 0;
  switch (version % EXT2_HTREE_UNSIGNED) {
    case EXT2_HTREE_LEGACY:
      hash = legacy(name, unsigned);
      break;
    case EXT2_HTREE_HALF_MD4:
      for (let p = 0; p < name.length; p += 32) halfMd4(buf, hashBuf(name, p, 8, unsigned));
      hash = buf[1];
      minor = buf[2];
      break;
    default:
      for (let p = 0; p < name.length; p += 16) tea(buf, hashBuf(name, p, 4, unsigned));
      hash = buf[0];
      minor = buf[1];
  }
  if (version > 5) return null;
  return { hash: (hash & ~1) >>> 0, minor };
}
