/*
 * Writes, truncates and syncs in random order through the library, against a
 * flat byte array (fast-check), with memory far smaller than the file so the
 * page daemon launders pages all the time; after unmount and remount the
 * file equals the model and e2fsck finds the file system clean. Writes go
 * through write() or writeFrom() (a source that may end early, with or
 * without write-behind).
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Vm } from '../../src/api/index.js';
import { debugfsCat, e2fsck, mkext2, randomBytes, tempDir } from '../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

type Op =
  | { kind: 'write'; off: number; len: number; seed: number }
  | { kind: 'fill'; off: number; len: number; seed: number; limit: number; behind: boolean }
  | { kind: 'truncate'; size: number }
  | { kind: 'sync' };

const MAX = 3 << 20;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), off: fc.nat(MAX), len: fc.integer({ min: 1, max: 200_000 }), seed: fc.integer({ min: 1, max: 1 << 30 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('fill' as const),
      off: fc.nat(MAX),
      len: fc.integer({ min: 1, max: 200_000 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
      // Past len: the source has everything; below it: it ends early.
      limit: fc.oneof(fc.constant(Infinity), fc.constant(0), fc.nat(200_000)),
      behind: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), size: fc.nat(MAX) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sync' as const) }) },
);

for (const [type, bs] of [['ext2', 1024], ['ext2', 4096], ['ext4', 1024], ['ext4', 4096]] as const) {
  const base = join(tmp.dir, `base-${type}-${bs}.img`);
  mkext2(base, [{ path: 'keep', data: randomBytes(50_000, 99) }], { type, blockSize: bs, size: 16 << 20 });

  test(`random writes, truncates and syncs match a flat model (${type}, ${bs}-byte blocks, 128 KiB of frames)`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.constantFrom(4096, 16384), async (ops, pageSize) => {
        const image = join(tmp.dir, `model-${type}-${bs}-${run++}.img`);
        copyFileSync(base, image);
        let model = new Uint8Array(0);
        const vm = new Vm({ memory: 32 * pageSize, pageSize });
        const fs = await vm.mount(image, { readOnly: false });
        const f = await fs.open('/file', { create: true });
        for (const op of ops) {
          if (op.kind === 'write') {
            const data = randomBytes(op.len, op.seed);
            await f.write(op.off, data);
            if (op.off + op.len > model.length) {
              const m = new Uint8Array(op.off + op.len);
              m.set(model);
              model = m;
            }
            model.set(data, op.off);
          } else if (op.kind === 'fill') {
            const data = randomBytes(op.len, op.seed);
            const give = Math.min(op.len, op.limit);
            let at = 0;
            f.advise(op.behind ? 'noreuse' : 'normal');
            const n = await f.writeFrom((frames) => {
              let put = 0;
              for (const v of frames) {
                const k = Math.min(v.length, give - at);
                v.set(data.subarray(at, at + k));
                at += k;
                put += k;
                if (k < v.length) break;
              }
              return put;
            }, op.off, op.len);
            assert.equal(n, give);
            if (give > 0) {
              if (op.off + give > model.length) {
                const m = new Uint8Array(op.off + give);
                m.set(model);
                model = m;
              }
              model.set(data.subarray(0, give), op.off);
            }
          } else if (op.kind === 'truncate') {
            await f.truncate(op.size);
            const m = new Uint8Array(op.size);
            m.set(model.subarray(0, Math.min(op.size, model.length)));
            model = m;
          } else {
            await f.sync();
          }
          assert.equal(f.size, model.length);
        }
        const live = await f.read(0, model.length + 10);
        assert.ok(Buffer.from(live).equals(Buffer.from(model)), 'before unmount');
        await f.close();
        await fs.unmount();

        const vm2 = new Vm({ memory: 32 * pageSize, pageSize });
        const fs2 = await vm2.mount(image);
        const g = await fs2.open('/file');
        const back = await g.read(0, model.length + 10);
        await g.close();
        await fs2.unmount();
        assert.ok(Buffer.from(back).equals(Buffer.from(model)), 'after remount');
        assert.ok(debugfsCat(image, '/file').equals(Buffer.from(model)), 'debugfs agrees');
        assert.ok(debugfsCat(image, '/keep').equals(Buffer.from(randomBytes(50_000, 99))), 'untouched file unchanged');
        const ck = e2fsck(image);
        assert.ok(ck.clean, ck.output);
      }),
      { numRuns: Number(process.env.VMPAGER_MODEL_RUNS ?? 40), seed: Number(process.env.VMPAGER_SEED ?? 20261125) },
    );
  });
}
