/*
 * The command under test: the bundled CLI, dist/vmpager.mjs, which is what
 * `vmpager` runs once installed (package.json "bin"). `npm test` builds it
 * with the modules; test/cli/cli.test.ts also checks it against them.
 */

import { fileURLToPath } from 'node:url';

/** dist/vmpager.mjs (this file compiles to dist/test/helpers/cli.js). */
export const CLI = fileURLToPath(new URL('../../vmpager.mjs', import.meta.url));

/** The unbundled entry point, dist/src/cli/main.js. */
export const CLI_MODULES = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
