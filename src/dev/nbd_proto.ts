/*
 * The NBD protocol's numbers, as the NBD client (dev/nbd.ts) uses them:
 * the magics of the handshake and of transmission, the option and option
 * reply codes, the handshake and transmission flags, the commands, and the
 * server's error values turned into our errno. All of the wire is big-endian.
 * Only what the client speaks is here: fixed newstyle negotiation, NBD_OPT_GO
 * (NBD_OPT_EXPORT_NAME as the fallback), simple and structured replies, and
 * block status with the base:allocation metadata context.
 */

import { EACCES, EINVAL, EIO, ENOMEM, ENOSPC, EOPNOTSUPP, EOVERFLOW } from '../kern/errno.js';

/** The IANA port of NBD. */
export const NBD_DEFAULT_PORT = 10809;

/** 'NBDMAGIC', the server's first eight bytes, as two 32-bit halves. */
export const NBDMAGIC_HI = 0x4e42444d;
export const NBDMAGIC_LO = 0x41474943;
/** 'IHAVEOPT': newstyle negotiation (and the magic of every option the client sends). */
export const IHAVEOPT_HI = 0x49484156;
export const IHAVEOPT_LO = 0x454f5054;
/** The oldstyle negotiation's second magic, which we recognise only to refuse it. */
export const OLDSTYLE_HI = 0x00004202;
export const OLDSTYLE_LO = 0x81861253;
/** The magic of every option reply. */
export const OPT_REPLY_MAGIC_HI = 0x0003e889;
export const OPT_REPLY_MAGIC_LO = 0x045565a9;
/** Transmission: requests, simple replies, structured reply chunks. */
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

/** Options. */
export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_SET_META_CONTEXT = 10;

/** Option reply types; errors have bit 31 set. */
export const REP_ACK = 1;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
export const REP_ERR_BIT = 0x80000000;
export const REP_ERR_UNSUP = REP_ERR_BIT + 1;
export const REP_ERR_POLICY = REP_ERR_BIT + 2;
export const REP_ERR_INVALID = REP_ERR_BIT + 3;
export const REP_ERR_PLATFORM = REP_ERR_BIT + 4;
export const REP_ERR_TLS_REQD = REP_ERR_BIT + 5;
export const REP_ERR_UNKNOWN = REP_ERR_BIT + 6;
export const REP_ERR_SHUTDOWN = REP_ERR_BIT + 7;
export const REP_ERR_BLOCK_SIZE_REQD = REP_ERR_BIT + 8;
export const REP_ERR_TOO_BIG = REP_ERR_BIT + 9;

/** Information types of NBD_REP_INFO. */
export const INFO_EXPORT = 0;
export const INFO_BLOCK_SIZE = 3;

/** Transmission flags. */
export const TFLAG_HAS_FLAGS = 1 << 0;
export const TFLAG_READ_ONLY = 1 << 1;
export const TFLAG_SEND_FLUSH = 1 << 2;
export const TFLAG_CAN_MULTI_CONN = 1 << 8;

/** Commands. */
export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_BLOCK_STATUS = 7;

/** Structured reply chunks: the flag of the last one, the types, the bit of error types. */
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
export const REPLY_TYPE_ERROR_BIT = 1 << 15;
export const REPLY_TYPE_ERROR = REPLY_TYPE_ERROR_BIT + 1;
export const REPLY_TYPE_ERROR_OFFSET = REPLY_TYPE_ERROR_BIT + 2;

/** The metadata context we ask for, and its status flags. */
export const META_BASE_ALLOCATION = 'base:allocation';
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;

/** Sizes on the wire. */
export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const STRUCTURED_REPLY_BYTES = 20;
/** The most descriptors a server should put in one block-status chunk (the protocol's 2^20). */
export const MAX_BLOCK_STATUS_DESCRIPTORS = 2 ** 20;
export const OPT_REPLY_HEADER_BYTES = 20;
/** A client that wants to work with any server keeps each payload within 32 MiB. */
export const DEFAULT_MAX_PAYLOAD = 32 * 2 ** 20;
/** The longest string (export name, message) the protocol allows. */
export const MAX_STRING = 4096;
/** The longest option reply we accept: a string and a little more. */
export const MAX_OPT_REPLY = MAX_STRING + 64;

/** The server's error values (NBD_EPERM, ...). */
export const NBD_ESHUTDOWN = 108;
const serverErrno: Record<number, number> = {
  1: EACCES, // EPERM: a write to a read-only export, for instance
  5: EIO,
  12: ENOMEM,
  22: EINVAL,
  28: ENOSPC,
  75: EOVERFLOW,
  95: EOPNOTSUPP,
  [NBD_ESHUTDOWN]: EIO,
};

/** Our errno for a server's error value (EIO for anything we do not know). */
export function errnoOfServer(error: number): number {
  return serverErrno[error] ?? EIO;
}
