/*
 * CRC-32C's eight-bytes-a-step loop (crc32c.ts) as a WebAssembly function,
 * for the long runs: ext4's directory, bitmap and extent blocks, a block
 * group's descriptors. Compiled code of WebAssembly loads four bytes at a
 * time and looks the tables up without bounds checks; measured, a 4 KiB
 * block ran at 1.1-1.2 GB/s where the same loop in JavaScript ran at
 * 0.43-0.63 GB/s (the run copied into the module's memory first included).
 *   const step = crc32cWasm(S)   // S: the eight tables; null: no WebAssembly here (or the page forbids compiling it)
 *   c = step(c, bytes, from, to)  // the register after bytes[from, to), as crc32cUpdate
 * The module is built here, opcode by opcode (below), not loaded: it is
 * 267 bytes. Its one page of memory holds the tables (TABLES bytes,
 * table k at k KiB) and a window the bytes are copied into, WINDOW at a time.
 */

/** Bytes of the eight tables at the start of the module's memory; the window follows. */
const TABLES = 8 * 256 * 4;
/** The module's memory: one WebAssembly page. */
const PAGE = 65536;
/** Bytes copied in and summed at a time. */
const WINDOW = PAGE - TABLES;

/** WebAssembly's opcodes and type codes used below. */
const W = {
  I32: 0x7f, FUNC: 0x60, BLOCK: 0x02, LOOP: 0x03, VOID: 0x40, BR: 0x0c, BR_IF: 0x0d, END: 0x0b,
  GET: 0x20, SET: 0x21, LOAD: 0x28, LOAD8_U: 0x2d, CONST: 0x41,
  GE_S: 0x4e, GE_U: 0x4f, ADD: 0x6a, SUB: 0x6b, AND: 0x71, XOR: 0x73, SHL: 0x74, SHR_U: 0x76,
} as const;

/** Unsigned LEB128 (section sizes, counts, offsets). */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** i32.const v (signed LEB128; v small and non-negative here). */
const konst = (v: number): number[] => (v < 64 ? [W.CONST, v] : [W.CONST, (v & 0x7f) | 0x80, v >>> 7]);
/** i32.load with alignment 4 (2^2) at offset off. */
const load = (off: number): number[] => [W.LOAD, 2, ...uleb(off)];

/** The function's locals: parameters c, p, e, then lo, hi, e8. */
const C = 0, P = 1, E = 2, LO = 3, HI = 4, E8 = 5;

/** Table k's entry for byte `shift` of local v: S_k[(v >>> shift) & 0xff]. */
function lookup(v: number, shift: number, k: number): number[] {
  return [
    W.GET, v,
    ...(shift > 0 ? [...konst(shift), W.SHR_U] : []),
    ...(shift < 24 ? [...konst(255), W.AND] : []),
    ...konst(2), W.SHL,
    ...load(k * 1024),
  ];
}

/**
 * c(c, p, e): the register after memory[p, e), starting from c. While
 * eight bytes are left: lo = c ^ the four at p, hi = the next four, c =
 * S7[lo0] ^ S6[lo1] ^ S5[lo2] ^ S4[lo3] ^ S3[hi0] ^ S2[hi1] ^ S1[hi2] ^
 * S0[hi3]; then a byte a step through table 0.
 */
function body(): number[] {
  const eight = [
    ...lookup(LO, 0, 7), ...lookup(LO, 8, 6), W.XOR, ...lookup(LO, 16, 5), W.XOR, ...lookup(LO, 24, 4), W.XOR,
    ...lookup(HI, 0, 3), W.XOR, ...lookup(HI, 8, 2), W.XOR, ...lookup(HI, 16, 1), W.XOR, ...lookup(HI, 24, 0), W.XOR,
  ];
  const code = [
    W.GET, E, ...konst(7), W.SUB, W.SET, E8,
    W.BLOCK, W.VOID, W.LOOP, W.VOID,
    W.GET, P, W.GET, E8, W.GE_S, W.BR_IF, 1,
    W.GET, C, W.GET, P, ...load(0), W.XOR, W.SET, LO,
    W.GET, P, ...load(4), W.SET, HI,
    ...eight, W.SET, C,
    W.GET, P, ...konst(8), W.ADD, W.SET, P,
    W.BR, 0, W.END, W.END,
    W.BLOCK, W.VOID, W.LOOP, W.VOID,
    W.GET, P, W.GET, E, W.GE_U, W.BR_IF, 1,
    W.GET, C, W.GET, P, W.LOAD8_U, 0, 0, W.XOR, ...konst(255), W.AND, ...konst(2), W.SHL, ...load(0),
    W.GET, C, ...konst(8), W.SHR_U, W.XOR, W.SET, C,
    W.GET, P, ...konst(1), W.ADD, W.SET, P,
    W.BR, 0, W.END, W.END,
    W.GET, C, W.END,
  ];
  const fn = [1, 3, W.I32, ...code]; // one run of locals: three i32 (lo, hi, e8)
  return [...uleb(fn.length), ...fn];
}

/** A section: its id, then its contents' length and contents. */
const section = (id: number, contents: number[]): number[] => [id, ...uleb(contents.length), ...contents];
const name = (s: string): number[] => [s.length, ...Array.from(s, (ch) => ch.charCodeAt(0))];

/** The module: one function type (i32, i32, i32) -> i32, its function, one page of memory, both exported. */
export function crc32cModule(): Uint8Array {
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, W.FUNC, 3, W.I32, W.I32, W.I32, 1, W.I32]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x01, 1, 1]), // limits: min 1, max 1
    ...section(7, [2, ...name('m'), 0x02, 0, ...name('c'), 0x00, 0]),
    ...section(10, [1, ...body()]),
  ]);
}

/** What we use of WebAssembly (the project's types do not include it). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: { m: { buffer: ArrayBuffer }; c: (c: number, p: number, e: number) => number } };
}

/** The step over a run, or null where WebAssembly is missing or may not be compiled (a page's policy). */
export function crc32cWasm(tables: readonly Uint32Array[]): ((crc: number, bytes: Uint8Array, from: number, to: number) => number) | null {
  const wasm = (globalThis as { WebAssembly?: Wasm }).WebAssembly;
  if (wasm === undefined) return null;
  let exports: InstanceType<Wasm['Instance']>['exports'];
  try {
    exports = new wasm.Instance(new wasm.Module(crc32cModule()), {}).exports;
  } catch {
    return null;
  }
  const mem = new Uint8Array(exports.m.buffer);
  const dv = new DataView(exports.m.buffer);
  for (let k = 0; k < tables.length; k++) for (let n = 0; n < 256; n++) dv.setUint32(k * 1024 + n * 4, tables[k][n], true);
  const c = exports.c;
  return (crc, bytes, from, to) => {
    let r = crc;
    while (from < to) {
      const n = Math.min(to - from, WINDOW);
      mem.set(from === 0 && n === bytes.length ? bytes : bytes.subarray(from, from + n), TABLES);
      r = c(r, TABLES, TABLES + n);
      from += n;
    }
    return r >>> 0;
  };
}
