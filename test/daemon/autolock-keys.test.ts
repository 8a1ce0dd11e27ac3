// A manager's data key as the daemon handles it (src/daemon/autolock.ts), on real temp dirs and
// a local store: created for a new Raft store, locked and unlocked, wrapped again by every
// manager that follows the Cluster object; and its private keys stored sealed with it
// (src/daemon/node-certificates.ts).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { type Cluster, publicCluster } from '../../src/api/objects.ts';
import { createRootCa } from '../../src/ca/index.ts';
import { createUnlockKey } from '../../src/ca/unlock-key.ts';
import { readAtRestKeys, unlockAtRestKeys } from '../../src/daemon/at-rest-keys.ts';
import {
  initialUnlockKey,
  ManagerKeys,
  withAutolock,
  withNewUnlockKey,
} from '../../src/daemon/autolock.ts';
import {
  ensureNodeCertificate,
  readManagerCa,
  readNodeCertificate,
  sameCa,
  writeNodeCertificate,
} from '../../src/daemon/node-certificates.ts';
import { DataDirError, OrcaError, SwarmLockedError, UnlockKeyError } from '../../src/errors.ts';
import { Store } from '../../src/store/index.ts';
import { waitFor } from '../support/wait.ts';

const root = mkdtempSync(path.join(tmpdir(), 'orca-autolock-keys-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => mkdtempSync(path.join(root, `d${++n}-`));
const log = pino({ level: 'silent' });
const CLUSTER = 'c1';

async function clusterStore(): Promise<Store> {
  const store = new Store({ proposer: null });
  await store.update((tx) =>
    tx.clusters.create(
      { spec: { name: 'default', taskHistoryLimit: 5, dispatcherHeartbeatMs: 5000 } },
      { id: CLUSTER },
    ),
  );
  return store;
}

function setAutolock(store: Store, on: boolean) {
  return store.update((tx) => {
    tx.clusters.update(withAutolock(tx.clusters.get(CLUSTER) as Cluster, on));
  });
}

function unlockKeyOf(store: Store): string | undefined {
  return store.view((tx) => tx.clusters.get(CLUSTER)?.unlockKey);
}

describe('the cluster object and autolock', () => {
  it('on: a key (kept when already on); off: none; rotate only while on; never public', () => {
    const base: Pick<Cluster, 'spec' | 'unlockKey'> = {
      spec: { name: 'default', taskHistoryLimit: 5, dispatcherHeartbeatMs: 5000 },
    };
    assert.deepEqual(withAutolock(base, undefined), base);
    const on = withAutolock(base, true);
    assert.equal(on.spec.autolock, true);
    assert.match(on.unlockKey ?? '', /^ORCAKEY-1-/);
    assert.equal(withAutolock(on, true).unlockKey, on.unlockKey);
    const off = withAutolock(on, false);
    assert.equal(off.spec.autolock, false);
    assert.ok(!('unlockKey' in off));
    assert.throws(
      () => withNewUnlockKey(off),
      (err: unknown) =>
        err instanceof OrcaError &&
        err.message === 'cannot rotate because autolock is not turned on',
    );
    assert.notEqual(withNewUnlockKey(on).unlockKey, on.unlockKey);
    assert.deepEqual(initialUnlockKey(false), {});
    assert.match(initialUnlockKey(true).unlockKey ?? '', /^ORCAKEY-1-/);
    const shown = publicCluster({
      ...on,
      meta: { id: 'c', version: 1, createdAt: '', updatedAt: '' },
    } as Cluster);
    assert.ok(!JSON.stringify(shown).includes(on.unlockKey ?? '?'));
  });
});

describe('a manager data key', () => {
  it('is created for a new Raft store and read back without a key while autolock is off', async () => {
    const dir = fresh();
    const keys = new ManagerKeys(dir, log);
    const dek = await keys.open(path.join(dir, 'raft'), false);
    assert.ok(dek !== null && dek.length === 32);
    const again = new ManagerKeys(dir, log);
    assert.equal(await again.locked(), false);
    assert.deepEqual(await again.open(path.join(dir, 'raft'), false), dek);
  });

  it('leaves a Raft store from before encryption plain, and refuses to lock it', async () => {
    const dir = fresh();
    mkdirSync(path.join(dir, 'raft'));
    writeFileSync(path.join(dir, 'raft', 'CURRENT'), 'MANIFEST-000001\n');
    const keys = new ManagerKeys(dir, log);
    assert.equal(await keys.open(path.join(dir, 'raft'), false), null);
    assert.equal(await readAtRestKeys(dir), null);
    assert.throws(() => keys.assertCanLock(), /written before orca encrypted it at rest/);
  });

  it('every manager following the cluster wraps its own key as the cluster says', async () => {
    const store = await clusterStore();
    const dirs = [fresh(), fresh(), fresh()];
    const managers = dirs.map((d) => new ManagerKeys(d, log));
    const deks = await Promise.all(
      managers.map((k, i) => k.open(path.join(dirs[i]!, 'raft'), false)),
    );
    const followers = await Promise.all(managers.map((k) => k.follow(store, CLUSTER)));
    try {
      // On, through the log (on "another manager"): each keys.json is wrapped by the key alone.
      await setAutolock(store, true);
      const first = unlockKeyOf(store) ?? '';
      await waitFor(
        async () => {
          const states = await Promise.all(dirs.map((d) => readAtRestKeys(d)));
          return states.every((s) => s?.state === 'locked');
        },
        { what: 'every manager locked' },
      );
      for (const [i, d] of dirs.entries())
        assert.deepEqual(await unlockAtRestKeys(d, first), deks[i]);
      // Rotated: the old key no longer opens any of them.
      await store.update((tx) => {
        tx.clusters.update(withNewUnlockKey(tx.clusters.get(CLUSTER) as Cluster));
      });
      const second = unlockKeyOf(store) ?? '';
      await Promise.all(managers.map((k) => k.sync()));
      for (const [i, d] of dirs.entries()) {
        await assert.rejects(unlockAtRestKeys(d, first), UnlockKeyError);
        assert.deepEqual(await unlockAtRestKeys(d, second), deks[i]);
      }
      // Off: a stored key again, so a restart opens by itself.
      await setAutolock(store, false);
      await Promise.all(managers.map((k) => k.sync()));
      for (const [i, d] of dirs.entries()) {
        assert.deepEqual(await readAtRestKeys(d), { state: 'unlocked', dek: deks[i] });
      }
    } finally {
      await Promise.all(followers.map((f) => f.stop()));
    }
  });

  it('is locked after a restart with autolock on, until the right key is given', async () => {
    const dir = fresh();
    const raft = path.join(dir, 'raft');
    const store = await clusterStore();
    await setAutolock(store, true);
    const key = unlockKeyOf(store) ?? '';
    const before = new ManagerKeys(dir, log);
    const dek = await before.open(raft, true);
    await (await before.follow(store, CLUSTER)).stop();
    // A new daemon on the same data dir.
    const after = new ManagerKeys(dir, log);
    assert.equal(await after.locked(), true);
    await assert.rejects(after.open(raft, false), SwarmLockedError);
    await assert.rejects(after.unlock(createUnlockKey()), UnlockKeyError);
    assert.equal(await after.locked(), true);
    await after.unlock(key);
    assert.equal(await after.locked(), false);
    assert.deepEqual(await after.open(raft, false), dek);
    // Following a cluster that still says the same key writes nothing new.
    const text = readFileSync(path.join(dir, 'keys.json'), 'utf8');
    await (await after.follow(store, CLUSTER)).stop();
    assert.equal(readFileSync(path.join(dir, 'keys.json'), 'utf8'), text);
    await after.discard();
    assert.equal(await readAtRestKeys(dir), null);
  });
});

describe("a manager's private keys at rest", () => {
  const subject = { nodeId: 'n1', role: 'manager', clusterId: CLUSTER } as const;

  it('are stored sealed with the data key and read back with it only', async () => {
    const dir = fresh();
    const dek = await new ManagerKeys(dir, log).open(path.join(dir, 'raft'), true);
    assert.ok(dek !== null);
    const ca = await createRootCa({ clusterId: CLUSTER });
    const files = await ensureNodeCertificate(dir, ca, subject, dek);
    for (const f of ['swarm-node.key', 'swarm-root-ca.key']) {
      const pem = readFileSync(path.join(dir, 'certificates', f), 'utf8');
      assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    }
    assert.deepEqual(await readNodeCertificate(dir, dek), files);
    assert.ok(sameCa((await readManagerCa(dir, dek))?.certPem ?? '', ca.certPem));
    await assert.rejects(readManagerCa(dir), DataDirError);
    await assert.rejects(readNodeCertificate(dir, Buffer.alloc(32, 7)), /does not open/);
    // A restart keeps the same certificate.
    assert.deepEqual(await ensureNodeCertificate(dir, ca, subject, dek), files);
  });

  it('found plain on a manager with a data key, are sealed in place', async () => {
    const dir = fresh();
    const dek = await new ManagerKeys(dir, log).open(path.join(dir, 'raft'), true);
    assert.ok(dek !== null);
    const ca = await createRootCa({ clusterId: CLUSTER });
    const plain = await ensureNodeCertificate(dir, ca, subject);
    assert.match(
      readFileSync(path.join(dir, 'certificates', 'swarm-node.key'), 'utf8'),
      /^-----BEGIN PRIVATE KEY-----/,
    );
    assert.deepEqual(await ensureNodeCertificate(dir, ca, subject, dek), plain);
    for (const f of ['swarm-node.key', 'swarm-root-ca.key']) {
      const pem = readFileSync(path.join(dir, 'certificates', f), 'utf8');
      assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    }
  });

  it('stay plain on a worker, which has no data key', async () => {
    const dir = fresh();
    const ca = await createRootCa({ clusterId: CLUSTER });
    const files = await ensureNodeCertificate(dir, ca, { ...subject, role: 'worker' });
    await writeNodeCertificate(dir, files, null);
    assert.match(
      readFileSync(path.join(dir, 'certificates', 'swarm-node.key'), 'utf8'),
      /^-----BEGIN PRIVATE KEY-----/,
    );
    assert.deepEqual(await readNodeCertificate(dir), files);
  });
});
