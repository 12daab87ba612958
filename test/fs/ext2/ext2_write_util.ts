/*
 * Moved to test/helpers/ext2_write.ts (test helpers live in one place);
 * this name stays so that tests written against it keep working.
 */

export * from '../../helpers/ext2_write.js';
