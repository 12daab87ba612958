#!/usr/bin/env node
/*
 * Bundles the command line into one file, dist/vmpager.mjs, after tsc has
 * built dist/src. Node 20 loads each ES module separately (resolve, read,
 * compile, link): for our ~85 modules that is ~80 ms before `vmpager cat`
 * reads a byte, against ~15 ms for one file. The library (dist/src) is
 * not bundled: importers load what they use.
 *   node scripts/bundle.mjs
 */

import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile: join(root, 'dist/vmpager.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The ext2fs package is the bench's optional peer, loaded at run time if installed.
  external: ['ext2fs'],
  logLevel: 'warning',
});
