#!/usr/bin/env node
/*
 * The vmpager command. Exit status: 0 success, 1 usage, 2 any failure, with
 * one line `vmpager: IMAGE: PATH: reason` on stderr and never a stack trace.
 * A command that only reads opens its image read-only.
 */

import { closeSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cat, stdoutSink } from './cat.js';
import { EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError, failureLine, globalOptions, makeVm, mountReadOnly, mountReadWrite } from './context.js';
import { openPutSource, put } from './put.js';
import { mkfsCommand } from './mkfs.js';
import { parseSize } from '../api/size.js';
import { demo } from './demo.js';
import { formatLsLine, ls } from './ls.js';
import { formatStat, statJson } from './stat.js';
import type { Vm } from '../api/vm.js';
import type { MountedFs } from '../api/mounted_fs.js';

const USAGE = `usage: vmpager [global options] COMMAND ...

commands:
  ls [-R] [--json] IMAGE [PATH]   entries of a directory (-R: the whole tree)
  cat IMAGE PATH...               file bytes to stdout, symlinks followed
  stat [--json] IMAGE PATH        inode fields and the block map
  put IMAGE PATH [--from FILE]    create or replace PATH with stdin (or FILE)
  mkdir IMAGE PATH                make a directory
  rm IMAGE PATH                   remove a file, symlink or empty directory
  truncate IMAGE PATH SIZE        set a file's size
  mkfs [--type ext2] [--block-size N] [--from DIR] IMAGE SIZE
                                  format IMAGE as ext2 (and copy DIR into it)
  demo                            a guided tour of the pager on a built-in image
  bench [--json] [--size SIZE]    the benchmark table

global options:
  --memory SIZE     page-frame memory (default 64MiB)
  --page-size N     page size, a power of two from 4096 to 65536 (default 4096)
  --stats           print the VM counters as JSON on stderr at exit
  -h, --help        this text
  --version         the version

IMAGE is an image file (ext2, ext3 or ext4), or an NBD export: nbd://host[:port]/export
(port 10809 by default) or nbd+unix:///export?socket=PATH. SIZE is bytes or 64KiB, 64M, 1GiB, ...
`;

const options = {
  memory: { type: 'string' },
  'page-size': { type: 'string' },
  stats: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  recursive: { type: 'boolean', short: 'R' },
  json: { type: 'boolean' },
  from: { type: 'string' },
  type: { type: 'string' },
  'block-size': { type: 'string' },
} as const;

/** Our package.json's version: the first package.json above this file (dist/src/cli/main.js or the bundle dist/vmpager.mjs). */
function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vmpager' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // none here: look higher
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

function needArgs(args: string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw new UsageError(`usage: vmpager ${usage}`);
}

async function run(argv: string[]): Promise<number> {
  // `bench` takes options of its own: hand it everything after its name.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  if (first !== undefined && first.kind === 'positional' && first.value === 'bench') {
    const { benchMain } = await import('./bench.js');
    return benchMain(argv.slice(first.index + 1));
  }

  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`vmpager ${version()}\n`);
    return EXIT_OK;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? EXIT_OK : EXIT_USAGE;
  }
  const g = globalOptions(values);
  const [command, ...args] = positionals;
  let vm: Vm | null = null;
  // Mount warnings go out once the command has succeeded: a failure is one line.
  let warnings: readonly string[] = [];
  try {
    switch (command) {
      case 'ls': {
        needArgs(args, 1, 2, 'ls [-R] [--json] IMAGE [PATH]');
        vm = makeVm(g);
        const fs = await mountReadOnly(vm, args[0]);
        warnings = fs.warnings;
        const recursive = values.recursive === true;
        const out: string[] = [];
        const entries: unknown[] = [];
        try {
          await ls(fs, args[1] ?? '/', recursive, (e) => {
            if (values.json) entries.push(e);
            else out.push(formatLsLine(e, recursive));
          });
        } finally {
          await fs.unmount();
        }
        process.stdout.write(values.json ? JSON.stringify(entries) + '\n' : out.map((l) => l + '\n').join(''));
        return EXIT_OK;
      }
      case 'cat': {
        needArgs(args, 2, Infinity, 'cat IMAGE PATH...');
        vm = makeVm(g);
        const fs = await mountReadOnly(vm, args[0]);
        warnings = fs.warnings;
        try {
          await cat(fs, args.slice(1), stdoutSink());
        } finally {
          await fs.unmount();
        }
        return EXIT_OK;
      }
      case 'stat': {
        needArgs(args, 2, 2, 'stat [--json] IMAGE PATH');
        vm = makeVm(g);
        const fs = await mountReadOnly(vm, args[0]);
        warnings = fs.warnings;
        try {
          const st = await fs.stat(args[1]);
          process.stdout.write(values.json ? JSON.stringify(statJson(args[1], st)) + '\n' : formatStat(args[1], st));
        } finally {
          await fs.unmount();
        }
        return EXIT_OK;
      }
      case 'put': {
        needArgs(args, 2, 2, 'put IMAGE PATH [--from FILE]');
        const src = values.from === undefined ? null : openPutSource(values.from);
        vm = makeVm(g);
        let fs: MountedFs;
        try {
          fs = await mountReadWrite(vm, args[0]);
        } catch (e) {
          if (src !== null) closeSync(src.fd);
          throw e;
        }
        try {
          await put(fs, args[1], src);
        } finally {
          await fs.unmount();
        }
        return EXIT_OK;
      }
      case 'mkdir':
      case 'rm': {
        needArgs(args, 2, 2, `${command} IMAGE PATH`);
        vm = makeVm(g);
        const fs = await mountReadWrite(vm, args[0]);
        try {
          if (command === 'mkdir') await fs.mkdir(args[1]);
          else await fs.rm(args[1]);
        } finally {
          await fs.unmount();
        }
        return EXIT_OK;
      }
      case 'truncate': {
        needArgs(args, 3, 3, 'truncate IMAGE PATH SIZE');
        const size = parseSize(args[2]);
        if (size === null) throw new UsageError(`truncate: not a size: ${args[2]}`);
        vm = makeVm(g);
        const fs = await mountReadWrite(vm, args[0]);
        try {
          const f = await fs.open(args[1]);
          try {
            await f.truncate(size);
          } finally {
            await f.close();
          }
        } finally {
          await fs.unmount();
        }
        return EXIT_OK;
      }
      case 'mkfs': {
        needArgs(args, 2, 2, 'mkfs [--type ext2] [--block-size N] [--from DIR] IMAGE SIZE');
        const size = parseSize(args[1]);
        if (size === null) throw new UsageError(`mkfs: not a size: ${args[1]}`);
        vm = makeVm(g);
        await mkfsCommand(vm, args[0], size, { type: values.type, blockSize: values['block-size'], from: values.from });
        return EXIT_OK;
      }
      case 'demo':
        needArgs(args, 0, 0, 'demo');
        return await demo(g);
      default:
        throw new UsageError(`unknown command '${command}' (see vmpager --help)`);
    }
  } catch (e) {
    warnings = [];
    throw e;
  } finally {
    for (const w of warnings) process.stderr.write(`vmpager: ${args[0]}: warning: ${w}\n`);
    if (g.stats && vm !== null) process.stderr.write(JSON.stringify({ ...vm.stats(), maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
  }
}

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  // A reader that went away (`vmpager cat ... | head`) is not a failure.
  if (e.code === 'EPIPE') process.exit(EXIT_OK);
  process.stderr.write(`vmpager: stdout: ${e.message}\n`);
  process.exit(EXIT_FAIL);
});

run(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (e: unknown) => {
    if ((e as NodeJS.ErrnoException)?.code === 'EPIPE') return; // the reader went away: not a failure
    process.stderr.write(failureLine(e) + '\n');
    if (process.env.VMPAGER_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = e instanceof UsageError ? EXIT_USAGE : EXIT_FAIL;
  },
);
