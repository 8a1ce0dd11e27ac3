// The service commands end to end: a real `orca daemon` child with a one-manager swarm, driven
// by the CLI as child processes. The leader's loops may or may not exist, so nothing here
// depends on tasks being created or run: every command that would wait uses --detach.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceListItem } from '../../src/api/control-wire.ts';
import type { Service } from '../../src/api/objects.ts';
import { cliFor } from './support/cli.ts';
import { TestDaemon } from './support/daemon.ts';

const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-service-'));
// Nothing answers on this engine socket: no container is ever started.
const daemon = new TestDaemon({
  dir: tempRoot,
  dockerHost: `unix://${path.join(tempRoot, 'no-docker.sock')}`,
});

const { orca, ok } = cliFor(daemon.host);

async function inspect(ref: string): Promise<Service> {
  const [svc] = JSON.parse(await ok('service', 'inspect', ref)) as Service[];
  assert.ok(svc !== undefined);
  return svc;
}

before(async () => {
  await daemon.start();
  await ok('swarm', 'init');
});

after(async () => {
  await daemon.stop('SIGKILL');
  rmSync(tempRoot, { recursive: true, force: true });
});

describe('orca service commands against a daemon', () => {
  it('creates, lists, inspects, scales, updates, rolls back and removes a service', async () => {
    const created = await ok(
      'service',
      'create',
      '--detach',
      '--name',
      'web',
      '--replicas',
      '2',
      'orca-test/busybox:1',
      'sleep',
      '300',
    );
    const id = created.trim();
    assert.match(id, /^[0-9a-z]{25}$/);

    const table = await ok('service', 'ls');
    assert.match(table.split('\n')[0] ?? '', /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
    assert.match(
      table,
      new RegExp(`^${id.slice(0, 12)}\\s+web\\s+replicated\\s+\\d/2\\s+orca-test/busybox:1$`, 'm'),
    );
    const listed = JSON.parse(await ok('service', 'ls', '--format', 'json')) as ServiceListItem[];
    assert.deepEqual(
      listed.map((s) => [s.meta.id, s.spec.name, s.serviceStatus.desiredTasks]),
      [[id, 'web', 2]],
    );
    assert.equal(await ok('service', 'ls', '-q'), `${id.slice(0, 12)}\n`);

    const v1 = await inspect('web');
    assert.equal(v1.meta.id, id);
    assert.deepEqual(v1.spec.mode, { kind: 'replicated', replicas: 2 });
    assert.equal(v1.spec.task.container.image, 'orca-test/busybox:1');
    assert.deepEqual(v1.spec.task.container.args, ['sleep', '300']);
    assert.equal((await inspect(id.slice(0, 8))).spec.name, 'web');
    const pretty = await ok('service', 'inspect', '--pretty', 'web');
    assert.match(pretty, /^Name: +web\nService Mode: +Replicated\n Replicas: +2$/m);
    assert.match(pretty, /^ Args: +sleep 300$/m);
    assert.equal(await ok('service', 'inspect', '-q', 'web'), `${id}\n`);
    const both = await orca('service', 'inspect', '--pretty', '--format', 'json', 'web');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--pretty cannot be used with --format json/);

    // No loops are needed for the table: with or without tasks, the header is Docker's.
    const ps = await ok('service', 'ps', 'web');
    assert.match(ps, /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/m);
    assert.ok(Array.isArray(JSON.parse(await ok('service', 'ps', '--format', 'json', 'web'))));

    assert.equal(await ok('service', 'scale', '--detach', 'web=3'), 'web scaled to 3\n');
    assert.deepEqual((await inspect('web')).spec.mode, { kind: 'replicated', replicas: 3 });

    await ok('service', 'update', '--detach', '--env-add', 'A=1', 'web');
    const updated = await inspect('web');
    assert.deepEqual(updated.spec.task.container.env, ['A=1']);
    assert.notEqual(updated.previousSpec, null);
    assert.deepEqual(updated.previousSpec?.task.container.env, []);

    await ok('service', 'rollback', '--detach', 'web');
    const rolled = await inspect('web');
    assert.deepEqual(rolled.spec.task.container.env, []);
    assert.deepEqual(rolled.spec.mode, { kind: 'replicated', replicas: 3 });
    assert.deepEqual(rolled.previousSpec?.task.container.env, ['A=1']);

    const dup = await orca('service', 'create', '--detach', '--name', 'web', 'busybox');
    assert.equal(dup.code, 1, dup.stderr);
    assert.match(dup.stderr, /^orca: service name web is already in use/);

    const bad = await orca(
      'service',
      'create',
      '--detach',
      '--name',
      'bad',
      '--replicas',
      '-1',
      'busybox',
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--replicas: "-1"/);
    assert.equal((await ok('service', 'ls', '-q')).trim().split('\n').length, 1);

    const global = await ok('service', 'create', '--detach', '--mode', 'global', 'busybox');
    const scaleGlobal = await orca('service', 'scale', '--detach', `${global.trim()}=2`);
    assert.equal(scaleGlobal.code, 1);
    assert.match(
      scaleGlobal.stderr,
      /scale can only be used with replicated or replicated-job mode/,
    );
    const generated = (await inspect(global.trim())).spec.name;
    assert.match(generated, /^[a-z]+_[a-z]+\d?$/);

    const missing = await orca('service', 'inspect', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /service nope not found/);

    assert.equal(await ok('service', 'rm', 'web', generated), `web\n${generated}\n`);
    assert.equal(await ok('service', 'ls', '-q'), '');
    const gone = await orca('service', 'rm', 'web');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /service web not found/);
  });
});
