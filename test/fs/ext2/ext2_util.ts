/*
 * Moved to test/helpers/ext2_images.ts (test helpers live in one place);
 * this name stays so that tests written against it keep working.
 */

export * from '../../helpers/ext2_images.js';
