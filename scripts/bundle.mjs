#!/usr/bin/env node
/*
 * Bundles the command line, after tsc has built dist/src:
 *   dist/vmpager.cjs  the whole command, one CommonJS file (Node 20 loads
 *                     each ES module separately: for our ~85 modules that
 *                     was ~80 ms before `vmpager cat` read a byte). What only
 *                     some commands need (bench, serve, NBD, node:http,
 *                     node:child_process) is evaluated on first use only.
 *   dist/vmpager.mjs  what `vmpager` runs (src/cli/launch.ts): runs
 *                     vmpager.cjs through V8's code cache (compile_cache.ts),
 *                     which only a CommonJS script can use in Node 20.
 * The library (dist/src) is not bundled: importers load what they use.
 * Then the browser entry (dist/src/api/browser.js) into
 * dist/browser/vmpager.js, for `vmpager/browser` and the explorer page
 * (web/, served by `vmpager serve`): platform 'browser', no polyfills, and
 * any import of a Node built-in fails the build, naming who imported it.
 * dist/web/ is then the explorer page as static files (web/ and the
 * bundle), for any web server.
 *   node scripts/bundle.mjs
 */

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noNodeBuiltins } from './no_node_builtins.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

rmSync(join(root, 'dist/chunks'), { recursive: true, force: true }); // the split ES bundle's parts, before this layout
const cli = join(root, 'dist/vmpager.cjs');
await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile: cli,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // import() becomes require(): the code cache's script (a vm.Script) has no ES module loader of its own.
  supported: { 'dynamic-import': false },
  // Strict, as the ES modules it is made from were; import.meta.url (the version, the explorer page's
  // files, the bench's peers) is this file's URL.
  banner: { js: '"use strict"; var import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': 'import_meta_url' },
  // The ext2fs package is the bench's optional peer, loaded at run time if installed.
  external: ['ext2fs'],
  logLevel: 'warning',
});
// main.ts's #! line would end the code cache's function wrapper: the same line as a comment keeps line
// numbers. The last line is the bundle's SHA-256, part of its code cache's name (src/cli/compile_cache.ts).
let text = readFileSync(cli, 'utf8');
if (text.startsWith('#!')) text = '//' + text.slice(2);
if (!text.endsWith('\n')) text += '\n';
writeFileSync(cli, `${text}//# vmpager-sha256=${createHash('sha256').update(text).digest('hex')}\n`);

await build({
  entryPoints: [join(root, 'dist/src/cli/launch.js')],
  outfile: join(root, 'dist/vmpager.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
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
