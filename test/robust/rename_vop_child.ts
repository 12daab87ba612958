/*
 * The child process of the crash tests' VOP_RENAME sweep: mounts IMAGE
 * read-write, calls VOP_RENAME of FDIR/FNAME to TDIR/TNAME itself (both
 * directories locked, as the kernel's rename does; not MountedFs.rename,
 * which first gives a replaced file a hidden second name), unmounts, and
 * prints { error, writes } as JSON (the device writes the whole run made).
 *   node rename_vop_child.js IMAGE FDIR FNAME TDIR TNAME
 */

import { vrele } from '../../src/vfs/vfs_subr.js';
import { lookupPath } from '../helpers/ext2_images.js';
import { mountRw } from '../helpers/ext2_write.js';

const [image, fdir, fname, tdir, tname] = process.argv.slice(2);
const { vm, fs, mp } = await mountRw(image);
const fdvp = await lookupPath(mp, fdir);
const tdvp = await lookupPath(mp, tdir);
await fdvp.lock.lock();
if (tdvp !== fdvp) await tdvp.lock.lock();
const error = await fdvp.op.rename(fdvp, fname, tdvp, tname);
if (tdvp !== fdvp) tdvp.lock.unlock();
fdvp.lock.unlock();
await vrele(fdvp);
await vrele(tdvp);
await fs.unmount();
process.stdout.write(JSON.stringify({ error, writes: vm.stats().device.writes }) + '\n');
