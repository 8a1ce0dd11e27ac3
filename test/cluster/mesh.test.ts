// The routing mesh on three nodes (a manager and two workers, each an orca daemon in its own
// network namespace, sharing the machine's engine). Every node's mesh listens on its own
// address; tasks are reached through the node they run on, at its data-path address (here the
// harness bridge's root address, where the shared engine binds host ports) and their host port.
// Published ports answer on every node, spread over the tasks, survive a killed container,
// and rolling updates and scaling under a steady load fail no request.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { get, HttpLoad, type LoadFailure, type LoadTarget } from '../support/http-load.ts';
import { waitFor } from '../support/wait.ts';
import { httpHealthCheck } from './http-health.ts';
import { netnsSkip } from './netns.ts';
import { OrcaCluster } from './orca-cluster.ts';

const exec = promisify(execFile);
const IMAGE = 'orca-test/busybox:1';
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The backend: the host's Node running fixtures/mesh-backend.ts in a busybox container. */
const backend = [
  '--mount',
  'type=bind,src=/usr,dst=/usr,ro',
  '--mount',
  'type=bind,src=/lib,dst=/lib,ro',
  '--mount',
  'type=bind,src=/lib64,dst=/lib64,ro',
  '--mount',
  `type=bind,src=${dirname(process.execPath)},dst=/node,ro`,
  '--mount',
  `type=bind,src=${fixtures},dst=/app,ro`,
  '--stop-grace-period',
  '2s',
  IMAGE,
  '/node/node',
  '/app/mesh-backend.ts',
];

async function udpAsk(host: string, port: number, text: string): Promise<string> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP answer within 2 s')), 2_000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg.toString());
      });
      socket.send(text, port, host, (err) => {
        if (err) reject(err);
      });
    });
  } finally {
    socket.close();
  }
}

/** One TCP exchange: what the server sent before closing, and this end's address:port. */
function tcpAsk(host: string, port: number): Promise<{ reply: string; local: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let reply = '';
    let local = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('no answer within 2 s')));
    socket.on('connect', () => {
      local = `${socket.localAddress}:${socket.localPort}`;
    });
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    socket.on('end', () =>
      reply === '' ? reject(new Error('closed without an answer')) : resolve({ reply, local }),
    );
    socket.on('error', reject);
  });
}

async function runningContainers(service: string): Promise<string[]> {
  const { stdout } = await exec('docker', [
    'ps',
    '-q',
    '--filter',
    `label=orca.service.name=${service}`,
    '--filter',
    'status=running',
  ]);
  return stdout.split('\n').filter(Boolean);
}

describe('the routing mesh', { skip: netnsSkip() }, () => {
  let cluster: OrcaCluster;
  let targets: LoadTarget[] = [];
  let workerB = '';

  /** Each node's answer on `port`, once every node answers. */
  const answers = async (port: number, what: string) =>
    waitFor(async () => Promise.all(targets.map((t) => get({ host: t.host, port }, 2_000))), {
      timeoutMs: 60_000,
      what,
    });

  before(async () => {
    cluster = await OrcaCluster.start({
      hosts: 3,
      hostArgs: (host) => ['--mesh-bind-addr', host.ip],
    });
    const dataPath = ['--data-path-addr', cluster.net.bridgeIp];
    await cluster.init(dataPath);
    await cluster.join(1, 'worker', dataPath);
    workerB = (await cluster.join(2, 'worker', dataPath)).id;
    targets = cluster.nodes.map((n) => ({ host: n.host.ip, port: 8080 }));
    await cluster.ok(
      0,
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '3',
      '--publish',
      '8080:8080',
      ...httpHealthCheck,
      ...backend,
    );
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('answers on every node, taking the tasks in turn', async () => {
    await answers(8080, 'web answering on every node');
    const tasks = new Set(await runningContainers('web'));
    assert.equal(tasks.size, 3);
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const body = await get(targets[0] as LoadTarget);
      seen.set(body, (seen.get(body) ?? 0) + 1);
    }
    // Round robin over three tasks from one client: each gets its share.
    assert.equal(seen.size, 3, `answers by task: ${JSON.stringify(Object.fromEntries(seen))}`);
    for (const [task, count] of seen) {
      assert.ok(count >= 5, `task ${task} answered ${count} of 30`);
      assert.ok(
        [...tasks].some((id) => task.startsWith(id.slice(0, 12))),
        `${task} is a web task`,
      );
    }
  });

  it('reaches a service running on one node through any node, over TCP and UDP', async () => {
    await cluster.ok(
      0,
      'service',
      'create',
      '--name',
      'solo',
      '--constraint',
      `node.id==${workerB}`,
      '--publish',
      '8081:8080',
      '--publish',
      '9053:9053/udp',
      ...backend,
    );
    const bodies = await answers(8081, 'solo answering on every node');
    assert.equal(new Set(bodies).size, 1, 'one task answers on every node');
    for (const t of targets) {
      const reply = await waitFor(() => udpAsk(t.host, 9053, 'ping'), {
        timeoutMs: 20_000,
        what: `a UDP answer through ${t.host}`,
      });
      assert.equal(reply, `${bodies[0]} ping`);
    }
    await cluster.ok(0, 'service', 'rm', 'solo');
  });

  it('tells a task the real client address with PROXY protocol v2 when asked', async () => {
    await cluster.ok(
      0,
      'service',
      'create',
      '--name',
      'proxied',
      '--replicas',
      '2',
      '--publish',
      'published=8082,target=8082,proxy-protocol',
      ...backend,
    );
    for (const t of targets) {
      const { reply, local } = await waitFor(() => tcpAsk(t.host, 8082), {
        timeoutMs: 30_000,
        what: `an answer through ${t.host}:8082`,
      });
      // The task sees this client's own address and port, not the mesh's.
      assert.match(reply, new RegExp(` ${local.replaceAll('.', '\\.')}$`));
    }
    await cluster.ok(0, 'service', 'rm', 'proxied');
  });

  it('refuses a published port in use, and binds a host-mode port on its node only', async () => {
    const clash = await cluster.orca(
      0,
      'service',
      'create',
      '--name',
      'clash',
      '-p',
      '8080:80',
      IMAGE,
    );
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /port 8080\/tcp is already published by service web/);
    const names = (await cluster.json<{ spec: { name: string } }[]>(0, 'service', 'ls')).map(
      (s) => s.spec.name,
    );
    assert.ok(!names.includes('clash'), 'nothing was created');

    await cluster.ok(
      0,
      'service',
      'create',
      '--name',
      'pinned',
      '--constraint',
      `node.id==${workerB}`,
      '--publish',
      'published=9200,target=8080,mode=host',
      ...backend,
    );
    // The shared engine binds it in the machine's namespace, which the bridge address reaches.
    await waitFor(() => get({ host: cluster.net.bridgeIp, port: 9200 }, 2_000), {
      timeoutMs: 30_000,
      what: 'the host-mode port answering on its node',
    });
    const [task] = await cluster.json<{ status: { ports?: unknown } }[]>(
      0,
      'service',
      'ps',
      'pinned',
    );
    assert.deepEqual(task?.status.ports, [
      { protocol: 'tcp', targetPort: 8080, hostPort: 9200, publishMode: 'host' },
    ]);
    // No mesh listens for it: the nodes' own addresses refuse it.
    for (const t of targets) {
      await assert.rejects(get({ host: t.host, port: 9200 }, 2_000), /ECONNREFUSED/);
    }
    await cluster.ok(0, 'service', 'rm', 'pinned');
  });

  it('loses no new connection when a task is killed', async () => {
    await answers(8080, 'web answering on every node');
    const load = new HttpLoad(targets, 100);
    load.start();
    let killedAt = 0;
    try {
      await waitFor(() => load.snapshot().requests > 200, { timeoutMs: 10_000, what: 'load' });
      const [victim] = await runningContainers('web');
      await exec('docker', ['kill', victim as string]);
      killedAt = Date.now();
      await waitFor(async () => (await runningContainers('web')).length === 3, {
        timeoutMs: 60_000,
        what: 'the killed task replaced',
      });
    } finally {
      const report = await load.stop();
      // Only a request the killed process was answering when it died may fail.
      const late = report.failures.filter((f) => f.startedAt > killedAt);
      assert.equal(
        late.length,
        0,
        `of ${report.requests} requests: ${failuresText(late, killedAt)}`,
      );
    }
  });

  it('fails no request while a start-first update replaces every task and while scaling', async () => {
    await answers(8080, 'web answering on every node');
    const load = new HttpLoad(targets, 250);
    load.start();
    const t0 = Date.now();
    try {
      await updateAndScale();
    } finally {
      const report = await load.stop();
      const rate = (report.requests * 1000) / report.durationMs;
      assert.equal(
        report.failures.length,
        0,
        `of ${report.requests} requests: ${failuresText(report.failures, t0)}`,
      );
      assert.ok(rate >= 200, `the load ran at ${rate.toFixed(0)} requests/s`);
    }
  });

  async function updateAndScale(): Promise<void> {
    const before = new Set(await runningContainers('web'));
    await cluster.ok(
      0,
      'service',
      'update',
      '--force',
      '--update-order',
      'start-first',
      '--update-parallelism',
      '1',
      'web',
    );
    const after = await runningContainers('web');
    assert.ok(
      after.every((id) => !before.has(id)),
      'every task was replaced',
    );
    await cluster.ok(0, 'service', 'scale', 'web=5');
    await cluster.ok(0, 'service', 'scale', 'web=2');
  }
});

/** The first failures, with when their requests started relative to `t0`. */
function failuresText(failures: readonly LoadFailure[], t0: number): string {
  const shown = failures
    .slice(0, 8)
    .map((f) => `${f.startedAt - t0} ms via ${f.target}: ${f.error}`)
    .join('; ');
  return `${failures.length} failed${shown === '' ? '' : ` (${shown})`}`;
}
