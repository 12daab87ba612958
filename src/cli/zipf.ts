/*
 * The benchmark's random-read trace and its reference policies: a Zipf
 * (s = 0.99) trace of page numbers, and the hit rates of exact LRU and of
 * Belady's optimal replacement (evict the page used farthest in the future)
 * on that trace with the same number of page frames.
 *   const trace = zipfTrace(pages, ops, 0.99, seed); lruHits(trace, pages, frames)
 */

/** A small seeded generator of uniform doubles in [0, 1) (mulberry32). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * `ops` page numbers in [0, pages): rank k is drawn with weight 1/k^s, and
 * ranks map to pages through a seeded permutation, so popular pages are
 * scattered over the file rather than packed at its start.
 */
export function zipfTrace(pages: number, ops: number, s: number, seed: number): Int32Array {
  const rand = uniform(seed);
  const cdf = new Float64Array(pages);
  let sum = 0;
  for (let k = 0; k < pages; k++) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  const perm = new Int32Array(pages);
  for (let i = 0; i < pages; i++) perm[i] = i;
  for (let i = pages - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const trace = new Int32Array(ops);
  for (let i = 0; i < ops; i++) {
    const u = rand() * sum;
    let lo = 0;
    let hi = pages - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    trace[i] = perm[lo];
  }
  return trace;
}

/** Hits of exact LRU with `frames` frames on the trace (a doubly linked list by page). */
export function lruHits(trace: Int32Array, pages: number, frames: number): number {
  const NIL = -1;
  const prev = new Int32Array(pages).fill(NIL);
  const next = new Int32Array(pages).fill(NIL);
  const resident = new Uint8Array(pages);
  let head = NIL; // most recent
  let tail = NIL; // least recent
  let count = 0;
  let hits = 0;
  const unlink = (p: number): void => {
    if (prev[p] !== NIL) next[prev[p]] = next[p];
    else head = next[p];
    if (next[p] !== NIL) prev[next[p]] = prev[p];
    else tail = prev[p];
    prev[p] = next[p] = NIL;
  };
  for (let i = 0; i < trace.length; i++) {
    const p = trace[i];
    if (resident[p]) {
      hits++;
      unlink(p);
    } else {
      if (count === frames) {
        const victim = tail;
        unlink(victim);
        resident[victim] = 0;
        count--;
      }
      resident[p] = 1;
      count++;
    }
    next[p] = head;
    if (head !== NIL) prev[head] = p;
    head = p;
    if (tail === NIL) tail = p;
  }
  return hits;
}

/** Hits of Belady's optimal policy with `frames` frames on the trace. */
export function optHits(trace: Int32Array, pages: number, frames: number): number {
  const n = trace.length;
  // nextUse[i]: the index of the next access to trace[i]'s page after i (n: never).
  const nextUse = new Int32Array(n);
  const seen = new Int32Array(pages).fill(n);
  for (let i = n - 1; i >= 0; i--) {
    nextUse[i] = seen[trace[i]];
    seen[trace[i]] = i;
  }
  // A max-heap of (next use, page) with stale entries skipped on pop.
  const heapKey = new Int32Array(n + 1);
  const heapPage = new Int32Array(n + 1);
  let size = 0;
  const push = (key: number, page: number): void => {
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapKey[parent] >= key) break;
      heapKey[i] = heapKey[parent];
      heapPage[i] = heapPage[parent];
      i = parent;
    }
    heapKey[i] = key;
    heapPage[i] = page;
  };
  const pop = (): void => {
    const key = heapKey[--size];
    const page = heapPage[size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && heapKey[c + 1] > heapKey[c]) c++;
      if (heapKey[c] <= key) break;
      heapKey[i] = heapKey[c];
      heapPage[i] = heapPage[c];
      i = c;
    }
    heapKey[i] = key;
    heapPage[i] = page;
  };
  const current = new Int32Array(pages).fill(-1); // a resident page's next use, -1 if not resident
  let count = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const p = trace[i];
    if (current[p] >= 0) {
      hits++;
    } else {
      if (count === frames) {
        // The top is current when its key is the page's recorded next use.
        while (current[heapPage[0]] !== heapKey[0]) pop();
        current[heapPage[0]] = -1;
        pop();
        count--;
      }
      count++;
    }
    current[p] = nextUse[i];
    push(nextUse[i], p);
  }
  return hits;
}
