// The little of the DNS message format (RFC 1035 section 4, RFC 6891 for EDNS) the embedded
// server needs: read one query's header, question and EDNS size; write answers made of A
// records. Forwarded messages are never decoded, only their id is swapped, so this does not have
// to understand every record type a resolver may send back.

export const TYPE_A = 1;
export const TYPE_OPT = 41;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;

export const HEADER_SIZE = 12;
/** The UDP limit of a client that announces no EDNS buffer size (RFC 1035 section 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/**
 * The most we answer over UDP whatever a client announces: 1232 bytes fits an IPv6 minimum MTU
 * without fragmentation, the size the 2020 DNS flag day settled on.
 */
export const MAX_UDP_SIZE = 1232;
/** A TCP message is prefixed by a 16-bit length. */
export const MAX_TCP_SIZE = 0xffff;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;

/** Pointers a name may follow: more means a loop or a hostile packet. */
const MAX_POINTERS = 16;
const MAX_NAME_LENGTH = 255;

export interface DnsQuestion {
  /** Labels as the client wrote them: echoed back unchanged, as 0x20 case randomisation needs. */
  readonly labels: readonly Buffer[];
  /** Dotted, lower-case, no trailing dot; undefined when a label holds a dot or a non-ASCII byte. */
  readonly name: string | undefined;
  readonly type: number;
  readonly class: number;
}

export interface DnsQuery {
  readonly id: number;
  readonly opcode: number;
  readonly recursionDesired: boolean;
  /** The one question, or undefined when the message holds none or several. */
  readonly question: DnsQuestion | undefined;
  /** The client's EDNS UDP buffer size, or undefined when it sent no OPT record. */
  readonly ednsUdpSize: number | undefined;
}

export class DnsWireError extends Error {
  readonly code = 'ORCA_DNS_WIRE';
}

/** The id of a message, or undefined when it is too short to be one. */
export function messageId(msg: Buffer): number | undefined {
  return msg.length >= HEADER_SIZE ? msg.readUInt16BE(0) : undefined;
}

/** A copy of a message with another id; the rest of it byte for byte. */
export function withId(msg: Buffer, id: number): Buffer {
  const copy = Buffer.from(msg);
  copy.writeUInt16BE(id, 0);
  return copy;
}

/** True when the message is a response: a server must never answer one (it could loop). */
export function isResponse(msg: Buffer): boolean {
  return msg.length >= HEADER_SIZE && (msg.readUInt16BE(2) & FLAG_QR) !== 0;
}

/**
 * Reads a query. Throws DnsWireError when the header is whole but the rest is not: the caller
 * answers FORMERR then, since it knows the id to answer to.
 */
export function parseQuery(msg: Buffer): DnsQuery {
  if (msg.length < HEADER_SIZE) throw new DnsWireError('message shorter than a header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qdcount = msg.readUInt16BE(4);
  const ancount = msg.readUInt16BE(6);
  const nscount = msg.readUInt16BE(8);
  const arcount = msg.readUInt16BE(10);
  let offset = HEADER_SIZE;
  let question: DnsQuestion | undefined;
  for (let i = 0; i < qdcount; i++) {
    const name = readName(msg, offset);
    offset = name.end;
    if (offset + 4 > msg.length) throw new DnsWireError('question cut short');
    const q: DnsQuestion = {
      labels: name.labels,
      name: dottedName(name.labels),
      type: msg.readUInt16BE(offset),
      class: msg.readUInt16BE(offset + 2),
    };
    offset += 4;
    if (qdcount === 1) question = q;
  }
  let ednsUdpSize: number | undefined;
  const records = ancount + nscount + arcount;
  for (let i = 0; i < records; i++) {
    offset = readName(msg, offset).end;
    if (offset + 10 > msg.length) throw new DnsWireError('record cut short');
    const type = msg.readUInt16BE(offset);
    const rdlength = msg.readUInt16BE(offset + 8);
    if (type === TYPE_OPT && i >= ancount + nscount) ednsUdpSize = msg.readUInt16BE(offset + 2);
    offset += 10 + rdlength;
    if (offset > msg.length) throw new DnsWireError('record data cut short');
  }
  return {
    id,
    opcode: (flags >> 11) & 0xf,
    recursionDesired: (flags & FLAG_RD) !== 0,
    question,
    ednsUdpSize,
  };
}

/**
 * The labels of the name at `start`, following compression pointers, and the offset just past
 * the name where it starts (not where a pointer led).
 */
export function readName(msg: Buffer, start: number): { labels: Buffer[]; end: number } {
  const labels: Buffer[] = [];
  let offset = start;
  let end: number | undefined;
  let pointers = 0;
  let length = 1;
  for (;;) {
    if (offset >= msg.length) throw new DnsWireError('name cut short');
    const len = msg[offset]!;
    if ((len & 0xc0) === 0xc0) {
      if (offset + 1 >= msg.length) throw new DnsWireError('name pointer cut short');
      const target = ((len & 0x3f) << 8) | msg[offset + 1]!;
      // Only backward pointers: a forward or self pointer is how a loop is built.
      if (target >= offset || ++pointers > MAX_POINTERS) throw new DnsWireError('bad name pointer');
      end ??= offset + 2;
      offset = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsWireError('unknown label type');
    if (len === 0) return { labels, end: end ?? offset + 1 };
    if (offset + 1 + len > msg.length) throw new DnsWireError('label cut short');
    length += len + 1;
    if (length > MAX_NAME_LENGTH) throw new DnsWireError('name longer than 255 bytes');
    labels.push(msg.subarray(offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
}

function dottedName(labels: readonly Buffer[]): string | undefined {
  const parts: string[] = [];
  for (const label of labels) {
    for (const byte of label) if (byte === 0x2e || byte > 0x7e || byte < 0x21) return undefined;
    parts.push(label.toString('latin1').toLowerCase());
  }
  return parts.join('.');
}

export interface AnswerOptions {
  readonly rcode: number;
  /** IPv4 addresses answered as A records for the question's name, in this order. */
  readonly addresses: readonly string[];
  readonly ttlSeconds: number;
  /** The most bytes the answer may take; records that do not fit are left out and TC is set. */
  readonly maxSize: number;
  /** The UDP size this server announces when the query carried EDNS. */
  readonly ednsUdpSize: number;
}

/**
 * An answer to a parsed query. Authoritative, since the names it answers are orca's own, and
 * recursion available, since everything else is forwarded.
 */
export function encodeAnswer(query: DnsQuery, opts: AnswerOptions): Buffer {
  const q = query.question;
  const qsize = q === undefined ? 0 : q.labels.reduce((n, l) => n + 1 + l.length, 1) + 4;
  const optSize = query.ednsUdpSize === undefined ? 0 : 11;
  // Every A record names the question by a pointer to it (offset 12): 16 bytes each.
  const room = Math.floor((opts.maxSize - HEADER_SIZE - qsize - optSize) / 16);
  const count = Math.max(0, Math.min(opts.addresses.length, room));
  const truncated = count < opts.addresses.length;
  const buf = Buffer.alloc(HEADER_SIZE + qsize + count * 16 + optSize);
  let flags = FLAG_QR | (query.opcode << 11) | FLAG_RA | (opts.rcode & 0xf);
  if (opts.rcode === RCODE_NOERROR && q !== undefined) flags |= FLAG_AA;
  if (query.recursionDesired) flags |= FLAG_RD;
  if (truncated) flags |= FLAG_TC;
  buf.writeUInt16BE(query.id, 0);
  buf.writeUInt16BE(flags, 2);
  buf.writeUInt16BE(q === undefined ? 0 : 1, 4);
  buf.writeUInt16BE(count, 6);
  buf.writeUInt16BE(optSize === 0 ? 0 : 1, 10);
  let offset = HEADER_SIZE;
  if (q !== undefined) {
    for (const label of q.labels) {
      buf[offset++] = label.length;
      offset += label.copy(buf, offset);
    }
    buf[offset++] = 0;
    offset = buf.writeUInt16BE(q.type, offset);
    offset = buf.writeUInt16BE(q.class, offset);
  }
  for (let i = 0; i < count; i++) {
    offset = buf.writeUInt16BE(0xc000 | HEADER_SIZE, offset);
    offset = buf.writeUInt16BE(TYPE_A, offset);
    offset = buf.writeUInt16BE(CLASS_IN, offset);
    offset = buf.writeUInt32BE(opts.ttlSeconds, offset);
    offset = buf.writeUInt16BE(4, offset);
    for (const octet of opts.addresses[i]!.split('.')) buf[offset++] = Number(octet);
  }
  if (optSize !== 0) {
    buf[offset++] = 0; // the root name
    offset = buf.writeUInt16BE(TYPE_OPT, offset);
    offset = buf.writeUInt16BE(opts.ednsUdpSize, offset);
    // Extended rcode, version, flags and options all zero: plain EDNS(0).
  }
  return buf;
}

/**
 * A bare error answer for a message whose question could not be read: only the header can be
 * trusted then.
 */
export function encodeHeaderOnlyError(msg: Buffer, rcode: number): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  const flags = msg.readUInt16BE(2);
  buf.writeUInt16BE(msg.readUInt16BE(0), 0);
  buf.writeUInt16BE(FLAG_QR | (flags & 0x7800) | (flags & FLAG_RD) | FLAG_RA | rcode, 2);
  return buf;
}

/** The flags of a message, for tests and logs. */
export function describeFlags(msg: Buffer): {
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
} {
  const flags = msg.readUInt16BE(2);
  return {
    qr: (flags & FLAG_QR) !== 0,
    aa: (flags & FLAG_AA) !== 0,
    tc: (flags & FLAG_TC) !== 0,
    rd: (flags & FLAG_RD) !== 0,
    ra: (flags & FLAG_RA) !== 0,
    rcode: flags & 0xf,
  };
}
