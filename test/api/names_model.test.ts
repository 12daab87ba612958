/*
 * A model test of the name operations: random sequences of create, write,
 * rename (files and directories, over files and empty directories, into
 * themselves), link, unlink, mkdir, rmdir, chmod, setxattr and removexattr
 * (values spilling from the inode to an attribute block), each run against an
 * in-memory model of the tree; a failing step must fail with the model's
 * errno. After each run the image is remounted and compared whole (names,
 * types, bytes, link counts, modes, extended attributes) and e2fsck -fn
 * must find it clean.
 *   VMPAGER_NAMES_RUNS=50 VMPAGER_NAMES_OPS=200 for a longer run
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Vm, VmError, type MountedFs } from '../../src/api/index.js';
import { e2fsck, mkext2, tempDir } from '../helpers/images.js';

const RUNS = Number(process.env.VMPAGER_NAMES_RUNS ?? 4);
const OPS = Number(process.env.VMPAGER_NAMES_OPS ?? 80);
const tmp = tempDir();
after(() => tmp.cleanup());

const XATTR_NAMES = ['user.a', 'user.bb', 'trusted.c', 'security.d'];

type Node = { kind: 'dir' } | { kind: 'file'; id: number };

class Model {
  readonly nodes = new Map<string, Node>([['/', { kind: 'dir' }]]);
  readonly data = new Map<number, Uint8Array>();
  readonly modes = new Map<number | string, number>();
  /** Extended attributes, keyed as modes are: a file's id, a directory's path. */
  readonly xattrs = new Map<number | string, Map<string, Uint8Array>>();
  private nextId = 1;

  parent(p: string): string {
    return p.slice(0, p.lastIndexOf('/')) || '/';
  }
  children(dir: string): string[] {
    return [...this.nodes.keys()].filter((p) => p !== '/' && this.parent(p) === dir);
  }
  links(id: number): number {
    let n = 0;
    for (const v of this.nodes.values()) if (v.kind === 'file' && v.id === id) n++;
    return n;
  }
  /** The errno a call would fail with, or '' when it succeeds (and then it is applied). */
  create(p: string, bytes: Uint8Array): string {
    const up = this.nodes.get(this.parent(p));
    if (up?.kind !== 'dir') return up === undefined ? 'ENOENT' : 'ENOTDIR';
    if (this.nodes.has(p)) return 'EEXIST';
    const id = this.nextId++;
    this.nodes.set(p, { kind: 'file', id });
    this.data.set(id, bytes);
    this.modes.set(id, 0o644);
    return '';
  }
  mkdir(p: string): string {
    const up = this.nodes.get(this.parent(p));
    if (up?.kind !== 'dir') return up === undefined ? 'ENOENT' : 'ENOTDIR';
    if (this.nodes.has(p)) return 'EEXIST';
    this.nodes.set(p, { kind: 'dir' });
    this.modes.set(p, 0o755);
    this.xattrs.delete(p);
    return '';
  }
  unlink(p: string): string {
    const n = this.nodes.get(p);
    if (n === undefined) return 'ENOENT';
    if (n.kind === 'dir') return 'EISDIR';
    this.nodes.delete(p);
    return '';
  }
  rmdir(p: string): string {
    const n = this.nodes.get(p);
    if (n === undefined) return 'ENOENT';
    if (n.kind !== 'dir') return 'ENOTDIR';
    if (this.children(p).length > 0) return 'ENOTEMPTY';
    this.nodes.delete(p);
    this.modes.delete(p);
    this.xattrs.delete(p);
    return '';
  }
  key(p: string): number | string | null {
    const n = this.nodes.get(p);
    return n === undefined ? null : n.kind === 'file' ? n.id : p;
  }
  setxattr(p: string, name: string, v: Uint8Array): string {
    const k = this.key(p);
    if (k === null) return 'ENOENT';
    if (!this.xattrs.has(k)) this.xattrs.set(k, new Map());
    this.xattrs.get(k)!.set(name, v);
    return '';
  }
  removexattr(p: string, name: string): string {
    const k = this.key(p);
    if (k === null) return 'ENOENT';
    return this.xattrs.get(k)?.delete(name) ? '' : 'ENODATA';
  }
  link(from: string, to: string): string {
    const n = this.nodes.get(from);
    if (n === undefined) return 'ENOENT';
    const up = this.nodes.get(this.parent(to));
    if (up?.kind !== 'dir') return up === undefined ? 'ENOENT' : 'ENOTDIR';
    if (this.nodes.has(to)) return 'EEXIST';
    if (n.kind === 'dir') return 'EPERM';
    this.nodes.set(to, n);
    return '';
  }
  rename(from: string, to: string): string {
    const n = this.nodes.get(from);
    if (n === undefined) return 'ENOENT';
    const up = this.nodes.get(this.parent(to));
    if (up?.kind !== 'dir') return up === undefined ? 'ENOENT' : 'ENOTDIR';
    if (to === from) return '';
    if (n.kind === 'dir' && to.startsWith(from + '/')) return 'EINVAL';
    const t = this.nodes.get(to);
    if (t !== undefined) {
      if (n.kind === 'file' && t.kind === 'file' && t.id === n.id) return '';
      if (n.kind === 'file' && t.kind === 'dir') return 'EISDIR';
      if (n.kind === 'dir' && t.kind === 'file') return 'ENOTDIR';
      if (n.kind === 'dir' && this.children(to).length > 0) return 'ENOTEMPTY';
    }
    const moved = [...this.nodes.entries()].filter(([p]) => p === from || p.startsWith(from + '/'));
    for (const [p] of moved) this.nodes.delete(p);
    if (t !== undefined) this.nodes.delete(to);
    for (const [p, v] of moved) this.nodes.set(to + p.slice(from.length), v);
    if (n.kind === 'dir') {
      if (t !== undefined) this.xattrs.delete(to);
      for (const map of [this.modes, this.xattrs] as Map<number | string, unknown>[]) {
        const moving = [...map.entries()].filter(([k]) => typeof k === 'string' && (k === from || k.startsWith(from + '/')));
        for (const [k] of moving) map.delete(k);
        for (const [k, v] of moving) map.set(to + (k as string).slice(from.length), v);
      }
    }
    return '';
  }
}

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return '';
  } catch (e) {
    if (e instanceof VmError) return e.code;
    throw e;
  }
}

async function compare(fs: MountedFs, m: Model, what: string): Promise<void> {
  for (const [p, n] of m.nodes) {
    const st = await fs.stat(p, { follow: false });
    assert.equal(st.type, n.kind === 'dir' ? 'dir' : 'file', `${what}: ${p} type`);
    const xa = m.xattrs.get(m.key(p)!) ?? new Map<string, Uint8Array>();
    assert.deepEqual((await fs.listxattr(p)).sort(), [...xa.keys()].sort(), `${what}: ${p} xattr names`);
    for (const [name, v] of xa) assert.ok(Buffer.from(await fs.getxattr(p, name)).equals(Buffer.from(v)), `${what}: ${p} ${name}`);
    if (n.kind === 'file') {
      const f = await fs.open(p);
      const got = await f.read(0, f.size + 1);
      await f.close();
      assert.ok(Buffer.from(got).equals(Buffer.from(m.data.get(n.id)!)), `${what}: ${p} bytes`);
      assert.equal(st.nlink, m.links(n.id), `${what}: ${p} links`);
      assert.equal(st.mode & 0o7777, m.modes.get(n.id), `${what}: ${p} mode`);
    } else {
      const names = (await fs.readdir(p)).map((e) => e.name).filter((x) => x !== 'lost+found').sort();
      assert.deepEqual(names, m.children(p).map((c) => c.slice(c.lastIndexOf('/') + 1)).sort(), `${what}: ${p} entries`);
      if (p !== '/') assert.equal(st.mode & 0o7777, m.modes.get(p), `${what}: ${p} mode`);
    }
  }
}

for (const [type, bs] of [['ext2', 1024], ['ext2', 4096], ['ext4', 1024], ['ext4', 4096]] as const) {
  test(`random name operations on ${type} with ${bs}-byte blocks match the model (${RUNS} runs of ${OPS}), remounted and e2fsck-clean`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const image = join(tmp.dir, `names-${type}-${bs}-${run}.img`);
      mkext2(image, [], { type, blockSize: bs, size: 8 << 20 });
      const r = rng(run * 7919 + bs);
      const m = new Model();
      const names = ['a', 'b', 'c', 'd'];
      const pick = (): string => {
        const all = [...m.nodes.keys()];
        if (r(4) === 0) {
          const dirs = all.filter((p) => m.nodes.get(p)!.kind === 'dir');
          const d = dirs[r(dirs.length)];
          return (d === '/' ? '' : d) + '/' + names[r(names.length)];
        }
        const p = all[r(all.length)];
        return p === '/' ? '/a' : p;
      };
      let fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
      for (let i = 0; i < OPS; i++) {
        const op = r(10);
        const p = pick();
        const q = pick();
        const what = `run ${run} op ${i}`;
        const bytes = new Uint8Array(r(3) === 0 ? r(20_000) : r(300)).map((_, k) => (k * 31 + i) & 0xff);
        let want: string;
        let got: string;
        switch (op) {
          case 0: {
            want = m.create(p, bytes);
            got = await outcome(
              (async () => {
                const up = await fs.stat(p.slice(0, p.lastIndexOf('/')) || '/');
                if (up.type !== 'dir') throw new VmError(20, 'open', image, p);
                const exists = await fs.stat(p, { follow: false }).then(() => true, () => false);
                if (exists) throw new VmError(17, 'open', image, p);
                const f = await fs.open(p, { create: true });
                await f.write(0, bytes);
                await f.close();
              })(),
            );
            break;
          }
          case 1: {
            const n = m.nodes.get(p);
            if (n?.kind !== 'file') continue;
            m.data.set(n.id, bytes);
            want = '';
            got = await outcome((async () => {
              const f = await fs.open(p);
              await f.truncate(0);
              await f.write(0, bytes);
              await f.close();
            })());
            break;
          }
          case 2:
          case 3:
            want = m.rename(p, q);
            got = await outcome(fs.rename(p, q));
            break;
          case 4:
            want = m.link(p, q);
            got = await outcome(fs.link(p, q));
            break;
          case 5:
            want = m.unlink(p);
            got = await outcome(fs.unlink(p));
            break;
          case 6:
            if (r(2) === 0) {
              want = m.mkdir(p);
              got = await outcome(fs.mkdir(p));
            } else {
              want = m.rmdir(p);
              got = await outcome(fs.rmdir(p));
            }
            break;
          case 7:
          case 8: {
            if (p === '/') continue;
            const name = XATTR_NAMES[r(XATTR_NAMES.length)];
            if (op === 7) {
              const v = new Uint8Array(r(2) === 0 ? r(12) : r(200)).map((_, k) => (k * 7 + i) & 0xff); // 4 of 200 fit a 1 KiB block
              want = m.setxattr(p, name, v);
              got = await outcome(fs.setxattr(p, name, v, { follow: false }));
            } else {
              want = m.removexattr(p, name);
              got = await outcome(fs.removexattr(p, name, { follow: false }));
            }
            break;
          }
          default: {
            const n = m.nodes.get(p);
            if (n === undefined || p === '/') continue;
            const mode = r(0o7777 + 1);
            m.modes.set(n.kind === 'file' ? n.id : p, mode);
            want = '';
            got = await outcome(fs.chmod(p, mode));
          }
        }
        assert.equal(got, want, `${what}: op ${op} ${p} ${q}`);
        if (i % 25 === 24) {
          await fs.unmount();
          fs = await new Vm({ memory: 1 << 20 }).mount(image, { readOnly: false });
        }
      }
      await fs.unmount();
      const ck = e2fsck(image);
      assert.ok(ck.clean, `run ${run}: ${ck.output}`);
      const ro = await new Vm().mount(image);
      await compare(ro, m, `run ${run}`);
      await ro.unmount();
    }
  });
}
