/*
 * The vmpager commands as one table: name, operands, the options each takes,
 * a help line, and the handler. main.ts parses the command line against it,
 * --help is printed from it, and every handler mounts through withMount(),
 * so a new verb is one entry here.
 */

import { hostName } from './host_names.js';
import { openPutSource, put, removeLeftovers } from './put.js';
import { cat, stdoutSink } from './cat.js';
import { mkfsCommand } from './mkfs.js';
import { demo } from './demo.js';
import { lsPrint } from './ls.js';
import { formatStat, statJson } from './stat.js';
import { partsCommand } from './parts.js';
import { EXIT_FAIL, EXIT_OK, UsageError, escapeName, type CommandContext } from './context.js';
import { EINVAL, EISDIR, ENOTDIR, ENOTEMPTY, EPERM, VmError } from '../api/errors.js';
import { parseSize } from '../api/size.js';
import { joinPath, type MountedFs } from '../api/mounted_fs.js';
import { parseMode } from './modes.js';
import { copyIn } from './copy_in.js';
import { HostTreeReader } from './host_tree_reader.js';
import { get } from './get.js';
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { Buffer } from 'node:buffer';
import { formatXattrValue, parseXattrValue, xattrText } from './xattr.js';

export interface Command {
  name: string;
  /** Operands and command options, as the usage line shows them. */
  synopsis: string;
  help: string;
  /** How many operands it takes. */
  min: number;
  max: number;
  /** The command's own options (names in main.ts's option table); the global ones go with every command. */
  options: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

/** The last name of a path ('' for the root). */
function lastName(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? '';
}

/** The directory a path's last name is in ('/' for a name in the root). */
function parentOf(path: string): string {
  const names = path.split('/').filter(Boolean);
  return `/${names.slice(0, -1).join('/')}`;
}

/**
 * Are from and to two names of one file (not a directory), the link count
 * says so, and not one entry named twice (the same directory, names that
 * differ in case at most: FAT, or a casefolded directory)?
 */
async function sameFileTwoNames(fs: MountedFs, from: string, to: string): Promise<boolean> {
  const a = await fs.stat(from, { follow: false, blockMap: false }).catch(() => null);
  const b = await fs.stat(to, { follow: false, blockMap: false }).catch(() => null);
  if (a === null || b === null || a.ino !== b.ino || a.type === 'dir' || a.nlink < 2) return false;
  if (lastName(from).toLowerCase() !== lastName(to).toLowerCase()) return true;
  const pa = await fs.stat(parentOf(from), { follow: true, blockMap: false }).catch(() => null);
  const pb = await fs.stat(parentOf(to), { follow: true, blockMap: false }).catch(() => null);
  return pa === null || pb === null || pa.ino !== pb.ino;
}

export const commands: readonly Command[] = [
  {
    name: 'ls',
    synopsis: '[-R] [--json] IMAGE [PATH]',
    help: 'entries of a directory (-R: the whole tree)',
    min: 1,
    max: 2,
    options: ['recursive', 'json'],
    async run(ctx) {
      const recursive = ctx.values.recursive === true;
      const json = ctx.values.json === true;
      // --json keeps the walk's order (the contract); the listing a person reads is sorted, one line an entry.
      await ctx.withMount(ctx.args[0], 'read', (fs) => lsPrint(fs, ctx.args[1] ?? '/', recursive, json, (s) => process.stdout.write(s)));
      return EXIT_OK;
    },
  },
  {
    name: 'cat',
    synopsis: 'IMAGE PATH...',
    help: 'file bytes to stdout, symlinks followed (like cat(1): a failed PATH is reported and the rest go on)',
    min: 2,
    max: Infinity,
    options: [],
    async run(ctx) {
      const failures = await ctx.withMount(ctx.args[0], 'read', (fs) => cat(fs, ctx.args.slice(1), stdoutSink(), ctx.report));
      return failures === 0 ? EXIT_OK : EXIT_FAIL;
    },
  },
  {
    name: 'stat',
    synopsis: '[--json] IMAGE PATH',
    help: 'inode fields and the block map',
    min: 2,
    max: 2,
    options: ['json'],
    async run(ctx) {
      const path = ctx.args[1];
      const [st, partition] = await ctx.withMount(ctx.args[0], 'read', async (fs) => [await fs.stat(path), fs.partition] as const);
      process.stdout.write(ctx.values.json === true ? JSON.stringify(statJson(path, st, partition)) + '\n' : formatStat(path, st, partition));
      return EXIT_OK;
    },
  },
  {
    name: 'put',
    synopsis: '[-r] [--owner UID:GID] IMAGE PATH [--from FILE|DIR]',
    help: 'create or replace PATH (atomically) with stdin or FILE; -r: the tree DIR into directory PATH, merging, with modes, owners, times and links; --owner: the owner given to what is put',
    min: 2,
    max: 2,
    options: ['from', 'recurse', 'owner'],
    async run(ctx) {
      if (ctx.values.recurse === true) {
        if (ctx.values.from === undefined) throw new UsageError('put -r needs --from DIR');
        const dir = String(ctx.values.from);
        if (!isHostDir(dir)) {
          const there = statSync(hostName(dir), { throwIfNoEntry: false }) !== undefined;
          throw new UsageError(`put -r: --from: ${there ? 'not a directory' : 'no such file or directory'}: ${dir}`);
        }
        const owner = parseOwner(ctx.values.owner);
        HostTreeReader.prewarm(); // the reading thread starts beside the mount (host_tree_reader.ts)
        await ctx.withMount(ctx.args[0], 'write', async (fs) => {
          const st = await fs.stat(ctx.args[1]).catch(() => null);
          if (st === null) await fs.mkdir(ctx.args[1]);
          await copyIn(fs, ctx.args[1], dir, { owner });
        });
        return EXIT_OK;
      }
      const owner = parseOwner(ctx.values.owner);
      // The source is opened before the image: one that cannot be read changes nothing.
      const src = ctx.values.from === undefined ? null : openPutSource(String(ctx.values.from));
      try {
        await ctx.withMount(ctx.args[0], 'write', (fs) => put(fs, ctx.args[1], src, owner));
      } finally {
        src?.close();
      }
      return EXIT_OK;
    },
  },
  {
    name: 'get',
    synopsis: 'IMAGE PATH [DEST]',
    help: "a file or a tree out to the host, like cp -a (into DEST if it is a directory; '-': stdout)",
    min: 2,
    max: 3,
    options: [],
    async run(ctx) {
      const [image, path] = ctx.args;
      const name = path.split('/').filter(Boolean).pop();
      if (ctx.args[2] === undefined && name === undefined) throw new UsageError('get of / needs DEST');
      const dest = ctx.args[2] ?? name!;
      if (dest === '-') {
        const failures = await ctx.withMount(image, 'read', (fs) => cat(fs, [path], stdoutSink(), ctx.report));
        return failures === 0 ? EXIT_OK : EXIT_FAIL;
      }
      await ctx.withMount(image, 'read', (fs) => get(fs, path, dest, (msg) => process.stderr.write(`vmpager: ${image}: warning: ${escapeName(msg)}\n`)));
      return EXIT_OK;
    },
  },
  {
    name: 'mkdir',
    synopsis: '[-p] IMAGE PATH',
    help: 'make a directory (-p: and its missing parents; an existing one is fine)',
    min: 2,
    max: 2,
    options: ['parents'],
    async run(ctx) {
      await ctx.withMount(ctx.args[0], 'write', (fs) => fs.mkdir(ctx.args[1], { recursive: ctx.values.parents === true }));
      return EXIT_OK;
    },
  },
  {
    name: 'rm',
    synopsis: '[-r] IMAGE PATH',
    help: 'remove a file, symlink or empty directory (-r: a directory and all below it)',
    min: 2,
    max: 2,
    options: ['recurse'],
    async run(ctx) {
      await ctx.withMount(ctx.args[0], 'write', (fs) => fs.rm(ctx.args[1], { recursive: ctx.values.recurse === true }));
      return EXIT_OK;
    },
  },
  {
    name: 'truncate',
    synopsis: 'IMAGE PATH SIZE',
    help: "set a file's size",
    min: 3,
    max: 3,
    options: [],
    async run(ctx) {
      const size = parseSize(ctx.args[2]);
      if (size === null) throw new UsageError(`truncate: not a size: ${ctx.args[2]}`);
      await ctx.withMount(ctx.args[0], 'write', async (fs) => {
        const f = await fs.open(ctx.args[1]);
        try {
          await f.truncate(size);
        } finally {
          await f.close();
        }
      });
      return EXIT_OK;
    },
  },
  {
    name: 'mv',
    synopsis: 'IMAGE FROM TO',
    help: 'rename, like mv(1): into TO if it is a directory; a file at TO is replaced atomically',
    min: 3,
    max: 3,
    options: [],
    async run(ctx) {
      const [image, from, to] = ctx.args;
      await ctx.withMount(image, 'write', async (fs) => {
        // Into TO where it is a directory or a symlink to one (mv(1) follows it: /lib -> usr/lib on a merged /usr).
        const st = await fs.stat(to, { follow: true, blockMap: false }).catch(() => null);
        const name = from.split('/').filter(Boolean).pop() ?? from;
        // On FAT, TO may be FROM itself in another case (/boot to /BOOT): that is a rename, not a move into itself.
        const self = st?.type === 'dir' && (await fs.stat(from, { follow: false }).catch(() => null))?.ino === st.ino && lastName(from) !== lastName(to);
        const dest = st?.type === 'dir' && !self ? joinPath(to, name) : to;
        // A name onto itself (mv /f /f, or /d/f into /d): mv(1) refuses it.
        const norm = (p: string) => posix.normalize(`/${p}`).replace(/(.)\/$/, '$1');
        // So are two names of one file (hard links), where rename(2) would leave both. (Two names that differ only
        // in case in one directory may be one entry, on FAT or in a casefolded directory: that is a rename.)
        if ((norm(from) === norm(dest) && lastName(from) !== '.' && lastName(from) !== '..') || (await sameFileTwoNames(fs, from, dest))) {
          throw new VmError(EINVAL, 'rename', image, from, `'${from}' and '${dest}' are the same file`);
        }
        // What a killed put or mv left in the directory written goes first, as put does.
        const dir = dest.slice(0, dest.lastIndexOf('/')) || '/';
        if ((await fs.stat(dir).catch(() => null))?.type === 'dir') await removeLeftovers(fs, dir);
        await fs.rename(from, dest).catch(async (e: unknown) => {
          // A directory onto a file, or onto a directory that is not empty (and a file onto a directory): TO's
          // fault, so TO is named, as mv(1) names it.
          const toTarget = e instanceof VmError && e.path === from && (e.errno === ENOTDIR || e.errno === EISDIR || e.errno === ENOTEMPTY);
          if (toTarget && (await fs.stat(dest, { follow: false, blockMap: false }).catch(() => null)) !== null) throw new VmError(e.errno, 'rename', e.image, dest);
          throw e;
        });
      });
      return EXIT_OK;
    },
  },
  {
    name: 'ln',
    synopsis: '[-s] IMAGE TARGET LINK',
    help: 'a hard link LINK to the file TARGET (-s: a symbolic link holding TARGET); into LINK if it is a directory, like ln(1)',
    min: 3,
    max: 3,
    options: ['symbolic'],
    async run(ctx) {
      const [image, target, link] = ctx.args;
      await ctx.withMount(image, 'write', async (fs) => {
        // Into LINK where it is a directory or a symlink to one, named as TARGET's last name (as ln(1) does).
        const st = await fs.stat(link, { follow: true, blockMap: false }).catch(() => null);
        const at = st?.type === 'dir' && lastName(target) !== '' ? joinPath(link, lastName(target)) : link;
        await (ctx.values.symbolic === true ? fs.symlink(target, at) : fs.link(target, at));
      });
      return EXIT_OK;
    },
  },
  {
    name: 'chmod',
    synopsis: 'IMAGE MODE PATH',
    help: "set PATH's permission bits: octal (755) or symbolic (u+x,go-w)",
    min: 3,
    max: 3,
    options: [],
    async run(ctx) {
      const [image, spec, path] = ctx.args;
      if (parseMode(spec, 0, false) === null) throw new UsageError(`chmod: not a mode: ${spec}`);
      await ctx.withMount(image, 'write', async (fs) => {
        const st = await fs.stat(path);
        await fs.chmod(path, parseMode(spec, st.mode, st.type === 'dir')!).catch((e: unknown) => {
          if (e instanceof VmError && e.errno === EPERM && fs.type.startsWith('fat') && st.type === 'file') {
            throw new VmError(EPERM, 'chmod', image, path, 'FAT keeps only a read-only attribute: a file is 644 or 444');
          }
          throw e;
        });
      });
      return EXIT_OK;
    },
  },
  {
    name: 'chown',
    synopsis: 'IMAGE UID[:GID] PATH',
    help: "set PATH's owner (and group; :GID alone: the group), as numbers; set-ID bits drop as chown(1) drops them",
    min: 3,
    max: 3,
    options: [],
    async run(ctx) {
      const [image, spec, path] = ctx.args;
      const { uid, gid } = ownerSpec(spec);
      await ctx.withMount(image, 'write', (fs) => fs.chown(path, uid, gid));
      return EXIT_OK;
    },
  },
  {
    name: 'touch',
    synopsis: 'IMAGE PATH [--date ISO]',
    help: "set PATH's access and modification times to now (or --date), making an empty file if there is none",
    min: 2,
    max: 2,
    options: ['date'],
    async run(ctx) {
      const [image, path] = ctx.args;
      const when = ctx.values.date === undefined ? new Date() : touchDate(String(ctx.values.date));
      if (when instanceof Date && Number.isNaN(when.getTime())) throw new UsageError(`touch: --date: not a date: ${String(ctx.values.date)}`);
      await ctx.withMount(image, 'write', async (fs) => {
        await (await fs.open(path, { create: true })).close();
        await fs.utimes(path, when, when);
      });
      return EXIT_OK;
    },
  },
  {
    name: 'xattr',
    synopsis: '[--json] [--no-dereference] IMAGE PATH [NAME [VALUE]] | -x IMAGE PATH NAME',
    help: "PATH's extended attributes: all as name=value, NAME's value, NAME set to VALUE (text or 0xHEX); -x removes NAME; --no-dereference: a symlink's own (getfattr -h)",
    min: 2,
    max: 4,
    options: ['json', 'remove', 'no-dereference'],
    async run(ctx) {
      const [image, path, name, value] = ctx.args;
      const json = ctx.values.json === true;
      const follow = ctx.values['no-dereference'] !== true;
      if (ctx.values.remove === true) {
        if (name === undefined || value !== undefined) throw new UsageError('xattr -x takes IMAGE PATH NAME');
        await ctx.withMount(image, 'write', (fs) => fs.removexattr(path, name, { follow }));
        return EXIT_OK;
      }
      if (value !== undefined) {
        const bytes = parseXattrValue(value);
        if (bytes === null) throw new UsageError(`xattr: not an even run of hex digits after 0x: ${value}`);
        await ctx.withMount(image, 'write', (fs) => fs.setxattr(path, name, bytes, { follow }));
        return EXIT_OK;
      }
      const found = await ctx.withMount(image, 'read', async (fs) => {
        const names = name !== undefined ? [name] : await fs.listxattr(path, { follow });
        const out: [string, Uint8Array][] = [];
        for (const n of names) out.push([n, await fs.getxattr(path, n, { follow })]);
        return out;
      });
      if (json) {
        const rows = found.map(([n, v]) => ({ name: n, text: xattrText(v), hex: Buffer.from(v).toString('hex') }));
        process.stdout.write(JSON.stringify(name !== undefined ? rows[0] : rows) + '\n');
      } else if (name !== undefined) {
        process.stdout.write(formatXattrValue(found[0][1]) + '\n');
      } else {
        process.stdout.write(found.map(([n, v]) => `${escapeName(n)}=${formatXattrValue(v)}\n`).join(''));
      }
      return EXIT_OK;
    },
  },
  {
    name: 'mkfs',
    synopsis: '[--type ext2|ext4|fat] [--fat 12|16|32] [--block-size N] [--label L] [--from DIR [--owner UID:GID]] [--force] IMAGE SIZE',
    help: 'format IMAGE as ext2, ext4 or FAT (and copy DIR into it); an image holding a file system or partition table needs --force',
    min: 2,
    max: 2,
    options: ['type', 'fat', 'block-size', 'label', 'from', 'force', 'owner'],
    async run(ctx) {
      if (ctx.g.partition !== undefined) throw new UsageError('mkfs: --partition does not apply (mkfs formats the whole image)');
      const size = parseSize(ctx.args[1]);
      if (size === null || size === 0) throw new UsageError(`mkfs: not a size: ${ctx.args[1]}`);
      const v = ctx.values;
      if (v.owner !== undefined && v.from === undefined) throw new UsageError('mkfs: --owner goes with --from (the owner of the tree copied in)');
      await mkfsCommand(ctx, ctx.args[0], size, {
        type: v.type as string | undefined,
        blockSize: v['block-size'] as string | undefined,
        from: v.from as string | undefined,
        force: v.force === true,
        owner: parseOwner(v.owner),
        fat: v.fat as string | undefined,
        label: v.label as string | undefined,
      });
      return EXIT_OK;
    },
  },
  {
    name: 'parts',
    synopsis: '[--json] IMAGE',
    help: 'the partitions of a whole disk and the file system each holds',
    min: 1,
    max: 1,
    options: ['json'],
    run(ctx) {
      if (ctx.g.partition !== undefined) throw new UsageError('parts: --partition does not apply');
      return partsCommand(ctx.vm, ctx.args[0], ctx.values.json === true, ctx.g.timeout, ctx.g.lock, ctx.g.connections);
    },
  },
  {
    name: 'serve',
    synopsis: '[--port N] [IMAGE]',
    help: 'the explorer page on http://127.0.0.1:N/ (default 8080; 0: any free port), IMAGE with HTTP ranges at /image',
    min: 0,
    max: 1,
    options: ['port'],
    async run(ctx) {
      const text = ctx.values.port === undefined ? '8080' : String(ctx.values.port);
      if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`--port: a port number from 0 to 65535, not ${text}`);
      if (ctx.g.partition !== undefined) throw new UsageError('serve: --partition does not apply (the page chooses the partition)');
      // Loaded here: the HTTP server is no cost to the other commands.
      const { serveCommand } = await import('./serve.js');
      return serveCommand({ port: Number(text), image: ctx.args[0] ?? null, memory: ctx.g.memory, pageSize: ctx.g.pageSize });
    },
  },
  {
    name: 'demo',
    synopsis: '',
    help: 'a guided tour of the pager on a built-in image',
    min: 0,
    max: 0,
    options: [],
    run: (ctx) => demo(ctx.g),
  },
];

/**
 * touch --date: an ISO time, or @SECONDS since the epoch; digits of a second's fraction past the
 * millisecond a Date keeps are kept as nanoseconds (bigint nanoseconds).
 * A day the month does not have is not a date (JavaScript's parser takes
 * 2026-02-30 as March 2nd).
 */
function touchDate(s: string): Date | bigint {
  // @SECONDS[.FRACTION] since the epoch, as touch -d takes it.
  const epoch = /^@([+-]?\d+)(?:[.,](\d{1,9}))?$/.exec(s.trim());
  if (epoch !== null) return BigInt(epoch[1]) * 1_000_000_000n + (epoch[1].startsWith('-') ? -1n : 1n) * BigInt((epoch[2] ?? '').padEnd(9, '0'));
  const ymd = /^\s*([+-]?\d{4,6})-(\d\d)-(\d\d)/.exec(s);
  if (ymd !== null && Number(ymd[3]) > new Date(Date.UTC(Number(ymd[1]), Number(ymd[2]), 0)).getUTCDate()) return new Date(NaN);
  // A date alone is local midnight, as touch(1) takes it (JavaScript reads a bare ISO date as UTC).
  const d = new Date(/^\d{4}-\d\d-\d\d$/.test(s.trim()) ? `${s.trim()}T00:00` : s);
  const frac = /T\d\d:\d\d:\d\d[.,](\d{4,9})/.exec(s);
  if (Number.isNaN(d.getTime()) || frac === null) return d;
  const sec = BigInt(Math.floor(d.getTime() / 1000));
  return sec * 1_000_000_000n + BigInt(frac[1].padEnd(9, '0'));
}

/**
 * chown's UID[:GID] or :GID, as numbers (-1 for what stays). `UID:` is
 * refused: chown(1) gives the user's login group there, which only the
 * image's own user database could tell. (4294967295 is (uid_t)-1,
 * "unchanged" to chown(2): no owner, as GNU chown refuses it.)
 */
function ownerSpec(spec: string): { uid: number; gid: number } {
  const m = /^(\d*)(?::(\d*))?$/.exec(spec);
  const bad = (n: string | undefined) => n !== undefined && n !== '' && Number(n) > 0xfffffffe;
  if (m === null || (m[1] === '' && (m[2] ?? '') === '') || bad(m[1]) || bad(m[2])) throw new UsageError(`chown: not UID[:GID] or :GID in numbers: ${spec}`);
  if (m[1] !== '' && m[2] === '') throw new UsageError(`chown: ${spec}: give the group's number after ':' (the login group chown(1) takes there is the image's to tell)`);
  return { uid: m[1] === '' ? -1 : Number(m[1]), gid: m[2] === undefined ? -1 : Number(m[2]) };
}

/** --owner UID:GID, or null when not given. */
function parseOwner(v: unknown): { uid: number; gid: number } | null {
  if (v === undefined) return null;
  const m = /^(\d+):(\d+)$/.exec(String(v));
  if (m === null || Number(m[1]) > 0xfffffffe || Number(m[2]) > 0xfffffffe) throw new UsageError(`--owner: not UID:GID in numbers: ${String(v)}`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** A host directory, or a symlink to one (followed, as mke2fs -d follows it). */
function isHostDir(path: string): boolean {
  return statSync(hostName(path), { throwIfNoEntry: false })?.isDirectory() === true;
}

/** The command named `name`, or null. */
export function findCommand(name: string): Command | null {
  return commands.find((c) => c.name === name) ?? null;
}
