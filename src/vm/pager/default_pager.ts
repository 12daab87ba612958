/*
 * The default pager (cf. FreeBSD default_pager.c): the pager of anonymous
 * memory without swap, which a private mapping's shadow object uses. It has
 * nothing and can write nothing; shadow pages stay resident until their
 * object goes.
 */

import type { VmObject } from '../vm_object.js';
import { VM_PAGER_FAIL, pagerRv, type PagerOps } from './vm_pager.js';

export const defaultPagerOps: PagerOps = Object.freeze({
  name: 'default',
  dealloc: async () => undefined,
  getpages: async () => pagerRv(VM_PAGER_FAIL),
  putpages: async (_o: VmObject, _m: unknown[], count: number, _s: boolean, rtvals: number[]) => {
    for (let i = 0; i < count; i++) rtvals[i] = VM_PAGER_FAIL;
    return pagerRv(VM_PAGER_FAIL);
  },
  haspage: async () => ({ has: false, before: 0, after: 0, addr: -1 }),
});
