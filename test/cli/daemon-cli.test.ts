import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeView } from '../../src/api/control-wire.ts';
import { inspectFormat } from '../../src/cli/common.ts';
import { resolveHost } from '../../src/cli/control-client.ts';
import { formatNodeTable, parseNodeUpdate } from '../../src/cli/node.ts';
import { formatNodePretty } from '../../src/cli/node-pretty.ts';
import { bytesSize } from '../../src/cli/output.ts';
import { throwsProblem } from './problems.ts';

function node(id: string, hostname: string, leader: boolean | null): NodeView {
  return {
    meta: { id, version: 1, createdAt: '', updatedAt: '' },
    spec: { role: leader === null ? 'worker' : 'manager', availability: 'active', labels: {} },
    description: {
      hostname,
      platform: { os: 'linux', arch: 'amd64' },
      resources: { nanoCpus: 2e9, memoryBytes: 1 },
      engine: { version: '27.0.1', labels: {} },
      usage: null,
    },
    status: { state: 'ready', message: '', addr: '10.0.0.1' },
    managerStatus:
      leader === null ? null : { leader, reachability: 'reachable', addr: '10.0.0.1:2377' },
  };
}

describe('orca node and host flags', () => {
  it('parses node update flags into a request', () => {
    assert.deepEqual(
      parseNodeUpdate({
        availability: 'pause',
        labelAdd: ['zone=east', 'ssd', 'eq=a=b'],
        labelRm: ['old'],
      }),
      { availability: 'pause', labelAdd: { zone: 'east', ssd: '', eq: 'a=b' }, labelRm: ['old'] },
    );
    assert.deepEqual(parseNodeUpdate({}), { labelAdd: {}, labelRm: [] });
  });

  it('names the flag of every bad value at once', () => {
    const bad = () =>
      parseNodeUpdate({ availability: 'nope', labelAdd: ['=v'], labelRm: ['a=b', 'x'] });
    throwsProblem(bad, '--availability: "nope" is not one of active, pause, drain');
    throwsProblem(bad, /^--label-add: "=v" is not key=value/);
    throwsProblem(bad, /^--label-rm: "a=b" is not a label key/);
    throwsProblem(() => parseNodeUpdate({ labelAdd: ['k=1'], labelRm: ['k'] }), /also given/);
  });

  it('prints Docker-style node tables with the answering node starred', () => {
    const out = formatNodeTable('aaa', [
      node('aaa', 'm1', true),
      node('bbb', 'm2', false),
      node('ccc', 'w1', null),
    ]);
    assert.equal(
      out,
      [
        'ID      HOSTNAME   STATUS   AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
        'aaa *   m1         Ready    Active         Leader           27.0.1',
        'bbb     m2         Ready    Active         Reachable        27.0.1',
        'ccc     w1         Ready    Active                          27.0.1',
        '',
      ].join('\n'),
    );
  });

  it('takes the host from -H, then ORCA_HOST, then the default socket', () => {
    assert.equal(
      resolveHost('unix:///tmp/a.sock', { ORCA_HOST: 'unix:///b' }),
      'unix:///tmp/a.sock',
    );
    assert.equal(resolveHost(undefined, { ORCA_HOST: 'unix:///b' }), 'unix:///b');
    assert.equal(resolveHost(undefined, {}), 'unix:///run/orca/orca.sock');
    throwsProblem(() => resolveHost('/tmp/a.sock', {}), /^-H\/--host: "\/tmp\/a.sock"/);
    throwsProblem(() => resolveHost(undefined, { ORCA_HOST: 'tcp://x:1' }), /^ORCA_HOST:/);
  });

  it('prints node inspect --pretty as Docker does, with the usage and its age', () => {
    const n = node('aaa', 'm1', true);
    const reported: NodeView = {
      ...n,
      meta: { ...n.meta, createdAt: '2025-01-01T00:00:00.000Z' },
      spec: { ...n.spec, labels: { zone: 'east' } },
      description: {
        ...n.description,
        resources: { nanoCpus: 2.5e9, memoryBytes: 8 * 2 ** 30 },
        engine: { version: '27.0.1', labels: { ssd: '', storage: 'fast' } },
        usage: { cpuPercent: 12.5, memoryBytes: 2 ** 31, measuredAt: '2025-01-01T00:01:00.000Z' },
      },
    };
    assert.equal(
      formatNodePretty(reported, Date.parse('2025-01-01T00:01:07.500Z')),
      [
        'ID:                 aaa',
        'Labels:',
        ' - zone=east',
        'Hostname:           m1',
        'Joined at:          2025-01-01T00:00:00.000Z',
        'Status:',
        ' State:             Ready',
        ' Availability:      Active',
        ' Address:           10.0.0.1',
        'Manager Status:',
        ' Address:           10.0.0.1:2377',
        ' Raft Status:       Reachable',
        ' Leader:            Yes',
        'Platform:',
        ' Operating System:  linux',
        ' Architecture:      amd64',
        'Resources:',
        ' CPUs:              2.5',
        ' Memory:            8GiB',
        'Usage:',
        ' CPU:               12.5%',
        ' Memory:            2GiB of 8GiB (25%)',
        ' Measured:          7 seconds ago',
        'Engine Version:     27.0.1',
        'Engine Labels:',
        ' - ssd',
        ' - storage=fast',
        '',
      ].join('\n'),
    );
    assert.match(formatNodePretty(node('ccc', 'w1', null), 0), /^Usage: +not reported yet$/m);
  });

  it('takes --format json or pretty for node inspect, --pretty as Docker', () => {
    assert.equal(inspectFormat({}), 'json');
    assert.equal(inspectFormat({ pretty: true }), 'pretty');
    assert.equal(inspectFormat({ format: 'pretty', pretty: true }), 'pretty');
    throwsProblem(() => inspectFormat({ format: 'table' }), /^--format: "table" is not one of/);
    throwsProblem(() => inspectFormat({ format: 'json', pretty: true }), /^--pretty cannot/);
  });

  it('prints sizes as Docker does', () => {
    assert.equal(bytesSize(0), '0B');
    assert.equal(bytesSize(1023), '1023B');
    assert.equal(bytesSize(8 * 2 ** 30), '8GiB');
    assert.equal(bytesSize(25_276_063_744), '23.54GiB');
    assert.equal(bytesSize(619_184_128), '590.5MiB');
  });
});
