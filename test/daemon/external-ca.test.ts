// `swarm init --ca-cert --ca-key`: the swarm runs on the operator's own root CA. A real daemon
// (without a Docker engine: nothing here runs a container), driven by the CLI.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRootCa, nodeIdentity } from '../../src/ca/index.ts';
import { cliFor } from './support/cli.ts';
import { TestDaemon } from './support/daemon.ts';

const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-external-ca-'));
const daemon = new TestDaemon({
  dir: path.join(tempRoot, 'daemon'),
  dockerHost: `unix://${path.join(tempRoot, 'no-docker.sock')}`,
});
const { orca, ok } = cliFor(daemon.host);

describe('swarm init with the operator’s root CA', () => {
  const files = { cert: path.join(tempRoot, 'ca.crt'), key: path.join(tempRoot, 'ca.key') };
  const other = path.join(tempRoot, 'other.key');
  let caPem = '';

  before(async () => {
    const ca = await createRootCa({ clusterId: 'operator' });
    caPem = ca.certPem;
    writeFileSync(files.cert, ca.certPem);
    writeFileSync(files.key, ca.keyPem);
    writeFileSync(other, (await createRootCa({ clusterId: 'operator' })).keyPem);
    await daemon.start();
  });
  after(async () => {
    await daemon.stop();
    rmSync(tempRoot, { recursive: true, force: true });
  });

  it('refuses half a CA, or a key that is not the certificate’s, and stays out of a swarm', async () => {
    const half = await orca('swarm', 'init', '--ca-cert', files.cert);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--ca-cert, --ca-key: give both/);
    const mismatch = await orca('swarm', 'init', '--ca-cert', files.cert, '--ca-key', other);
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.stderr, /--ca-cert, --ca-key: /);
    const missing = await orca(
      'swarm',
      'init',
      '--ca-cert',
      files.cert,
      '--ca-key',
      '/nonexistent',
    );
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--ca-key: cannot read \/nonexistent/);
    assert.match(await ok('info'), /Swarm: inactive/);
  });

  it('issues the manager’s certificate from the given CA, which the swarm then serves', async () => {
    await ok('swarm', 'init', '--ca-cert', files.cert, '--ca-key', files.key);
    assert.equal((await ok('swarm', 'ca')).trim(), caPem.trim());
    const certPem = readFileSync(
      path.join(daemon.dataDir, 'certificates', 'swarm-node.crt'),
      'utf8',
    );
    assert.equal(nodeIdentity(certPem, caPem).role, 'manager');
    await ok('swarm', 'leave', '--force');
  });
});
