/*
 * Names as bytes (src/kern/namebytes.ts): nameEncode gives a name's bytes
 * exactly, on its short way for ASCII names (byte by byte, no TextEncoder
 * buffer) and its long ones (UTF-8, bytes that are not UTF-8), and
 * nameDecode gives the name back.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameDecode, nameEncode } from '../../src/kern/namebytes.js';

const utf8 = new TextEncoder();

test('an ASCII name of any length, across the short way\'s limit, encodes as TextEncoder encodes it', () => {
  for (let n = 0; n <= 300; n++) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(1 + ((i * 37 + n) % 127)); // every ASCII byte but NUL
    const b = nameEncode(s);
    assert.deepEqual(b, utf8.encode(s), `length ${n}`);
    assert.equal(nameDecode(b, 0, b.length), s);
  }
});

test('a name with one character past ASCII anywhere in it is its UTF-8, not bytes cut from its UTF-16', () => {
  for (const c of ['é', '€', '😀', '\u0080', '\u07ff']) {
    for (const s of [c, `${c}abc`, `abc${c}`, `ab${c}cd`, `${'x'.repeat(254)}${c}`]) {
      const b = nameEncode(s);
      assert.deepEqual(b, utf8.encode(s), JSON.stringify(s));
      assert.equal(nameDecode(b, 0, b.length), s);
    }
  }
});

test('a byte that is not UTF-8 (a lone U+DC80-U+DCFF) goes back to that byte, in a short name too', () => {
  const bytes = Uint8Array.from([0x63, 0x61, 0x66, 0xe9]); // 'caf' and Latin-1 é
  const s = nameDecode(bytes, 0, bytes.length);
  assert.equal(s, 'caf\udce9');
  assert.deepEqual(nameEncode(s), bytes);
});
