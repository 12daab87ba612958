/*
 * The machine: physical memory as arenas of page frames (each made when
 * its first frame is first used), the page structures that describe them (cf. vm_page_array), the page queues, the
 * pbuf pool, the object cache and the counters. Everything in src/vm takes
 * a VmSystem as its context, as the kernel takes its globals.
 *   const sys = new VmSystem({ memory: 64 << 20, pageSize: 4096 })
 */

import { kmemAlloc } from '../kern/kmem.js';
import { panic } from '../kern/panic.js';
import { PbufPool } from '../vfs/vfs_pbuf.js';
import { VmMeter } from './vm_meter.js';
import type { VmObject } from './vm_object.js';
import { PQ_ACTIVE, PQ_FREE, PQ_INACTIVE, PQ_LAUNDRY, VmPage } from './vm_page.js';
import { PageQueue } from './vm_pagequeue.js';
import { VmParam } from './vm_param.js';

export interface VmSystemOptions {
  /** Bytes of page frames. */
  memory: number;
  pageSize: number;
  /** Pager transfers in flight at once (cf. nswbuf). */
  pbufs?: number;
  /** Unreferenced objects kept cached with their pages (cf. vm_object_cache_max). */
  objectCacheMax?: number;
  /** The most bytes one arena holds (default: the host's limit); tests make it small to cross arenas. */
  arenaBytes?: number;
}

/** The most one arena of frames holds: what a typed array can, less a 64 KiB unit for kmem's skew. */
const ARENA_MAX = 2 ** 32 - 2 ** 16;
/**
 * The least an arena holds, when memory is cut into eighths to be made as
 * it is used: a short command (cat of a sparse file, ls, stat) then makes
 * one 16 MiB arena, not all 64 MiB, and V8, which starts a full collection
 * once a program's buffers pass 64 MB, has nothing to collect for it
 * (measured: 6-8 ms of a 1 GiB sparse cat went to that collection).
 */
const ARENA_MIN = 16 * 2 ** 20;

/** The fewest frames a Vm runs with: a largest cluster and a little more. */
export const MIN_FRAMES = 16;

export class VmSystem {
  readonly param: VmParam;
  readonly meter = new VmMeter();
  /**
   * The frames' memory, placed for fast copies (see kern/kmem): arenas of
   * arenaFrames frames each but the last, an eighth of memory or ARENA_MIN,
   * at most what one typed array holds (2^32 bytes is the host's limit).
   * Made in order, when the first page structure of a frame in it is made
   * (freshPage): a frame with a page structure has its arena.
   */
  readonly arenas: Uint8Array[];
  /** Frames in each arena: neighbouring frame numbers in different arenas are not neighbours in memory. */
  readonly arenaFrames: number;
  /**
   * The page structures made so far, by frame number (cf. vm_page_array).
   * Frames never used have none yet: they are counted free (`fresh`), and
   * vmPageAlloc makes the structure of the next one when the free queue is
   * empty, so a large memory costs nothing it does not use.
   */
  readonly pages: VmPage[];
  /** Frames in the arena. */
  private readonly frames: number;
  /** Every page's valid and dirty bits (see VmPage.bits). */
  private readonly bits: Uint32Array;
  readonly freeq = new PageQueue(PQ_FREE, 'free');
  readonly inactiveq = new PageQueue(PQ_INACTIVE, 'inactive');
  readonly activeq = new PageQueue(PQ_ACTIVE, 'active');
  readonly laundryq = new PageQueue(PQ_LAUNDRY, 'laundry');
  readonly pbufs: PbufPool;
  /** Unreferenced persistent objects, oldest first. */
  readonly objectCache = new Set<VmObject>();
  readonly objectCacheMax: number;
  /** Frames the page daemon keeps free when it runs (cf. v_free_target). */
  readonly freeTarget: number;
  /** Channel for sleepers waiting for a free page (cf. vm_wait). */
  readonly freeChan = {};
  /** Tasks asleep in vmWait: pages that become freeable wake them. */
  freeWaiters = 0;

  constructor(opts: VmSystemOptions) {
    this.param = new VmParam(opts.pageSize);
    const n = Math.floor(opts.memory / opts.pageSize);
    if (n < MIN_FRAMES) panic(`vm: ${opts.memory} bytes is less than ${MIN_FRAMES} pages`);
    const arenaBytes = opts.arenaBytes ?? Math.max(ARENA_MIN, Math.ceil(opts.memory / 8));
    this.arenaFrames = Math.max(1, Math.min(n, Math.floor(Math.min(arenaBytes, ARENA_MAX) / opts.pageSize)));
    this.arenas = [];
    this.pages = [];
    this.frames = n;
    this.bits = new Uint32Array(n * 2 * this.param.bitWords);
    this.pbufs = new PbufPool(opts.pbufs ?? 16);
    this.objectCacheMax = opts.objectCacheMax ?? 64;
    this.freeTarget = Math.max(4, Math.min(this.param.maxPhysPages * 2, Math.floor(n / 16)));
  }

  /** Frames with no page structure yet: free, never used. */
  get fresh(): number {
    return this.frames - this.pages.length;
  }

  /** Free frames: those on the free queue and the fresh ones (cf. v_free_count). */
  get freeCount(): number {
    return this.freeq.count + this.fresh;
  }

  /** Makes the page structure of the next fresh frame and puts it on the free queue. => fresh > 0 */
  freshPage(): VmPage {
    const words = this.param.bitWords;
    const i = this.pages.length;
    const m = new VmPage(i, this.bits, i * 2 * words, words);
    m.frame = this.frameOf(i);
    this.pages.push(m);
    this.freeq.insertHead(m);
    return m;
  }

  /** The view of frame phys in its arena (made now if it is the next one). */
  frameOf(phys: number): Uint8Array {
    const P = this.param.pageSize;
    const at = (phys % this.arenaFrames) * P;
    const a = Math.floor(phys / this.arenaFrames);
    while (this.arenas.length <= a) {
      const first = this.arenas.length * this.arenaFrames;
      this.arenas.push(kmemAlloc(Math.min(this.arenaFrames, this.frames - first) * P));
    }
    return this.arenas[a].subarray(at, at + P);
  }

  /** The arena holding frame phys (with arenaOffset: a run of frames in one arena without a view of its own). */
  arenaOf(phys: number): Uint8Array {
    return this.arenas[Math.floor(phys / this.arenaFrames)];
  }

  /** Where frame phys starts in its arena. */
  arenaOffset(phys: number): number {
    return (phys % this.arenaFrames) * this.param.pageSize;
  }

  get pageCount(): number {
    return this.frames;
  }
}
