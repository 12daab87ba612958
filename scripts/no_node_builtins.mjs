/*
 * An esbuild plugin that refuses Node's built-in modules (node:fs, 'buffer',
 * ...), naming the importer: the browser bundle's build fails on one rather
 * than shipping it or a polyfill. Used by scripts/bundle.mjs; the design
 * test shows it failing on a synthetic entry.
 *   await build({ ..., plugins: [noNodeBuiltins(root)] })
 */

import { builtinModules } from 'node:module';
import { relative } from 'node:path';

export function noNodeBuiltins(root) {
  const builtins = new Set(builtinModules);
  return {
    name: 'no-node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.replace(/^node:/, '').split('/')[0];
        if (!args.path.startsWith('node:') && !builtins.has(bare)) return undefined;
        return { errors: [{ text: `the browser bundle must not import the Node built-in '${args.path}' (imported by ${relative(root, args.importer)})` }] };
      });
    },
  };
}
