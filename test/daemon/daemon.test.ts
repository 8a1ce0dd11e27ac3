import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Info, NodeView } from '../../src/api/control-wire.ts';
import { createDispatcherClient } from '../../src/api/dispatcher-wire.ts';
import { nodeIdentity } from '../../src/ca/index.ts';
import { waitFor } from '../support/wait.ts';
import { orcaBin, runOrca } from './support/cli.ts';

const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-daemon-'));
const running = new Set<ChildProcess>();
after(() => {
  for (const p of running) p.kill('SIGKILL');
  rmSync(tempRoot, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

interface Daemon {
  readonly dataDir: string;
  readonly socket: string;
  readonly host: string;
  readonly listen: string;
  proc: ChildProcess | null;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function newDaemon(name: string): Promise<Daemon> {
  const dir = path.join(tempRoot, name);
  const socket = path.join(dir, 'run', 'orca.sock');
  return {
    dataDir: path.join(dir, 'data'),
    socket,
    host: `unix://${socket}`,
    listen: `127.0.0.1:${await freePort()}`,
    proc: null,
    stderr: '',
    exited: Promise.resolve({ code: null, signal: null }),
  };
}

/** Starts `orca daemon` and resolves once it logged that it serves its socket. */
async function start(d: Daemon, extra: string[] = []): Promise<void> {
  const proc = spawn(
    process.execPath,
    [
      orcaBin,
      'daemon',
      '--data-dir',
      d.dataDir,
      '--socket',
      d.socket,
      '--listen-addr',
      d.listen,
      '--docker-host',
      // Nothing answers there: the engine version is '' and nothing waits on it.
      `unix://${path.join(tempRoot, 'no-docker.sock')}`,
      '--log-format',
      'json',
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(proc);
  d.proc = proc;
  d.stderr = '';
  proc.stderr?.on('data', (c: Buffer) => {
    d.stderr += c.toString('utf8');
  });
  d.exited = new Promise((resolve) =>
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    }),
  );
  await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`daemon exited: ${d.stderr}`);
      return d.stderr.includes('"msg":"orca daemon started"');
    },
    { what: `daemon ${d.socket} started` },
  );
}

/** Opens a dispatcher session without TLS; resolves with how the call ended. */
function plaintextSession(addr: string): Promise<string> {
  const client = createDispatcherClient(addr);
  return new Promise((resolve) => {
    const call = client.Session();
    call.on('error', (err: Error & { code?: number }) => {
      client.close();
      resolve(`${err.code} ${err.message}`);
    });
    call.on('data', () => {
      call.cancel();
      client.close();
      resolve('answered');
    });
    call.write({ json: JSON.stringify({ type: 'hello', nodeId: 'x' }) });
  });
}

async function stop(d: Daemon, signal: NodeJS.Signals) {
  d.proc?.kill(signal);
  const result = await d.exited;
  d.proc = null;
  return result;
}

const orca = runOrca;

/** `orca -H <daemon> ...`, which must succeed. */
async function ok(d: Daemon, ...args: string[]): Promise<string> {
  const r = await orca(['-H', d.host, ...args]);
  assert.equal(r.code, 0, `orca ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function nodes(d: Daemon): Promise<NodeView[]> {
  return JSON.parse(await ok(d, 'node', 'ls', '--format', 'json')) as NodeView[];
}

describe('orca daemon with the swarm and node commands', () => {
  it('inits a one-manager swarm, updates its node, and keeps it across kill -9', async () => {
    const d = await newDaemon('a');
    await start(d);
    assert.equal(statSync(d.socket).mode & 0o777, 0o660);

    const before = JSON.parse(await ok(d, 'info', '--format', 'json')) as Info;
    assert.equal(before.swarm, 'inactive');
    assert.match(await ok(d, 'info'), /^Swarm: inactive$/m);
    const notYet = await orca(['-H', d.host, 'node', 'ls']);
    assert.equal(notYet.code, 1);
    assert.match(notYet.stderr, /not part of a swarm.*orca swarm init/);

    const badInit = await orca(['-H', d.host, 'swarm', 'init', '--dispatcher-heartbeat', '10ms']);
    assert.equal(badInit.code, 2);
    assert.match(badInit.stderr, /--dispatcher-heartbeat: "10ms" is shorter than 100ms/);
    const init = await ok(
      d,
      'swarm',
      'init',
      '--task-history-limit',
      '7',
      '--dispatcher-heartbeat',
      '2s',
    );
    const nodeId = /current node \(([0-9a-z]{25})\) is now a manager/.exec(init)?.[1];
    assert.ok(nodeId, init);

    const [again, table, quiet, info] = await Promise.all([
      orca(['-H', d.host, 'swarm', 'init']),
      ok(d, 'node', 'ls'),
      ok(d, 'node', 'ls', '-q'),
      ok(d, 'info', '--format', 'json'),
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already part of a swarm/);
    const lines = table.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS/);
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? '', new RegExp(`^${nodeId} \\*\\s+\\S+\\s+Ready\\s+Active\\s+Leader`));
    assert.equal(quiet, `${nodeId}\n`);
    const i = JSON.parse(info) as Info;
    assert.equal(i.swarm, 'active');
    assert.equal(i.nodeId, nodeId);
    assert.equal(i.managers, 1);
    assert.equal(i.raft?.leader, nodeId);
    assert.equal(i.cluster?.spec.taskHistoryLimit, 7);
    assert.equal(i.cluster?.spec.dispatcherHeartbeatMs, 2000);
    assert.equal(i.advertiseAddr, d.listen);

    // swarm update changes what it is given, keeps the rest, and refuses bad values whole.
    assert.equal(await ok(d, 'swarm', 'update', '--task-history-limit', '3'), 'Swarm updated.\n');
    const refused = await orca([
      '-H',
      d.host,
      'swarm',
      'update',
      '--task-history-limit',
      '1',
      '--dispatcher-heartbeat',
      'soon',
    ]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--dispatcher-heartbeat: "soon" is not a duration/);
    assert.equal((await orca(['-H', d.host, 'swarm', 'update'])).code, 2);
    const updated = JSON.parse(await ok(d, 'info', '--format', 'json')) as Info;
    assert.deepEqual(
      [updated.cluster?.spec.taskHistoryLimit, updated.cluster?.spec.dispatcherHeartbeatMs],
      [3, 2000],
    );
    assert.match(await ok(d, 'info'), /Heartbeat Period: 2 seconds/);

    const [n] = await nodes(d);
    assert.equal(n?.spec.role, 'manager');
    assert.equal(n?.status.state, 'ready');
    assert.equal(n?.status.addr, '127.0.0.1');
    assert.equal(n?.description.engine.version, '');
    assert.ok((n?.description.resources.nanoCpus ?? 0) >= 1e9);
    assert.equal(n?.managerStatus?.leader, true);

    // Bad input names the flag, exits 2 and changes nothing.
    const bad = await orca(['-H', d.host, 'node', 'update', '--availability', 'nope', nodeId]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^orca: --availability: "nope" is not one of active, pause, drain\n$/);
    const badLabel = await orca(['-H', d.host, 'node', 'update', '--label-add', '=x', nodeId]);
    assert.equal(badLabel.code, 2);
    assert.match(badLabel.stderr, /--label-add: "=x"/);
    // Only the spec: the description moves with the host's live usage.
    assert.deepEqual(
      (await nodes(d)).map((x) => x.spec),
      [n?.spec],
    );

    assert.equal(
      await ok(d, 'node', 'update', '--availability', 'drain', '--label-add', 'zone=east', 'self'),
      `${nodeId}\n`,
    );
    // An id prefix and the hostname name the node too.
    const [byPrefix] = JSON.parse(await ok(d, 'node', 'inspect', nodeId.slice(0, 6))) as NodeView[];
    assert.equal(byPrefix?.spec.availability, 'drain');
    assert.deepEqual(byPrefix?.spec.labels, { zone: 'east' });
    const [byName] = JSON.parse(
      await ok(d, 'node', 'inspect', n?.description.hostname ?? ''),
    ) as NodeView[];
    assert.equal(byName?.meta.id, nodeId);
    const missing = await orca(['-H', d.host, 'node', 'inspect', 'no-such-node']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /node no-such-node not found/);

    // The swarm has a root CA (its key is never shown) and this manager a certificate from it,
    // naming the node, its role and the cluster.
    const caPem = await ok(d, 'swarm', 'ca');
    const ca = new X509Certificate(caPem);
    assert.ok(ca.ca);
    assert.match(ca.subject, /CN=orca-root-ca/);
    assert.ok(!(await ok(d, 'info', '--format', 'json')).includes('PRIVATE KEY'));
    const certDir = path.join(d.dataDir, 'certificates');
    const certPem = readFileSync(path.join(certDir, 'swarm-node.crt'), 'utf8');
    const id = nodeIdentity(certPem, caPem);
    assert.deepEqual([id.nodeId, id.role, id.clusterId], [nodeId, 'manager', i.clusterId]);
    assert.equal(statSync(path.join(certDir, 'swarm-node.key')).mode & 0o777, 0o600);
    // The cluster port speaks mutual TLS only: a plaintext worker session gets nowhere.
    assert.match(await plaintextSession(d.listen), /UNAVAILABLE|14/);

    // kill -9, then a restart on the same data dir: the state comes back from the Raft log.
    assert.equal((await stop(d, 'SIGKILL')).signal, 'SIGKILL');
    assert.ok(existsSync(d.socket), 'a killed daemon leaves its socket behind');
    await start(d);
    const restored = await nodes(d);
    assert.equal(restored.length, 1);
    assert.equal(restored[0]?.meta.id, nodeId);
    assert.equal(restored[0]?.spec.availability, 'drain');
    assert.deepEqual(restored[0]?.spec.labels, { zone: 'east' });
    assert.match(await ok(d, 'node', 'ls'), new RegExp(`${nodeId} \\*.*Drain\\s+Leader`));
    assert.equal(await ok(d, 'swarm', 'ca'), caPem, 'the same CA after a restart');
    assert.equal(
      readFileSync(path.join(certDir, 'swarm-node.crt'), 'utf8'),
      certPem,
      'the certificate is kept, not reissued',
    );

    // A manager leaves only with --force; then the swarm is gone and can be made anew.
    const leave = await orca(['-H', d.host, 'swarm', 'leave']);
    assert.equal(leave.code, 1);
    assert.match(leave.stderr, /--force/);
    assert.equal(await ok(d, 'swarm', 'leave', '--force'), 'Node left the swarm.\n');
    assert.equal((JSON.parse(await ok(d, 'info', '--format', 'json')) as Info).swarm, 'inactive');
    assert.ok(!existsSync(path.join(d.dataDir, 'raft')));
    assert.ok(!existsSync(certDir), 'leaving removes the certificates');
    assert.equal((await orca(['-H', d.host, 'swarm', 'ca'])).code, 1);

    const { code, signal } = await stop(d, 'SIGTERM');
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assert.ok(!existsSync(d.socket), 'SIGTERM removes the socket');
  });

  it('runs two daemons side by side and refuses a second one on a live socket or data dir', async () => {
    const [a, b] = await Promise.all([newDaemon('pair-a'), newDaemon('pair-b')]);
    await Promise.all([start(a), start(b)]);
    try {
      await Promise.all([ok(a, 'swarm', 'init'), ok(b, 'swarm', 'init')]);
      const [ia, ib] = (
        await Promise.all([ok(a, 'info', '--format', 'json'), ok(b, 'info', '--format', 'json')])
      ).map((t) => JSON.parse(t) as Info);
      assert.notEqual(ia?.clusterId, ib?.clusterId);
      assert.equal((await nodes(a)).length, 1);
      assert.equal((await nodes(b)).length, 1);

      const intruder = await newDaemon('intruder');
      const onSocket = await orca([
        'daemon',
        '--data-dir',
        intruder.dataDir,
        '--socket',
        a.socket,
        '--listen-addr',
        intruder.listen,
      ]);
      assert.equal(onSocket.code, 1);
      assert.match(onSocket.stderr, /another orca daemon is listening there/);
      const onDataDir = await orca([
        'daemon',
        '--data-dir',
        a.dataDir,
        '--socket',
        intruder.socket,
        '--listen-addr',
        intruder.listen,
      ]);
      assert.equal(onDataDir.code, 1);
      assert.match(onDataDir.stderr, /is in use by another orca daemon/);

      // SIGHUP does not stop the daemon (its default action would).
      a.proc?.kill('SIGHUP');
      await waitFor(() => a.stderr.includes('SIGHUP'), { what: 'SIGHUP logged' });
      assert.equal((await nodes(a)).length, 1);
    } finally {
      await Promise.all([stop(a, 'SIGTERM'), stop(b, 'SIGTERM')]);
    }
  });

  it('reloads its config file on SIGHUP: the log level at once, the rest after a restart', async () => {
    const d = await newDaemon('config');
    const file = path.join(tempRoot, 'config', 'daemon.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ 'log-level': 'info' }));

    // A setting given twice, and a key orca does not know: refused before anything starts.
    const twice = await orca(['daemon', '--config-file', file, '--log-level', 'debug']);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /set both as a flag and in .*daemon\.json: --log-level; keep one/);
    const unknownFile = path.join(tempRoot, 'config', 'unknown.json');
    writeFileSync(unknownFile, JSON.stringify({ 'log-levle': 'debug' }));
    const unknown = await orca(['daemon', '--config-file', unknownFile]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown key "log-levle" \(known: data-dir, socket,/);
    const missing = await orca(['daemon', '--config-file', path.join(tempRoot, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--config-file: cannot read .*nope\.json/);

    await start(d, ['--config-file', file]);
    try {
      assert.ok(!d.stderr.includes('"level":20'), 'no debug lines at info level');
      writeFileSync(file, JSON.stringify({ 'log-level': 'debug', 'advertise-addr': '127.0.0.1' }));
      d.proc?.kill('SIGHUP');
      await waitFor(() => d.stderr.includes('SIGHUP: configuration reloaded'), {
        what: 'the reload logged',
      });
      const reloaded = d.stderr
        .split('\n')
        .filter((l) => l.includes('SIGHUP: configuration reloaded'))
        .map((l) => JSON.parse(l) as { logLevel: string; needRestart: string[]; msg: string })[0];
      assert.equal(reloaded?.logLevel, 'debug');
      assert.deepEqual(reloaded?.needRestart, ['advertise-addr']);
      assert.match(reloaded?.msg ?? '', /restart the daemon for "advertise-addr"/);

      // A broken file changes nothing, and the daemon goes on.
      writeFileSync(file, '{ "log-level": ');
      d.proc?.kill('SIGHUP');
      await waitFor(() => d.stderr.includes('SIGHUP: configuration not reloaded'), {
        what: 'the failed reload logged',
      });
      assert.equal((await orca(['-H', d.host, 'info'])).code, 0);
    } finally {
      await stop(d, 'SIGTERM');
    }
  });

  it('reports its CPU and memory use, shown by node inspect and refreshed while it runs', async () => {
    const bad = await orca(['daemon', '--node-report-interval', '10']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--node-report-interval: "10" is not a duration/);

    const d = await newDaemon('usage');
    await start(d, ['--node-report-interval', '500ms']);
    try {
      await ok(d, 'swarm', 'init');
      const self = async () =>
        (JSON.parse(await ok(d, 'node', 'inspect', 'self', '--format', 'json')) as NodeView[])[0];
      const first = await waitFor(async () => {
        const n = await self();
        return n?.description.usage ? n : undefined;
      });
      const usage = first.description.usage!;
      // cpuPercent is the share of all the host's CPU time, so 0..100 whatever the cores.
      assert.ok(usage.cpuPercent >= 0 && usage.cpuPercent <= 100, `cpu ${usage.cpuPercent}`);
      assert.ok(usage.memoryBytes > 0, 'some memory is in use');
      assert.ok(usage.memoryBytes <= first.description.resources.memoryBytes);
      assert.ok(Math.abs(Date.now() - Date.parse(usage.measuredAt)) < 30_000, usage.measuredAt);

      // However little usage moves, it is rewritten within 6 report intervals (3 s here).
      await waitFor(
        async () =>
          Date.parse((await self())?.description.usage?.measuredAt ?? '') >
          Date.parse(usage.measuredAt),
        { what: 'usage measured again' },
      );

      const pretty = await ok(d, 'node', 'inspect', '--pretty', 'self');
      assert.match(pretty, /^Resources:\n CPUs: +\d+\n Memory: +[\d.]+[KMGT]iB$/m);
      assert.match(pretty, /^ CPU: +\d+(\.\d)?%$/m);
      assert.match(pretty, /^ Memory: +[\d.]+[KMG]iB of [\d.]+[GMT]iB \(\d+%\)$/m);
      assert.match(pretty, /^ Measured: +(Less than a second|\d+ seconds?) ago$/m);
      assert.match(await ok(d, 'node', 'ls'), /Ready\s+Active\s+Leader/);
    } finally {
      await stop(d, 'SIGTERM');
    }
  });

  it('says in one line that no daemon answers, from -H or ORCA_HOST', async () => {
    const host = `unix://${path.join(tempRoot, 'nobody', 'orca.sock')}`;
    const viaFlag = await orca(['-H', host, 'node', 'ls']);
    assert.equal(viaFlag.code, 1);
    assert.equal(
      viaFlag.stderr,
      `orca: cannot reach the orca daemon at ${host}: is it running? start it with: orca daemon\n`,
    );
    const viaEnv = await orca(['info'], { ORCA_HOST: host });
    assert.equal(viaEnv.code, 1);
    assert.equal(viaEnv.stderr, viaFlag.stderr);
    const badHost = await orca(['-H', 'tcp://1.2.3.4:1', 'info']);
    assert.equal(badHost.code, 2);
    assert.match(badHost.stderr, /-H\/--host: "tcp:\/\/1.2.3.4:1"/);
  });
});
