/*
 * Partition types by name, for people: MBR type bytes as fdisk names them,
 * GPT type GUIDs as sgdisk and gpart name them, BSD disklabel fstypes as
 * <sys/disklabel.h> and gpart name them.
 *   mbrTypeName(0x83) => 'Linux'; gptTypeName(guid) => 'EFI System'; bsdFstypeName(7) => '4.2BSD'
 */

const MBR_NAMES: Record<number, string> = {
  0x01: 'FAT12', 0x04: 'FAT16 <32M', 0x05: 'Extended', 0x06: 'FAT16', 0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32', 0x0c: 'W95 FAT32 (LBA)', 0x0e: 'W95 FAT16 (LBA)', 0x0f: "W95 Ext'd (LBA)",
  0x82: 'Linux swap', 0x83: 'Linux', 0x85: 'Linux extended', 0x8e: 'Linux LVM', 0xa5: 'FreeBSD',
  0xa6: 'OpenBSD', 0xa9: 'NetBSD', 0xda: 'Non-FS data', 0xee: 'GPT', 0xef: 'EFI (FAT-12/16/32)',
  0xfd: 'Linux raid autodetect',
};

/** MBR types that hold a chain of extended boot records. */
export const MBR_EXTENDED = new Set([0x05, 0x0f, 0x85]);
/** MBR types of a BSD slice, which holds a disklabel. */
export const MBR_BSD_SLICE = new Set([0xa5, 0xa6, 0xa9]);
/** The protective MBR entry of a GPT disk. */
export const MBR_GPT_PROTECTIVE = 0xee;

export function mbrTypeName(type: number): string {
  return MBR_NAMES[type] ?? `unknown (0x${type.toString(16).padStart(2, '0')})`;
}

/** The MBR type byte as `parts` prints it: '0x83'. */
export function mbrTypeString(type: number): string {
  return `0x${type.toString(16).padStart(2, '0')}`;
}

const GPT_NAMES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux root (ARM-64)',
  '44479540-F297-41B2-9AF7-D131D5F0458A': 'Linux root (x86)',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux home',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  '83BD6B9D-7F41-11DC-BE0B-001560B84F0F': 'freebsd-boot',
  '516E7CB4-6ECF-11D6-8FF8-00022D09712B': 'freebsd',
  '516E7CB5-6ECF-11D6-8FF8-00022D09712B': 'freebsd-swap',
  '516E7CB6-6ECF-11D6-8FF8-00022D09712B': 'freebsd-ufs',
  '516E7CB8-6ECF-11D6-8FF8-00022D09712B': 'freebsd-vinum',
  '516E7CBA-6ECF-11D6-8FF8-00022D09712B': 'freebsd-zfs',
  '49F48D32-B10E-11DC-B99B-0019D1879648': 'netbsd-swap',
  '49F48D5A-B10E-11DC-B99B-0019D1879648': 'netbsd-ffs',
};

/** A GPT partition holding a BSD disklabel (gpart's `freebsd`). */
export const GPT_FREEBSD_LABEL = '516E7CB4-6ECF-11D6-8FF8-00022D09712B';

export function gptTypeName(guid: string): string {
  return GPT_NAMES[guid] ?? 'unknown';
}

const FSTYPE_NAMES = [
  'unused', 'swap', 'Version 6', 'Version 7', 'System V', '4.1BSD', 'Eighth Edition', '4.2BSD',
  'MSDOS', '4.4LFS', 'unknown', 'HPFS', 'ISO9660', 'boot', 'vinum', 'raid', 'Filecore', 'EXT2FS',
  'NTFS', '?', 'ccd', 'jfs', 'HAMMER', 'HAMMER2', 'UDF', '?', 'EFS', 'ZFS',
];

/** The fstype's name in <sys/disklabel.h>. */
export function bsdFstypeName(fstype: number): string {
  return FSTYPE_NAMES[fstype] ?? `!${fstype}`;
}

/** The fstype as gpart shows it: freebsd-ufs for 4.2BSD, freebsd-swap for swap (cf. g_part_bsd_type). */
export function bsdFstypeDisplay(fstype: number): string {
  switch (fstype) {
    case 1:
      return 'freebsd-swap';
    case 7:
      return 'freebsd-ufs';
    case 14:
      return 'freebsd-vinum';
    case 27:
      return 'freebsd-zfs';
    default:
      return bsdFstypeName(fstype);
  }
}

/** A partition's type for people, from its scheme and `type` as PartEntry gives it. */
export function partTypeName(scheme: 'mbr' | 'gpt' | 'bsd', type: string): string {
  if (scheme === 'mbr') return mbrTypeName(parseInt(type, 16));
  if (scheme === 'gpt') return gptTypeName(type);
  const fstype = FSTYPE_NAMES.indexOf(type);
  return fstype < 0 ? type : bsdFstypeDisplay(fstype);
}
