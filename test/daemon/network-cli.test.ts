// The network commands end to end: a real `orca daemon` child with a one-manager swarm, driven
// by the CLI as child processes, and a service attached to a network. No container is started
// (nothing answers on the engine socket), so nothing here depends on tasks running.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Network, Service } from '../../src/api/objects.ts';
import { cliFor } from './support/cli.ts';
import { TestDaemon } from './support/daemon.ts';

const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-network-'));
const daemon = new TestDaemon({
  dir: tempRoot,
  dockerHost: `unix://${path.join(tempRoot, 'no-docker.sock')}`,
});

const { orca, ok } = cliFor(daemon.host);

before(async () => {
  await daemon.start();
  await ok('swarm', 'init');
});

after(async () => {
  await daemon.stop('SIGKILL');
  rmSync(tempRoot, { recursive: true, force: true });
});

describe('orca network commands against a daemon', () => {
  it('creates, lists, inspects, attaches and removes networks', async () => {
    const id = (await ok('network', 'create', '--label', 'team=web', 'front')).trim();
    assert.match(id, /^[0-9a-z]{25}$/);
    const dataId = (
      await ok('network', 'create', '--subnet', '10.20.0.0/16', '--gateway', '10.20.0.254', 'data')
    ).trim();

    const table = await ok('network', 'ls');
    assert.match(table.split('\n')[0] ?? '', /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    assert.match(table, new RegExp(`^${id.slice(0, 12)}\\s+front\\s+overlay\\s+swarm$`, 'm'));
    assert.equal(await ok('network', 'ls', '-q'), `${dataId.slice(0, 12)}\n${id.slice(0, 12)}\n`);
    const listed = JSON.parse(await ok('network', 'ls', '--format', 'json')) as Network[];
    assert.deepEqual(
      listed.map((n) => [n.spec.name, n.subnet, n.gateway]),
      [
        ['data', '10.20.0.0/16', '10.20.0.254'],
        ['front', '10.0.0.0/24', '10.0.0.1'],
      ],
    );

    const inspected = JSON.parse(
      await ok('network', 'inspect', 'front', id.slice(0, 8)),
    ) as Network[];
    assert.equal(inspected.length, 2);
    assert.deepEqual(inspected[0]?.spec, {
      name: 'front',
      labels: { team: 'web' },
      driver: 'overlay',
      attachable: false,
    });
    assert.equal(inspected[1]?.meta.id, id);

    const dup = await orca('network', 'create', 'front');
    assert.equal(dup.code, 1, dup.stderr);
    assert.match(dup.stderr, /^orca: network name front is already in use/);
    const overlap = await orca('network', 'create', '--subnet', '10.20.5.0/24', 'inner');
    assert.equal(overlap.code, 1, overlap.stderr);
    assert.match(overlap.stderr, /overlaps the subnet 10\.20\.0\.0\/16 of network data/);
    const bridge = await orca('network', 'create', '--driver', 'bridge', 'local');
    assert.equal(bridge.code, 2, bridge.stderr);
    assert.match(bridge.stderr, /orca networks are overlay networks spanning the swarm/);

    const svcId = (
      await ok(
        'service',
        'create',
        '--detach',
        '--name',
        'web',
        '--network',
        'front',
        '--network',
        'name=data,alias=www',
        'orca-test/busybox:1',
      )
    ).trim();
    const [svc] = JSON.parse(await ok('service', 'inspect', 'web')) as Service[];
    assert.equal(svc?.meta.id, svcId);
    assert.deepEqual(svc?.spec.task.networks, [
      { target: id },
      { target: dataId, aliases: ['www'] },
    ]);
    // A vip service: one VIP per network, from the top of each subnet.
    assert.deepEqual(svc?.endpoint, {
      ports: [],
      virtualIps: [
        { network: id, addr: '10.0.0.254' },
        { network: dataId, addr: '10.20.255.254' },
      ],
    });
    const pretty = await ok('service', 'inspect', '--pretty', 'web');
    assert.match(pretty, /^Networks: +front data \(aliases: www\)$/m);
    assert.match(pretty, /^Virtual IPs: +front=10\.0\.0\.254 data=10\.20\.255\.254$/m);

    const missing = await orca(
      'service',
      'create',
      '--detach',
      '--name',
      'api',
      '--network',
      'nope',
      'busybox',
    );
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /spec\.task\.networks\[0\]\.target: network nope not found/);
    assert.equal((await ok('service', 'ls', '-q')).trim().split('\n').length, 1);

    const inUse = await orca('network', 'rm', 'front');
    assert.equal(inUse.code, 1, inUse.stderr);
    assert.match(
      inUse.stderr,
      /^orca: network front is in use by service\(s\) web; remove or update them first/,
    );

    await ok('service', 'update', '--detach', '--network-rm', 'front', 'web');
    const [moved] = JSON.parse(await ok('service', 'inspect', 'web')) as Service[];
    assert.deepEqual(moved?.spec.task.networks, [{ target: dataId, aliases: ['www'] }]);
    assert.deepEqual(moved?.endpoint?.virtualIps, [{ network: dataId, addr: '10.20.255.254' }]);
    const twice = await orca('service', 'update', '--detach', '--network-add', 'data', 'web');
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /--network-add: the service is already attached to network data/);

    assert.equal(await ok('network', 'rm', 'front'), 'front\n');
    const gone = await orca('network', 'inspect', 'front');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /network front not found/);
    await ok('service', 'rm', 'web');
    assert.equal(await ok('network', 'rm', dataId.slice(0, 10)), `${dataId.slice(0, 10)}\n`);
    assert.equal(await ok('network', 'ls', '-q'), '');
  });
});
