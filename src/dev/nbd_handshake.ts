/*
 * The NBD handshake, client side, fixed newstyle: check the server's
 * greeting, send our flags, ask for structured replies
 * (NBD_OPT_STRUCTURED_REPLY) and, when the server agrees, for the
 * base:allocation metadata context of the export (NBD_OPT_SET_META_CONTEXT);
 * a server that refuses either is simply used without it. Then ask for the
 * export with NBD_OPT_GO (with a
 * request for the server's block-size constraints), reading NBD_REP_INFO
 * replies until NBD_REP_ACK. A server that answers NBD_REP_ERR_UNSUP to GO
 * gets the older NBD_OPT_EXPORT_NAME instead. Every value the server sends is
 * checked before it is used; a refusal becomes an errno with a reason that
 * names the export and quotes the server's own message.
 *   const { error, reason, exp } = await nbdHandshake(conn, 'disk', { structured: true })
 * On success the connection is ready for transmission; on failure the
 * caller ends it.
 */

import { EACCES, EINVAL, EIO, ENOENT, EOPNOTSUPP } from '../kern/errno.js';
import { NbdFailure, type NbdConn } from './nbd_conn.js';
import {
  DEFAULT_MAX_PAYLOAD,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT_HI,
  IHAVEOPT_LO,
  INFO_BLOCK_SIZE,
  INFO_EXPORT,
  MAX_OPT_REPLY,
  NBDMAGIC_HI,
  NBDMAGIC_LO,
  OLDSTYLE_HI,
  OLDSTYLE_LO,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_REPLY_HEADER_BYTES,
  OPT_SET_META_CONTEXT,
  OPT_STRUCTURED_REPLY,
  META_BASE_ALLOCATION,
  REP_META_CONTEXT,
  OPT_REPLY_MAGIC_HI,
  OPT_REPLY_MAGIC_LO,
  REP_ACK,
  REP_ERR_BIT,
  REP_ERR_BLOCK_SIZE_REQD,
  REP_ERR_INVALID,
  REP_ERR_PLATFORM,
  REP_ERR_POLICY,
  REP_ERR_SHUTDOWN,
  REP_ERR_TLS_REQD,
  REP_ERR_TOO_BIG,
  REP_ERR_UNKNOWN,
  REP_ERR_UNSUP,
  REP_INFO,
  TFLAG_HAS_FLAGS,
} from './nbd_proto.js';

/** What the handshake learnt about the export. */
export interface NbdExport {
  /** Bytes. */
  size: number;
  /** Transmission flags (TFLAG_*). */
  flags: number;
  /** The largest payload of one request we will send. */
  maxPayload: number;
  /** Which option ended the handshake. */
  via: 'go' | 'export-name';
  /** Structured replies were negotiated (NBD_OPT_STRUCTURED_REPLY answered NBD_REP_ACK). */
  structured: boolean;
  /** The id of the base:allocation metadata context, or null when the server gave none. */
  allocationContext: number | null;
}

export interface HandshakeOptions {
  /** Ask for structured replies and base:allocation (default true). */
  structured?: boolean;
}

/** vmpager's transfers are whole 512-byte sectors; a server that needs larger alignment is refused. */
const OUR_ALIGNMENT = 512;
const TWO32 = 2 ** 32;

export async function nbdHandshake(conn: NbdConn, exportName: string, opts: HandshakeOptions = {}): Promise<{ error: number; reason: string; exp: NbdExport | null }> {
  try {
    return { error: 0, reason: '', exp: await negotiate(conn, exportName, opts.structured ?? true) };
  } catch (e) {
    if (!(e instanceof NbdFailure)) throw e;
    return { error: e.error, reason: e.reason, exp: null };
  }
}

async function negotiate(conn: NbdConn, exportName: string, wantStructured: boolean): Promise<NbdExport> {
  const greeting = view(await conn.read(18));
  if (greeting.getUint32(0) !== NBDMAGIC_HI || greeting.getUint32(4) !== NBDMAGIC_LO) throw new NbdFailure(EIO, 'not an NBD server');
  const m2hi = greeting.getUint32(8);
  const m2lo = greeting.getUint32(12);
  if (m2hi === OLDSTYLE_HI && m2lo === OLDSTYLE_LO) {
    throw new NbdFailure(EOPNOTSUPP, 'the server speaks only the oldstyle NBD handshake, which has no export names');
  }
  if (m2hi !== IHAVEOPT_HI || m2lo !== IHAVEOPT_LO) throw new NbdFailure(EIO, 'not an NBD server (unknown handshake)');
  const hflags = greeting.getUint16(16);
  if ((hflags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdFailure(EOPNOTSUPP, 'the server does not offer fixed newstyle negotiation');
  const noZeroes = (hflags & FLAG_NO_ZEROES) !== 0;
  conn.send(u32(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0)));

  const name = new TextEncoder().encode(exportName);
  const structured = wantStructured && (await structuredReplies(conn));
  const allocationContext = structured ? await allocationMetaContext(conn, name) : null;
  const goData = new Uint8Array(4 + name.length + 2 + 2);
  const g = view(goData);
  g.setUint32(0, name.length);
  goData.set(name, 4);
  g.setUint16(4 + name.length, 1); // one information request:
  g.setUint16(6 + name.length, INFO_BLOCK_SIZE);
  sendOption(conn, OPT_GO, goData);

  let size = -1;
  let flags = 0;
  let minBlock = 1;
  let maxPayload = DEFAULT_MAX_PAYLOAD;
  let infos = 0;
  for (;;) {
    const h = view(await conn.read(OPT_REPLY_HEADER_BYTES));
    if (h.getUint32(0) !== OPT_REPLY_MAGIC_HI || h.getUint32(4) !== OPT_REPLY_MAGIC_LO) throw protocol('bad option reply magic');
    const option = h.getUint32(8);
    const type = h.getUint32(12);
    const length = h.getUint32(16);
    if (option !== OPT_GO) throw protocol(`a reply to option ${option}, not to NBD_OPT_GO`);
    if (length > MAX_OPT_REPLY) throw protocol(`an option reply of ${length} bytes`);
    const data = await conn.read(length);
    const d = view(data);
    if (type === REP_INFO) {
      infos++;
      if (length < 2) throw protocol('an NBD_REP_INFO without a type');
      const info = d.getUint16(0);
      if (info === INFO_EXPORT) {
        if (length !== 12) throw protocol(`NBD_INFO_EXPORT of ${length} bytes`);
        size = exportSize(d.getUint32(2), d.getUint32(6));
        flags = checkFlags(d.getUint16(10));
      } else if (info === INFO_BLOCK_SIZE) {
        if (length !== 14) throw protocol(`NBD_INFO_BLOCK_SIZE of ${length} bytes`);
        const min = d.getUint32(2);
        const preferred = d.getUint32(6);
        const max = d.getUint32(10);
        if (!isPow2(min) || min > 65536 || !isPow2(preferred) || preferred < min || max < min) {
          throw protocol(`block sizes minimum ${min}, preferred ${preferred}, maximum ${max}`);
        }
        minBlock = min;
        maxPayload = max;
      }
      // Other information is not for us: ignored, as the protocol asks.
      continue;
    }
    if (type === REP_ACK) {
      if (length !== 0) throw protocol(`NBD_REP_ACK with ${length} bytes of data`);
      if (size < 0) throw protocol('NBD_OPT_GO succeeded without telling the export size');
      break;
    }
    if (type === REP_ERR_UNSUP && infos === 0) return { ...(await exportNameFallback(conn, exportName, name, noZeroes)), structured, allocationContext };
    if ((type & REP_ERR_BIT) !== 0) {
      sendOption(conn, OPT_ABORT, new Uint8Array(0));
      throw refusal(type, exportName, message(data));
    }
    throw protocol(`unexpected option reply type ${type}`);
  }
  if (minBlock > OUR_ALIGNMENT) {
    sendOption(conn, OPT_ABORT, new Uint8Array(0));
    throw new NbdFailure(EOPNOTSUPP, `the server needs requests aligned to ${minBlock} bytes (vmpager's are aligned to ${OUR_ALIGNMENT})`);
  }
  return { size, flags, maxPayload: payloadLimit(maxPayload), via: 'go', structured, allocationContext };
}

/** NBD_OPT_STRUCTURED_REPLY: true on NBD_REP_ACK; any error reply means the server will not (the option is optional). */
async function structuredReplies(conn: NbdConn): Promise<boolean> {
  sendOption(conn, OPT_STRUCTURED_REPLY, new Uint8Array(0));
  const { type, data } = await optionReply(conn, OPT_STRUCTURED_REPLY);
  if (type === REP_ACK) {
    if (data.length !== 0) throw protocol(`NBD_REP_ACK with ${data.length} bytes of data`);
    return true;
  }
  if ((type & REP_ERR_BIT) !== 0) return false;
  throw protocol(`unexpected reply type ${type} to NBD_OPT_STRUCTURED_REPLY`);
}

/**
 * NBD_OPT_SET_META_CONTEXT for the export with the one query base:allocation:
 * the context id the server gives it, or null (no such context, or an error reply).
 */
async function allocationMetaContext(conn: NbdConn, name: Uint8Array): Promise<number | null> {
  const query = new TextEncoder().encode(META_BASE_ALLOCATION);
  const data = new Uint8Array(4 + name.length + 4 + 4 + query.length);
  const d = view(data);
  d.setUint32(0, name.length);
  data.set(name, 4);
  d.setUint32(4 + name.length, 1);
  d.setUint32(8 + name.length, query.length);
  data.set(query, 12 + name.length);
  sendOption(conn, OPT_SET_META_CONTEXT, data);
  let id: number | null = null;
  for (;;) {
    const r = await optionReply(conn, OPT_SET_META_CONTEXT);
    if (r.type === REP_META_CONTEXT) {
      if (r.data.length < 5) throw protocol(`NBD_REP_META_CONTEXT of ${r.data.length} bytes`);
      const ctxName = new TextDecoder('utf-8', { fatal: false }).decode(r.data.subarray(4));
      if (ctxName !== META_BASE_ALLOCATION) throw protocol(`a metadata context '${printable(ctxName).slice(0, 80)}' nobody asked for`);
      if (id !== null) throw protocol('base:allocation given twice');
      id = view(r.data).getUint32(0);
      continue;
    }
    if (r.type === REP_ACK) {
      if (r.data.length !== 0) throw protocol(`NBD_REP_ACK with ${r.data.length} bytes of data`);
      return id;
    }
    if ((r.type & REP_ERR_BIT) !== 0) return null;
    throw protocol(`unexpected reply type ${r.type} to NBD_OPT_SET_META_CONTEXT`);
  }
}

/** One option reply to `option`: its type and data, the header checked. */
async function optionReply(conn: NbdConn, option: number): Promise<{ type: number; data: Uint8Array }> {
  const h = view(await conn.read(OPT_REPLY_HEADER_BYTES));
  if (h.getUint32(0) !== OPT_REPLY_MAGIC_HI || h.getUint32(4) !== OPT_REPLY_MAGIC_LO) throw protocol('bad option reply magic');
  const replyTo = h.getUint32(8);
  const type = h.getUint32(12);
  const length = h.getUint32(16);
  if (replyTo !== option) throw protocol(`a reply to option ${replyTo}, not to option ${option}`);
  if (length > MAX_OPT_REPLY) throw protocol(`an option reply of ${length} bytes`);
  return { type, data: await conn.read(length) };
}

/** The old way in, for servers without NBD_OPT_GO: no reply header, and no error but a closed connection. */
async function exportNameFallback(conn: NbdConn, exportName: string, name: Uint8Array, noZeroes: boolean): Promise<NbdExport> {
  sendOption(conn, OPT_EXPORT_NAME, name);
  let d: DataView;
  try {
    d = view(await conn.read(10));
    if (!noZeroes) await conn.read(124);
  } catch (e) {
    if (e instanceof NbdFailure && e.error === EIO) throw new NbdFailure(ENOENT, `${exportPhrase(exportName)} not found on the server (it closed the connection)`);
    throw e;
  }
  const size = exportSize(d.getUint32(0), d.getUint32(4));
  const flags = checkFlags(d.getUint16(8));
  return { size, flags, maxPayload: DEFAULT_MAX_PAYLOAD, via: 'export-name', structured: false, allocationContext: null };
}

function sendOption(conn: NbdConn, option: number, data: Uint8Array): void {
  const h = new Uint8Array(16);
  const v = view(h);
  v.setUint32(0, IHAVEOPT_HI);
  v.setUint32(4, IHAVEOPT_LO);
  v.setUint32(8, option);
  v.setUint32(12, data.length);
  conn.send(h, data);
}

/** An option error reply as errno and reason. */
function refusal(type: number, exportName: string, said: string): NbdFailure {
  const says = said === '' ? '' : ` (server says: ${said})`;
  const exp = exportPhrase(exportName);
  switch (type) {
    case REP_ERR_UNKNOWN:
      return new NbdFailure(ENOENT, exportName === '' ? `the server has no default export${says}` : `${exp} not found on the server${says}`);
    case REP_ERR_POLICY:
      return new NbdFailure(EACCES, `the server refuses ${exp}${says}`);
    case REP_ERR_TLS_REQD:
      return new NbdFailure(EOPNOTSUPP, `the server requires TLS, which vmpager does not speak${says}`);
    case REP_ERR_SHUTDOWN:
      return new NbdFailure(EIO, `the server is shutting down${says}`);
    case REP_ERR_INVALID:
      return new NbdFailure(EINVAL, `the server calls the request for ${exp} invalid${says}`);
    case REP_ERR_PLATFORM:
      return new NbdFailure(EOPNOTSUPP, `the server cannot serve ${exp} on its platform${says}`);
    case REP_ERR_TOO_BIG:
      return new NbdFailure(EINVAL, `the export name is too long for the server${says}`);
    case REP_ERR_BLOCK_SIZE_REQD:
      return protocol(`the server wants block sizes negotiated, and they were${says}`);
    default:
      return new NbdFailure(EIO, `the server refused ${exp} (error 0x${type.toString(16)})${says}`);
  }
}

function exportPhrase(exportName: string): string {
  return exportName === '' ? 'the default export' : `export '${printable(exportName)}'`;
}

/** A server's message, decoded and made one printable line. */
function message(data: Uint8Array): string {
  return printable(new TextDecoder('utf-8', { fatal: false }).decode(data)).trim().slice(0, 200);
}

function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

function exportSize(hi: number, lo: number): number {
  const size = hi * TWO32 + lo;
  if (!Number.isSafeInteger(size)) throw protocol(`an export size of 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} bytes`);
  return size;
}

function checkFlags(flags: number): number {
  if ((flags & TFLAG_HAS_FLAGS) === 0) throw protocol(`transmission flags 0x${flags.toString(16)} without NBD_FLAG_HAS_FLAGS`);
  return flags;
}

/** The per-request payload we use: the server's maximum, but at most 32 MiB, in whole 512-byte sectors. */
function payloadLimit(max: number): number {
  const m = Math.min(max, DEFAULT_MAX_PAYLOAD);
  return m >= OUR_ALIGNMENT ? m - (m % OUR_ALIGNMENT) : m;
}

function protocol(what: string): NbdFailure {
  return new NbdFailure(EIO, `protocol error: ${what}`);
}

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n);
  return b;
}
