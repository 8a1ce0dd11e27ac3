import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeView } from '../../src/api/control-wire.ts';
import { resolveHost } from '../../src/cli/control-client.ts';
import { formatNodeTable, parseNodeUpdate } from '../../src/cli/node.ts';
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
});
