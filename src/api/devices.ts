/*
 * The block devices a program may build itself and mount (Vm.mount takes a
 * BlockDevice as well as a path): MemDisk, bytes in memory, and FaultyDisk,
 * one that fails on command (for tests of error paths). A module of its
 * own so that a program can have them without loading all of index.ts.
 */

export { MemDisk } from '../dev/memdisk.js';
export { FaultyDisk } from '../dev/faulty.js';
