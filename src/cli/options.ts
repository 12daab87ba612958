/*
 * The command line's options, as parseArgs takes them (main.ts), and the
 * command a command line names, found as main.ts finds it (launch.ts sets
 * the V8 flags of that command before the bundle is compiled: heap_flags.ts).
 *   parseArgs({ args, options, ... })
 *   commandOf(argv)   // { name, values } or null
 */

import { parseArgs } from 'node:util';

/** Every option parseArgs knows; those in GLOBAL go with every command, the rest with the commands that name them. */
export const options = {
  memory: { type: 'string' },
  'page-size': { type: 'string' },
  stats: { type: 'boolean' },
  'no-lock': { type: 'boolean' },
  timeout: { type: 'string' },
  connections: { type: 'string' },
  'no-verify': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  recursive: { type: 'boolean', short: 'R' },
  recurse: { type: 'boolean', short: 'r' },
  parents: { type: 'boolean', short: 'p' },
  json: { type: 'boolean' },
  from: { type: 'string' },
  type: { type: 'string' },
  'block-size': { type: 'string' },
  force: { type: 'boolean' },
  fat: { type: 'string' },
  label: { type: 'string' },
  symbolic: { type: 'boolean', short: 's' },
  remove: { type: 'boolean', short: 'x' },
  'no-dereference': { type: 'boolean' },
  date: { type: 'string' },
  owner: { type: 'string' },
  partition: { type: 'string' },
  port: { type: 'string' },
} as const;

/** A command line as read: the command's name, its operands and the options given. */
export interface Command {
  name: string;
  operands: string[];
  values: Record<string, string | boolean | undefined>;
}

/** The command argv names (its first positional), its operands and the options given, or null where it names none. */
export function commandOf(argv: string[]): Command | null {
  const { values, positionals } = parseArgs({ args: argv, options, strict: false, allowPositionals: true });
  if (positionals.length === 0) return null;
  return { name: positionals[0], operands: positionals.slice(1), values: values as Record<string, string | boolean | undefined> };
}
