// Encryption at rest and autolock, end to end: a real `orca daemon` on the machine's Docker
// engine, driven by the CLI. `swarm init --autolock` prints the key; the Raft files hold no
// plaintext of a service and the private keys are encrypted; killed with -9 and started again
// the manager is locked (no Raft, no cluster port, every cluster call refused) until `swarm
// unlock` is given the right key, and then runs the same service and tasks; the key rotates,
// autolock turns off (a restart needs no key) and on again (a restart is locked).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Info, TaskView } from '../../src/api/control-wire.ts';
import { createUnlockKey } from '../../src/ca/unlock-key.ts';
import { waitFor } from '../support/wait.ts';
import { cliFor, type Run, runOrca } from './support/cli.ts';
import { initNodeId, removeNodeContainers, TestDaemon } from './support/daemon.ts';

const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-autolock-'));
const manager = new TestDaemon({ dir: path.join(tempRoot, 'manager') });
/** A daemon in no swarm: `swarm unlock` and `unlock-key` have nothing to work on there. */
const outsider = new TestDaemon({
  dir: path.join(tempRoot, 'outsider'),
  dockerHost: `unix://${path.join(tempRoot, 'no-docker.sock')}`,
});
const cli = cliFor(manager.host);
const image = 'orca-test/busybox:1';
/** A name that appears nowhere but in the service's spec, so that finding it means plaintext. */
const canary = `canary-${randomBytes(6).toString('hex')}`;
let nodeId = '';
let clusterId = '';

/** Docker's text for a key, with orca's name for the command. */
const instructions = (key: string) =>
  'To unlock a swarm manager after it restarts, run the `orca swarm unlock`\n' +
  `command and provide the following key:\n\n    ${key}\n\n` +
  'Please remember to store this key in a password manager, since without it you\n' +
  'will not be able to restart the manager.\n';

function keyIn(output: string): string {
  const key = /^ {4}(ORCAKEY-1-\S+)$/m.exec(output)?.[1];
  assert.ok(key !== undefined, `no unlock key in: ${output}`);
  return key;
}

/** `orca swarm unlock` with the key piped in, as a script gives it. */
function unlock(key: string): Promise<Run> {
  return runOrca(['-H', manager.host, 'swarm', 'unlock'], {}, `${key}\n`);
}

async function info(): Promise<Info> {
  return JSON.parse(await cli.ok('info', '--format', 'json')) as Info;
}

/** Killed with -9 and started again on the same data dir. */
async function crashAndRestart(): Promise<void> {
  await manager.stop('SIGKILL');
  await manager.start();
}

async function waitActive(): Promise<void> {
  await waitFor(async () => (await info()).swarm === 'active', {
    timeoutMs: 20_000,
    what: 'the manager active',
  });
}

/** Two running tasks of the canary service. */
async function waitCanaryRuns(): Promise<string[]> {
  return waitFor(
    async () => {
      const tasks = JSON.parse(await cli.ok('service', 'ps', canary, '--format', 'json'));
      const running = (tasks as TaskView[]).filter(
        (t) => t.desiredState === 'running' && t.status.state === 'running',
      );
      return running.length === 2 ? running.map((t) => t.meta.id).sort() : null;
    },
    { timeoutMs: 60_000, what: `2 running tasks of ${canary}` },
  );
}

/** Whether anything accepts a TCP connection at host:port. */
function listening(addr: string): Promise<boolean> {
  const i = addr.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = connect(Number(addr.slice(i + 1)), addr.slice(0, i));
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Every file under `dir` whose bytes contain `text`. */
function filesContaining(dir: string, text: string): string[] {
  const needle = Buffer.from(text, 'utf8');
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = path.join(dir, name);
    if (statSync(file).isFile() && readFileSync(file).includes(needle)) found.push(name);
  }
  return found;
}

function keysFile(): { dek: string; kek?: string } {
  return JSON.parse(readFileSync(path.join(manager.dataDir, 'keys.json'), 'utf8'));
}

async function assertLocked(): Promise<void> {
  const text = await cli.ok('info');
  assert.match(text, /^Swarm: locked$/m);
  const refused = await cli.orca('service', 'ls');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^orca: the swarm is locked: .*orca swarm unlock/);
  const nodes = await cli.orca('node', 'ls');
  assert.equal(nodes.code, 1);
  assert.match(nodes.stderr, /the swarm is locked/);
  // Neither Raft nor the cluster port runs until the key is given.
  assert.equal(await listening((await info()).listenAddr), false);
}

before(async () => {
  await Promise.all([manager.start(), outsider.start()]);
});

after(async () => {
  await Promise.all([manager.stop('SIGKILL'), outsider.stop('SIGKILL')]);
  await removeNodeContainers(nodeId);
  rmSync(tempRoot, { recursive: true, force: true });
});

describe('autolock: encryption at rest and a locked restart (daemon, CLI, Docker)', () => {
  let key = '';

  it('swarm init --autolock prints the unlock key as Docker does; nothing else shows it', async () => {
    const out = await cli.ok('swarm', 'init', '--autolock');
    nodeId = initNodeId(out);
    key = keyIn(out);
    assert.match(key, /^ORCAKEY-1-[A-Za-z0-9_-]{43}$/);
    assert.ok(
      out.endsWith(
        "To add a manager to this swarm, run 'orca swarm join-token manager' and follow the instructions.\n\n" +
          instructions(key),
      ),
      out,
    );
    assert.equal(await cli.ok('swarm', 'unlock-key'), instructions(key));
    assert.equal(await cli.ok('swarm', 'unlock-key', '-q'), `${key}\n`);
    const shown = await cli.ok('info', '--format', 'json');
    assert.ok(!shown.includes(key), 'info does not show the key');
    assert.ok(!manager.stderr.includes(key), 'nor does the log');
    const i = JSON.parse(shown) as Info;
    clusterId = i.clusterId;
    assert.equal(i.cluster?.spec.autolock, true);
    assert.match(await cli.ok('info'), /^ Autolock Managers: true$/m);
    // The data key is wrapped by the unlock key only: no key encryption key on disk.
    const keys = keysFile();
    assert.equal(typeof keys.dek, 'string');
    assert.equal(keys.kek, undefined);
    assert.equal(statSync(path.join(manager.dataDir, 'keys.json')).mode & 0o777, 0o600);
  });

  it('keeps the Raft data and the private keys encrypted on disk', async () => {
    await cli.ok(
      'service',
      'create',
      '--detach',
      '--name',
      canary,
      '--replicas',
      '2',
      '--stop-grace-period',
      '1s',
      image,
      'sleep',
      '600',
    );
    await waitCanaryRuns();
    const raft = path.join(manager.dataDir, 'raft');
    // The scan reads what LevelDB wrote: the identity record and the vote are plain by design.
    assert.notDeepEqual(filesContaining(raft, clusterId), [], 'the scan finds plain values');
    assert.deepEqual(filesContaining(raft, canary), [], 'no file holds the service name');
    assert.deepEqual(filesContaining(manager.dataDir, key), [], 'no file holds the unlock key');
    const certs = path.join(manager.dataDir, 'certificates');
    for (const f of ['swarm-node.key', 'swarm-root-ca.key']) {
      const pem = readFileSync(path.join(certs, f), 'utf8');
      assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/, f);
      assert.equal(statSync(path.join(certs, f)).mode & 0o777, 0o600, f);
    }
  });

  it('after kill -9 the manager is locked: no Raft, no cluster port, cluster calls refused', async () => {
    const tasks = await waitCanaryRuns();
    await crashAndRestart();
    await assertLocked();
    // A wrong key, or none that parses, is refused, and it stays locked.
    const wrong = await unlock(createUnlockKey());
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^orca: the unlock key is not the one this node is locked with/);
    const nonsense = await unlock('SWMKEY-1-whatever');
    assert.equal(nonsense.code, 1);
    assert.match(nonsense.stderr, /an unlock key starts with ORCAKEY-1-/);
    await assertLocked();
    // The right key: it starts as on any restart, with the same service and tasks.
    const right = await unlock(key);
    assert.equal(right.code, 0, right.stderr);
    await waitActive();
    assert.match(await cli.ok('service', 'ls'), new RegExp(`${canary} +replicated +2/2`));
    assert.deepEqual(await waitCanaryRuns(), tasks);
    assert.equal(await listening((await info()).listenAddr), true);
    assert.equal(await cli.ok('swarm', 'unlock-key', '-q'), `${key}\n`);
    assert.ok(!manager.stderr.includes(key), 'the daemon does not log the key it was given');
    const again = await unlock(key);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, 'orca: swarm is not locked\n');
  });

  it('unlock-key --rotate: a new key; after a restart the old one is refused', async () => {
    const out = await cli.ok('swarm', 'unlock-key', '--rotate');
    const rotated = keyIn(out);
    assert.notEqual(rotated, key);
    assert.equal(out, `Successfully rotated manager unlock key.\n\n${instructions(rotated)}`);
    assert.equal(await cli.ok('swarm', 'unlock-key', '-q'), `${rotated}\n`);
    await crashAndRestart();
    await assertLocked();
    const old = await unlock(key);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /not the one this node is locked with/);
    const right = await unlock(rotated);
    assert.equal(right.code, 0, right.stderr);
    await waitActive();
    key = rotated;
  });

  it('update --autolock=false: no key any more, and a restart needs none', async () => {
    assert.equal(await cli.ok('swarm', 'update', '--autolock=false'), 'Swarm updated.\n');
    const none = await cli.orca('swarm', 'unlock-key');
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'orca: no unlock key is set\n');
    const rotate = await cli.orca('swarm', 'unlock-key', '--rotate');
    assert.equal(rotate.code, 1);
    assert.equal(rotate.stderr, 'orca: cannot rotate because autolock is not turned on\n');
    assert.equal(typeof keysFile().kek, 'string');
    assert.match(await cli.ok('info'), /^ Autolock Managers: false$/m);
    await crashAndRestart();
    await waitActive();
    await waitCanaryRuns();
    // Still encrypted, with a key kept beside it.
    assert.deepEqual(filesContaining(path.join(manager.dataDir, 'raft'), canary), []);
  });

  it('update --autolock=true prints a new key, and the next restart is locked', async () => {
    const out = await cli.ok('swarm', 'update', '--autolock=true');
    const fresh = keyIn(out);
    assert.notEqual(fresh, key);
    assert.equal(out, `Swarm updated.\n${instructions(fresh)}`);
    assert.equal(keysFile().kek, undefined);
    // Already on: the key is kept and not printed again.
    assert.equal(await cli.ok('swarm', 'update', '--autolock'), 'Swarm updated.\n');
    assert.equal(await cli.ok('swarm', 'unlock-key', '-q'), `${fresh}\n`);
    await crashAndRestart();
    await assertLocked();
    const right = await unlock(fresh);
    assert.equal(right.code, 0, right.stderr);
    await waitActive();
    await waitCanaryRuns();
  });

  it('refuses a bad --autolock value with exit 2, naming the flag', async () => {
    const r = await cli.orca('swarm', 'update', '--autolock=maybe');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--autolock: "maybe" is not true or false/);
  });

  it('unlock and unlock-key outside a swarm say so', async () => {
    const out = cliFor(outsider.host);
    const u = await out.orca('swarm', 'unlock');
    assert.equal(u.code, 1);
    assert.equal(u.stderr, 'orca: this node is not part of a swarm\n');
    const k = await out.orca('swarm', 'unlock-key');
    assert.equal(k.code, 1);
    assert.match(k.stderr, /not part of a swarm/);
  });

  it('a locked manager can leave with --force: its keys, data and containers go', async () => {
    await crashAndRestart();
    await assertLocked();
    await cli.ok('swarm', 'leave', '--force');
    assert.match(await cli.ok('info'), /^Swarm: inactive$/m);
    for (const f of ['keys.json', 'raft', 'certificates', 'swarm.json']) {
      assert.ok(!existsSync(path.join(manager.dataDir, f)), `${f} removed`);
    }
  });
});
