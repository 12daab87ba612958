/*
 * Sizes as people write them: 4096, 64KiB, 64K, 1MiB, 1M, 2GiB, 2G
 * (K, M, G, KiB, MiB, GiB and their lower-case forms are powers of 1024),
 * and fractions that come to whole bytes (1.5MiB).
 */

const units: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** The number of bytes `text` names, or null when it names none. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (m === null) return null;
  if (m[3] !== undefined && m[2] === '' && m[3].toLowerCase() !== 'b') return null;
  const n = Number(m[1]) * units[m[2].toLowerCase()];
  // A fraction must come to whole bytes (1.5M does; 1.5 and 0.3K do not).
  return Number.isSafeInteger(n) ? n : null;
}
