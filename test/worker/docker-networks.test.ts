// DockerRuntime joining orca networks on the machine's real engine: the engine network of an
// orca network is created on first use (named orca_<name>, labelled with the network's id,
// with its subnet and gateway), found again by its label by later tasks (and by other nodes
// sharing the engine), and replaces a leftover of a removed orca network that holds its name or
// subnet; the container joins it at the address the manager gave the task and resolves through
// orca's DNS address. Everything made here carries this run's labels and is removed after.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { WireNetworkAttachment } from '../../src/api/dispatcher-wire.ts';
import { DockerRuntime } from '../../src/worker/docker-runtime.ts';
import type { RuntimeTask } from '../../src/worker/runtime.ts';

const exec = promisify(execFile);
const IMAGE = 'orca-test/busybox:1';
const run = randomBytes(4).toString('hex');

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: 30_000 });
  return stdout.trim();
}

/** A /24 no network of the engine overlaps, in 10.250.0.0/16 where orca's pool does not start. */
async function freeSubnet(avoid: Set<string>): Promise<string> {
  const used = await docker(
    'network',
    'inspect',
    '--format',
    '{{range .IPAM.Config}}{{.Subnet}} {{end}}',
    ...(await docker('network', 'ls', '-q')).split('\n'),
  );
  for (let i = 1; i < 255; i++) {
    const subnet = `10.250.${i}.0/24`;
    if (!used.includes(subnet) && !avoid.has(subnet)) {
      avoid.add(subnet);
      return subnet;
    }
  }
  throw new Error('no free /24 in 10.250.0.0/16');
}

function attachment(name: string, subnet: string, host: number): WireNetworkAttachment {
  const base = subnet.slice(0, subnet.lastIndexOf('.'));
  return {
    network: `net${run}${name}`,
    name: `${name}${run}`,
    subnet,
    gateway: `${base}.1`,
    internal: false,
    addr: `${base}.${host}`,
  };
}

let seq = 0;
function task(networks: WireNetworkAttachment[]): RuntimeTask {
  seq += 1;
  return {
    id: `t${run}${seq}`,
    serviceId: `s${run}`,
    serviceName: 'nets',
    slot: seq,
    nodeId: `node-${run}`,
    resources: {
      limits: { nanoCpus: 0, memoryBytes: 0 },
      reservations: { nanoCpus: 0, memoryBytes: 0 },
    },
    networks,
    dns: '127.0.0.12',
    spec: {
      image: IMAGE,
      args: ['sleep', '300'],
      env: [],
      init: true,
      stopGracePeriodMs: 1_000,
      mounts: [],
      labels: { 'orca.test': '1', 'orca.test.run': run },
    },
  };
}

describe('DockerRuntime on orca networks', () => {
  const rt = new DockerRuntime();
  const subnets = new Set<string>();
  const networkNames: string[] = [];

  before(async () => {
    await docker('image', 'inspect', IMAGE);
  });
  after(async () => {
    const ids = (await docker('ps', '-aq', '--filter', `label=orca.test.run=${run}`)).split('\n');
    if (ids.some(Boolean)) await docker('rm', '-f', '-v', ...ids.filter(Boolean));
    for (const name of networkNames) await docker('network', 'rm', name).catch(() => '');
  });

  it('creates the engine network once, labelled, and joins each container at its own address', async () => {
    const subnet = await freeSubnet(subnets);
    const first = attachment('front', subnet, 5);
    networkNames.push(`orca_${first.name}`);
    const a = await rt.create(task([first]));
    await rt.start(a);
    const b = await rt.create(task([{ ...first, addr: first.addr.replace(/\.5$/, '.6') }]));
    await rt.start(b);

    const found = (
      await docker('network', 'ls', '-q', '--filter', `label=orca.network.id=${first.network}`)
    ).split('\n');
    assert.equal(found.length, 1, 'one engine network for the orca network');
    const [net] = JSON.parse(await docker('network', 'inspect', `orca_${first.name}`)) as {
      Driver: string;
      Labels: Record<string, string>;
      IPAM: { Config: { Subnet: string; Gateway: string }[] };
    }[];
    assert.equal(net?.Driver, 'bridge');
    assert.equal(net?.Labels['orca.network.name'], first.name);
    assert.deepEqual(net?.IPAM.Config, [{ Subnet: subnet, Gateway: first.gateway }]);

    const addr = (id: string) =>
      docker(
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "orca_${first.name}").IPAddress}}`,
        id,
      );
    assert.equal(await addr(a), first.addr);
    assert.equal(await addr(b), first.addr.replace(/\.5$/, '.6'));
    assert.equal(
      await docker('inspect', '--format', '{{json .HostConfig.Dns}}', a),
      '["127.0.0.12"]',
    );
    // The engine's resolver sits in front of orca's: the container asks 127.0.0.11.
    assert.match(await docker('exec', a, 'cat', '/etc/resolv.conf'), /nameserver 127\.0\.0\.11/);
    const info = await rt.inspect(a);
    assert.ok(
      !info.gone && typeof info.pid === 'number' && info.pid > 0,
      'a running container has a pid',
    );
  });

  it('replaces an unused engine network left by a removed orca network of the same name', async () => {
    const subnet = await freeSubnet(subnets);
    const next = attachment('back', subnet, 7);
    networkNames.push(`orca_${next.name}`);
    await docker(
      'network',
      'create',
      '--label',
      'orca.network.id=gone',
      '--subnet',
      await freeSubnet(subnets),
      `orca_${next.name}`,
    );
    const id = await rt.create(task([next]));
    const labels = await docker(
      'network',
      'inspect',
      '--format',
      '{{index .Labels "orca.network.id"}}',
      `orca_${next.name}`,
    );
    assert.equal(labels, next.network);
    assert.ok(id);
  });

  it('prunes the engine networks of orca networks the swarm no longer has, unless in use', async () => {
    const kept = attachment('kept', await freeSubnet(subnets), 5);
    const gone = attachment('gone', await freeSubnet(subnets), 5);
    const busy = attachment('busy', await freeSubnet(subnets), 5);
    networkNames.push(`orca_${kept.name}`, `orca_${gone.name}`, `orca_${busy.name}`);
    for (const a of [kept, gone]) await rt.remove(await rt.create(task([a])));
    await rt.start(await rt.create(task([busy])));
    const others = await docker('network', 'ls', '-q', '--filter', 'label=orca.network.id');
    // Everything the engine has for orca but these three counts as kept: other tests' networks.
    const keep = new Set([kept.network]);
    for (const id of others.split('\n').filter(Boolean)) {
      const label = await docker(
        'network',
        'inspect',
        '--format',
        '{{index .Labels "orca.network.id"}}',
        id,
      );
      if (![gone.network, busy.network].includes(label)) keep.add(label);
    }
    await rt.pruneNetworks(keep);
    const names = await docker('network', 'ls', '--format', '{{.Name}}');
    assert.ok(names.includes(`orca_${kept.name}`), 'a network the swarm has stays');
    assert.ok(!names.includes(`orca_${gone.name}`), 'an unused network the swarm lost goes');
    assert.ok(names.includes(`orca_${busy.name}`), 'a network a container still uses stays');
  });
});
