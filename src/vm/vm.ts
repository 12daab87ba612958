/*
 * The machine: physical memory as one arena of page frames, the page
 * structures that describe them (cf. vm_page_array), the page queues, the
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
}

/** The fewest frames a Vm runs with: a largest cluster and a little more. */
export const MIN_FRAMES = 16;

export class VmSystem {
  readonly param: VmParam;
  readonly meter = new VmMeter();
  /** The frames' memory, placed for fast copies (see kern/kmem). */
  readonly arena: Uint8Array;
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
    this.arena = kmemAlloc(n * opts.pageSize);
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

  /** The view of frame phys in the arena. */
  frameOf(phys: number): Uint8Array {
    const P = this.param.pageSize;
    return this.arena.subarray(phys * P, (phys + 1) * P);
  }

  get pageCount(): number {
    return this.frames;
  }
}
