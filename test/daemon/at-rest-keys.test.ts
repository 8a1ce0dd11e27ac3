// The data key of a manager, wrapped with and without autolock, on a real temp dir.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createUnlockKey } from '../../src/ca/unlock-key.ts';
import {
  createAtRestKeys,
  openPrivateKeyPem,
  readAtRestKeys,
  sealPrivateKeyPem,
  unlockAtRestKeys,
  wrapAtRestKeys,
} from '../../src/daemon/at-rest-keys.ts';
import { DataDirError, UnlockKeyError } from '../../src/errors.ts';

const root = mkdtempSync(path.join(tmpdir(), 'orca-at-rest-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => mkdtempSync(path.join(root, `d${++n}-`));

describe('keys at rest', () => {
  it('without autolock: the data key opens by itself after a restart', async () => {
    const dir = fresh();
    const dek = await createAtRestKeys(dir, null);
    assert.deepEqual(await readAtRestKeys(dir), { state: 'unlocked', dek });
    assert.equal(statSync(path.join(dir, 'keys.json')).mode & 0o777, 0o600);
    assert.ok(!readFileSync(path.join(dir, 'keys.json'), 'utf8').includes(dek.toString('base64')));
  });

  it('with autolock: locked until the right unlock key is given', async () => {
    const dir = fresh();
    const key = createUnlockKey();
    const dek = await createAtRestKeys(dir, key);
    assert.deepEqual(await readAtRestKeys(dir), { state: 'locked' });
    assert.deepEqual(await unlockAtRestKeys(dir, key), dek);
    await assert.rejects(
      unlockAtRestKeys(dir, createUnlockKey()),
      (err: unknown) =>
        err instanceof UnlockKeyError && /not the one this node is locked with/.test(err.message),
    );
    await assert.rejects(unlockAtRestKeys(dir, 'nonsense'), UnlockKeyError);
  });

  it('autolock off, on, and a rotated key wrap the same data key again', async () => {
    const dir = fresh();
    const dek = await createAtRestKeys(dir, null);
    const first = createUnlockKey();
    await wrapAtRestKeys(dir, dek, first);
    assert.deepEqual(await readAtRestKeys(dir), { state: 'locked' });
    const second = createUnlockKey();
    await wrapAtRestKeys(dir, dek, second);
    await assert.rejects(unlockAtRestKeys(dir, first), UnlockKeyError);
    assert.deepEqual(await unlockAtRestKeys(dir, second), dek);
    await wrapAtRestKeys(dir, dek, null);
    assert.deepEqual(await readAtRestKeys(dir), { state: 'unlocked', dek });
  });

  it('no keys file: nothing to unlock; a damaged one is refused, not repaired', async () => {
    const dir = fresh();
    assert.equal(await readAtRestKeys(dir), null);
    await assert.rejects(unlockAtRestKeys(dir, createUnlockKey()), /no locked data/);
    writeFileSync(path.join(dir, 'keys.json'), '{"version":1}');
    await assert.rejects(readAtRestKeys(dir), DataDirError);
  });

  it('seals a private key as encrypted PKCS#8 that opens only with the data key', async () => {
    const dek = await createAtRestKeys(fresh(), null);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sealed = sealPrivateKeyPem(pem, dek);
    assert.match(sealed, /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.equal(openPrivateKeyPem(sealed, dek), pem);
    const other = await createAtRestKeys(fresh(), null);
    assert.throws(() => openPrivateKeyPem(sealed, other));
  });
});
