/*
 * What is on disk when: a program that writes through the library, closes
 * its file and simply ends finds its data on disk (the file systems still
 * mounted read-write are synced and unmounted when it runs out of work);
 * `await using` unmounts at the end of the scope; the last close of a
 * written file starts its write-back.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Vm } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const API = fileURLToPath(new URL('../../src/api/index.js', import.meta.url));

test('a script that writes, closes and returns without unmount leaves its data on disk and the image clean', () => {
  const img = join(tmp.dir, 'exit.img');
  mkext2(img, [{ path: 'a', data: randomBytes(1000, 1) }], { type: 'ext2', blockSize: 1024, size: 16 << 20 });
  const script = join(tmp.dir, 'exit.mjs');
  writeFileSync(
    script,
    `import { Vm } from ${JSON.stringify(API)};
const fs = await new Vm({ memory: 1 << 20 }).mount(${JSON.stringify(img)}, { readOnly: false });
const f = await fs.open('/written', { create: true });
const bytes = new Uint8Array(3 << 20);
for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 9)) & 0xff;
await f.write(0, bytes);
await f.close();
await fs.mkdir('/dir');
`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = new Uint8Array(3 << 20);
  for (let i = 0; i < want.length; i++) want[i] = (i * 7 + (i >> 9)) & 0xff;
  assert.ok(debugfsCat(img, '/written').equals(Buffer.from(want)), 'the bytes are on disk');
  const ck = e2fsck(img);
  assert.ok(ck.clean, ck.output);
  assert.ok(!existsSync(img + '.vmpager-lock'), 'the lock is let go');
});

test('await using unmounts at the end of the scope: data on disk, the image free for the next writer', async () => {
  const img = join(tmp.dir, 'using.img');
  mkext2(img, [], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
  const vm = new Vm();
  const data = randomBytes(200_000, 2);
  {
    await using fs = await vm.mount(img, { readOnly: false });
    const f = await fs.open('/u', { create: true });
    await f.write(0, data);
    await f.close();
  }
  assert.ok(debugfsCat(img, '/u').equals(Buffer.from(data)));
  assert.ok(e2fsck(img).clean);
  const again = await vm.mount(img, { readOnly: false }); // not EBUSY: the scope let it go
  await again.unmount();
});

test("the last close of a written file starts its write-back: the pages are clean by the time it resolves", async () => {
  const img = join(tmp.dir, 'close.img');
  mkext2(img, [], { type: 'ext2', blockSize: 4096, size: 16 << 20 });
  const vm = new Vm();
  const fs = await vm.mount(img, { readOnly: false });
  const f = await fs.open('/c', { create: true });
  await f.write(0, randomBytes(100_000, 3));
  const before = vm.stats().vnodeout;
  await f.close();
  assert.ok(vm.stats().vnodeout > before, 'close wrote the dirty pages');
  assert.ok(debugfsCat(img, '/c').equals(Buffer.from(randomBytes(100_000, 3))), 'on disk before unmount');
  await fs.unmount();
});
