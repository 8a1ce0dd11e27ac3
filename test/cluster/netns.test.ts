import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { type Host, NetnsCluster, netnsSkip, netnsUnsupported, type Proc } from './netns.ts';

const skip = netnsSkip();

const PORT = 7000;
const ECHO_SERVER = `
const [ip, port] = process.argv.slice(1);
require('node:net')
  .createServer((s) => s.pipe(s))
  .listen(Number(port), ip, () => console.log('listening on ' + ip + ':' + port));
`;
// Sends a line and prints what comes back: proves data flows both ways, not just a handshake.
const ECHO_CLIENT = `
const [ip, port, ms] = process.argv.slice(1);
const s = require('node:net').connect({ host: ip, port: Number(port) });
const fail = (why) => { console.log('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timeout'), Number(ms));
s.on('error', (e) => fail(e.code));
s.on('connect', () => s.write('hello from ' + process.pid + '\\n'));
s.on('data', (d) => { console.log('ECHO ' + d.toString().trim()); process.exit(0); });
`;

describe('NetnsCluster', { skip }, () => {
  let cluster: NetnsCluster;
  let h1: Host;
  let h2: Host;
  let h3: Host;
  let server: Proc;

  before(async () => {
    const unsupported = netnsUnsupported();
    if (unsupported) assert.fail(`ORCA_TEST_REQUIRE_NETNS is set but: ${unsupported}`);
    cluster = await NetnsCluster.create({ hosts: 3 });
    [h1, h2, h3] = cluster.hosts as [Host, Host, Host];
  });

  after(async () => {
    await cluster?.destroy();
  });

  // Generous when an answer is expected (a loaded CI machine), short when silence is.
  const reach = (from: Host, to: Host) => cluster.probe(from, to.ip, PORT, 3000);
  const unreachable = async (from: Host, to: Host) =>
    assert.equal(await cluster.probe(from, to.ip, PORT, 500), 'timeout');
  const echo = (from: Host, to: Host, ms: number) =>
    cluster.run(from, process.execPath, ['-e', ECHO_CLIENT, to.ip, String(PORT), String(ms)]);

  it('gives each host its own namespace and address on one bridge', () => {
    assert.equal(cluster.hosts.length, 3);
    assert.equal(new Set(cluster.hosts.map((h) => h.ip)).size, 3);
    const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const h of cluster.hosts) {
      assert.match(listed, new RegExp(`^${h.name}\\b`, 'm'));
      const addrs = execFileSync('ip', ['-n', h.name, '-4', '-o', 'addr', 'show'], {
        encoding: 'utf8',
      });
      assert.match(addrs, new RegExp(`eth0\\s+inet ${h.ip.replaceAll('.', '\\.')}/24`));
      assert.match(addrs, /\blo\s+inet 127\.0\.0\.1\//, 'lo is up in the namespace');
    }
  });

  it('runs a server whose pid is the real process, inside the host namespace', async () => {
    server = cluster.spawn(h1, process.execPath, ['-e', ECHO_SERVER, h1.ip, String(PORT)]);
    await server.waitForOutput(`listening on ${h1.ip}:${PORT}`);
    assert.equal(readlinkSync(`/proc/${server.pid}/exe`), readlinkSync(`/proc/${process.pid}/exe`));
    assert.equal(
      statSync(`/proc/${server.pid}/ns/net`).ino,
      statSync(`/run/netns/${h1.name}`).ino,
      'the signalled pid lives in the host namespace',
    );
  });

  it('echoes between hosts over the bridge', async () => {
    const res = await echo(h2, h1, 3000);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /^ECHO hello from \d+$/m);
    assert.equal(await reach(h3, h1), 'ok');
  });

  it('cut() stops traffic between two hosts only, heal() restores it', async () => {
    await cluster.cut(h1, h2);
    await unreachable(h2, h1);
    assert.equal(await reach(h3, h1), 'ok', 'h3 still reaches h1');
    const res = await echo(h2, h1, 500);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /FAIL timeout/);

    await cluster.heal(h1, h2);
    assert.equal(await reach(h2, h1), 'ok');
  });

  it('oneWay() drops packets in one direction only', async () => {
    await cluster.oneWay(h2, h1);
    // TCP needs both directions, so both sides' connections stall; h3 is unaffected.
    await unreachable(h2, h1);
    assert.equal(await reach(h3, h1), 'ok');
    await cluster.healOneWay(h2, h1);
    assert.equal(await reach(h2, h1), 'ok');
  });

  it('isolate() takes a host off the network, rejoin() brings it back', async () => {
    await cluster.isolate(h1);
    await unreachable(h2, h1);
    await unreachable(h3, h1);
    await cluster.rejoin(h1);
    await waitFor(async () => (await reach(h2, h1)) === 'ok', {
      timeoutMs: 10_000,
      what: 'h2 to reach h1 after rejoin',
    });
    assert.equal(await reach(h3, h1), 'ok');
  });

  it('pause() freezes a server so connections hang until resume()', async () => {
    await cluster.pause(server);
    // The kernel still completes the handshake, but nobody echoes.
    const frozen = await echo(h2, h1, 500);
    assert.match(frozen.stdout, /FAIL timeout/);
    await cluster.resume(server);
    const res = await echo(h2, h1, 3000);
    assert.equal(res.code, 0, res.stdout + res.stderr);
  });

  it('kill9() ends the server at once and its port refuses', async () => {
    const status = await cluster.kill9(server);
    assert.equal(status.signal, 'SIGKILL');
    assert.equal(server.running, false);
    assert.equal(await reach(h2, h1), 'refused');
  });

  it('stop() sends SIGTERM and waits for the exit', async () => {
    const sleeper = cluster.spawn(h3, 'sleep', ['60']);
    const status = await cluster.stop(sleeper);
    assert.equal(status.signal, 'SIGTERM');
  });

  it('destroy() removes namespaces, links and the FORWARD rule, and can be called twice', async () => {
    const leftover = cluster.spawn(h2, 'sleep', ['60']);
    await cluster.destroy();
    await cluster.destroy();
    assert.equal(leftover.running, false);
    const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const h of cluster.hosts) assert.doesNotMatch(listed, new RegExp(`^${h.name}\\b`, 'm'));
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    assert.doesNotMatch(links, new RegExp(`: ${cluster.prefix}`));
    const forward = execFileSync('iptables', ['-w', '10', '-S', 'FORWARD'], { encoding: 'utf8' });
    assert.doesNotMatch(forward, new RegExp(cluster.bridge));
    assert.throws(() => cluster.spawn(h1, 'true'), /destroyed/);
  });
});
