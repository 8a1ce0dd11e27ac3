// A second host joining as a worker, end to end: real `orca daemon` processes on 127.0.0.1 with
// their own ports, data dirs and sockets, sharing the machine's Docker engine, driven by the
// CLI. A manager inits; a worker joins with the worker token and runs a service constrained to
// workers, in containers labelled with its own node id; wrong, foreign and rotated tokens are
// refused with nothing added; the worker survives its own restart and the manager's without
// either touching the other's containers; a worker refuses cluster-wide calls and leaves.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Info, NodeView, TaskView } from '../../src/api/control-wire.ts';
import { nodeIdentity } from '../../src/ca/index.ts';
import { waitFor } from '../support/wait.ts';
import { cliFor } from './support/cli.ts';
import { initNodeId, removeNodeContainers, TestDaemon } from './support/daemon.ts';

const exec = promisify(execFile);
const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-join-'));
const manager = new TestDaemon({ dir: path.join(tempRoot, 'manager') });
const worker = new TestDaemon({ dir: path.join(tempRoot, 'worker') });
/** Tries the tokens that must be refused, then joins and leaves with a valid one. */
const joiner = new TestDaemon({ dir: path.join(tempRoot, 'joiner') });
/** Another swarm's manager: its tokens pin another CA. */
const stranger = new TestDaemon({ dir: path.join(tempRoot, 'stranger') });
const onManager = cliFor(manager.host);
const onWorker = cliFor(worker.host);
const onJoiner = cliFor(joiner.host);
const image = 'orca-test/busybox:1';
const notManager =
  "orca: This node is not a swarm manager. Worker nodes can't be used to view or modify " +
  'cluster state. Please run this command on a manager node or promote the current node to a ' +
  'manager.\n';

let managerId = '';
let managerAddr = '';
let workerId = '';
let joinerId = '';
let strangerId = '';

async function info(cli: ReturnType<typeof cliFor>): Promise<Info> {
  return JSON.parse(await cli.ok('info', '--format', 'json')) as Info;
}

async function nodes(): Promise<NodeView[]> {
  return JSON.parse(await onManager.ok('node', 'ls', '--format', 'json')) as NodeView[];
}

async function workerToken(): Promise<string> {
  return (await onManager.ok('swarm', 'join-token', '-q', 'worker')).trim();
}

/** The running tasks of service `w`, by id. */
async function runningTasks(): Promise<TaskView[]> {
  const tasks = JSON.parse(await onManager.ok('service', 'ps', 'w', '--format', 'json'));
  return (tasks as TaskView[])
    .filter((t) => t.desiredState === 'running' && t.status.state === 'running')
    .sort((a, b) => a.meta.id.localeCompare(b.meta.id));
}

/** The engine's running containers of service `w` labelled with `nodeId`: "container task". */
async function containersOf(nodeId: string): Promise<string[]> {
  const { stdout } = await exec('docker', [
    'ps',
    '--filter',
    `label=orca.node.id=${nodeId}`,
    '--filter',
    'label=orca.service.name=w',
    '--format',
    '{{.ID}} {{.Label "orca.task.id"}}',
  ]);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
}

/** Four running tasks on the worker, each with its running container labelled with the worker. */
async function waitWorkerRuns(): Promise<{ tasks: string[]; containers: string[] }> {
  let tasks: string[] = [];
  let containers: string[] = [];
  await waitFor(
    async () => {
      const running = await runningTasks();
      tasks = running.map((t) => t.meta.id);
      containers = await containersOf(workerId);
      return (
        running.length === 4 &&
        running.every((t) => t.nodeId === workerId) &&
        containers
          .map((c) => c.split(' ')[1])
          .sort()
          .join() === tasks.join()
      );
    },
    { timeoutMs: 60_000, what: "4 running tasks, in the worker's containers" },
  );
  return { tasks, containers };
}

before(async () => {
  await Promise.all([manager.start(), worker.start(), joiner.start(), stranger.start()]);
  managerId = initNodeId(await onManager.ok('swarm', 'init'));
  managerAddr = (await info(onManager)).advertiseAddr;
});

after(async () => {
  await Promise.all([manager, worker, joiner, stranger].map((d) => d.stop('SIGKILL')));
  for (const id of [managerId, workerId, joinerId, strangerId]) await removeNodeContainers(id);
  rmSync(tempRoot, { recursive: true, force: true });
});

describe('a worker joining a swarm (daemons, CLI, Docker)', () => {
  it("prints the join command as Docker's join-token does, and only the token with -q", async () => {
    const token = await workerToken();
    assert.match(token, /^ORCA-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    assert.equal(
      await onManager.ok('swarm', 'join-token', 'worker'),
      'To add a worker to this swarm, run the following command:\n\n' +
        `    orca swarm join --token ${token} ${managerAddr}\n\n`,
    );
    const managerToken = (await onManager.ok('swarm', 'join-token', '-q', 'manager')).trim();
    assert.notEqual(managerToken, token);
    assert.match(await onManager.ok('swarm', 'join-token', 'manager'), /To add a manager/);
    // The tokens are secrets: nothing else shows them.
    const shown = await onManager.ok('info', '--format', 'json');
    assert.ok(!shown.includes(token) && !shown.includes(managerToken));
    const bad = await onManager.orca('swarm', 'join-token', 'boss');
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'orca: role: "boss" is not a role; give worker or manager\n');
  });

  it('refuses a wrong token and adds no node', async () => {
    const token = await workerToken();
    const wrong = `${token.slice(0, -25)}${'0'.repeat(25)}`;
    const r = await onJoiner.orca('swarm', 'join', '--token', wrong, managerAddr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /the join token is not valid in this swarm: it is wrong, or it was rotated/,
    );
    const malformed = await onJoiner.orca('swarm', 'join', '--token', 'SWMTKN-1-abc', managerAddr);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /--token: this is a Docker Swarm join token/);
    assert.equal((await nodes()).length, 1);
    assert.equal((await info(onJoiner)).swarm, 'inactive');
    assert.ok(!existsSync(path.join(joiner.dataDir, 'certificates')));
    assert.ok(!existsSync(path.join(joiner.dataDir, 'swarm.json')));
  });

  it("refuses another swarm's token: the manager's CA does not match it", async () => {
    strangerId = initNodeId(await cliFor(stranger.host).ok('swarm', 'init'));
    const foreign = (await cliFor(stranger.host).ok('swarm', 'join-token', '-q', 'worker')).trim();
    const r = await onJoiner.orca('swarm', 'join', '--token', foreign, managerAddr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^orca: the manager's CA does not match the token/);
    assert.equal((await nodes()).length, 1);
    assert.equal((await info(onJoiner)).swarm, 'inactive');
  });

  it('joins a worker with the worker token: both nodes Ready, with their roles', async () => {
    const out = await onWorker.ok('swarm', 'join', '--token', await workerToken(), managerAddr);
    assert.equal(out, 'This node joined a swarm as a worker.\n');
    const i = await info(onWorker);
    workerId = i.nodeId;
    assert.deepEqual(
      [i.swarm, i.isManager, i.managerAddresses, i.cluster, i.raft],
      ['active', false, [managerAddr], null, null],
    );
    const table = await onWorker.ok('info');
    assert.match(table, new RegExp(`NodeID: ${workerId}\\n Is Manager: false\\n`));
    assert.match(table, new RegExp(`Manager Addresses:\\n  ${managerAddr}\\n`));
    let ready: NodeView[] = [];
    await waitFor(
      async () => {
        ready = await nodes();
        return ready.length === 2 && ready.every((n) => n.status.state === 'ready');
      },
      { what: 'two nodes ready' },
    );
    const roles = Object.fromEntries(ready.map((n) => [n.meta.id, n.spec.role]));
    assert.deepEqual(roles, { [managerId]: 'manager', [workerId]: 'worker' });
    assert.equal(ready.find((n) => n.meta.id === workerId)?.managerStatus, null);
    assert.match(
      await onManager.ok('node', 'ls'),
      new RegExp(`\\n${workerId}\\s+\\S+\\s+Ready\\s+Active\\s+\\d`),
    );
    // Its certificate names it, as a worker of this cluster; its identity file, the manager.
    const certs = path.join(worker.dataDir, 'certificates');
    const caPem = await onManager.ok('swarm', 'ca');
    const id = nodeIdentity(readFileSync(path.join(certs, 'swarm-node.crt'), 'utf8'), caPem);
    assert.deepEqual([id.nodeId, id.role, id.clusterId], [workerId, 'worker', i.clusterId]);
    assert.ok(!existsSync(path.join(certs, 'swarm-root-ca.key')), 'a worker holds no CA key');
    const identity = JSON.parse(readFileSync(path.join(worker.dataDir, 'swarm.json'), 'utf8'));
    assert.deepEqual([identity.role, identity.managerAddr], ['worker', managerAddr]);
  });

  it("refuses cluster-wide calls on the worker, in Docker's words", async () => {
    for (const args of [
      ['node', 'ls'],
      ['service', 'ls'],
      ['service', 'create', '--name', 'nope', image],
      ['swarm', 'join-token', 'worker'],
      ['swarm', 'ca'],
    ]) {
      const r = await onWorker.orca(...args);
      assert.deepEqual([r.code, r.stderr], [1, notManager], args.join(' '));
    }
    const again = await onWorker.orca('swarm', 'join', '--token', await workerToken(), managerAddr);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already part of a swarm/);
  });

  it("runs a service constrained to workers in the worker's containers", async () => {
    await onManager.ok(
      'service',
      'create',
      '--detach',
      '--name',
      'w',
      '--replicas',
      '4',
      '--constraint',
      'node.role==worker',
      '--stop-grace-period',
      '1s',
      image,
      'sleep',
      '600',
    );
    await waitWorkerRuns();
    assert.deepEqual(await containersOf(managerId), []);
  });

  it('refuses a rotated token at once; the joined worker keeps running', async () => {
    const before = await waitWorkerRuns();
    const old = await workerToken();
    const out = await onManager.ok('swarm', 'join-token', '--rotate', 'worker');
    const fresh = await workerToken();
    assert.notEqual(fresh, old);
    assert.equal(
      out,
      'Successfully rotated worker join token.\n\n' +
        'To add a worker to this swarm, run the following command:\n\n' +
        `    orca swarm join --token ${fresh} ${managerAddr}\n\n`,
    );
    const r = await onJoiner.orca('swarm', 'join', '--token', old, managerAddr);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /it is wrong, or it was rotated/);
    assert.equal((await nodes()).length, 2);
    // The new token admits, with a certificate as long as the swarm now says (Docker's
    // --cert-expiry; certificates start an hour early for clocks behind the CA's); that node
    // then leaves without --force, as a worker may.
    const short = await onManager.orca('swarm', 'update', '--cert-expiry', '30m');
    assert.equal(short.code, 2);
    assert.match(short.stderr, /--cert-expiry: "30m" is shorter than 1h/);
    await onManager.ok('swarm', 'update', '--cert-expiry', '2h');
    await onJoiner.ok('swarm', 'join', '--token', fresh, managerAddr);
    joinerId = (await info(onJoiner)).nodeId;
    const issued = new X509Certificate(
      readFileSync(path.join(joiner.dataDir, 'certificates', 'swarm-node.crt'), 'utf8'),
    );
    const validMs = Date.parse(issued.validTo) - Date.parse(issued.validFrom);
    assert.equal(
      Math.round(validMs / 3_600_000),
      3,
      `valid ${issued.validFrom} to ${issued.validTo}`,
    );
    assert.equal(await onJoiner.ok('swarm', 'leave'), 'Node left the swarm.\n');
    assert.deepEqual(await waitWorkerRuns(), before);
    assert.equal(
      (await nodes()).find((n) => n.meta.id === workerId)?.status.state,
      'ready',
      'the worker is still ready',
    );
  });

  it('keeps its tasks across its own restart (SIGTERM, start) and the manager’s', async () => {
    const before = await waitWorkerRuns();
    assert.deepEqual(await worker.stop('SIGTERM'), { code: 0, signal: null });
    await worker.start();
    await waitFor(async () => (await info(onWorker)).swarm === 'active', {
      what: 'the worker active again',
    });
    await waitFor(
      async () => (await nodes()).find((n) => n.meta.id === workerId)?.status.state === 'ready',
      { what: 'the worker ready again' },
    );
    assert.deepEqual(await waitWorkerRuns(), before, 'same tasks, same containers');
    // The manager's own worker adopts only the containers labelled with its node id.
    const sessions = () => worker.stderr.split('"msg":"dispatcher session open"').length - 1;
    const opened = sessions();
    assert.deepEqual(await manager.stop('SIGTERM'), { code: 0, signal: null });
    await manager.start();
    await waitFor(() => sessions() > opened, {
      timeoutMs: 20_000,
      what: 'the worker back in session with the restarted manager',
    });
    assert.deepEqual(await waitWorkerRuns(), before, 'the manager left them alone');
  });

  it('leaves as a worker: its containers, certificates and identity go, the manager sees it down', async () => {
    // A short heartbeat: the manager marks a node down 3 periods after its session ends.
    await onManager.ok('swarm', 'update', '--dispatcher-heartbeat', '1s');
    assert.equal(await onWorker.ok('swarm', 'leave'), 'Node left the swarm.\n');
    assert.equal((await info(onWorker)).swarm, 'inactive');
    assert.ok(!existsSync(path.join(worker.dataDir, 'certificates')));
    assert.ok(!existsSync(path.join(worker.dataDir, 'swarm.json')));
    assert.deepEqual(await containersOf(workerId), []);
    await waitFor(
      async () => (await nodes()).find((n) => n.meta.id === workerId)?.status.state === 'down',
      { timeoutMs: 20_000, what: 'the worker down on the manager' },
    );
    await onManager.ok('service', 'rm', 'w');
  });
});
