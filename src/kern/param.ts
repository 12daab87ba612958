/*
 * Machine-independent constants of the kernel (sys/param.h), fixed for every
 * vmpager instance. The page size is per Vm (see vm/vm_param.ts).
 */

/** The unit of device addresses and of valid/dirty bits: 512 bytes. */
export const DEV_BSHIFT = 9;
export const DEV_BSIZE = 1 << DEV_BSHIFT;
/** The largest single transfer: 1 MiB, as on 64-bit FreeBSD today. */
export const MAXPHYS = 1 << 20;
/** The largest file-system block. */
export const MAXBSIZE = 65536;
