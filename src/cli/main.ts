#!/usr/bin/env node
/*
 * The vmpager command: parses the command line against the command table
 * (commands.ts) and runs the handler. Exit status: 0 success, 1 usage, 2 any
 * failure, with one line `vmpager: IMAGE: PATH: reason` on stderr and never
 * a stack trace. A command that only reads opens its image read-only.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commands, findCommand } from './commands.js';
import { exactArgs } from './exact_args.js';
import { releaseAllImageLocks } from '../api/image_hold.js';
import { keepHeapSmall } from './heap_flags.js';
import { options } from './options.js';
import { CommandContext, EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError, failureLine, globalOptions } from './context.js';

// The process's memory is --memory plus a fixed margin (heap_flags.ts).
keepHeapSmall();

const GLOBAL = new Set(['memory', 'page-size', 'stats', 'no-lock', 'timeout', 'connections', 'partition', 'no-verify', 'help', 'version']);

function usage(): string {
  const line = (synopsis: string, help: string): string =>
    synopsis.length < 34 ? `  ${synopsis.padEnd(34)}${help}` : `  ${synopsis}\n  ${''.padEnd(34)}${help}`;
  const lines = commands.map((c) => line(`${c.name} ${c.synopsis}`.trimEnd(), c.help));
  lines.push(line('bench [--json] [--size SIZE]', 'the benchmark table'));
  return `usage: vmpager [global options] COMMAND ...

commands:
${lines.join('\n')}

global options:
  --memory SIZE     page-frame memory (default 64MiB)
  --page-size N     page size, a power of two from 4096 to 65536 (default 4096)
  --stats           print the VM counters as JSON on stderr at exit
  --no-lock         do not lock IMAGE against other vmpager processes
  --timeout SECONDS NBD: give the server up when a transfer waits longer (default: no limit);
                    HTTP: the most one range request may take (default 60)
  --connections N   NBD: connections when the server allows several, 1 to 4 (default 2)
  --partition P     on a whole disk, the partition to use: its number as
                    \`parts\` prints it (2, 5, 1a) or its name or label
  --no-verify       read past metadata checksum mismatches (ext4) with a warning
  -h, --help        this text
  --version         the version

IMAGE is an image file holding ext2, ext3, ext4, UFS1, UFS2 or FAT12/16/32 (found from the superblock),
or a whole disk with MBR, GPT or BSD disklabel partitions, or an NBD export: nbd://host[:port]/export (port 10809 by default) or nbd+unix:///export?socket=PATH,
or an image on a web server that answers range requests: http(s)://host/disk.img (read-only).
SIZE is bytes or 64KiB, 64M, 1GiB, ... (K, M, G are powers of 1024).
`;
}

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

/** parseArgs' refusal in vmpager's words (its own run on past one line, quotes unbalanced). */
function argsError(e: Error & { code?: string }): string {
  const m = /^(?:Unknown option|Option) '([^' ]+)/.exec(e.message);
  const opt = m?.[1] ?? '';
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${opt} (a path or value that starts with '-' goes after '--')`;
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /ambiguous/.test(e.message) ? `${opt}: a value that starts with '-' is written ${opt}=VALUE` : `${opt} needs a value`;
  }
  return e.message.split('\n')[0];
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
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    throw new UsageError(argsError(e as Error & { code?: string }));
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`vmpager ${version()}\n`);
    return EXIT_OK;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? process.stdout : process.stderr).write(usage());
    return values.help ? EXIT_OK : EXIT_USAGE;
  }
  const [name, ...args] = positionals;
  const command = findCommand(name);
  if (command === null) throw new UsageError(`unknown command '${name}' (see vmpager --help)`);
  const synopsis = `usage: vmpager ${command.name} ${command.synopsis}`.trimEnd();
  for (const opt of Object.keys(values)) {
    if (GLOBAL.has(opt) || command.options.includes(opt)) continue;
    // Named as given: -x is xattr's --remove, and ln takes no -x.
    const given = parsed.tokens.find((t) => t.kind === 'option' && t.name === opt);
    throw new UsageError(`${command.name} takes no ${given?.kind === 'option' ? given.rawName : `--${opt}`} (${synopsis})`);
  }
  if (args.length < command.min || args.length > command.max) throw new UsageError(synopsis);
  const ctx = new CommandContext(globalOptions(values), values, args);
  try {
    const status = await command.run(ctx);
    // Mount warnings go out only when the command succeeded: a failure is its own lines alone.
    if (status === EXIT_OK) for (const w of ctx.warnings) process.stderr.write(`vmpager: ${args[0]}: warning: ${w}\n`);
    return status;
  } finally {
    const vm = ctx.vmIfMade;
    if (ctx.g.stats && vm !== null) process.stderr.write(JSON.stringify({ ...vm.stats(), maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
  }
}

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  // A reader that went away (`vmpager cat ... | head`) is not a failure.
  if (e.code === 'EPIPE') process.exit(EXIT_OK);
  process.stderr.write(`vmpager: stdout: ${e.message}\n`);
  process.exit(EXIT_FAIL);
});

let settled = false;
// Node ends a process whose work ran out even while its command still waits:
// that is a wait nothing will end (a bug), never a success.
process.on('beforeExit', () => {
  if (settled) return;
  settled = true;
  process.stderr.write('vmpager: internal error: the command stopped waiting for something that never came (nothing more is written)\n');
  process.exitCode = EXIT_FAIL;
});

// Ended by a signal (Ctrl-C, SIGTERM, a closed terminal), as it would be, but without leaving its image
// lock folders behind (a kill leaves the image as it was; the locks the next command would recover).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    releaseAllImageLocks();
    process.kill(process.pid, sig);
  });
}

run(exactArgs(process.argv.slice(2))).then(
  (status) => {
    settled = true;
    process.exitCode = status;
  },
  (e: unknown) => {
    settled = true;
    if ((e as NodeJS.ErrnoException)?.code === 'EPIPE') return; // the reader went away: not a failure
    process.stderr.write(failureLine(e) + '\n');
    if (process.env.VMPAGER_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = e instanceof UsageError ? EXIT_USAGE : EXIT_FAIL;
  },
);
