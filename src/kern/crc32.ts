/*
 * CRC-32 as zlib, Ethernet and the UEFI GPT compute it: the reflected
 * polynomial 0xEDB88320, seeded with ~0 and inverted at the end.
 *   crc32(bytes) => an unsigned 32-bit value
 * (Not ext4's crc32c, which is another polynomial.)
 */

const table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 of bytes. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
