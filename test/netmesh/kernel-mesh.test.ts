// The kernel data path against real nftables: a "node" namespace holds the table, two backend
// namespaces run small TCP and UDP servers, a client namespace connects to the node's published
// ports. nft runs inside the node namespace through a two-line wrapper passed as the `nft`
// program, so the test process itself stays in the root namespace and changes nothing there.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KernelMeshUnavailableError } from '../../src/errors.ts';
import type { MeshDataPath, MeshListener } from '../../src/netmesh/data-path.ts';
import { createKernelMesh } from '../../src/netmesh/kernel-mesh.ts';
import {
  type Host,
  NetnsCluster,
  netnsSkip,
  netnsUnsupported,
  type Proc,
} from '../cluster/netns.ts';

const TCP_PORT = 8080;
const UDP_PORT = 5353;
const BACKEND_TCP = 9000;
const BACKEND_UDP = 9001;

// Names itself on each TCP connection, then echoes lines; answers each datagram with its name.
const BACKEND = `
const [name, ip, tcpPort, udpPort] = process.argv.slice(1);
const net = require('node:net');
const dgram = require('node:dgram');
const tcp = net.createServer((s) => {
  s.setEncoding('utf8');
  s.write(name + '\\n');
  s.on('data', (d) => s.write('ECHO ' + d.trim() + ' from ' + name + '\\n'));
  s.on('error', () => {});
});
const udp = dgram.createSocket('udp4');
udp.on('message', (m, from) => udp.send(name, from.port, from.address));
tcp.listen(Number(tcpPort), ip, () =>
  udp.bind(Number(udpPort), ip, () => console.log('listening ' + name)));
`;

// One connection or datagram after another, each from a fresh port; prints what answered.
const CLIENT = `
const [proto, ip, port, count, ms] = process.argv.slice(1);
const net = require('node:net');
const dgram = require('node:dgram');
const seen = [];
const print = () => { console.log(JSON.stringify(seen)); process.exit(0); };
setTimeout(() => { seen.push('timeout'); print(); }, Number(ms));
const tcp = () => new Promise((done) => {
  const s = net.connect({ host: ip, port: Number(port) });
  s.setEncoding('utf8');
  s.on('data', (d) => { s.destroy(); done(d.trim()); });
  s.on('error', (e) => done('error ' + e.code));
});
// Resent until answered, as UDP clients do; a resend is also what surfaces an ICMP error on a
// connected socket. Resends stay in one flow, so they do not move the round robin on.
const udp = () => new Promise((done) => {
  const s = dgram.createSocket('udp4');
  let timer;
  const end = (what) => { clearInterval(timer); s.close(); done(what); };
  s.on('message', (m) => end(m.toString()));
  s.on('error', (e) => end('error ' + e.code));
  s.connect(Number(port), ip, () => {
    const send = () => s.send('hi', () => {});
    send();
    timer = setInterval(send, 100);
  });
});
(async () => {
  for (let i = 0; i < Number(count); i += 1) seen.push(await (proto === 'tcp' ? tcp() : udp()));
  print();
})();
`;

// Holds one connection open; on SIGUSR1 sends a line and exits once it is echoed.
const LONG_CLIENT = `
const [ip, port] = process.argv.slice(1);
const s = require('node:net').connect({ host: ip, port: Number(port) });
s.setEncoding('utf8');
let buf = '';
process.on('SIGUSR1', () => s.write('ping\\n'));
s.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\\n'); i >= 0; i = buf.indexOf('\\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    console.log('GOT ' + line);
    if (line.startsWith('ECHO')) process.exit(0);
  }
});
s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(1); });
`;

// Runs a mesh bound to loopback inside the node namespace, where its sysctl lands.
const LOOPBACK_DRIVER = `
const [moduleUrl, bindAddr, table, listeners] = process.argv.slice(1);
const { createKernelMesh } = await import(moduleUrl);
const say = (level) => (obj, msg) => console.log(level + ' ' + msg + ' ' + JSON.stringify(obj));
const mesh = createKernelMesh({ bindAddr, table, logger: { info: say('INFO'), warn: say('WARN') } });
console.log('APPLIED ' + JSON.stringify(await mesh.apply(JSON.parse(listeners))));
process.on('SIGTERM', () => mesh.close().then(() => { console.log('CLOSED'); process.exit(0); }));
setInterval(() => {}, 60_000);
`;

function nftMissing(): string | undefined {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `nft is not usable: ${(err as Error).message}`;
  }
}

const skip = netnsSkip() || (process.env.ORCA_TEST_REQUIRE_NETNS ? false : (nftMissing() ?? false));

describe('kernel mesh on real nftables', { skip }, () => {
  let cluster: NetnsCluster;
  let node: Host;
  let a: Host;
  let b: Host;
  let client: Host;
  let nft: string;
  let mesh: MeshDataPath | undefined;

  const tcpListener = (...to: Host[]): MeshListener => ({
    protocol: 'tcp',
    port: TCP_PORT,
    lb: 'round-robin',
    proxyProtocol: false,
    backends: to.map((h) => ({ id: h.name, host: h.ip, port: BACKEND_TCP })),
  });
  const udpListener = (...to: Host[]): MeshListener => ({
    protocol: 'udp',
    port: UDP_PORT,
    lb: 'round-robin',
    proxyProtocol: false,
    backends: to.map((h) => ({ id: h.name, host: h.ip, port: BACKEND_UDP })),
  });

  async function hits(from: Host, proto: 'tcp' | 'udp', ip: string, port: number, count: number) {
    const res = await cluster.run(from, process.execPath, [
      '-e',
      CLIENT,
      proto,
      ip,
      String(port),
      String(count),
      '5000',
    ]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    return JSON.parse(res.stdout) as string[];
  }

  const tables = async () => (await cluster.run(node, 'nft', ['list', 'tables'])).stdout;

  before(async () => {
    const unsupported = netnsUnsupported() ?? nftMissing();
    if (unsupported) assert.fail(`ORCA_TEST_REQUIRE_NETNS is set but: ${unsupported}`);
    cluster = await NetnsCluster.create({ hosts: 4 });
    [node, a, b, client] = cluster.hosts as [Host, Host, Host, Host];
    // The node forwards other hosts' packets to the backends, as a Docker host does.
    const fwd = await cluster.run(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    assert.equal(fwd.code, 0, fwd.stderr);
    nft = join(cluster.logDir, 'nft-in-node');
    writeFileSync(nft, `#!/bin/sh\nexec ip netns exec ${node.name} nft "$@"\n`);
    chmodSync(nft, 0o755);
    // A server of the node's own on the published ports: DNAT must win over it while the
    // table serves the port, and it must answer again once the table is gone.
    const servers: Proc[] = [a, b, node].map((h) =>
      cluster.spawn(h, process.execPath, [
        '-e',
        BACKEND,
        h.name,
        h.ip,
        String(h === node ? TCP_PORT : BACKEND_TCP),
        String(h === node ? UDP_PORT : BACKEND_UDP),
      ]),
    );
    await Promise.all(servers.map((s) => s.waitForOutput('listening')));
    mesh = createKernelMesh({ bindAddr: node.ip, nft });
  });

  after(async () => {
    await mesh?.close().catch(() => {});
    await cluster?.destroy();
  });

  it('sends TCP connections to the backends in turn', async () => {
    const failures = await mesh!.apply([tcpListener(a, b), udpListener(a, b)]);
    assert.deepEqual(failures, []);
    const seen = await hits(client, 'tcp', node.ip, TCP_PORT, 4);
    assert.equal(seen.length, 4, String(seen));
    assert.deepEqual(new Set(seen), new Set([a.name, b.name]), String(seen));
    for (let i = 1; i < seen.length; i += 1) assert.notEqual(seen[i], seen[i - 1], String(seen));
  });

  it('serves clients on the node itself (output hook)', async () => {
    const seen = await hits(node, 'tcp', node.ip, TCP_PORT, 2);
    assert.deepEqual(new Set(seen), new Set([a.name, b.name]), String(seen));
  });

  it('sends UDP datagrams of new flows to the backends in turn', async () => {
    const seen = await hits(client, 'udp', node.ip, UDP_PORT, 4);
    assert.deepEqual(new Set(seen), new Set([a.name, b.name]), String(seen));
    for (let i = 1; i < seen.length; i += 1) assert.notEqual(seen[i], seen[i - 1], String(seen));
  });

  it('after a re-apply, new connections go to the new set and open ones stay', async () => {
    const open = cluster.spawn(client, process.execPath, [
      '-e',
      LONG_CLIENT,
      node.ip,
      String(TCP_PORT),
    ]);
    const first = (await open.waitForOutput(/GOT \S+/)).slice('GOT '.length);
    const other = first === a.name ? b : a;
    assert.deepEqual(await mesh!.apply([tcpListener(other), udpListener(other)]), []);

    assert.deepEqual(await hits(client, 'tcp', node.ip, TCP_PORT, 3), Array(3).fill(other.name));
    assert.deepEqual(await hits(client, 'udp', node.ip, UDP_PORT, 2), Array(2).fill(other.name));
    process.kill(open.pid, 'SIGUSR1');
    await open.waitForOutput(`GOT ECHO ping from ${first}`);
    assert.equal((await open.wait()).code, 0, open.describe());
  });

  it('resets TCP and refuses UDP on a listener without backends', async () => {
    assert.deepEqual(await mesh!.apply([tcpListener(), udpListener()]), []);
    assert.equal(await cluster.probe(client, node.ip, TCP_PORT, 3000), 'refused');
    assert.deepEqual(await hits(client, 'udp', node.ip, UDP_PORT, 1), ['error ECONNREFUSED']);
  });

  it('returns a PROXY protocol listener as a failure and serves the others', async () => {
    const failures = await mesh!.apply([
      { ...tcpListener(a), proxyProtocol: true },
      udpListener(b),
    ]);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.port, TCP_PORT);
    assert.match(failures[0]?.message ?? '', /PROXY protocol needs the user-space data path/);
    assert.deepEqual(await hits(client, 'udp', node.ip, UDP_PORT, 1), [b.name]);
  });

  it('bound to loopback, serves the node at 127.0.0.1 and says it set route_localnet', async () => {
    const localnet = () =>
      cluster.run(node, 'sysctl', ['-n', 'net.ipv4.conf.all.route_localnet']).then((r) => r.stdout);
    assert.equal((await localnet()).trim(), '0');
    const port = 8090;
    const driver = cluster.spawn(node, process.execPath, [
      '--input-type=module',
      '-e',
      LOOPBACK_DRIVER,
      new URL('../../src/netmesh/kernel-mesh.ts', import.meta.url).href,
      '127.0.0.1',
      'orca_mesh_lo',
      JSON.stringify([{ ...tcpListener(a), port }]),
    ]);
    await driver.waitForOutput('APPLIED []');
    assert.match(driver.output(), /WARN .*route_localnet=1.*"from":"0"/);
    assert.equal((await localnet()).trim(), '1');
    assert.deepEqual(await hits(node, 'tcp', '127.0.0.1', port, 2), [a.name, a.name]);
    await cluster.stop(driver);
    await driver.waitForOutput('CLOSED');
    assert.doesNotMatch(await tables(), /orca_mesh_lo/);
  });

  it('close() removes the table and gives the port back to the node', async () => {
    assert.deepEqual(await mesh!.apply([tcpListener(a)]), []);
    assert.match(await tables(), /table ip orca_mesh\n/);
    await mesh!.close();
    assert.doesNotMatch(await tables(), /orca_mesh/);
    assert.deepEqual(await hits(client, 'tcp', node.ip, TCP_PORT, 1), [node.name]);
    await assert.rejects(mesh!.apply([]), /closed/);
    await mesh!.close();
  });
});

describe('createKernelMesh', () => {
  it('names what is missing and the fallback when nft cannot run', () => {
    assert.throws(
      () => createKernelMesh({ bindAddr: '0.0.0.0', nft: '/nonexistent/nft' }),
      (err: Error) => {
        assert.ok(err instanceof KernelMeshUnavailableError);
        assert.equal(err.code, 'ORCA_MESH_KERNEL_UNAVAILABLE');
        assert.match(err.message, /\/nonexistent\/nft was not found/);
        assert.match(err.message, /user-space data path serves published ports instead/);
        return true;
      },
    );
  });

  it('refuses a bind address or table name it cannot use, before running nft', () => {
    assert.throws(
      () => createKernelMesh({ bindAddr: '::', nft: '/nonexistent/nft' }),
      /bind address :: is not an IPv4 address/,
    );
    assert.throws(
      () => createKernelMesh({ bindAddr: '0.0.0.0', table: 'x-y', nft: '/nonexistent/nft' }),
      /table name "x-y"/,
    );
  });
});
