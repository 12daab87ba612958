/*
 * What the NBD device knows of where its export reads as zeros, learnt from
 * NBD_CMD_BLOCK_STATUS replies for the base:allocation metadata context
 * (NBD_STATE_ZERO), so that a read of a zero run is answered here, with no
 * request and no bytes on the wire.
 *   const map = new ZeroMap(size, (offset, length, sink) => conn.request(CMD_BLOCK_STATUS, ...))
 *   const runs = await map.zeroRuns(offset, length)   // [start, end) pairs inside the range
 *   map.writing(offset, length) ... map.written(offset, length)   // around every write
 * The export is looked at in aligned regions of REGION bytes, each queried
 * once, on the first read that touches it (one request per region however
 * many readers wait for it). Only what the reply covers is known; a region
 * whose query fails is taken as all data (read as before). A write forgets
 * the regions it touches, and a query that overlapped a write in any way is
 * not believed. At most MAX_REGIONS are kept; the oldest is forgotten first.
 */

import { STATE_ZERO } from './nbd_proto.js';

/** Bytes of export one block-status query asks about. */
export const REGION = 64 * 2 ** 20;
const MAX_REGIONS = 4096;
/** Zero runs shorter than this are read like data: a split read would cost more requests than it saves. */
export const MIN_ZERO_RUN = 32 * 1024;

/** Asks the server about [offset, offset+length); the sink gets (length, flags) pairs from offset on. => 0 or an errno. */
export type StatusQuery = (offset: number, length: number, sink: (extents: Uint32Array) => void) => Promise<number>;

interface Region {
  /** Zero runs, absolute [start, end), sorted; only what the reply covered. */
  zeros: number[];
  ready: Promise<void> | null;
}

export class ZeroMap {
  private readonly regions = new Map<number, Region>();
  /** Per region: bumped when a write to it starts or ends, so a query that saw either is not stored. */
  private readonly gens = new Map<number, number>();
  /** Block-status requests sent, for the record. */
  queries = 0;

  constructor(
    private readonly size: number,
    private readonly query: StatusQuery,
  ) {}

  /** The zero runs (each at least MIN_ZERO_RUN, or the whole range) inside [offset, offset+length), sorted. */
  async zeroRuns(offset: number, length: number): Promise<number[]> {
    const end = offset + length;
    const first = Math.floor(offset / REGION);
    const last = Math.floor((end - 1) / REGION);
    const waits: Array<Promise<void>> = [];
    for (let i = first; i <= last; i++) {
      const r = this.region(i);
      if (r.ready !== null) waits.push(r.ready);
    }
    if (waits.length > 0) await Promise.all(waits);
    const out: number[] = [];
    for (let i = first; i <= last; i++) {
      const z = this.regions.get(i)?.zeros ?? [];
      for (let k = 0; k < z.length; k += 2) {
        const s = Math.max(z[k], offset);
        const e = Math.min(z[k + 1], end);
        if (s >= e) continue;
        // Runs of adjacent regions join.
        if (out.length > 0 && out[out.length - 1] === s) out[out.length - 1] = e;
        else out.push(s, e);
      }
    }
    const whole = out.length === 2 && out[0] === offset && out[1] === end;
    if (whole) return out;
    const kept: number[] = [];
    for (let k = 0; k < out.length; k += 2) if (out[k + 1] - out[k] >= MIN_ZERO_RUN) kept.push(out[k], out[k + 1]);
    return kept;
  }

  /** A write to [offset, offset+length) starts: what is known there is forgotten. */
  writing(offset: number, length: number): void {
    this.forget(offset, length);
  }

  /** ... and has ended (with or without an error). */
  written(offset: number, length: number): void {
    this.forget(offset, length);
  }

  private forget(offset: number, length: number): void {
    const last = Math.floor((offset + Math.max(1, length) - 1) / REGION);
    for (let i = Math.floor(offset / REGION); i <= last; i++) {
      this.regions.delete(i);
      this.gens.set(i, (this.gens.get(i) ?? 0) + 1);
    }
  }

  /** Region i, its query started if it is not known yet. */
  private region(i: number): Region {
    let r = this.regions.get(i);
    if (r !== undefined) return r;
    const start = i * REGION;
    const len = Math.min(REGION, this.size - start);
    const gen = this.gens.get(i) ?? 0;
    const zeros: number[] = [];
    r = { zeros: [], ready: null };
    const region = r;
    this.queries++;
    r.ready = this.query(start, len, (ext) => {
      let at = start;
      for (let k = 0; k < ext.length && at < start + len; k += 2) {
        const e = Math.min(at + ext[k], start + len);
        if ((ext[k + 1] & STATE_ZERO) !== 0) {
          if (zeros.length > 0 && zeros[zeros.length - 1] === at) zeros[zeros.length - 1] = e;
          else zeros.push(at, e);
        }
        at = e;
      }
    }).then((error) => {
      region.ready = null;
      // Believed only if no write touched the region meanwhile (asked again next time); a failed query leaves it all data.
      if ((this.gens.get(i) ?? 0) !== gen) {
        if (this.regions.get(i) === region) this.regions.delete(i);
      } else if (error === 0) region.zeros = zeros;
    });
    this.regions.set(i, r);
    if (this.regions.size > MAX_REGIONS) {
      const oldest = this.regions.keys().next().value as number;
      if (oldest !== i) this.regions.delete(oldest);
    }
    return r;
  }
}
