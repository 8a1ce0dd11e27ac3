// `service logs` and `node ps` end to end: a real `orca daemon` on the real Docker engine, the
// CLI as child processes. The logs travel as they would between hosts: the manager asks the
// worker over its dispatcher session, the worker reads the engine and sends the lines back.
// Containers carry orca.test=1 and this swarm's node id; after() removes them.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NodeView, TaskView } from '../../src/api/control-wire.ts';
import { waitFor } from '../support/wait.ts';
import { cliFor, orcaBin } from './support/cli.ts';
import { removeNodeContainers, TestDaemon } from './support/daemon.ts';

const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-logs-'));
const daemon = new TestDaemon({ dir: tempRoot });
const { orca, ok } = cliFor(daemon.host);

/** Each task prints one line to stdout naming its container (the hostname), one to stderr. */
const echoCommand = ['sh', '-c', 'echo out-$HOSTNAME; echo err >&2; sleep 3600'];
const tickCommand = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done'];

let nodeId = '';
let hostname = '';

async function createService(name: string, replicas: number, command: string[]): Promise<void> {
  await ok(
    'service',
    'create',
    '--detach',
    '--name',
    name,
    '--replicas',
    String(replicas),
    '--container-label',
    'orca.test=1',
    // An init passes SIGTERM on to sh, so removing the service takes no grace period.
    '--init',
    '--stop-grace-period',
    '1s',
    'orca-test/busybox:1',
    ...command,
  );
}

async function runningTasks(service: string): Promise<TaskView[]> {
  const tasks = JSON.parse(await ok('service', 'ps', '--format', 'json', service)) as TaskView[];
  return tasks.filter((t) => t.status.state === 'running' && t.desiredState === 'running');
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

before(async () => {
  await daemon.start();
  await ok('swarm', 'init');
  const [self] = JSON.parse(await ok('node', 'inspect', 'self')) as NodeView[];
  assert.ok(self !== undefined);
  nodeId = self.meta.id;
  hostname = self.description.hostname;
});

after(async () => {
  await orca('service', 'rm', 'echo', 'tick');
  await daemon.stop('SIGTERM');
  await removeNodeContainers(nodeId);
  rmSync(tempRoot, { recursive: true, force: true });
});

describe('orca service logs against a daemon and the engine', () => {
  let tasks: TaskView[] = [];
  /** The prefix each task's lines carry, and the stdout line it printed. */
  let expected: { prefix: string; out: string }[] = [];

  before(async () => {
    await createService('echo', 2, echoCommand);
    tasks = await waitFor(
      async () => {
        const running = await runningTasks('echo');
        return running.length === 2 && running.every((t) => t.status.containerId)
          ? running
          : undefined;
      },
      { timeoutMs: 30_000, what: 'both echo tasks running' },
    );
    expected = tasks.map((t) => ({
      prefix: `echo.${t.slot}.${t.meta.id.slice(0, 12)}@${hostname}`,
      out: `out-${t.status.containerId?.slice(0, 12)}`,
    }));
  });

  it("shows each task's lines with its prefix, stdout and stderr apart", async () => {
    // The engine's log copier may lag the container a little: wait for all four lines.
    const run = await waitFor(
      async () => {
        const r = await orca('service', 'logs', 'echo');
        return lines(r.stdout).length === 2 && lines(r.stderr).length === 2 ? r : undefined;
      },
      { timeoutMs: 15_000, what: 'the lines of both tasks' },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      lines(run.stdout).sort(),
      expected.map((e) => `${e.prefix}    | ${e.out}`).sort(),
    );
    assert.deepEqual(lines(run.stderr).sort(), expected.map((e) => `${e.prefix}    | err`).sort());
  });

  it('--tail 1 shows one line per task, the last it wrote', async () => {
    const run = await orca('service', 'logs', '--tail', '1', 'echo');
    assert.equal(run.code, 0, run.stderr);
    // Which of a task's two lines the engine holds last depends on its copiers: one of them.
    const shown = [...lines(run.stdout), ...lines(run.stderr)];
    assert.deepEqual(
      shown.map((l) => l.split('    | ')[0]).sort(),
      expected.map((e) => e.prefix).sort(),
    );
    for (const l of shown) {
      const e = expected.find((x) => l.startsWith(x.prefix));
      assert.ok(l === `${e?.prefix}    | ${e?.out}` || l === `${e?.prefix}    | err`, l);
    }
  });

  it('--raw prints the lines as written; -t puts the time first', async () => {
    const raw = await orca('service', 'logs', '--raw', 'echo');
    assert.equal(raw.code, 0, raw.stderr);
    assert.deepEqual(lines(raw.stdout).sort(), expected.map((e) => e.out).sort());
    assert.deepEqual(lines(raw.stderr), ['err', 'err']);

    const stamped = await ok('service', 'logs', '--raw', '-t', 'echo');
    for (const l of lines(stamped)) {
      assert.match(l, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z out-[0-9a-f]{12}$/);
    }
  });

  it('takes a task id for the logs of that task alone', async () => {
    const [one] = tasks;
    assert.ok(one !== undefined);
    const run = await orca('service', 'logs', one.meta.id);
    assert.equal(run.code, 0, run.stderr);
    const mine = expected.find((e) => e.prefix.includes(one.meta.id.slice(0, 12)));
    assert.deepEqual(lines(run.stdout), [`${mine?.prefix}    | ${mine?.out}`]);
    assert.deepEqual(lines(run.stderr), [`${mine?.prefix}    | err`]);
  });

  it('fails on an unknown service, and on bad flags naming them', async () => {
    const unknown = await orca('service', 'logs', 'nope');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'orca: no such service or task: nope\n');

    const tail = await orca('service', 'logs', '--tail', '-3', 'echo');
    assert.equal(tail.code, 2);
    assert.match(tail.stderr, /^orca: --tail: "-3" is not a number of lines/);
    const since = await orca('service', 'logs', '--since', 'yesterday', 'echo');
    assert.equal(since.code, 2);
    assert.match(since.stderr, /^orca: --since: "yesterday" is not a time/);
  });

  it('node ps lists the tasks on this node; -q their ids only', async () => {
    const table = await ok('node', 'ps');
    assert.match(
      table.split('\n')[0] ?? '',
      /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/,
    );
    for (const t of tasks) {
      assert.match(
        table,
        new RegExp(
          `^${t.meta.id.slice(0, 12)}\\s+echo\\.${t.slot}\\s+orca-test/busybox:1\\s+${hostname}\\s+Running\\s+Running `,
          'm',
        ),
      );
    }
    const ids = lines(await ok('node', 'ps', '-q', hostname));
    for (const t of tasks) assert.ok(ids.includes(t.meta.id.slice(0, 12)), ids.join(' '));
    assert.ok(
      ids.every((id) => /^[0-9a-z]{12}$/.test(id)),
      ids.join(' '),
    );

    const unknown = await orca('node', 'ps', 'nope');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'orca: node nope not found\n');
  });

  it('-f delivers lines written after it started, and Ctrl-C ends it cleanly', async () => {
    await createService('tick', 1, tickCommand);
    await waitFor(async () => (await runningTasks('tick')).length === 1, {
      timeoutMs: 30_000,
      what: 'the tick task running',
    });
    const follow = spawn(
      process.execPath,
      [orcaBin, '-H', daemon.host, 'service', 'logs', '-f', '--raw', '--tail', '1', 'tick'],
      { env: { ...process.env, ORCA_HOST: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    follow.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    follow.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      follow.once('close', (code, signal) => r({ code, signal })),
    );
    try {
      const tick = (l: string) => Number(/^tick-(\d+)$/.exec(l)?.[1] ?? Number.NaN);
      const first = await waitFor(() => tick(lines(stdout)[0] ?? ''), {
        timeoutMs: 15_000,
        what: 'the last line written before the follow',
      });
      // A later tick can only have been written after the follow began reading.
      await waitFor(() => lines(stdout).some((l) => tick(l) > first), {
        timeoutMs: 15_000,
        what: 'a line written while following',
      });
    } finally {
      follow.kill('SIGINT');
    }
    const end = await exited;
    assert.deepEqual(end, { code: 130, signal: null });
    assert.equal(stderr, '');

    // The daemon took the cancel in its stride: it still answers, and still reads logs.
    const after = await orca('service', 'logs', '--raw', '--tail', '1', 'tick');
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /^tick-\d+\n$/);
  });
});
