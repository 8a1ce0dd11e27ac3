import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Network } from '../../src/api/objects.ts';
import {
  formatNetworkTable,
  networkIdResolver,
  networkSpecFromCreate,
} from '../../src/cli/network.ts';
import { buildProgram } from '../../src/cli/program.ts';
import { formatServicePretty } from '../../src/cli/service-pretty.ts';
import { serviceSpecFromCreate } from '../../src/cli/service-spec/create-flags.ts';
import type { SpecContext } from '../../src/cli/service-spec/shared-flags.ts';
import { serviceSpecFromUpdate } from '../../src/cli/service-spec/update-flags.ts';
import { throwsProblem } from './problems.ts';

const ctx: SpecContext = {
  cwd: '/srv',
  lookupEnv: () => undefined,
  readFile: () => {
    throw new Error('no files here');
  },
};

function network(id: string, name: string): Network {
  return {
    meta: { id, version: 1, createdAt: '', updatedAt: '' },
    spec: { name, labels: {}, driver: 'overlay', attachable: false },
    subnet: '10.0.0.0/24',
    gateway: '10.0.0.1',
  };
}

const front = network('f0000000000000000000000aa', 'front');
const back = network('b0000000000000000000000bb', 'back');

describe('network create flags', () => {
  it('builds an overlay spec with Docker defaults', () => {
    assert.deepEqual(networkSpecFromCreate('front', {}), {
      name: 'front',
      labels: {},
      driver: 'overlay',
      attachable: false,
    });
    assert.deepEqual(
      networkSpecFromCreate('data', {
        driver: 'overlay',
        subnet: ['10.20.0.0/16'],
        gateway: ['10.20.0.254'],
        attachable: true,
        internal: true,
        label: ['team=data', 'tier'],
      }),
      {
        name: 'data',
        labels: { team: 'data', tier: '' },
        driver: 'overlay',
        attachable: true,
        internal: true,
        ipam: { subnet: '10.20.0.0/16', gateway: '10.20.0.254' },
      },
    );
  });

  it('refuses other drivers, bad names, bad subnets and a lone gateway, naming the flags', () => {
    throwsProblem(
      () => networkSpecFromCreate('front', { driver: 'bridge' }),
      /^--driver: "bridge" is not available: orca networks are overlay networks spanning the swarm/,
    );
    throwsProblem(() => networkSpecFromCreate('-x', {}), /^NAME: "-x" is not a network name/);
    throwsProblem(
      () => networkSpecFromCreate('n', { subnet: ['10.0.0.0/33'] }),
      /^--subnet: "10.0.0.0\/33"/,
    );
    throwsProblem(
      () => networkSpecFromCreate('n', { subnet: ['10.0.0.0/24'], gateway: ['10.0.9.1'] }),
      '--gateway: 10.0.9.1 is not inside the subnet 10.0.0.0/24',
    );
    throwsProblem(
      () => networkSpecFromCreate('n', { gateway: ['10.0.0.1'] }),
      /^--gateway needs --subnet/,
    );
    throwsProblem(
      () => networkSpecFromCreate('n', { subnet: ['10.0.0.0/24', '10.1.0.0/24'] }),
      /^--subnet: an orca network has one subnet/,
    );
    throwsProblem(() => networkSpecFromCreate('n', { label: ['=x'] }), /^--label: "=x"/);
  });

  it('parses a whole command line through the program, with help examples', async () => {
    const program = await buildProgram();
    const net = program.commands.find((c) => c.name() === 'network');
    assert.ok(net !== undefined);
    assert.deepEqual(
      net.commands.map((c) => c.name()),
      ['create', 'ls', 'inspect', 'rm'],
    );
    const create = net.commands.find((c) => c.name() === 'create')!;
    let help = '';
    create.configureOutput({ writeOut: (s) => (help += s) });
    create.outputHelp();
    assert.match(help, /--subnet <cidr>/);
    assert.match(help, /Examples:\n {2}orca network create backend/);
    create.parseOptions([
      '--subnet',
      '10.1.0.0/16',
      '--attachable',
      '--label',
      'a=1',
      '--label',
      'b',
    ]);
    assert.deepEqual(create.opts(), {
      subnet: ['10.1.0.0/16'],
      attachable: true,
      label: ['a=1', 'b'],
    });
  });
});

describe('network output', () => {
  it("prints Docker's ls columns, ids truncated unless asked", () => {
    const out = formatNetworkTable([back, front]);
    assert.equal(
      out,
      'NETWORK ID     NAME    DRIVER    SCOPE\nb00000000000   back    overlay   swarm\nf00000000000   front   overlay   swarm\n',
    );
    assert.match(formatNetworkTable([front], false), /f0000000000000000000000aa {3}front/);
  });

  it('resolves ids, names and unique prefixes as the manager does', () => {
    const idOf = networkIdResolver([front, back]);
    assert.equal(idOf('front'), front.meta.id);
    assert.equal(idOf(back.meta.id), back.meta.id);
    assert.equal(idOf('f000'), front.meta.id);
    assert.equal(idOf('0'), undefined);
    assert.equal(idOf('nope'), undefined);
  });
});

describe('service --network flags', () => {
  it('takes plain names and the long form on create', () => {
    const spec = serviceSpecFromCreate(
      'nginx:1',
      [],
      { network: ['front', 'name=back,alias=api,alias=app'] },
      ctx,
    );
    assert.deepEqual(spec.task.networks, [
      { target: 'front' },
      { target: 'back', aliases: ['api', 'app'] },
    ]);
    assert.equal(serviceSpecFromCreate('nginx:1', [], {}, ctx).task.networks, undefined);
  });

  it('refuses what orca networks cannot do, naming the flag', () => {
    const create = (network: string[]) => () =>
      serviceSpecFromCreate('nginx:1', [], { network }, ctx);
    throwsProblem(create(['front', 'front']), '--network: network front is given twice');
    throwsProblem(create(['name=x,driver-opt=a=b']), /driver-opt is not supported/);
    throwsProblem(create(['alias=a']), /names no network \(add name=NETWORK\)/);
    throwsProblem(create(['name=x,colour=red']), /unknown field "colour"/);
    throwsProblem(create(['name=x,alias=-a']), /alias "-a" is not a name/);
    throwsProblem(create(['a,b']), /is not a network name/);
  });

  it('adds and removes networks on update, comparing ids', () => {
    const current = serviceSpecFromCreate('nginx:1', [], {}, ctx);
    const withIds = { ...ctx, networkId: networkIdResolver([front, back]) };
    const added = serviceSpecFromUpdate(
      current,
      { networkAdd: ['front', 'name=back,alias=api'] },
      withIds,
    );
    assert.deepEqual(added.task.networks, [
      { target: front.meta.id },
      { target: back.meta.id, aliases: ['api'] },
    ]);
    const moved = serviceSpecFromUpdate(
      added,
      { networkRm: ['front'], networkAdd: ['name=front,alias=www'] },
      withIds,
    );
    assert.deepEqual(moved.task.networks, [
      { target: back.meta.id, aliases: ['api'] },
      { target: front.meta.id, aliases: ['www'] },
    ]);
    const none = serviceSpecFromUpdate(moved, { networkRm: ['front', back.meta.id] }, withIds);
    assert.equal(none.task.networks, undefined);
    assert.deepEqual(none, current);
    throwsProblem(
      () => serviceSpecFromUpdate(added, { networkAdd: ['front'] }, withIds),
      '--network-add: the service is already attached to network front',
    );
    throwsProblem(
      () => serviceSpecFromUpdate(added, { networkRm: ['nope'] }, withIds),
      '--network-rm: network nope not found',
    );
    throwsProblem(
      () => serviceSpecFromUpdate(added, { networkAdd: ['nope'] }, withIds),
      '--network-add: network nope not found',
    );
    // No lookup at hand: references stay as typed, for the manager to resolve.
    assert.deepEqual(serviceSpecFromUpdate(current, { networkAdd: ['x'] }, ctx).task.networks, [
      { target: 'x' },
    ]);
  });

  it('shows the networks by name in inspect --pretty', () => {
    const spec = serviceSpecFromCreate('nginx:1', [], { name: 'web' }, ctx);
    const svc = {
      meta: { id: 'svc', version: 1, createdAt: '', updatedAt: '' },
      spec: {
        ...spec,
        task: {
          ...spec.task,
          networks: [{ target: front.meta.id }, { target: 'gone', aliases: ['a'] }],
        },
      },
      previousSpec: null,
      updateStatus: null,
    };
    const out = formatServicePretty(svc, new Map([[front.meta.id, 'front']]));
    assert.match(out, /^Networks: +front gone \(aliases: a\)$/m);
    assert.doesNotMatch(formatServicePretty({ ...svc, spec }), /Networks/);
  });

  it('shows the virtual IPs by network name in inspect --pretty, and ports beside them', () => {
    const spec = serviceSpecFromCreate('nginx:1', [], { name: 'web', publish: ['8080:80'] }, ctx);
    const svc = {
      meta: { id: 'svc', version: 1, createdAt: '', updatedAt: '' },
      spec,
      endpoint: {
        ports: [],
        virtualIps: [
          { network: front.meta.id, addr: '10.0.0.254' },
          { network: 'gone', addr: '10.0.1.254' },
        ],
      },
      previousSpec: null,
      updateStatus: null,
    };
    const out = formatServicePretty(svc, new Map([[front.meta.id, 'front']]));
    assert.match(out, /^Virtual IPs: +front=10\.0\.0\.254 gone=10\.0\.1\.254$/m);
    // An endpoint of VIPs only: the ports are the spec's.
    assert.match(out, /^ PublishedPort: +8080$/m);
    assert.doesNotMatch(formatServicePretty({ ...svc, endpoint: { ports: [] } }), /Virtual IPs/);
  });
});
