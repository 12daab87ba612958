/*
 * An object's resident pages by index (cf. vm_radix, the trie FreeBSD keeps
 * them in): a two-level table of 256-page chunks. Sequential lookups, the
 * common case, find their chunk in a one-entry cache and cost an array
 * read; a Map of every page would cost a hash lookup each, with the cache
 * misses of a table as large as the object.
 *   obj.pages.get(pindex), .has, .set, .delete, .size, .values(), .keys(),
 *   .nextFrom(pindex, limit)
 */

/** Pages per chunk. Indexes are split with arithmetic, not bit operations: they may pass 2^32. */
const CHUNK = 256;

interface Chunk<T> {
  /** Up to CHUNK slots; reads past the end are undefined. */
  slots: Array<T | undefined>;
  count: number;
}

export class VmRadix<T> {
  private readonly chunks = new Map<number, Chunk<T>>();
  private lastKey = -1;
  private last: Chunk<T> | undefined = undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  private chunk(key: number): Chunk<T> | undefined {
    if (key === this.lastKey) return this.last;
    const c = this.chunks.get(key);
    this.lastKey = key;
    this.last = c;
    return c;
  }

  get(pindex: number): T | undefined {
    const key = Math.floor(pindex / CHUNK);
    const c = this.chunk(key);
    return c === undefined ? undefined : c.slots[pindex - key * CHUNK];
  }

  has(pindex: number): boolean {
    return this.get(pindex) !== undefined;
  }

  /** => value is not undefined */
  set(pindex: number, value: T): void {
    const key = Math.floor(pindex / CHUNK);
    const slot = pindex - key * CHUNK;
    let c = this.chunk(key);
    if (c === undefined) {
      // Grown as far as used: most objects (small files) hold a few pages, not a chunk's worth.
      c = { slots: [], count: 0 };
      this.chunks.set(key, c);
      this.lastKey = key;
      this.last = c;
    }
    const slots = c.slots;
    while (slots.length < slot) slots.push(undefined);
    if (slots.length === slot) slots.push(value);
    else if (slots[slot] === undefined) slots[slot] = value;
    else {
      slots[slot] = value;
      return;
    }
    c.count++;
    this.count++;
  }

  delete(pindex: number): boolean {
    const key = Math.floor(pindex / CHUNK);
    const slot = pindex - key * CHUNK;
    const c = this.chunk(key);
    if (c === undefined || c.slots[slot] === undefined) return false;
    c.slots[slot] = undefined;
    this.count--;
    if (--c.count === 0) {
      this.chunks.delete(key);
      this.lastKey = -1;
      this.last = undefined;
    }
    return true;
  }

  /** The first index in [from, limit) in use, or limit: whole chunks with no page are skipped at once. */
  nextFrom(from: number, limit: number): number {
    if (this.count === 0) return limit;
    let pindex = from;
    while (pindex < limit) {
      const key = Math.floor(pindex / CHUNK);
      const c = this.chunks.get(key);
      const chunkEnd = Math.min((key + 1) * CHUNK, limit);
      if (c !== undefined) {
        for (; pindex < chunkEnd; pindex++) if (c.slots[pindex - key * CHUNK] !== undefined) return pindex;
      }
      pindex = chunkEnd;
    }
    return limit;
  }

  /** Every value, by ascending index. A snapshot: the caller may change the table as it goes. */
  values(): T[] {
    const out: T[] = [];
    for (const key of [...this.chunks.keys()].sort((a, b) => a - b)) {
      for (const v of this.chunks.get(key)!.slots) if (v !== undefined) out.push(v);
    }
    return out;
  }

  /** Every index in use, ascending. */
  keys(): number[] {
    const out: number[] = [];
    for (const key of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const slots = this.chunks.get(key)!.slots;
      for (let i = 0; i < slots.length; i++) if (slots[i] !== undefined) out.push(key * CHUNK + i);
    }
    return out;
  }
}
