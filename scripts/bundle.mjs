#!/usr/bin/env node
/*
 * Bundles the command line into one file, dist/vmpager.mjs, after tsc has
 * built dist/src. Node 20 loads each ES module separately (resolve, read,
 * compile, link): for our ~85 modules that is ~80 ms before `vmpager cat`
 * reads a byte, against ~15 ms for one file. The library (dist/src) is
 * not bundled: importers load what they use.
 * Then the browser entry (dist/src/api/browser.js) into
 * dist/browser/vmpager.js, for `vmpager/browser` and the explorer page
 * (web/, served by `vmpager serve`): platform 'browser', no polyfills, and
 * any import of a Node built-in fails the build, naming who imported it.
 *   node scripts/bundle.mjs
 */

import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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

/** Refuses node:* and bare built-in names ('fs', 'buffer', ...) in the browser bundle. */
const noNode = {
  name: 'no-node-builtins',
  setup(b) {
    const builtins = new Set(builtinModules);
    b.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, '').split('/')[0];
      if (!args.path.startsWith('node:') && !builtins.has(bare)) return undefined;
      return { errors: [{ text: `the browser bundle must not import the Node built-in '${args.path}' (imported by ${relative(root, args.importer)})` }] };
    });
  },
};

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
  plugins: [noNode],
  logLevel: 'warning',
});
if (process.env.VMPAGER_BUNDLE_SIZE) console.log(`dist/browser/vmpager.js: ${statSync(browserOut).size} bytes`);
