// Expected bytes written out by hand from RFC 1035 section 4 and RFC 6891 section 6.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DnsWireError,
  describeFlags,
  encodeAnswer,
  encodeHeaderOnlyError,
  isResponse,
  parseQuery,
  RCODE_FORMERR,
  RCODE_NOERROR,
  RCODE_SERVFAIL,
  readName,
  withId,
} from '../../src/netmesh/dns/wire.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// id 0x1234, RD, one question: "Web" A IN.
const QUERY_WEB_A = hex('1234 0100 0001 0000 0000 0000  03 576562 00  0001 0001');
// The same with an OPT record announcing 4096 bytes.
const QUERY_WEB_A_EDNS = hex(
  '1234 0100 0001 0000 0000 0001  03 576562 00  0001 0001  00 0029 1000 00000000 0000',
);

describe('parseQuery', () => {
  it('reads the header and the question, the name lower-cased, the labels as sent', () => {
    const q = parseQuery(QUERY_WEB_A);
    assert.equal(q.id, 0x1234);
    assert.equal(q.opcode, 0);
    assert.equal(q.recursionDesired, true);
    assert.equal(q.ednsUdpSize, undefined);
    assert.equal(q.question?.name, 'web');
    assert.deepEqual(
      q.question?.labels.map((l) => l.toString()),
      ['Web'],
    );
    assert.equal(q.question?.type, 1);
    assert.equal(q.question?.class, 1);
  });

  it('reads the EDNS buffer size from an OPT record', () => {
    assert.equal(parseQuery(QUERY_WEB_A_EDNS).ednsUdpSize, 4096);
  });

  it('reads dotted names of several labels', () => {
    const q = parseQuery(
      hex('0001 0000 0001 0000 0000 0000  05 7461736b73 03 776562 00 0001 0001'),
    );
    assert.equal(q.question?.name, 'tasks.web');
    assert.equal(q.recursionDesired, false);
  });

  it('leaves the name undefined when a label holds a dot, so it can never match a table name', () => {
    const q = parseQuery(hex('0001 0000 0001 0000 0000 0000  03 612e62 00 0001 0001'));
    assert.equal(q.question?.name, undefined);
  });

  it('has no question when the message carries several', () => {
    const q = parseQuery(
      hex('0001 0000 0002 0000 0000 0000  01 61 00 0001 0001  01 62 00 0001 0001'),
    );
    assert.equal(q.question, undefined);
  });

  it('throws DnsWireError on a message cut short', () => {
    assert.throws(() => parseQuery(QUERY_WEB_A.subarray(0, 11)), DnsWireError);
    assert.throws(() => parseQuery(QUERY_WEB_A.subarray(0, 18)), DnsWireError);
    assert.throws(() => parseQuery(QUERY_WEB_A.subarray(0, QUERY_WEB_A.length - 1)), DnsWireError);
    assert.throws(
      () => parseQuery(QUERY_WEB_A_EDNS.subarray(0, QUERY_WEB_A_EDNS.length - 2)),
      DnsWireError,
    );
  });
});

describe('readName', () => {
  // "web" at 12, then at 17 "tasks" followed by a pointer to 12.
  const msg = hex('0000 0000 0000 0000 0000 0000  03 776562 00  05 7461736b73 c00c');

  it('follows a compression pointer and ends just past the pointer', () => {
    const name = readName(msg, 17);
    assert.deepEqual(
      name.labels.map((l) => l.toString()),
      ['tasks', 'web'],
    );
    assert.equal(name.end, msg.length);
  });

  it('refuses pointers to itself or forward, which is how loops are made', () => {
    assert.throws(() => readName(hex('0000 0000 0000 0000 0000 0000 c00c'), 12), DnsWireError);
    assert.throws(() => readName(hex('0000 0000 0000 0000 0000 0000 c00e 00'), 12), DnsWireError);
  });

  it('refuses a chain of backward pointers longer than any real name needs', () => {
    // A root name at 12, then 20 pointers each pointing at the one before it.
    const bytes = [0];
    let previous = 12;
    for (let i = 0; i < 20; i++) {
      const at = 12 + bytes.length;
      bytes.push(0xc0 | (previous >> 8), previous & 0xff);
      previous = at;
    }
    const chain = Buffer.concat([Buffer.alloc(12), Buffer.from(bytes)]);
    assert.deepEqual(readName(chain, 13).labels, []);
    assert.throws(() => readName(chain, previous), DnsWireError);
  });

  it('refuses the reserved label types', () => {
    assert.throws(() => readName(hex('0000 0000 0000 0000 0000 0000 41 61 00'), 12), DnsWireError);
  });

  it('refuses a name longer than 255 bytes', () => {
    const label = '3f' + '61'.repeat(63);
    const long = hex('0000 0000 0000 0000 0000 0000' + label.repeat(4) + '00');
    assert.throws(() => readName(long, 12), DnsWireError);
  });
});

describe('encodeAnswer', () => {
  it('answers A records that point at the question name', () => {
    const answer = encodeAnswer(parseQuery(QUERY_WEB_A), {
      rcode: RCODE_NOERROR,
      addresses: ['10.0.0.2', '10.0.0.3'],
      ttlSeconds: 5,
      maxSize: 512,
      ednsUdpSize: 1232,
    });
    assert.equal(
      answer.toString('hex'),
      hex(
        '1234 8580 0001 0002 0000 0000' + // QR AA RD RA, one question, two answers
          '03 576562 00 0001 0001' + // the question as the client wrote it
          'c00c 0001 0001 00000005 0004 0a000002' +
          'c00c 0001 0001 00000005 0004 0a000003',
      ).toString('hex'),
    );
  });

  it('answers OPT to a query that carried one', () => {
    const answer = encodeAnswer(parseQuery(QUERY_WEB_A_EDNS), {
      rcode: RCODE_NOERROR,
      addresses: [],
      ttlSeconds: 5,
      maxSize: 512,
      ednsUdpSize: 1232,
    });
    assert.equal(
      answer.toString('hex'),
      hex(
        '1234 8580 0001 0000 0000 0001  03 576562 00 0001 0001  00 0029 04d0 00000000 0000',
      ).toString('hex'),
    );
  });

  it('leaves out what does not fit and sets TC', () => {
    const addresses = Array.from({ length: 40 }, (_, i) => `10.0.1.${i}`);
    const answer = encodeAnswer(parseQuery(QUERY_WEB_A), {
      rcode: RCODE_NOERROR,
      addresses,
      ttlSeconds: 5,
      maxSize: 512,
      ednsUdpSize: 1232,
    });
    // 12 header + 9 question + 16 per record: 30 records fit in 512.
    assert.equal(answer.readUInt16BE(6), 30);
    assert.equal(answer.length, 12 + 9 + 30 * 16);
    assert.equal(describeFlags(answer).tc, true);
  });

  it('is not authoritative for a SERVFAIL', () => {
    const answer = encodeAnswer(parseQuery(QUERY_WEB_A), {
      rcode: RCODE_SERVFAIL,
      addresses: [],
      ttlSeconds: 5,
      maxSize: 512,
      ednsUdpSize: 1232,
    });
    assert.deepEqual(describeFlags(answer), {
      qr: true,
      aa: false,
      tc: false,
      rd: true,
      ra: true,
      rcode: RCODE_SERVFAIL,
    });
  });
});

describe('helpers', () => {
  it('encodeHeaderOnlyError keeps the id, opcode and RD', () => {
    const err = encodeHeaderOnlyError(hex('abcd 0900 0001 0000 0000 0000 ff'), RCODE_FORMERR);
    assert.equal(err.toString('hex'), 'abcd' + '8981' + '0000'.repeat(4)); // QR, opcode 1, RD, RA, FORMERR
    assert.equal(isResponse(err), true);
  });

  it('withId changes the id of a copy only', () => {
    const copy = withId(QUERY_WEB_A, 0xbeef);
    assert.equal(copy.readUInt16BE(0), 0xbeef);
    assert.equal(QUERY_WEB_A.readUInt16BE(0), 0x1234);
    assert.deepEqual(copy.subarray(2), QUERY_WEB_A.subarray(2));
  });
});
