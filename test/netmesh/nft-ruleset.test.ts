import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MeshBackend, MeshListener } from '../../src/netmesh/data-path.ts';
import {
  buildRuleset,
  numgenMode,
  removeTableScript,
  tableNameProblem,
} from '../../src/netmesh/nft-ruleset.ts';

const OPTS = { table: 'orca_mesh', bindAddr: '10.0.0.1', masqueradeMark: 0x4000 };

function listener(over: Partial<MeshListener> = {}): MeshListener {
  return {
    protocol: 'tcp',
    port: 8080,
    lb: 'round-robin',
    proxyProtocol: false,
    backends: [],
    ...over,
  };
}

function backends(...hosts: string[]): MeshBackend[] {
  return hosts.map((host, i) => ({ id: `task${i + 1}`, host, port: 30000 + i }));
}

describe('buildRuleset', () => {
  it('replaces the whole table in one script: create, delete, define', () => {
    const { script, served, failures } = buildRuleset(
      [listener({ backends: backends('10.0.1.2', '10.0.1.3') })],
      OPTS,
    );
    assert.deepEqual(failures, []);
    assert.equal(served.length, 1);
    assert.equal(
      script,
      `table ip orca_mesh {}
delete table ip orca_mesh
table ip orca_mesh {
  map listeners {
    type inet_proto . inet_service : verdict
    elements = { tcp . 8080 : goto listener_tcp_8080 }
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    ip daddr 10.0.0.1 meta l4proto . th dport vmap @listeners
  }
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr 10.0.0.1 meta l4proto . th dport vmap @listeners
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    meta mark & 0x00004000 == 0 return
    meta mark set meta mark ^ 0x00004000
    masquerade fully-random
  }
  chain listener_tcp_8080 {
    meta mark set meta mark | 0x00004000
    meta l4proto tcp dnat to numgen inc mod 2 map { 0 : 10.0.1.2 . 30000, 1 : 10.0.1.3 . 30001 }
  }
}
`,
    );
  });

  it('with no listeners only removes the table', () => {
    const { script } = buildRuleset([], OPTS);
    assert.equal(script, removeTableScript('orca_mesh'));
    assert.equal(script, 'table ip orca_mesh {}\ndelete table ip orca_mesh\n');
  });

  it('matches every local address but loopback when bound to 0.0.0.0', () => {
    const { script } = buildRuleset([listener({ backends: backends('10.0.1.2') })], {
      ...OPTS,
      bindAddr: '0.0.0.0',
    });
    assert.match(
      script,
      /ip daddr != 127\.0\.0\.0\/8 fib daddr type local meta l4proto \. th dport vmap @listeners/,
    );
  });

  it('DNATs a single backend directly and UDP by its own protocol', () => {
    const { script } = buildRuleset(
      [listener({ protocol: 'udp', port: 53, backends: backends('10.0.1.2') })],
      OPTS,
    );
    assert.match(script, /udp \. 53 : goto listener_udp_53/);
    assert.match(script, /meta l4proto udp dnat to 10\.0\.1\.2:30000\n/);
  });

  it('picks round robin for round-robin and least-conn, random for p2c', () => {
    assert.equal(numgenMode('round-robin'), 'inc');
    assert.equal(numgenMode('least-conn'), 'inc');
    assert.equal(numgenMode('p2c'), 'random');
    const { script } = buildRuleset(
      [listener({ lb: 'p2c', backends: backends('10.0.1.2', '10.0.1.3', '10.0.1.4') })],
      OPTS,
    );
    assert.match(script, /dnat to numgen random mod 3 map \{ 0 : 10\.0\.1\.2 \. 30000, /);
  });

  it('rejects on listeners without backends: tcp reset, udp port unreachable', () => {
    const { script, failures } = buildRuleset(
      [listener({ port: 81 }), listener({ protocol: 'udp', port: 82 }), listener({ port: 83 })],
      OPTS,
    );
    assert.deepEqual(failures, []);
    assert.doesNotMatch(script, /map listeners|hook prerouting/, 'no DNAT without a backend');
    assert.match(
      script,
      /set no_backends_tcp \{\n {4}type inet_service\n {4}elements = \{ 81, 83 \}/,
    );
    assert.match(script, /set no_backends_udp \{\n {4}type inet_service\n {4}elements = \{ 82 \}/);
    for (const hook of ['input', 'output']) {
      assert.match(script, new RegExp(`chain reject_${hook} \\{\\n {4}type filter hook ${hook} `));
    }
    assert.match(script, /tcp dport @no_backends_tcp ip daddr 10\.0\.0\.1 reject with tcp reset/);
    assert.match(script, /udp dport @no_backends_udp ip daddr 10\.0\.0\.1 reject\n/);
  });

  it('orders listeners by protocol and port, so equal input gives equal text', () => {
    const a = listener({ port: 9000, backends: backends('10.0.1.2') });
    const b = listener({ protocol: 'udp', port: 80, backends: backends('10.0.1.2') });
    const c = listener({ port: 80, backends: backends('10.0.1.2') });
    const one = buildRuleset([a, b, c], OPTS);
    assert.deepEqual(
      one.served.map((l) => `${l.protocol}/${l.port}`),
      ['tcp/80', 'tcp/9000', 'udp/80'],
    );
    assert.equal(one.script, buildRuleset([c, b, a], OPTS).script);
  });

  it('leaves out what the kernel cannot serve, saying why, and serves the rest', () => {
    const ok = listener({ port: 1000, backends: backends('10.0.1.2') });
    const { served, failures, script } = buildRuleset(
      [
        ok,
        listener({ port: 1001, proxyProtocol: true, backends: backends('10.0.1.2') }),
        listener({ port: 1002, backends: backends('fd00::2') }),
        listener({ port: 1003, backends: backends('127.0.0.1') }),
        listener({ port: 1004, backends: [{ id: 't', host: '10.0.1.2', port: 0 }] }),
        listener({ port: 70000 }),
        listener({ port: 1000, backends: backends('10.0.1.9') }),
      ],
      OPTS,
    );
    assert.deepEqual(served, [ok]);
    const why = new Map(failures.map((f) => [f.port, f.message]));
    assert.equal(failures.length, 6);
    assert.match(why.get(1001) ?? '', /PROXY protocol needs the user-space data path/);
    assert.match(why.get(1002) ?? '', /fd00::2: the kernel data path takes IPv4 addresses only/);
    assert.match(why.get(1003) ?? '', /127\.0\.0\.1: DNAT to a loopback address/);
    assert.match(why.get(1004) ?? '', /port 0 is not in 1-65535/);
    assert.match(why.get(70000) ?? '', /port 70000 is not in 1-65535/);
    assert.match(why.get(1000) ?? '', /tcp\/1000 is listed twice; the first listener keeps it/);
    assert.doesNotMatch(script, /10\.0\.1\.9|1001|1002|1003|1004/);
  });

  it('sets the masquerade mark it is given', () => {
    const { script } = buildRuleset([listener({ backends: backends('10.0.1.2') })], {
      ...OPTS,
      masqueradeMark: 0x100000,
    });
    assert.match(script, /meta mark & 0x00100000 == 0 return/);
    assert.match(script, /meta mark set meta mark \| 0x00100000/);
  });
});

describe('tableNameProblem', () => {
  it('takes plain identifiers and refuses what nft would need quoted', () => {
    assert.equal(tableNameProblem('orca_mesh'), undefined);
    assert.equal(tableNameProblem('orca_mesh_2'), undefined);
    for (const bad of ['', '1mesh', 'orca-mesh', 'a b', 'x;flush ruleset', 'a'.repeat(65)]) {
      assert.match(tableNameProblem(bad) ?? '', /must be a letter/, bad);
    }
  });
});
