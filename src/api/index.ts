/*
 * vmpager: the BSD vnode pager as a library. See README.md for the API.
 */

export { Vm, DEFAULT_MEMORY, type VmOptions, type MountOptions, type VmStats } from './vm.js';
export { MountedFs, type DirEntry, type FileStat, type FileType, type BlockRun, type TreeNode, type TreeNodeType, type TreeSource } from './mounted_fs.js';
export { File } from './file.js';
export { type FrameSink, type FrameSource, iovAfter } from './frames.js';
export { Mapping, type Advice } from './mapping.js';
export { VmError } from './errors.js';
export type { PartitionInfo, Partitions } from './partitions.js';
export { FsPromises, type PathLike } from './promises.js';
export { FileHandle } from './file_handle.js';
export { Dir } from './dir.js';
export { FsError } from './fs_error.js';
export { Stats, BigIntStats, Dirent } from './stats.js';
export { VmReadStream, VmWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.js';
export type { BlockDevice, DeviceStats } from '../dev/device.js';
export { MemDisk, FaultyDisk } from './devices.js';
export { NbdDevice, type NbdOpenOptions } from '../dev/nbd.js';
export { parseSize } from './size.js';
export { ioBuffer } from './io_buffer.js';
/** The views of an iovec past its first n bytes (for a short readv/writev). */
export { mkfs, type MkfsOptions } from './mkfs.js';
export { holdImage } from './image_hold.js';
