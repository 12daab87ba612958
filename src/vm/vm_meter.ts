/*
 * struct vmmeter: the VM's counters, named as in the kernel (cnt.v_*),
 * plus the page cache's hits and misses. vm.stats() returns a copy.
 */

export class VmMeter {
  /** Page faults: calls into the fault path for a page not ready in the cache. */
  v_vm_faults = 0;
  /** Pager reads from vnodes (clusters) and the pages they brought in. */
  v_vnodein = 0;
  v_vnodepgsin = 0;
  /** Pager writes to vnodes and the pages they wrote. */
  v_vnodeout = 0;
  v_vnodepgsout = 0;
  /** Pages zero-filled for a hole (no read). */
  v_zfod = 0;
  /** Pages of a hole handed to sendfile as the shared zero region (no page allocated). */
  v_zerosend = 0;
  /** Pages freed by the page daemon. */
  v_dfree = 0;
  /** Pages the page daemon scanned. */
  v_pdpages = 0;
  /** Inactive pages found referenced and moved back to active. */
  v_reactivated = 0;
  /** Pages read ahead (other than the one faulted). */
  v_readahead = 0;
  /** Read-ahead pages freed without ever being used. */
  v_readahead_wasted = 0;
  /** Page lookups that found a valid page / had to fault. */
  hits = 0;
  misses = 0;
  /** Waits on a busy page. */
  v_busywait = 0;
  /** Waits for a free page. */
  v_freewait = 0;

  snapshot(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }
}
