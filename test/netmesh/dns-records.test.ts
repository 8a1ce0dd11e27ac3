import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsConfigError } from '../../src/netmesh/dns/errors.ts';
import { normalizeName, RecordTable } from '../../src/netmesh/dns/record-table.ts';
import { serviceRecords } from '../../src/netmesh/dns/service-records.ts';
import { parseResolvConf, parseUpstream } from '../../src/netmesh/dns/upstreams.ts';

function table(): RecordTable {
  const t = new RecordTable();
  t.setScopes(
    new Map([
      ['front', ['10.0.1.0/24']],
      ['back', ['10.0.2.0/24', '10.0.9.7']],
    ]),
  );
  t.setRecords('front', new Map([['web', ['10.0.1.100']]]));
  t.setRecords(
    'back',
    new Map([
      ['db', ['10.0.2.100']],
      ['Web.', ['10.0.2.200']],
    ]),
  );
  return t;
}

describe('RecordTable', () => {
  it("answers a client only with its own scope's names", () => {
    const t = table();
    assert.deepEqual(t.lookup('10.0.1.5', 'web', true), ['10.0.1.100']);
    assert.deepEqual(t.lookup('10.0.2.5', 'web', true), ['10.0.2.200']);
    assert.deepEqual(t.lookup('10.0.9.7', 'db', true), ['10.0.2.100']);
    assert.equal(t.lookup('10.0.1.5', 'db', true), undefined);
    assert.equal(t.lookup('10.0.9.8', 'db', true), undefined);
    assert.equal(t.lookup('192.168.0.1', 'web', true), undefined);
  });

  it('matches IPv4-mapped client addresses, as a dual-stack socket reports them', () => {
    assert.deepEqual(table().lookup('::ffff:10.0.1.5', 'web', true), ['10.0.1.100']);
  });

  it('gives a client in several scopes all their names, the first scope winning a clash', () => {
    const t = table();
    t.setScopes(
      new Map([
        ['front', ['10.0.0.0/16']],
        ['back', ['10.0.2.0/24']],
      ]),
    );
    assert.deepEqual(t.lookup('10.0.2.5', 'web', true), ['10.0.1.100']);
    assert.deepEqual(t.lookup('10.0.2.5', 'db', true), ['10.0.2.100']);
  });

  it('rotates the addresses of a name on every A answer only', () => {
    const t = new RecordTable();
    t.setScopes(new Map([['n', ['0.0.0.0/0']]]));
    t.setRecords('n', new Map([['s', ['10.0.0.1', '10.0.0.2', '10.0.0.3']]]));
    const c = '10.1.1.1';
    assert.deepEqual(t.lookup(c, 's', true), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.deepEqual(t.lookup(c, 's', false), ['10.0.0.1', '10.0.0.2', '10.0.0.3'].slice());
    assert.deepEqual(t.lookup(c, 's', true), ['10.0.0.2', '10.0.0.3', '10.0.0.1']);
    // A refresh with the same addresses keeps the rotation going; new addresses restart it.
    t.setRecords('n', new Map([['s', ['10.0.0.1', '10.0.0.2', '10.0.0.3']]]));
    assert.deepEqual(t.lookup(c, 's', true), ['10.0.0.3', '10.0.0.1', '10.0.0.2']);
    t.setRecords('n', new Map([['s', ['10.0.0.1', '10.0.0.2']]]));
    assert.deepEqual(t.lookup(c, 's', true), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(t.lookup(c, 's', true), ['10.0.0.2', '10.0.0.1']);
  });

  it('keeps a known name with no address, and forgets a scope given no names', () => {
    const t = table();
    t.setRecords('front', new Map([['web', []]]));
    assert.deepEqual(t.lookup('10.0.1.5', 'web', true), []);
    t.setRecords('front', new Map());
    assert.equal(t.lookup('10.0.1.5', 'web', true), undefined);
  });

  it('refuses bad input loudly', () => {
    const t = new RecordTable();
    assert.throws(() => t.setRecords('n', new Map([['web', ['10.0.0.300']]])), DnsConfigError);
    assert.throws(() => t.setRecords('n', new Map([['web', ['::1']]])), DnsConfigError);
    assert.throws(
      () =>
        t.setRecords(
          'n',
          new Map([
            ['web', []],
            ['WEB.', []],
          ]),
        ),
      /given twice/,
    );
    assert.throws(() => t.setScopes(new Map([['n', ['10.0.0.0/33']]])), DnsConfigError);
    assert.throws(() => t.setScopes(new Map([['n', ['10.0.0.0/']]])), DnsConfigError);
    assert.throws(() => t.setScopes(new Map([['n', ['web/24']]])), DnsConfigError);
    t.setScopes(new Map([['n', ['fd00::/8', '10.0.0.1']]]));
  });
});

describe('normalizeName', () => {
  it('lower-cases and drops the trailing dot', () => {
    assert.equal(normalizeName('Tasks.Web.'), 'tasks.web');
    assert.equal(normalizeName('web'), 'web');
  });

  it('refuses what no query could ask', () => {
    for (const bad of ['', '.', 'a..b', 'with space', 'héllo', `${'a'.repeat(64)}.b`]) {
      assert.throws(() => normalizeName(bad), DnsConfigError, bad);
    }
  });
});

describe('serviceRecords', () => {
  it('names a service and its tasks as Docker does', () => {
    const records = serviceRecords([
      { name: 'web', mode: 'vip', vip: '10.0.1.2', taskAddresses: ['10.0.1.5', '10.0.1.6'] },
      { name: 'db', mode: 'dnsrr', taskAddresses: ['10.0.1.7', '10.0.1.8'] },
      { name: 'new', mode: 'vip', taskAddresses: ['10.0.1.9'] },
    ]);
    assert.deepEqual(
      [...records],
      [
        ['web', ['10.0.1.2']],
        ['tasks.web', ['10.0.1.5', '10.0.1.6']],
        ['db', ['10.0.1.7', '10.0.1.8']],
        ['tasks.db', ['10.0.1.7', '10.0.1.8']],
        ['new', []],
        ['tasks.new', ['10.0.1.9']],
      ],
    );
  });
});

describe('parseResolvConf', () => {
  it('keeps the first three nameservers, loopback ones included, as glibc does', () => {
    const text = [
      '# generated by resolvconf',
      'search example.org',
      'nameserver 127.0.0.53',
      '; nameserver 10.9.9.9',
      '  nameserver\t10.0.0.1   # the office',
      'nameserver not-an-address',
      'nameserver fe80::1%eth0',
      'nameserver 10.0.0.4',
      'options edns0 trust-ad',
      '',
    ].join('\n');
    assert.deepEqual(parseResolvConf(text), ['127.0.0.53', '10.0.0.1', 'fe80::1%eth0']);
  });

  it('asks the local host when there is no nameserver, as glibc does', () => {
    assert.deepEqual(parseResolvConf('search x\r\n'), ['127.0.0.1']);
  });
});

describe('parseUpstream', () => {
  it('reads the forms resolv.conf and setServers use', () => {
    assert.deepEqual(parseUpstream('10.0.0.2'), { host: '10.0.0.2', port: 53 });
    assert.deepEqual(parseUpstream('10.0.0.2:5353'), { host: '10.0.0.2', port: 5353 });
    assert.deepEqual(parseUpstream('::1'), { host: '::1', port: 53 });
    assert.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353 });
    assert.deepEqual(parseUpstream('fe80::1%eth0'), { host: 'fe80::1%eth0', port: 53 });
  });

  it('refuses anything else', () => {
    for (const bad of ['dns.example', '10.0.0.2:', '10.0.0.2:0', '10.0.0.2:70000', '[::1]:x']) {
      assert.throws(() => parseUpstream(bad), DnsConfigError, bad);
    }
  });
});
