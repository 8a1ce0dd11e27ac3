// The overlay for real, as root: two hosts (network namespaces on a test bridge), each with the
// bridge an engine would have made for one orca network and a "container" (a namespace of its
// own) on it. Once each host's VxlanOverlay has reconciled, the containers reach each other
// across the hosts; a peer taken out of the list is taken out of the flood list, by an overlay
// that found the device already there; a bridge made again is joined again; and a network
// gone from the table takes its device, and the way across, with it.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { bridgeName, vniOf, vxlanName } from '../../src/netmesh/overlay/vxlan-names.ts';
import { floodPeers, VxlanOverlay } from '../../src/netmesh/overlay/vxlan-overlay.ts';

const exec = promisify(execFile);
const rootSkip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, links)';
const tag = randomBytes(2).toString('hex');
const underlay = `ovt${tag}`;
const subnet = '10.254.7.0/24';
const vni = vniOf(subnet);
const quiet = { warn() {}, debug() {} };

const hosts = [1, 2].map((n) => ({
  ns: `ovt${tag}h${n}`,
  container: `ovt${tag}c${n}`,
  veth: `ovt${tag}v${n}`,
  addr: `10.253.${Number.parseInt(tag, 16) % 250}.${10 + n}`,
  inner: `10.254.7.${10 + n}`,
}));
const underlayIp = `10.253.${Number.parseInt(tag, 16) % 250}.1`;

async function sh(...args: string[]): Promise<string> {
  const [cmd = '', ...rest] = args;
  const { stdout } = await exec(cmd, rest, { timeout: 10_000 });
  return stdout;
}

function overlayOf(ns: string): VxlanOverlay {
  const show = (...args: string[]) =>
    execFileSync('ip', ['-n', ns, '-o', 'link', 'show', ...args], { encoding: 'utf8' });
  return new VxlanOverlay({
    log: quiet,
    ip: ['ip', '-n', ns],
    bridge: ['bridge', '-n', ns],
    links: () => [...show().matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1] ?? ''),
    linkMaster: (name) => / master (\S+)/.exec(show(name))?.[1] ?? null,
  });
}

describe('the VXLAN overlay between two hosts', { skip: rootSkip }, () => {
  before(async () => {
    await sh('ip', 'link', 'add', underlay, 'type', 'bridge');
    await sh('ip', 'addr', 'add', `${underlayIp}/24`, 'dev', underlay);
    await sh('ip', 'link', 'set', underlay, 'up');
    await sh(
      'iptables',
      '-w',
      '10',
      '-I',
      'FORWARD',
      '-i',
      underlay,
      '-o',
      underlay,
      '-j',
      'ACCEPT',
    );
    for (const h of hosts) {
      await sh('ip', 'netns', 'add', h.ns);
      await sh('ip', 'link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      await sh('ip', 'link', 'set', h.veth, 'master', underlay, 'up');
      await sh('ip', '-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', 'eth0');
      await sh('ip', '-n', h.ns, 'link', 'set', 'eth0', 'up');
      // What the engine makes for the orca network: its bridge, with the gateway on it.
      await sh('ip', '-n', h.ns, 'link', 'add', bridgeName(vni), 'type', 'bridge');
      await sh('ip', '-n', h.ns, 'addr', 'add', '10.254.7.1/24', 'dev', bridgeName(vni));
      await sh('ip', '-n', h.ns, 'link', 'set', bridgeName(vni), 'up');
      await sh('ip', 'netns', 'add', h.container);
      await sh(
        'ip',
        '-n',
        h.ns,
        'link',
        'add',
        'c0',
        'mtu',
        '1450',
        'type',
        'veth',
        'peer',
        'name',
        'eth1',
        'netns',
        h.container,
      );
      await sh('ip', '-n', h.ns, 'link', 'set', 'c0', 'master', bridgeName(vni), 'up');
      await sh('ip', '-n', h.container, 'addr', 'add', `${h.inner}/24`, 'dev', 'eth1');
      await sh('ip', '-n', h.container, 'link', 'set', 'eth1', 'up');
      await sh('ip', '-n', h.container, 'link', 'set', 'lo', 'up');
    }
  });
  after(async () => {
    for (const h of hosts) {
      await sh('ip', 'netns', 'del', h.container).catch(() => '');
      await sh('ip', 'netns', 'del', h.ns).catch(() => '');
      await sh('ip', 'link', 'del', h.veth).catch(() => '');
    }
    await sh('ip', 'link', 'del', underlay).catch(() => '');
    await sh(
      'iptables',
      '-w',
      '10',
      '-D',
      'FORWARD',
      '-i',
      underlay,
      '-o',
      underlay,
      '-j',
      'ACCEPT',
    ).catch(() => '');
  });

  const ping = (from: (typeof hosts)[number], to: string) =>
    sh('ip', 'netns', 'exec', from.container, 'busybox', 'ping', '-c', '1', '-W', '2', to);

  it('joins the containers on both hosts once each host has reconciled', async () => {
    const [a, b] = hosts;
    assert.ok(a && b);
    await overlayOf(a.ns).reconcile([subnet, '10.254.9.0/24'], [b.addr]);
    await overlayOf(b.ns).reconcile([subnet], [a.addr]);
    const link = await sh('ip', '-n', a.ns, '-d', 'link', 'show', vxlanName(vni));
    assert.match(link, new RegExp(`vxlan id ${vni} .*dstport 4789`));
    assert.match(link, new RegExp(`master ${bridgeName(vni)}`));
    assert.match(link, /mtu 1450/);
    assert.match(await ping(a, b.inner), /1 packets received/);
    // A large packet too: the 1450 MTU leaves room for VXLAN's headers.
    assert.match(
      await sh(
        'ip',
        'netns',
        'exec',
        a.container,
        'busybox',
        'ping',
        '-c',
        '1',
        '-W',
        '2',
        '-s',
        '1400',
        b.inner,
      ),
      /1 packets received/,
    );
  });

  it('follows the peer list, and a restarted daemon finds what is there', async () => {
    const [a, b] = hosts;
    assert.ok(a && b);
    const fresh = overlayOf(a.ns);
    await fresh.reconcile([subnet], [b.addr, '10.253.0.99']);
    let fdb = floodPeers(await sh('bridge', '-n', a.ns, 'fdb', 'show', 'dev', vxlanName(vni)));
    assert.deepEqual([...fdb].sort(), ['10.253.0.99', b.addr].sort());
    await fresh.reconcile([subnet], [b.addr]);
    fdb = floodPeers(await sh('bridge', '-n', a.ns, 'fdb', 'show', 'dev', vxlanName(vni)));
    assert.deepEqual([...fdb], [b.addr]);
    assert.match(await ping(a, b.inner), /1 packets received/);
    // The engine makes the bridge again (the network removed and created): the device joins it.
    await sh('ip', '-n', a.ns, 'link', 'del', bridgeName(vni));
    await sh('ip', '-n', a.ns, 'link', 'add', bridgeName(vni), 'type', 'bridge');
    await sh('ip', '-n', a.ns, 'link', 'set', bridgeName(vni), 'up');
    await sh('ip', '-n', a.ns, 'link', 'set', 'c0', 'master', bridgeName(vni));
    await fresh.reconcile([subnet], [b.addr]);
    assert.match(
      await sh('ip', '-n', a.ns, 'link', 'show', vxlanName(vni)),
      new RegExp(`master ${bridgeName(vni)}`),
    );
    assert.match(await ping(a, b.inner), /1 packets received/);
  });

  it('removes the device of a network gone from the table, and with it the way across', async () => {
    const [a, b] = hosts;
    assert.ok(a && b);
    await overlayOf(a.ns).reconcile([], [b.addr]);
    await assert.rejects(sh('ip', '-n', a.ns, 'link', 'show', vxlanName(vni)));
    await assert.rejects(ping(a, b.inner));
  });
});
