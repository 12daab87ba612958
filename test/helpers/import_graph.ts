/*
 * The import graph of a source tree, for the design checks in
 * test/design: which file imports which, and whether an import survives
 * compilation (a runtime edge) or is erased (type-only).
 *   const g = importGraph(root, 'src');  layerViolations(g, LAYER_RULES);  runtimeCycles(g, 'src/vm/')
 * Paths are relative to root, with '/' separators and the source's own
 * extension; an import of './x.js' from a .ts file names './x.ts'.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, sep } from 'node:path';

export interface ImportEdge {
  /** The imported file, relative to the root. */
  to: string;
  /** `import type`, or every name imported with `type`: erased by the compiler. */
  typeOnly: boolean;
}

export type ImportGraph = Map<string, ImportEdge[]>;

/** Every .ts (or .js) file below dir, relative to root, with '/' separators. */
function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(root, rel));
    else if (/\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/** Import and re-export statements with a module specifier (comments are not parsed out; the tree has none shaped like these). */
const STATEMENT = /^\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;

/** Are all the names of `{ a, type b }` type-only? */
function allNamesTypeOnly(clause: string): boolean {
  const m = /^\{([\s\S]*)\}$/.exec(clause.trim());
  if (m === null) return false;
  const names = m[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  return names.length > 0 && names.every((s) => s.startsWith('type '));
}

/** Parses the imports of every source file below `dir` of root; only relative imports make edges. */
export function importGraph(root: string, dir: string): ImportGraph {
  const g: ImportGraph = new Map();
  const files = sourceFiles(root, dir);
  const known = new Set(files);
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    const edges: ImportEdge[] = [];
    for (const m of text.matchAll(STATEMENT)) {
      const spec = m[4] ?? m[5];
      if (!spec.startsWith('.')) continue;
      let to = posix.normalize(posix.join(posix.dirname(f), spec));
      if (f.endsWith('.ts')) to = to.replace(/\.js$/, '.ts');
      if (!known.has(to)) continue;
      const typeOnly = m[5] === undefined && (m[2] !== undefined || allNamesTypeOnly(m[3]));
      edges.push({ to, typeOnly });
    }
    g.set(f, edges);
  }
  return g;
}

/** The layer of a file: its first directory under the tree's top (src/vm/pager/x.ts is 'vm'). */
export function layerOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1] : '';
}

/** Per layer, the layers it must not import from (type-only imports count: the layering is of knowledge, not just of code). */
export type LayerRules = Record<string, readonly string[]>;

/** What the design allows (see DESIGN.md, "Layers"). */
export const LAYER_RULES: LayerRules = {
  cli: ['vm', 'vfs', 'fs', 'dev', 'kern'], // the command line uses the library only
  api: ['cli'],
  vm: ['api', 'cli', 'fs', 'dev'],
  vfs: ['vm', 'api', 'cli', 'fs'],
  fs: ['vm', 'api', 'cli'],
  dev: ['vm', 'api', 'cli', 'fs'], // never above vfs
  kern: ['vm', 'api', 'cli', 'fs', 'vfs', 'dev'],
};

/** "from -> to" for every import that crosses a rule, except those allowed by name. */
export function layerViolations(g: ImportGraph, rules: LayerRules, allowed: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (const [from, edges] of g) {
    const banned = rules[layerOf(from)] ?? [];
    for (const e of edges) {
      const line = `${from} -> ${e.to}`;
      if (banned.includes(layerOf(e.to)) && !allowed.has(line)) out.push(line);
    }
  }
  return out;
}

/**
 * The cycles of runtime (non-type-only) imports among the files whose path
 * starts with `prefix`: each strongly connected component of more than one
 * file, as its sorted list of files (Tarjan's algorithm).
 */
export function runtimeCycles(g: ImportGraph, prefix: string): string[][] {
  const nodes = [...g.keys()].filter((f) => f.startsWith(prefix));
  const inside = new Set(nodes);
  const next = (f: string) => (g.get(f) ?? []).filter((e) => !e.typeOnly && inside.has(e.to)).map((e) => e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || next(v).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return out;
}

/** The repository root, from a compiled test file's directory (dist/test/...). */
export function repoRoot(compiledDir: string): string {
  let d = compiledDir;
  while (!d.endsWith(`${sep}dist`) && dirname(d) !== d) d = dirname(d);
  return dirname(d);
}
