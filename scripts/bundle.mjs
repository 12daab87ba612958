#!/usr/bin/env node
/*
 * Bundles the command line into dist/vmpager.mjs (and dist/chunks/, the
 * parts only some commands load), after tsc has built dist/src. Node 20
 * loads each ES module separately (resolve, read, compile, link): for our
 * ~85 modules that is ~80 ms before `vmpager cat` reads a byte, against
 * ~15 ms for one file. The library (dist/src) is
 * not bundled: importers load what they use.
 * Then the browser entry (dist/src/api/browser.js) into
 * dist/browser/vmpager.js, for `vmpager/browser` and the explorer page
 * (web/, served by `vmpager serve`): platform 'browser', no polyfills, and
 * any import of a Node built-in fails the build, naming who imported it.
 * dist/web/ is then the explorer page as static files (web/ and the
 * bundle), for any web server.
 *   node scripts/bundle.mjs
 */

import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noNodeBuiltins } from './no_node_builtins.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

rmSync(join(root, 'dist/chunks'), { recursive: true, force: true });
await build({
  entryPoints: { vmpager: join(root, 'dist/src/cli/main.js') },
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  // What only some commands need (bench, serve, NBD, the host's xattrs) is a chunk of its own,
  // loaded by its import(): a `cat` does not pay for loading node:http or node:child_process.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The ext2fs package is the bench's optional peer, loaded at run time if installed.
  external: ['ext2fs'],
  logLevel: 'warning',
});

const browserOut = join(root, 'dist/browser/vmpager.js');
await build({
  entryPoints: [join(root, 'dist/src/api/browser.js')],
  outfile: browserOut,
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  plugins: [noNodeBuiltins(root)],
  logLevel: 'warning',
});
const staticDir = join(root, 'dist/web');
mkdirSync(staticDir, { recursive: true });
for (const f of readdirSync(join(root, 'web'))) copyFileSync(join(root, 'web', f), join(staticDir, f));
for (const f of ['vmpager.js', 'vmpager.js.map']) copyFileSync(join(root, 'dist/browser', f), join(staticDir, f));
if (process.env.VMPAGER_BUNDLE_SIZE) console.log(`dist/browser/vmpager.js: ${statSync(browserOut).size} bytes`);
