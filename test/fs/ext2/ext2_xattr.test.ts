/*
 * Extended attributes on ext2 and ext4 (1 KiB and 4 KiB blocks, 128- and
 * 256-byte inodes, with and without metadata_csum), judged by debugfs
 * (ea_list, ea_get, ea_set) and e2fsck -fn after every step: attributes of
 * every namespace in the inode body and spilled to a block, both ways; a
 * block shared by two inodes copied on change; an emptied block freed; the
 * limits Linux answers with ENOSPC, E2BIG, ERANGE, ENODATA, ENOTSUP.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, VmError, type MountedFs } from '../../../src/api/index.js';
import { debugfs, e2fsck, mkext2, randomBytes, tempDir } from '../../helpers/images.js';

const tmp = tempDir();
after(() => tmp.cleanup());

async function withFs<T>(image: string, fn: (fs: MountedFs) => Promise<T>, readOnly = false): Promise<T> {
  const fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly });
  try {
    return await fn(fs);
  } finally {
    await fs.unmount();
  }
}

/** A changing step, then e2fsck -fn must find the image clean. */
async function step(image: string, what: string, fn: (fs: MountedFs) => Promise<void>): Promise<void> {
  await withFs(image, fn);
  const ck = e2fsck(image);
  assert.ok(ck.clean, `${what}: ${ck.output}`);
}

/** The names debugfs ea_list shows. */
function eaNames(image: string, path: string): string[] {
  return [...debugfs(image, `ea_list ${path}`).matchAll(/^ {2}(\S+) \(\d+\)/gm)].map((m) => m[1]).sort();
}

/** A value as debugfs ea_get writes it to a file. */
function eaGet(image: string, path: string, name: string, raw = false): Buffer {
  const out = join(tmp.dir, 'ea.out');
  writeFileSync(out, '');
  debugfs(image, `ea_get ${raw ? '-r ' : ''}-f ${out} ${path} ${name}`);
  return readFileSync(out);
}

function eaSet(image: string, path: string, name: string, value: Uint8Array): void {
  const f = join(tmp.dir, 'ea.in');
  writeFileSync(f, value);
  debugfs(image, `ea_set -f ${f} ${path} ${name}`, true);
}

function statField(image: string, path: string, re: RegExp): number {
  const m = re.exec(debugfs(image, `stat ${path}`));
  assert.ok(m !== null, `debugfs stat ${path}: ${re}`);
  return Number(m[1]);
}

const fileAcl = (image: string, path: string) => statField(image, path, /File ACL: (\d+)/);
const blockInUse = (image: string, b: number) => /marked in use/.test(debugfs(image, `testb ${b}`));
const isCode = (code: string) => (e: unknown) => e instanceof VmError && e.code === code;

/** A POSIX ACL in the attribute form (version 2): user::rw-, user:1000:r--, group::r--, mask::r--, other::---. */
function posixAcl(shortId: number): Uint8Array {
  const entries: [number, number, number][] = [[1, 6, shortId], [2, 4, 1000], [4, 4, shortId], [0x10, 4, shortId], [0x20, 0, shortId]];
  const b = new Uint8Array(4 + entries.length * 8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 2, true);
  entries.forEach(([tag, perm, id], i) => {
    dv.setUint16(4 + i * 8, tag, true);
    dv.setUint16(6 + i * 8, perm, true);
    dv.setUint32(8 + i * 8, id, true);
  });
  return b;
}

const configs = [
  { type: 'ext2', blockSize: 1024, inodeSize: 128, extra: [] as string[] },
  { type: 'ext2', blockSize: 4096, inodeSize: 256, extra: [] as string[] },
  { type: 'ext4', blockSize: 1024, inodeSize: 256, extra: ['-O', 'metadata_csum'] },
  { type: 'ext4', blockSize: 4096, inodeSize: 128, extra: ['-O', 'metadata_csum'] },
] as const;

for (const c of configs) {
  describe(`${c.type}, ${c.blockSize}-byte blocks, ${c.inodeSize}-byte inodes`, () => {
    const image = join(tmp.dir, `${c.type}-${c.blockSize}-${c.inodeSize}.img`);
    const files = ['a', 'b', 's1', 's2', 'r', 'lim'].map((p, i) => ({ path: p, data: randomBytes(100 + i, i + 1) }));
    mkext2(image, [...files, { path: 'd', dir: true }], { type: c.type, blockSize: c.blockSize, size: 8 << 20, extra: ['-I', String(c.inodeSize), ...c.extra] });
    const inBody = c.inodeSize > 128;
    const spb = c.blockSize / 512;

    test('attributes debugfs sets, of every namespace, small and spilled to a block, read back equal', async () => {
      const want = new Map<string, Uint8Array>([
        ['user.small', new TextEncoder().encode('hello')],
        ['trusted.t', randomBytes(24, 7)],
        ['security.selinux', new TextEncoder().encode('system_u:object_r:etc_t:s0\0')],
        ['user.big', randomBytes(c.blockSize / 2, 8)],
      ]);
      for (const [n, v] of want) eaSet(image, '/a', n, v);
      eaSet(image, '/d', 'user.ondir', new TextEncoder().encode('dir'));
      assert.ok(fileAcl(image, '/a') !== 0, 'the big value went to a block');
      await withFs(image, async (fs) => {
        assert.deepEqual((await fs.listxattr('/a')).sort(), [...want.keys()].sort());
        for (const [n, v] of want) assert.deepEqual(Buffer.from(await fs.getxattr('/a', n)), Buffer.from(v), n);
        assert.equal(Buffer.from(await fs.getxattr('/d', 'user.ondir')).toString(), 'dir');
        await assert.rejects(fs.getxattr('/a', 'user.absent'), isCode('ENODATA'));
      }, true);
    });

    test('attributes vmpager sets are what debugfs ea_get reads, in the inode and in a block', async () => {
      const blocks = statField(image, '/b', /Blockcount: (\d+)/);
      const small = new Map<string, Uint8Array>([
        ['user.k', new TextEncoder().encode('v')],
        ['trusted.overlay.opaque', new TextEncoder().encode('y')],
      ]);
      await step(image, 'set small', async (fs) => {
        for (const [n, v] of small) await fs.setxattr('/b', n, v);
      });
      assert.equal(fileAcl(image, '/b') !== 0, !inBody, inBody ? 'small values stay in a 256-byte inode' : '128-byte inodes have no room');
      small.set('security.capability', randomBytes(20, 3)).set('user.empty', new Uint8Array(0));
      await step(image, 'set more', async (fs) => {
        await fs.setxattr('/b', 'security.capability', small.get('security.capability')!);
        await fs.setxattr('/b', 'user.empty', '');
      });
      assert.deepEqual(eaNames(image, '/b'), [...small.keys()].sort());
      for (const [n, v] of small) assert.deepEqual(eaGet(image, '/b', n), Buffer.from(v), n);

      const big = randomBytes(c.blockSize - 400, 11);
      await step(image, 'set big', (fs) => fs.setxattr('/b', 'user.big', big));
      assert.notEqual(fileAcl(image, '/b'), 0);
      assert.deepEqual(eaGet(image, '/b', 'user.big'), Buffer.from(big));
      await step(image, 'replace small', (fs) => fs.setxattr('/b', 'user.k', 'a longer value now'));
      assert.equal(eaGet(image, '/b', 'user.k').toString(), 'a longer value now');
      for (const [n, v] of small) if (n !== 'user.k') assert.deepEqual(eaGet(image, '/b', n), Buffer.from(v), n);
      assert.equal(statField(image, '/b', /Blockcount: (\d+)/), blocks + spb, 'one attribute block counted');
    });

    test('a POSIX ACL is stored in ext4 disk form: debugfs reads it back as set', async () => {
      const acl = posixAcl(0);
      await step(image, 'set acl', (fs) => fs.setxattr('/d', 'system.posix_acl_access', acl));
      assert.deepEqual(eaGet(image, '/d', 'system.posix_acl_access'), Buffer.from(acl));
      const raw = eaGet(image, '/d', 'system.posix_acl_access', true);
      assert.equal(raw.readUInt32LE(0), 1, 'the disk form is version 1');
      assert.equal(raw.length, 4 + 4 * 4 + 8, 'four short entries and one with its id');
      await withFs(image, async (fs) => {
        // As Linux gives it: the id of entries that have none is ACL_UNDEFINED_ID.
        assert.deepEqual(Buffer.from(await fs.getxattr('/d', 'system.posix_acl_access')), Buffer.from(posixAcl(0xffffffff)));
      }, true);
      await withFs(image, async (fs) => {
        await assert.rejects(fs.setxattr('/d', 'system.posix_acl_default', 'not an acl'), isCode('EINVAL'));
      });
    });

    test('a block shared by two inodes: a change on one copies it, the other keeps its attributes', async () => {
      eaSet(image, '/s1', 'user.shared', randomBytes(c.blockSize / 2, 21));
      const b = fileAcl(image, '/s1');
      assert.notEqual(b, 0);
      debugfs(image, `sif /s2 file_acl ${b}`, true);
      debugfs(image, `sif /s2 blocks ${statField(image, '/s2', /Blockcount: (\d+)/) + spb}`, true);
      spawnSync('e2fsck', ['-fy', image]); // sets h_refcount to 2, as e2fsck counts the references
      assert.ok(e2fsck(image).clean, 'a shared block e2fsck accepts');
      await step(image, 'change s1', (fs) => fs.setxattr('/s1', 'user.mine', 'only s1'.repeat(30))); // too big for the inode body
      assert.notEqual(fileAcl(image, '/s1'), b, 's1 has a copy');
      assert.equal(fileAcl(image, '/s2'), b, 's2 keeps the block');
      assert.deepEqual(eaNames(image, '/s2'), ['user.shared']);
      assert.deepEqual(eaGet(image, '/s2', 'user.shared'), Buffer.from(randomBytes(c.blockSize / 2, 21)));
      assert.deepEqual(eaNames(image, '/s1'), ['user.mine', 'user.shared']);
      assert.equal(eaGet(image, '/s1', 'user.mine').toString(), 'only s1'.repeat(30));
      assert.deepEqual(eaGet(image, '/s1', 'user.shared'), Buffer.from(randomBytes(c.blockSize / 2, 21)));
      await step(image, 'remove from s2', (fs) => fs.removexattr('/s2', 'user.shared'));
      assert.equal(fileAcl(image, '/s2'), 0);
      assert.ok(!blockInUse(image, b), 'the last reference gone, the block is free');
    });

    test('removing the last attribute of a block frees it and gives its i_blocks back', async () => {
      const before = statField(image, '/r', /Blockcount: (\d+)/);
      await step(image, 'set', (fs) => fs.setxattr('/r', 'user.big', randomBytes(c.blockSize - 100, 5)));
      const b = fileAcl(image, '/r');
      assert.ok(b !== 0 && blockInUse(image, b));
      assert.equal(statField(image, '/r', /Blockcount: (\d+)/), before + spb);
      await step(image, 'remove', (fs) => fs.removexattr('/r', 'user.big'));
      assert.equal(fileAcl(image, '/r'), 0);
      assert.ok(!blockInUse(image, b));
      assert.equal(statField(image, '/r', /Blockcount: (\d+)/), before);
      assert.deepEqual(eaNames(image, '/r'), []);
    });

    test('limits: ENOSPC past a block, E2BIG past 64 KiB, ERANGE for long names, ENODATA, ENOTSUP, EEXIST; nothing changed', async () => {
      const fill = c.blockSize - 32 - 4 - 20; // header, terminator, the entry: the value fills the block exactly
      await step(image, 'limits', async (fs) => {
        await fs.setxattr('/lim', 'user.fill', randomBytes(fill, 9));
        await assert.rejects(fs.setxattr('/lim', 'user.more', randomBytes(inBody ? 200 : 1, 1)), isCode('ENOSPC'));
        await assert.rejects(fs.setxattr('/lim', 'user.huge', new Uint8Array(65537)), isCode('E2BIG'));
        await assert.rejects(fs.setxattr('/lim', 'user.' + 'n'.repeat(251), 'v'), isCode('ERANGE'));
        await assert.rejects(fs.setxattr('/lim', 'bogus.name', 'v'), isCode('EOPNOTSUPP'));
        await assert.rejects(fs.setxattr('/lim', 'user.', 'v'), isCode('EINVAL'));
        await assert.rejects(fs.removexattr('/lim', 'user.absent'), isCode('ENODATA'));
        await assert.rejects(fs.setxattr('/lim', 'user.fill', 'x', { flag: 'create' }), isCode('EEXIST'));
        await assert.rejects(fs.setxattr('/lim', 'user.absent', 'x', { flag: 'replace' }), isCode('ENODATA'));
      });
      assert.deepEqual(eaNames(image, '/lim'), ['user.fill']);
      assert.deepEqual(eaGet(image, '/lim', 'user.fill'), Buffer.from(randomBytes(fill, 9)));
    });

    test('a read-only mount refuses changes with EROFS', async () => {
      await withFs(image, async (fs) => {
        await assert.rejects(fs.setxattr('/a', 'user.x', 'v'), isCode('EROFS'));
        await assert.rejects(fs.removexattr('/a', 'user.small'), isCode('EROFS'));
      }, true);
    });
  });
}

test('a feature turned on in a revision 0 file system (an attribute, a file of 2 GiB) makes it dynamic, so the feature survives the next mount (as the kernel does)', async () => {
  const image = join(tmp.dir, 'rev0.img');
  mkext2(image, [{ path: 'a', data: randomBytes(100, 1) }], { type: 'ext2', blockSize: 1024, size: 4 << 20, extra: ['-r', '0'] });
  await step(image, 'setxattr', (fs) => fs.setxattr('/a', 'user.x', 'hello'));
  await step(image, 'a later mount', async (fs) => {
    await fs.mkdir('/d');
  });
  await step(image, 'truncate to 3 GiB', async (fs) => {
    const f = await fs.open('/a');
    await f.truncate(3 * 2 ** 30);
    await f.close();
  });
  await step(image, 'a later mount', async (fs) => {
    await fs.mkdir('/e');
  });
  const sb = spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' }).stdout;
  assert.match(sb, /^Filesystem revision #:\s+1 /m);
  assert.match(sb, /^Filesystem features:.*ext_attr.*large_file/m);
  assert.match(sb, /^Inode size:\s+128$/m);
  assert.match(sb, /^First inode:\s+11$/m);
  assert.deepEqual(eaGet(image, '/a', 'user.x'), Buffer.from('hello'));
});

test('FAT keeps no extended attributes: ENOTSUP', async () => {
  const image = join(tmp.dir, 'fat.img');
  const r = spawnSync('mkfs.fat', ['-C', image, '1024'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await withFs(image, async (fs) => {
    await (await fs.open('/f', { create: true })).close();
    await assert.rejects(fs.listxattr('/f'), isCode('EOPNOTSUPP'));
    await assert.rejects(fs.getxattr('/f', 'user.x'), isCode('EOPNOTSUPP'));
    await assert.rejects(fs.setxattr('/f', 'user.x', 'v'), isCode('EOPNOTSUPP'));
  });
});

test('ea_inode: values kept in inodes of their own read back whole (listed and got); a value inode that is not one is damage', async () => {
  const image = join(tmp.dir, 'ea_inode.img');
  mkext2(image, [{ path: 'a', data: randomBytes(100, 1) }, { path: 'b', data: randomBytes(100, 2) }], { type: 'ext4', blockSize: 4096, size: 8 << 20, extra: ['-O', 'ea_inode'] });
  // (debugfs's ea_set -f reads a block's worth at most: the values go on its command line, as letters.)
  const letters = (n: number, seed: number) => Uint8Array.from(randomBytes(n, seed), (b) => 0x61 + (b % 26));
  const big = letters(10000, 3);
  const big2 = letters(6000, 4);
  eaSet(image, '/a', 'user.small', new TextEncoder().encode('s'));
  debugfs(image, `ea_set /a user.big ${Buffer.from(big).toString()}`, true);
  debugfs(image, `ea_set /a trusted.big2 ${Buffer.from(big2).toString()}`, true);
  spawnSync('e2fsck', ['-fy', image]); // (debugfs leaves the file's i_blocks short of the value inodes' share)
  assert.ok(e2fsck(image).clean, 'an image e2fsck accepts');
  assert.match(debugfs(image, 'ea_list /a'), /user\.big \(10000\)/);
  await withFs(image, async (fs) => {
    assert.deepEqual((await fs.listxattr('/a')).sort(), ['trusted.big2', 'user.big', 'user.small']);
    assert.deepEqual(Buffer.from(await fs.getxattr('/a', 'user.big')), Buffer.from(big));
    assert.deepEqual(Buffer.from(await fs.getxattr('/a', 'trusted.big2')), Buffer.from(big2));
    assert.equal(Buffer.from(await fs.getxattr('/a', 'user.small')).toString(), 's');
  }, true);
  // The value inodes carry EXT4_EA_INODE_FL; one without it is not taken as a value.
  const valueInodes: number[] = [];
  for (let ino = 12; ino < 40; ino++) {
    if (/Flags: 0x2[0-9a-f]{5}\b/.test(debugfs(image, `stat <${ino}>`))) valueInodes.push(ino);
  }
  assert.equal(valueInodes.length, 2, 'two value inodes');
  for (const ino of valueInodes) debugfs(image, `sif <${ino}> flags 0x80000`, true);
  await withFs(image, async (fs) => {
    await assert.rejects(fs.getxattr('/a', 'user.big'), isCode('EINTEGRITY'));
    assert.equal(Buffer.from(await fs.getxattr('/a', 'user.small')).toString(), 's');
  }, true);
});

test('user.* attributes only on regular files and directories (EPERM on a symlink or a FIFO, as Linux); trusted.* anywhere', async () => {
  const image = join(tmp.dir, 'user-ns.img');
  mkext2(image, [{ path: 'f', data: randomBytes(10, 1) }, { path: 'sl', symlink: 'f' }, { path: 'd', dir: true }], { type: 'ext4', blockSize: 4096, size: 8 << 20 });
  await step(image, 'set', async (fs) => {
    await fs.mknod('/fifo', 'fifo');
    await assert.rejects(fs.setxattr('/sl', 'user.a', '1', { follow: false }), isCode('EPERM'));
    await assert.rejects(fs.setxattr('/fifo', 'user.a', '1'), isCode('EPERM'));
    await assert.rejects(fs.removexattr('/sl', 'user.a', { follow: false }), isCode('EPERM'));
    await fs.setxattr('/sl', 'trusted.a', '1', { follow: false });
    await fs.setxattr('/sl', 'user.a', 'through the link');
    await fs.setxattr('/d', 'user.a', 'dir');
  });
  assert.deepEqual(eaNames(image, '/sl'), ['trusted.a']);
  assert.equal(eaGet(image, '/f', 'user.a').toString(), 'through the link');
  assert.deepEqual(eaNames(image, '/fifo'), []);
});

test('an ACL of its header alone removes the ACL (as setfattr does on Linux), the mode kept; on a file, a default one of none is no error', async () => {
  const image = join(tmp.dir, 'acl-empty.img');
  mkext2(image, [{ path: 'f', data: randomBytes(10, 1) }, { path: 'd', dir: true }], { type: 'ext4', blockSize: 4096, size: 8 << 20 });
  const none = Uint8Array.of(2, 0, 0, 0);
  await step(image, 'set, then none', async (fs) => {
    await fs.setxattr('/f', 'system.posix_acl_access', posixAcl(0));
    await fs.setxattr('/d', 'system.posix_acl_default', posixAcl(0));
    const mode = (await fs.stat('/f')).mode;
    await fs.setxattr('/f', 'system.posix_acl_access', none);
    await fs.setxattr('/d', 'system.posix_acl_default', none);
    await fs.setxattr('/d', 'system.posix_acl_access', none); // (none there: nothing to do)
    await fs.setxattr('/f', 'system.posix_acl_default', none);
    assert.equal((await fs.stat('/f')).mode, mode);
    await assert.rejects(fs.getxattr('/f', 'system.posix_acl_access'), isCode('ENODATA'));
  });
  assert.deepEqual(eaNames(image, '/f'), []);
  assert.deepEqual(eaNames(image, '/d'), []);
});

test('a change of attributes stamps the change time to the nanosecond (not the seconds alone)', async () => {
  const image = join(tmp.dir, 'xattr-ctime.img');
  mkext2(image, [{ path: 'f', data: randomBytes(10, 1) }], { type: 'ext4', blockSize: 4096, size: 8 << 20 });
  const ns = (s: number, n: number) => BigInt(s) * 1_000_000_000n + BigInt(n);
  for (const change of [(fs: MountedFs) => fs.setxattr('/f', 'user.a', '1'), (fs: MountedFs) => fs.removexattr('/f', 'user.a')]) {
    // An old change time, its nanoseconds odd, that a seconds-only stamp would leave behind.
    debugfs(image, 'sif /f ctime 20000101000000', true);
    debugfs(image, 'sif /f ctime_extra 0x3b9ac9fc', true); // (nanoseconds 249999999 << 2)
    const before = BigInt(Date.now()) * 1_000_000n - 1_000_000n;
    await step(image, 'change', change);
    const after = BigInt(Date.now()) * 1_000_000n + 1_000_000n;
    await withFs(image, async (fs) => {
      const st = await fs.stat('/f');
      const t = ns(st.ctime, st.ctimeNsec ?? -1);
      assert.ok(t >= before && t <= after, `ctime ${st.ctime}.${st.ctimeNsec} within the change`);
    }, true);
  }
});
