/*
 * vmpager parts [--json] IMAGE: the partitions of a whole disk, nested
 * disklabels included, and the file system each holds.
 *   --json: [{ index, scheme, type, start, size, name, fs }] (start, size in bytes)
 *   text:   a table with sizes in binary units and types by name.
 * A disk without a partition table prints `[]` (or a line saying so).
 * Warnings from the tables' checks go to stderr.
 */

import type { PartitionInfo } from '../api/partitions.js';
import type { Vm } from '../api/vm.js';
import { partTypeName } from '../api/partitions.js';
import { EXIT_OK } from './context.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in the largest binary unit that leaves at least 1: '512 B', '4 MiB', '1.5 GiB'. */
export function humanBytes(n: number): string {
  let u = 0;
  let v = n;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const text = Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return `${text} ${UNITS[u]}`;
}

export function formatParts(parts: readonly PartitionInfo[]): string {
  const rows = [['#', 'SCHEME', 'START', 'SIZE', 'TYPE', 'NAME', 'FS']];
  for (const p of parts) {
    rows.push([p.index, p.scheme, humanBytes(p.start), humanBytes(p.size), partTypeName(p.scheme, p.type), p.name ?? '-', p.fs ?? '-']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  // Numbers right-aligned, words left-aligned.
  const right = new Set([0, 2, 3]);
  return rows.map((r) => r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd() + '\n').join('');
}

export async function partsCommand(vm: Vm, image: string, json: boolean, timeout?: number, lock = true, connections?: number): Promise<number> {
  const parts = await vm.partitions(image, { timeout, lock, connections });
  for (const w of parts.warnings) process.stderr.write(`vmpager: ${image}: warning: ${w}\n`);
  if (json) process.stdout.write(JSON.stringify([...parts]) + '\n');
  else process.stdout.write(parts.length === 0 ? `${image}: no partition table\n` : formatParts(parts));
  return EXIT_OK;
}
