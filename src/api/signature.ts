/*
 * What a device already holds, told from the signatures at its start (as
 * wipefs and blkid look for them): a partition table, a file system, swap,
 * an encrypted volume. mkfs refuses to format over one unless forced.
 *   const what = await describeContents(dev)   // 'an ext4 file system labelled "rootfs"' or null
 */

import type { BlockDevice } from '../dev/device.js';

/** Bytes read from the start: far enough for UFS2's superblock at 64 KiB and an ISO 9660 descriptor. */
const PROBE_BYTES = 68 * 1024;

/**
 * What a file that holds no file system is instead, when its first bytes
 * say: a disk image in a format other than raw, or a compressed file, with
 * the step that makes it readable. Null when neither.
 */
export function describeContainer(b: Uint8Array): string | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const at = (off: number, text: string): boolean => off + text.length <= b.length && ascii(b, off, text.length) === text;
  const convert = (what: string, fmt: string) => `${what}, not a raw one (convert it first: qemu-img convert -f ${fmt} -O raw IMAGE disk.img)`;
  if (at(0, 'QFI\xfb')) return convert('a QCOW2 disk image', 'qcow2');
  if (at(0, 'KDMV') || at(0, '# Disk DescriptorFile')) return convert('a VMDK disk image', 'vmdk');
  if (at(0, 'vhdxfile')) return convert('a VHDX disk image', 'vhdx');
  if (at(0, 'conectix')) return convert('a dynamic VHD disk image', 'vpc');
  if (b.length >= 68 && dv.getUint32(64, true) === 0xbeda107f) return convert('a VirtualBox VDI disk image', 'vdi');
  const uncompress = (what: string, tool: string) => `${what} (uncompress it first: ${tool})`;
  if (b[0] === 0x1f && b[1] === 0x8b) return uncompress('gzip-compressed', 'gunzip -k IMAGE');
  if (at(0, '\xfd7zXZ\0')) return uncompress('xz-compressed', 'unxz -k IMAGE');
  if (dv.byteLength >= 4 && dv.getUint32(0, true) === 0xfd2fb528) return uncompress('zstd-compressed', 'unzstd IMAGE');
  if (at(0, 'BZh') && b[3] >= 0x31 && b[3] <= 0x39) return uncompress('bzip2-compressed', 'bunzip2 -k IMAGE');
  if (at(0, 'PK\x03\x04')) return uncompress('a zip archive', 'unzip IMAGE');
  return null;
}

/** A phrase naming what dev holds, or null when no signature is found (or it cannot be read). */
export async function describeContents(dev: BlockDevice): Promise<string | null> {
  const b = await firstBytes(dev);
  return b === null ? null : describeBytes(b);
}

/** The bytes the signatures are looked for in (up to PROBE_BYTES), or null when dev is too small or unreadable. */
export async function firstBytes(dev: BlockDevice): Promise<Uint8Array | null> {
  const n = Math.min(dev.size, PROBE_BYTES);
  if (n < 512) return null;
  const b = new Uint8Array(n);
  return (await dev.readv([b], 0)) === 0 ? b : null;
}

/** The same, from the device's first bytes. */
export function describeBytes(b: Uint8Array): string | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const at = (off: number, text: string): boolean => off + text.length <= b.length && ascii(b, off, text.length) === text;
  if (at(512, 'EFI PART') || at(4096, 'EFI PART')) return 'a GPT partition table';
  if (b.length >= 1082 && dv.getUint16(1080, true) === 0xef53) return ext2Phrase(b, dv);
  for (const sb of [8192, 65536]) {
    if (sb + 1376 > b.length) continue;
    const le = dv.getUint32(sb + 1372, true);
    const be = dv.getUint32(sb + 1372, false);
    if (le === 0x011954 || be === 0x011954) return 'a UFS1 file system';
    if (le === 0x19540119 || be === 0x19540119) return 'a UFS2 file system';
  }
  if (at(0, 'LUKS\xba\xbe')) return 'a LUKS encrypted volume';
  if (at(3, 'NTFS    ')) return 'an NTFS file system';
  if (at(3, 'EXFAT   ')) return 'an exFAT file system';
  const bootSig = dv.getUint16(510, true) === 0xaa55;
  if (bootSig && isFatBootSector(b, dv)) {
    const fat32 = at(82, 'FAT32');
    const label = trimLabel(ascii(b, fat32 ? 71 : 43, 11));
    return `a FAT file system${label !== '' && label !== 'NO NAME' ? ` labelled "${label}"` : ''}`;
  }
  if (bootSig && hasMbrEntries(b)) return 'an MBR partition table';
  if (b.length >= 516 && dv.getUint32(512, true) === 0x82564557) return 'a BSD disklabel';
  if (at(4086, 'SWAPSPACE2') || at(4086, 'SWAP-SPACE')) return 'Linux swap';
  if (at(32769, 'CD001')) return 'an ISO 9660 file system';
  return null;
}

function ext2Phrase(b: Uint8Array, dv: DataView): string {
  const compat = dv.getUint32(1024 + 92, true);
  const incompat = dv.getUint32(1024 + 96, true);
  const roCompat = dv.getUint32(1024 + 100, true);
  // extents, 64bit, flex_bg, inline_data (incompat); huge_file, dir_nlink, extra_isize, metadata_csum (ro_compat)
  const ext4 = (incompat & (0x40 | 0x80 | 0x200 | 0x8000)) !== 0 || (roCompat & (0x8 | 0x20 | 0x40 | 0x400)) !== 0;
  const type = ext4 ? 'ext4' : (compat & 0x4) !== 0 ? 'ext3' : 'ext2';
  const label = new TextDecoder().decode(b.subarray(1024 + 120, 1024 + 136)).replace(/\0.*$/s, '');
  return `an ${type} file system${label !== '' ? ` labelled "${label}"` : ''}`;
}

/** A FAT boot sector: a jump, a power-of-two sector size, a cluster size, FATs and a media byte. */
function isFatBootSector(b: Uint8Array, dv: DataView): boolean {
  if (!(b[0] === 0xeb || b[0] === 0xe9)) return false;
  const bps = dv.getUint16(11, true);
  const spc = b[13];
  return bps >= 512 && bps <= 4096 && (bps & (bps - 1)) === 0 && spc !== 0 && (spc & (spc - 1)) === 0 && b[16] !== 0 && (b[21] === 0xf0 || b[21] >= 0xf8);
}

/** Four MBR entries, at least one in use, each with a valid boot flag. */
function hasMbrEntries(b: Uint8Array): boolean {
  let used = 0;
  for (let i = 0; i < 4; i++) {
    const e = 446 + 16 * i;
    if (b[e] !== 0 && b[e] !== 0x80) return false;
    if (b[e + 4] !== 0) used++;
  }
  return used > 0;
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

function trimLabel(s: string): string {
  return s.replace(/[\0 ]+$/, '');
}
