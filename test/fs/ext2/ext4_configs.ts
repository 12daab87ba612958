/*
 * The ext4 configurations the writer's tests run on, all from `mke2fs -t
 * ext4` with today's defaults (extents, 64bit, flex_bg, metadata_csum,
 * huge_file, dir_nlink, extra_isize, dir_index, resize_inode ...), and the
 * same without metadata_csum (uninit_bg's crc16 then), without 64bit, and
 * with the checksum seed stored in the superblock.
 */

export interface Ext4Config {
  name: string;
  /** Extra mke2fs options. */
  extra: string[];
}

export const EXT4_CONFIGS: readonly Ext4Config[] = [
  { name: 'ext4', extra: [] },
  { name: 'ext4 -O ^metadata_csum', extra: ['-O', '^metadata_csum'] },
  { name: 'ext4 -O ^64bit', extra: ['-O', '^64bit'] },
  { name: 'ext4 -O metadata_csum_seed', extra: ['-O', 'metadata_csum_seed'] },
];
