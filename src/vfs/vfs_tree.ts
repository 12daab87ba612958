/*
 * A tree of files from outside the image, handed whole to VOP_POPULATE:
 * the caller (the CLI's copy from the host) answers what each directory
 * holds and each file's bytes; a file system that can lay out a known tree
 * at once (ext2_populate.ts) makes it without a vnode per file.
 *   const { error, failed } = await dvp.op.populate(dvp, nodes, source)   => dvp locked exclusively
 */

export type TreeNodeType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** One entry of the tree, with what its file carries. */
export interface TreeNode {
  /** The entry's name in its directory. */
  name: string;
  type: TreeNodeType;
  /** Permission bits (0o7777). */
  perm: number;
  uid: number;
  gid: number;
  /** Access and modification times: seconds and nanoseconds since the epoch. */
  atime: { sec: number; nsec: number };
  mtime: { sec: number; nsec: number };
  /** A regular file's size when listed (its bytes are read to their end, whatever they come to). */
  size: number;
  /** A device's numbers. */
  major: number;
  minor: number;
  /** Names of one file share a key (hard links); null for a file of one name. */
  link: string | null;
  /** The source's own handle for this entry (a host path). */
  src: string;
}

/** Where a tree's contents come from. Failures throw (the caller's own errors); the file system makes nothing more after one. */
export interface TreeSource {
  /** A directory's entries, in the order they are to be made. */
  list(dir: TreeNode): TreeNode[];
  /** A symbolic link's target. */
  readlink(link: TreeNode): string;
  /** Opens a regular file for reading; the handle goes to read and close. */
  open(file: TreeNode): number;
  /** Reads up to buf.length bytes at byte pos into buf; 0 at the end. */
  read(handle: number, buf: Uint8Array, pos: number): number;
  /**
   * Optional: the open file's next bytes in the source's own memory (valid
   * until the next call on the source), empty at its end; every view but the
   * last a whole number of 64 KiB. null: this handle is read with read().
   */
  next?(handle: number): Uint8Array | null;
  close(handle: number): void;
  /** The inode of a file of link key `key` already in the image (a name made before this tree), or 0. */
  linked(key: string): number;
  /** A file with a link key was made as inode ino. */
  made(node: TreeNode, ino: number): void;
}

/** What VOP_POPULATE answers: 0, or the error and the source entry it stopped at (a file left partly written, for the caller to remove), if any. */
export interface PopulateResult {
  error: number;
  /** The image path, below the directory populated, of a regular file the error left partly written; null when none is. */
  partial: string | null;
  /** The entry the error stopped at, below the directory populated (for the message), where there is one. */
  at?: string | null;
  /** What the source threw, when that stopped it (the caller's own error, to be thrown again). */
  cause?: unknown;
}
