/*
 * The shapes of zero-copy transfers, as the API hands them out and takes
 * them: a FrameSink is given a file's page frames (File.sendfile), a
 * FrameSource fills them (File.writeFrom); iovAfter resumes a vectored
 * transfer after a short write. A module of its own so that a program (the
 * command line) can have these without loading all of index.ts.
 */

export type { FrameSink } from '../vm/vm_sendfile.js';
export type { FrameSource } from '../vfs/uio.js';
export { iovAfter } from '../kern/iovec.js';
