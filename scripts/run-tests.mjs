#!/usr/bin/env node
/*
 * The test runner behind `npm test`: runs every compiled `*.test.js` under
 * dist/test with node's own runner (Node 20 does not expand globs itself).
 *   node scripts/run-tests.mjs [--only=DIR,...] [node --test options...]
 * --only keeps the files under those directories of dist/test (npm run
 * test:unit: kern, vfs, vm, the sub-second unit tests). Other arguments go
 * to node before the files; the exit status is node's.
 * The TAP reporter is the default so the summary reads `# tests N`,
 * `# pass N`, `# fail N` on a terminal too; pass --test-reporter to change it.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const testDir = join(root, 'dist', 'test');

/** Every *.test.js below dir, sorted, as paths relative to the repo root. */
function findTests(dir) {
  const found = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) found.push(...findTests(p));
    else if (e.isFile() && e.name.endsWith('.test.js')) found.push(relative(root, p));
  }
  return found.sort();
}

if (!existsSync(testDir)) {
  console.error(`run-tests: ${relative(root, testDir)} does not exist; build first (npm run build)`);
  process.exit(1);
}
const only = process.argv.find((a) => a.startsWith('--only='));
const dirs = only === undefined ? null : only.slice('--only='.length).split(',').map((d) => join('dist', 'test', d) + sep);
const files = findTests(testDir).filter((f) => dirs === null || dirs.some((d) => f.startsWith(d)));
if (files.length === 0) {
  console.error(`run-tests: no *.test.js files under ${relative(root, testDir)}${only ? ` (${only})` : ''}`);
  process.exit(1);
}

const extra = process.argv.slice(2).filter((a) => a !== only);
const reporter = extra.some((a) => a.startsWith('--test-reporter')) ? [] : ['--test-reporter=tap'];
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...reporter, ...extra, ...files], {
  cwd: root,
  stdio: 'inherit',
});
if (r.error) {
  console.error(`run-tests: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
