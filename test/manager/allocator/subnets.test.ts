import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatIpv4,
  overlaps,
  parseGateway,
  parseIpv4,
  parseSubnet,
} from '../../../src/api/ipv4.ts';
import type { Network } from '../../../src/api/objects.ts';
import { InvalidFlagsError, OrcaError } from '../../../src/errors.ts';
import { allocateSubnet, firstFree } from '../../../src/manager/allocator/subnets.ts';

function network(name: string, subnet: string): Network {
  const meta = { id: `id-${name}`, version: 1, createdAt: '', updatedAt: '' };
  return {
    meta,
    spec: { name, labels: {}, driver: 'overlay', attachable: false },
    subnet,
    gateway: '',
  };
}

const badRequest = (re: RegExp) => (err: unknown) =>
  err instanceof InvalidFlagsError && err.problems.some((p) => re.test(p));
const code = (c: string, re: RegExp) => (err: unknown) =>
  err instanceof OrcaError && err.code === c && re.test(err.message);

describe('IPv4 addresses and subnets', () => {
  it('reads dotted quads, refusing leading zeros and out-of-range octets', () => {
    assert.equal(parseIpv4('10.0.0.1'), 10 * 2 ** 24 + 1);
    assert.equal(formatIpv4(parseIpv4('255.255.255.255')!), '255.255.255.255');
    for (const bad of [
      '10.0.0',
      '10.0.0.256',
      '010.0.0.1',
      '10.0.0.1.2',
      'a.b.c.d',
      '',
      '1..2.3',
    ]) {
      assert.equal(parseIpv4(bad), null, bad);
    }
  });

  it('takes /8 to /29 network addresses and names the field otherwise', () => {
    assert.deepEqual(parseSubnet('10.20.0.0/16', 'f'), {
      base: parseIpv4('10.20.0.0'),
      prefix: 16,
    });
    assert.throws(
      () => parseSubnet('10.20.0.0', 'f'),
      badRequest(/^f: "10.20.0.0" is not an IPv4 subnet in CIDR/),
    );
    assert.throws(() => parseSubnet('10.0.0.0/7', 'f'), badRequest(/^f: .*\/8 to \/29/));
    assert.throws(() => parseSubnet('10.0.0.0/30', 'f'), badRequest(/\/8 to \/29/));
    assert.throws(() => parseSubnet('10.0.0.0/x', 'f'), badRequest(/not an IPv4 subnet/));
    assert.throws(
      () => parseSubnet('172.28.5.1/16', 'f'),
      badRequest(/host bits set; the subnet is 172\.28\.0\.0\/16/),
    );
  });

  it('checks a gateway is a host address inside its subnet', () => {
    const s = parseSubnet('10.1.0.0/24', 'f');
    assert.equal(formatIpv4(parseGateway('10.1.0.254', s, 'g')), '10.1.0.254');
    assert.throws(
      () => parseGateway('10.2.0.1', s, 'g'),
      badRequest(/^g: 10.2.0.1 is not inside the subnet 10.1.0.0\/24/),
    );
    assert.throws(() => parseGateway('10.1.0.0', s, 'g'), badRequest(/network address/));
    assert.throws(() => parseGateway('10.1.0.255', s, 'g'), badRequest(/broadcast address/));
    assert.throws(() => parseGateway('nope', s, 'g'), badRequest(/not an IPv4 address/));
  });

  it('finds overlaps whichever subnet is the larger', () => {
    const a = parseSubnet('10.0.0.0/16', 'f');
    assert.ok(overlaps(a, parseSubnet('10.0.5.0/24', 'f')));
    assert.ok(overlaps(parseSubnet('10.0.5.0/24', 'f'), a));
    assert.ok(!overlaps(a, parseSubnet('10.1.0.0/24', 'f')));
  });
});

describe('subnet allocation', () => {
  it('gives the first /24 of 10.0.0.0/8 and its first host as the gateway', () => {
    assert.deepEqual(allocateSubnet(undefined, []), { subnet: '10.0.0.0/24', gateway: '10.0.0.1' });
  });

  it('skips the subnets other networks use, including a larger one in one step', () => {
    const others = [network('a', '10.0.0.0/24'), network('b', '10.0.2.0/24')];
    assert.equal(allocateSubnet(undefined, others).subnet, '10.0.1.0/24');
    const big = [
      network('a', '10.0.0.0/24'),
      network('b', '10.0.1.0/24'),
      network('c', '10.0.0.0/16'),
    ];
    assert.deepEqual(allocateSubnet(undefined, big), {
      subnet: '10.1.0.0/24',
      gateway: '10.1.0.1',
    });
    // Subnets outside the pool take nothing from it.
    assert.equal(allocateSubnet(undefined, [network('x', '192.168.0.0/24')]).subnet, '10.0.0.0/24');
  });

  it('says so when the pool is full', () => {
    assert.throws(
      () => allocateSubnet(undefined, [network('all', '10.0.0.0/8')]),
      code(
        'ORCA_POOL_EXHAUSTED',
        /10\.0\.0\.0\/8 has no free \/24 left; give the network a --subnet/,
      ),
    );
    const pool = parseSubnet('10.0.0.0/22', 'f');
    const taken = ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/23'].map((s) => parseSubnet(s, 'f'));
    assert.equal(firstFree(pool, 24, taken), null);
    assert.deepEqual(firstFree(pool, 24, taken.slice(0, 2)), parseSubnet('10.0.2.0/24', 'f'));
  });

  it('keeps a given subnet and gateway, defaulting the gateway to the first host', () => {
    assert.deepEqual(allocateSubnet({ subnet: '10.20.0.0/16', gateway: '10.20.0.254' }, []), {
      subnet: '10.20.0.0/16',
      gateway: '10.20.0.254',
    });
    assert.deepEqual(allocateSubnet({ subnet: '192.168.50.0/24' }, []), {
      subnet: '192.168.50.0/24',
      gateway: '192.168.50.1',
    });
  });

  it('refuses a given subnet overlapping another network, naming it', () => {
    const others = [network('front', '10.0.1.0/24')];
    assert.throws(
      () => allocateSubnet({ subnet: '10.0.0.0/16' }, others),
      code(
        'ORCA_SUBNET_IN_USE',
        /^spec\.ipam\.subnet: 10\.0\.0\.0\/16 overlaps the subnet 10\.0\.1\.0\/24 of network front/,
      ),
    );
  });

  it('refuses bad input naming the field', () => {
    assert.throws(
      () => allocateSubnet({ subnet: '10.0.0.0/33' }, []),
      badRequest(/^spec\.ipam\.subnet: /),
    );
    assert.throws(
      () => allocateSubnet({ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, []),
      badRequest(/^spec\.ipam\.gateway: 10\.0\.1\.1 is not inside/),
    );
  });
});
