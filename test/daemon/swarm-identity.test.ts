// swarm.json: written whole, read back as written; a file from before workers could join reads
// as a manager's; a newer layout is refused rather than guessed at.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  readIdentity,
  type SwarmIdentity,
  writeIdentity,
} from '../../src/daemon/swarm-identity.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'orca-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const worker: SwarmIdentity = {
  version: 1,
  role: 'worker',
  clusterId: 'c'.repeat(25),
  nodeId: 'n'.repeat(25),
  listenAddr: '0.0.0.0:2377',
  advertiseAddr: '',
  managerAddr: '10.0.0.5:2377',
};

describe('the swarm identity file', () => {
  it('reads back what was written, and null where there is none', async () => {
    const d = path.join(dir, 'round-trip');
    assert.equal(await readIdentity(d), null);
    await writeIdentity(d, worker);
    assert.deepEqual(await readIdentity(d), worker);
  });

  it('reads a file without a role (written before workers could join) as a manager', async () => {
    const d = path.join(dir, 'legacy');
    const { role: _, managerAddr: __, ...rest } = worker;
    const legacy = { ...rest, taskHistoryLimit: 5 };
    mkdirSync(d);
    writeFileSync(path.join(d, 'swarm.json'), JSON.stringify(legacy));
    assert.deepEqual(await readIdentity(d), { ...legacy, role: 'manager' });
  });

  it('refuses a layout it does not know', async () => {
    const d = path.join(dir, 'newer');
    await writeIdentity(d, worker);
    writeFileSync(path.join(d, 'swarm.json'), JSON.stringify({ ...worker, version: 2 }));
    await assert.rejects(readIdentity(d), /written by a newer orca \(layout 2\)/);
  });
});
