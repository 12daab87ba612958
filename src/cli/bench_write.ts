/*
 * Bench case 5: `vmpager put --from SRC` (a sequential write and its sync)
 * in a fresh process beside `debugfs -w -R "write SRC /new"`, each on a
 * fresh copy of one empty ext2 image with 4 KiB blocks (or one ext4 image of
 * mke2fs's defaults, metadata_csum included).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeRandomFile } from './bench_images.js';
import { CAT_MEMORY, MAIN, MiB, alternate, failure, median, rate, runTimed, statsOf, type Row } from './bench_run.js';

/** Case 5: `vmpager put --from SRC` in a fresh process beside `debugfs -w -R "write SRC /new"`, each on a fresh copy of an empty ext2 or ext4 (4 KiB) image. */
export async function writeCase(size: number, runs: number, useTime: boolean, scratch: string, type: 'ext2' | 'ext4' = 'ext2'): Promise<Row> {
  const src = join(scratch, 'src');
  writeRandomFile(src, size);
  const empty = join(scratch, 'empty.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', type, '-b', '4096', empty, `${Math.ceil((size * 1.1 + 16 * MiB) / 1024)}k`], { stdio: 'ignore' });
  const target = join(scratch, 'target.img');
  const vm: number[] = [];
  const peer: number[] = [];
  let vmRss: number | null = null;
  let peerRss: number | null = null;
  let writes: number | null = null;
  const notes: string[] = [];
  const once = async (which: 'vmpager' | 'debugfs'): Promise<void> => {
    execFileSync('cp', ['--sparse=always', empty, target]);
    const t =
      which === 'vmpager'
        ? await runTimed(process.execPath, [MAIN, '--memory', CAT_MEMORY, '--stats', 'put', target, '/new', '--from', src], useTime, scratch)
        : await runTimed('debugfs', ['-w', '-R', `write ${src} /new`, target], useTime, scratch);
    if (t.code !== 0) {
      notes.push(failure(which, t));
      return;
    }
    if (which === 'vmpager') {
      vm.push(rate(size, t.ms));
      if (t.rssKiB !== null) vmRss = Math.max(vmRss ?? 0, t.rssKiB);
      writes = (statsOf(t.stderr) as { device?: { writes?: number } } | null)?.device?.writes ?? null;
      // The first run is also checked: the image must be clean and hold the bytes.
      if (vm.length === 1) {
        const ck = spawnSync('e2fsck', ['-fn', target], { encoding: 'utf8' });
        if (ck.status !== 0) notes.push('e2fsck found the image vmpager wrote damaged');
      }
    } else {
      peer.push(rate(size, t.ms));
      if (t.rssKiB !== null) peerRss = Math.max(peerRss ?? 0, t.rssKiB);
    }
  };
  await alternate(runs, 'debugfs', once);
  const vmMed = vm.length > 0 ? median(vm) : null;
  const peerMed = peer.length > 0 ? median(peer) : null;
  return {
    case: `5 seq write + sync --memory ${CAT_MEMORY}`,
    image: `${type}-4k`,
    vmpager: vmMed === null ? null : { value: vmMed, unit: 'MiB/s' },
    peer: peerMed === null ? null : { name: 'debugfs -w', value: peerMed, unit: 'MiB/s' },
    ratio: vmMed !== null && peerMed !== null ? vmMed / peerMed : null,
    rssKiB: { vmpager: vmRss, peer: peerRss },
    deviceReads: null,
    extra: writes === null ? undefined : { deviceWrites: writes },
    note: [...new Set(notes)].join('; ') || undefined,
  };
}
