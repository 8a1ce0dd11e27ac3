// Expected bytes written out by hand from the PROXY protocol specification, section 2.2.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeProxyV2, PROXY_V2_SIGNATURE, writeIPv6 } from '../../src/netmesh/proxy-protocol.ts';

const SIG = '0d0a0d0a000d0a515549540a';

describe('encodeProxyV2', () => {
  it('starts with the 12-byte signature', () => {
    assert.equal(PROXY_V2_SIGNATURE.toString('hex'), SIG);
    assert.equal(PROXY_V2_SIGNATURE.toString('latin1'), '\r\n\r\n\0\r\nQUIT\n');
  });

  it('encodes an IPv4 TCP connection', () => {
    const h = encodeProxyV2({
      sourceAddress: '192.168.1.10',
      sourcePort: 51234,
      destinationAddress: '10.0.0.2',
      destinationPort: 8080,
    });
    assert.equal(
      h.toString('hex'),
      SIG +
        '21' + // version 2, PROXY
        '11' + // AF_INET, STREAM
        '000c' + // 12 bytes of addresses
        'c0a8010a' + // 192.168.1.10
        '0a000002' + // 10.0.0.2
        'c822' + // 51234
        '1f90', // 8080
    );
  });

  it('sends IPv4-mapped IPv6 addresses as IPv4', () => {
    const h = encodeProxyV2({
      sourceAddress: '::ffff:127.0.0.1',
      sourcePort: 1,
      destinationAddress: '::FFFF:127.0.0.2',
      destinationPort: 2,
    });
    assert.equal(h[13], 0x11);
    assert.equal(h.subarray(16).toString('hex'), '7f000001' + '7f000002' + '0001' + '0002');
  });

  it('encodes an IPv6 TCP connection', () => {
    const h = encodeProxyV2({
      sourceAddress: '2001:db8::1',
      sourcePort: 443,
      destinationAddress: '::1',
      destinationPort: 80,
    });
    assert.equal(h.length, 16 + 36);
    assert.equal(
      h.toString('hex'),
      SIG +
        '21' +
        '21' + // AF_INET6, STREAM
        '0024' + // 36 bytes
        '20010db8000000000000000000000001' +
        '00000000000000000000000000000001' +
        '01bb' +
        '0050',
    );
  });

  it('maps the IPv4 side when the two families differ', () => {
    const h = encodeProxyV2({
      sourceAddress: '10.1.2.3',
      sourcePort: 9,
      destinationAddress: 'fe80::2%eth0',
      destinationPort: 10,
    });
    assert.equal(h[13], 0x21);
    assert.equal(h.subarray(16, 32).toString('hex'), '00000000000000000000ffff0a010203');
    assert.equal(h.subarray(32, 48).toString('hex'), 'fe800000000000000000000000000002');
  });

  it('sends UNSPEC when the addresses are unknown', () => {
    assert.equal(encodeProxyV2(undefined).toString('hex'), SIG + '21' + '00' + '0000');
  });
});

describe('writeIPv6', () => {
  const hex = (addr: string) => {
    const buf = Buffer.alloc(16);
    writeIPv6(buf, 0, addr);
    return buf.toString('hex');
  };
  it('expands :: anywhere and reads embedded IPv4', () => {
    assert.equal(hex('::'), '0'.repeat(32));
    assert.equal(hex('1::'), '0001' + '0'.repeat(28));
    assert.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008');
    assert.equal(hex('::ffff:1.2.3.4'), '00000000000000000000ffff01020304');
  });
});
