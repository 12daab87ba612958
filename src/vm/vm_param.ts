/*
 * The page size of one Vm and what follows from it (cf. vm_param.h):
 * a power of two from 4 KiB to 64 KiB, fixed when the Vm is made.
 * Offsets are bytes; page indexes (pindex) are offsets >> pageShift.
 */

import { DEV_BSHIFT, DEV_BSIZE, MAXPHYS } from '../kern/param.js';
import { panic } from '../kern/panic.js';

export const MIN_PAGE_SIZE = 4096;
export const MAX_PAGE_SIZE = 65536;

export class VmParam {
  readonly pageShift: number;
  readonly pageMask: number;
  /** DEV_BSIZE blocks in a page: the number of valid/dirty bits. */
  readonly blocksPerPage: number;
  /** 32-bit words holding a page's valid (or dirty) bits. */
  readonly bitWords: number;
  /** A wholly valid page's one bit word (pages of up to 32 blocks), or 0 when pages need more words. */
  readonly validWord: number;
  /** Pages in the largest transfer (MAXPHYS). */
  readonly maxPhysPages: number;

  constructor(readonly pageSize: number) {
    if (!isValidPageSize(pageSize)) panic(`vm_param: bad page size ${pageSize}`);
    this.pageShift = Math.log2(pageSize);
    this.pageMask = pageSize - 1;
    this.blocksPerPage = pageSize / DEV_BSIZE;
    this.bitWords = Math.ceil(this.blocksPerPage / 32);
    this.validWord = this.bitWords !== 1 ? 0 : this.blocksPerPage === 32 ? 0xffffffff : 2 ** this.blocksPerPage - 1;
    this.maxPhysPages = MAXPHYS / pageSize;
  }

  /** Page index of byte offset (cf. OFF_TO_IDX). */
  offToIdx(off: number): number {
    return Math.floor(off / this.pageSize);
  }

  /** Byte offset of page index (cf. IDX_TO_OFF). */
  idxToOff(pindex: number): number {
    return pindex * this.pageSize;
  }

  /** Pages needed to hold `bytes` (cf. btoc / round_page >> PAGE_SHIFT). */
  pagesFor(bytes: number): number {
    return Math.ceil(bytes / this.pageSize);
  }

  /** DEV_BSIZE units in bytes. */
  static dbtob(db: number): number {
    return db * 2 ** DEV_BSHIFT;
  }
}

export function isValidPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PAGE_SIZE && n <= MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}
