/*
 * crc32c and crc16 against published check values (RFC 3720 B.4 for
 * CRC-32C; the "123456789" check of CRC-16/ARC).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc16Update, crc32c, crc32cSteps, crc32cTables, crc32cU32, crc32cUpdate } from '../../src/kern/crc32c.js';
import { crc32cModule, crc32cWasm } from '../../src/kern/crc32c_wasm.js';

/** The host's WebAssembly (the project's types do not include it). */
const wasm = (globalThis as { WebAssembly?: { validate(bytes: Uint8Array): boolean } }).WebAssembly;

const ascii = (s: string) => new TextEncoder().encode(s);

test('crc32c("123456789") is 0xE3069283', () => {
  assert.equal(crc32c(ascii('123456789')), 0xe3069283);
});

test('crc32c of RFC 3720 vectors: 32 zeros, 32 ones, 0..31 ascending and descending', () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('crc32cUpdate chains: two halves give the whole; crc32cU32 is the update of four LE bytes', () => {
  const b = ascii('the quick brown fox jumps over the lazy dog');
  const whole = crc32cUpdate(0x12345678, b);
  assert.equal(crc32cUpdate(crc32cUpdate(0x12345678, b, 0, 10), b, 10), whole);
  assert.equal(crc32cU32(7, 0xa1b2c3d4), crc32cUpdate(7, new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1])));
});

test('crc16 (ARC) of "123456789" is 0xBB3D', () => {
  assert.equal(crc16Update(0, ascii('123456789')), 0xbb3d);
});

test('crc32cUpdate eight bytes a step equals the byte-at-a-time register for every length and start', () => {
  const poly = 0x82f63b78;
  const slow = (crc: number, b: Uint8Array, from: number, to: number): number => {
    let c = crc >>> 0;
    for (let i = from; i < to; i++) {
      c ^= b[i];
      for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ poly : c >>> 1;
    }
    return c >>> 0;
  };
  const b = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let from = 0; from < 9; from++) {
    for (let to = from; to <= b.length; to += 13) assert.equal(crc32cUpdate(0x9a3c5e71, b, from, to), slow(0x9a3c5e71, b, from, to));
  }
});

test('runs summed in WebAssembly equal the JavaScript loop: every start and length around the cut-over, and past the module window', () => {
  assert.ok(wasm !== undefined, 'this host has WebAssembly: the fast path is the one under test');
  const step = crc32cWasm(crc32cTables());
  assert.ok(step !== null);
  const b = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 2654435761) >>> 24);
  for (let from = 0; from < 9; from++) {
    for (let len = 40; len < 140; len++) assert.equal(step(0x2468ace0, b, from, from + len), crc32cSteps(0x2468ace0, b, from, from + len));
  }
  for (const len of [4096, 57_343, 57_344, 57_345, 131_072, 199_990]) assert.equal(step(1, b, 7, 7 + len), crc32cSteps(1, b, 7, 7 + len), `length ${len}`);
  assert.equal(step(0, b, 0, b.length), crc32cSteps(0, b), 'the whole buffer (copied without a view)');
});

test('crc32cUpdate makes the WebAssembly module once a MiB has been summed (not before), and gives the same registers before and after', () => {
  // (The tests above summed a few KiB through crc32cUpdate; the module is made by the second round here.)
  const real = (globalThis as unknown as { WebAssembly: { Instance: new (m: object, i: object) => object } }).WebAssembly;
  let made = 0;
  const spy = Object.create(real, {
    Instance: {
      value: class extends real.Instance {
        constructor(m: object, i: object) {
          super(m, i);
          made++;
        }
      },
    },
  });
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly')!;
  Object.defineProperty(globalThis, 'WebAssembly', { ...saved, value: spy });
  try {
    const b = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 40503) >>> 8);
    const made0: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const [from, to] of [[0, b.length], [3, 67], [5, 4101], [1000, 250_000]]) assert.equal(crc32cUpdate(round, b, from, to), crc32cSteps(round, b, from, to));
      made0.push(made);
    }
    assert.deepEqual(made0, [0, 1, 1, 1], 'made once, when the second round passed a MiB');
  } finally {
    Object.defineProperty(globalThis, 'WebAssembly', saved);
  }
});

test('the WebAssembly module is valid, and without WebAssembly there is no fast path (the JavaScript loop serves)', () => {
  assert.ok(wasm?.validate(crc32cModule()));
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly');
  assert.ok(saved !== undefined);
  delete (globalThis as { WebAssembly?: unknown }).WebAssembly;
  try {
    assert.equal(crc32cWasm([]), null);
  } finally {
    Object.defineProperty(globalThis, 'WebAssembly', saved);
  }
  const step = crc32cWasm(Array.from({ length: 8 }, () => new Uint32Array(256)));
  assert.ok(step !== null);
  assert.equal(step(5, new Uint8Array(100), 0, 100), 0, 'all-zero tables map every register to zero after eight bytes');
});
