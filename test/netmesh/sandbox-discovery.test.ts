// Service discovery on a node: names answered on sockets adopted per task namespace, scoped by
// the task's networks; VIP rules rendered from the dispatcher's table, loaded per namespace and
// reloaded as the table changes; and, as root, sockets opened and rules loaded inside a real
// network namespace, with a client in that namespace resolving through them.

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { WireDiscoveryNetwork } from '../../src/api/dispatcher-wire.ts';
import type { DnsSockets } from '../../src/netmesh/dns/index.ts';
import { runNft } from '../../src/netmesh/nft-run.ts';
import { openNamespaceDnsSockets } from '../../src/netmesh/sandbox/namespace-sockets.ts';
import { ServiceDiscovery } from '../../src/netmesh/sandbox/service-discovery.ts';
import { vipRuleset, vipTargets } from '../../src/netmesh/sandbox/vip-rules.ts';
import { waitFor } from '../support/wait.ts';

const exec = promisify(execFile);
const quiet = { warn() {}, debug() {} };

const table: WireDiscoveryNetwork[] = [
  {
    network: 'net-a',
    name: 'front',
    subnet: '10.0.0.0/24',
    services: [
      {
        serviceId: 's1',
        name: 'web',
        aliases: ['www'],
        mode: 'vip',
        vip: '10.0.0.254',
        tasks: ['10.0.0.2', '10.0.0.3'],
      },
      { serviceId: 's2', name: 'db', aliases: [], mode: 'dnsrr', tasks: ['10.0.0.4'] },
      { serviceId: 's3', name: 'idle', aliases: [], mode: 'vip', vip: '10.0.0.253', tasks: [] },
    ],
  },
  {
    network: 'net-b',
    name: 'back',
    subnet: '10.0.1.0/24',
    services: [
      {
        serviceId: 's4',
        name: 'db',
        aliases: [],
        mode: 'vip',
        vip: '10.0.1.254',
        tasks: ['10.0.1.2'],
      },
    ],
  },
];

/** An A question for `name`, with id 0x1234. */
function query(name: string): Buffer {
  const labels = name
    .split('.')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
}

/** rcode and the A addresses of an answer to query(). */
function parse(msg: Buffer, asked: string): { rcode: number; addresses: string[] } {
  const rcode = msg[3]! & 0x0f;
  const count = msg.readUInt16BE(6);
  let at = 12 + asked.length + 2 + 4;
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    at += 2; // a compressed name
    const type = msg.readUInt16BE(at);
    const size = msg.readUInt16BE(at + 8);
    if (type === 1) addresses.push([...msg.subarray(at + 10, at + 14)].join('.'));
    at += 10 + size;
  }
  return { rcode, addresses };
}

async function ask(port: number, name: string): Promise<{ rcode: number; addresses: string[] }> {
  const socket = createSocket('udp4');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 2 s')), 2_000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(parse(msg, name));
      });
      socket.send(query(name), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function localSockets(): Promise<DnsSockets & { port: number }> {
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const tcp = createServer();
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  return { udp, tcp, port: udp.address().port };
}

describe('VIP rules', () => {
  it("lists the VIPs of the task's own networks only, with their tasks", () => {
    assert.deepEqual(vipTargets(table, ['net-a']), [
      { vip: '10.0.0.253', tasks: [] },
      { vip: '10.0.0.254', tasks: ['10.0.0.2', '10.0.0.3'] },
    ]);
    assert.deepEqual(vipTargets(table, ['net-b']), [{ vip: '10.0.1.254', tasks: ['10.0.1.2'] }]);
    assert.deepEqual(vipTargets(table, ['other']), []);
  });

  it('spreads a VIP over its tasks, sends it to the one task it has, and refuses one with none', () => {
    const script = vipRuleset(vipTargets(table, ['net-a', 'net-b']));
    assert.match(
      script,
      /ip daddr 10\.0\.0\.254 dnat to numgen inc mod 2 map \{ 0 : 10\.0\.0\.2, 1 : 10\.0\.0\.3 \}/,
    );
    assert.match(script, /ip daddr 10\.0\.1\.254 dnat to 10\.0\.1\.2\n/);
    assert.match(script, /ip daddr \{ 10\.0\.0\.253 \} meta l4proto tcp reject with tcp reset/);
    assert.ok(script.startsWith('table ip orca_vips\ndelete table ip orca_vips\n'));
  });
});

describe('ServiceDiscovery with sockets of this process', () => {
  const loads: { pid: number; script: string }[] = [];
  const opened: (DnsSockets & { port: number })[] = [];
  const overlays: { subnets: readonly string[]; peers: readonly string[] }[] = [];
  const discovery = new ServiceDiscovery({
    log: quiet,
    upstreams: [],
    overlay: {
      reconcile: async (subnets, peers) => {
        overlays.push({ subnets, peers });
      },
    },
    openSockets: async () => {
      const s = await localSockets();
      opened.push(s);
      return s;
    },
    applyRules: async (pid, script) => {
      loads.push({ pid, script });
    },
  });
  after(() => discovery.close());

  it("answers each task the names of its own networks, and loads its VIPs' rules", async () => {
    discovery.update(table, ['10.231.0.3']);
    await discovery.attach('task-a', 101, ['net-a']);
    assert.deepEqual(overlays.at(-1), {
      subnets: ['10.0.0.0/24', '10.0.1.0/24'],
      peers: ['10.231.0.3'],
    });
    await discovery.attach('task-b', 102, ['net-b']);
    const [a, b] = opened;
    assert.ok(a && b);
    assert.deepEqual((await ask(a.port, 'web')).addresses, ['10.0.0.254']);
    assert.deepEqual((await ask(a.port, 'www')).addresses, ['10.0.0.254'], 'an alias');
    assert.deepEqual((await ask(a.port, 'tasks.web')).addresses.sort(), ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual((await ask(a.port, 'db')).addresses, ['10.0.0.4'], 'dnsrr on net-a');
    assert.deepEqual((await ask(b.port, 'db')).addresses, ['10.0.1.254'], 'vip on net-b');
    // Not a name of net-b: forwarded, and with no upstream that is SERVFAIL, never web's VIP.
    assert.deepEqual(await ask(b.port, 'web'), { rcode: 2, addresses: [] });
    assert.deepEqual(
      loads.map((l) => l.pid),
      [101, 102],
    );
    assert.match(loads[0]?.script ?? '', /10\.0\.0\.254 dnat/);
    assert.doesNotMatch(loads[1]?.script ?? '', /10\.0\.0\.254/);
  });

  it('follows the table: a task leaving changes the answers and reloads only the rules that changed', async () => {
    const [a] = opened;
    assert.ok(a);
    loads.length = 0;
    const [front, back] = table;
    assert.ok(front && back);
    const [web, ...others] = front.services;
    assert.ok(web);
    discovery.update([{ ...front, services: [{ ...web, tasks: ['10.0.0.3'] }, ...others] }, back]);
    await waitFor(() => loads.length === 1, { what: 'one namespace reloaded' });
    assert.equal(loads[0]?.pid, 101);
    assert.match(loads[0]?.script ?? '', /ip daddr 10\.0\.0\.254 dnat to 10\.0\.0\.3\n/);
    assert.deepEqual((await ask(a.port, 'tasks.web')).addresses, ['10.0.0.3']);
    // A service removed from the table no longer resolves.
    discovery.update([{ ...front, services: others }, back]);
    assert.deepEqual(await ask(a.port, 'web'), { rcode: 2, addresses: [] });
  });

  it('attaching the same namespace again does nothing; detaching closes its sockets', async () => {
    const before = opened.length;
    await discovery.attach('task-a', 101, ['net-a']);
    assert.equal(opened.length, before, 'no new sockets for the same process');
    discovery.detach('task-a');
    assert.deepEqual(discovery.attached(), ['task-b']);
    const [a] = opened;
    await assert.rejects(ask(a?.port ?? 0, 'db'));
  });
});

const rootSkip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, nft)';

describe('a task namespace for real', { skip: rootSkip }, () => {
  let holder: ChildProcess;
  const discovery = new ServiceDiscovery({ log: quiet, upstreams: [] });

  before(async () => {
    // A process in a namespace of its own, standing in for a container's.
    holder = spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec sleep 120'], {
      stdio: 'ignore',
    });
    await waitFor(
      async () => {
        const { stdout } = await exec('nsenter', [
          '-t',
          String(holder.pid),
          '-n',
          'ip',
          '-o',
          'link',
        ]);
        return /lo: <[^>]*UP/.test(stdout);
      },
      { what: 'the namespace with lo up' },
    );
  });
  after(async () => {
    await discovery.close();
    holder?.kill('SIGKILL');
  });

  it('resolves through sockets bound inside the namespace and loads the VIP rules there', async () => {
    const pid = holder.pid ?? 0;
    discovery.update(table);
    await discovery.attach('t', pid, ['net-a']);
    const client = `
      import { Resolver } from 'node:dns/promises';
      const r = new Resolver({ timeout: 2000, tries: 1 });
      r.setServers(['127.0.0.12']);
      console.log(JSON.stringify(await r.resolve4(process.argv[1])));`;
    const resolve = async (name: string) => {
      const { stdout } = await exec('nsenter', [
        '-t',
        String(pid),
        '-n',
        '--',
        process.execPath,
        '--input-type=module',
        '-e',
        client,
        name,
      ]);
      return JSON.parse(stdout) as string[];
    };
    assert.deepEqual(await resolve('web'), ['10.0.0.254']);
    const { stdout } = await exec('nsenter', [
      '-t',
      String(pid),
      '-n',
      'nft',
      'list',
      'table',
      'ip',
      'orca_vips',
    ]);
    assert.match(stdout, /ip daddr 10\.0\.0\.254 dnat to numgen inc mod 2/);
    // Loading the same ruleset twice is harmless (a daemon restarted finds the table there).
    await runNft('nft', vipRuleset(vipTargets(table, ['net-a'])), pid);
    discovery.detach('t');
    await assert.rejects(resolve('web'));
  });

  it('says why when the namespace cannot be entered', async () => {
    await assert.rejects(
      openNamespaceDnsSockets({ pid: 999_999_999, address: '127.0.0.12', port: 53 }),
      /cannot listen on 127\.0\.0\.12:53 in the namespace of process 999999999/,
    );
  });
});
