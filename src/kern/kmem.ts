/*
 * Memory for the buffers that bulk copies go into and out of: the page
 * frames, and the staging buffers of the tools (cf. kmem_malloc).
 *
 * Where such a buffer starts, modulo the host's 4 KiB page, decides how fast
 * the processor copies it. A forward copy whose destination lies a few bytes
 * ahead of its source modulo 4096 makes each load wait for the store just
 * before it that shares the address's low 12 bits ("4K aliasing"). Two
 * partners of every copy sit at fixed places: the host's page cache (read(2)
 * and write(2) copy to and from it) starts on page boundaries, and a large
 * ArrayBuffer, such as a program's Buffer.allocUnsafe(1 MiB), comes from
 * malloc, which with glibc puts it 16 bytes past one (the header of an
 * mmap'd chunk). Measured on the development machine, in 128 KiB pieces:
 *   frames at page + 0:    page cache -> frames 4.1 GB/s, frames -> Buffer 1.7 GB/s
 *   frames at page + 16:   page cache -> frames 1.5 GB/s
 *   frames at page + 32:   Buffer -> frames 1.9 GB/s
 *   frames at page + 256:  4.0, 10.1 and 7.1 GB/s: no slow pair
 * So the memory starts KMEM_SKEW bytes past a page boundary, away from both.
 * V8 maps a WebAssembly.Memory with the system's page allocator, so its
 * buffer starts on a boundary and the skew is exact; a Memory holds up to
 * 4 GiB, and anything larger, or a host without WebAssembly, gets a plain
 * ArrayBuffer skewed the same way from wherever malloc put it.
 *   kmemAlloc(bytes)          // the frames, a tool's staging buffer
 *   kmemAlloc(bytes, true)    // memory shared with worker threads (a SharedArrayBuffer)
 * Each Memory reserves V8's guard region (some 10 GiB of address space, not
 * memory): a caller wanting several buffers takes one and slices it.
 */

/** Bytes past a page boundary where the memory starts: four cache lines. */
export const KMEM_SKEW = 256;
/** The unit of a WebAssembly.Memory. */
const WASM_PAGE = 65536;
/** The most a WebAssembly.Memory holds. */
const WASM_MAX_PAGES = 65536;

/** What we use of WebAssembly (the project's types do not include it). */
interface WasmMemoryCtor {
  new (d: { initial: number; maximum: number; shared?: boolean }): { buffer: ArrayBuffer | SharedArrayBuffer };
}

/**
 * Zeroed memory of `bytes` bytes, starting KMEM_SKEW bytes past a page
 * boundary where the host allows it (see above); over a SharedArrayBuffer
 * when `shared`.
 */
export function kmemAlloc(bytes: number, shared = false): Uint8Array {
  const pages = Math.ceil((bytes + KMEM_SKEW) / WASM_PAGE);
  const wasm = (globalThis as { WebAssembly?: { Memory: WasmMemoryCtor } }).WebAssembly;
  if (pages <= WASM_MAX_PAGES && wasm !== undefined) {
    try {
      const mem = new wasm.Memory({ initial: pages, maximum: pages, shared });
      return new Uint8Array(mem.buffer, KMEM_SKEW, bytes);
    } catch {
      // out of address space for another Memory (or no shared ones here): an ordinary buffer will do
    }
  }
  if (shared && typeof SharedArrayBuffer === 'undefined') throw new TypeError('kmemAlloc: no shared memory here (a web page has it only when cross-origin isolated)');
  return new Uint8Array(shared ? new SharedArrayBuffer(bytes + KMEM_SKEW) : new ArrayBuffer(bytes + KMEM_SKEW), KMEM_SKEW, bytes);
}
