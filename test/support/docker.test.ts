// Proves the machine's Docker engine and the local test image work, before any test relies on
// them. No skipping: CI must have both, and a missing engine should say how to get one.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

const IMAGE = 'orca-test/busybox:1';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function docker(args: string[], timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      'docker',
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : -1) : 0,
          stdout: String(stdout),
          stderr: e && typeof e.code !== 'number' ? `${stderr}${e.message}` : String(stderr),
        });
      },
    );
  });
}

describe('Docker engine', () => {
  const name = `orca-test-smoke-${randomBytes(4).toString('hex')}`;

  before(async () => {
    const info = await docker(['info', '--format', '{{.ServerVersion}}'], 15_000);
    if (info.code !== 0 || !info.stdout.trim()) {
      assert.fail(
        `no Docker engine answers \`docker info\` (${info.stderr.trim()}). ` +
          'Run .ci/run, or start one as root: `dockerd >/var/log/dockerd.log 2>&1 &`',
      );
    }
    const image = await docker(['image', 'inspect', IMAGE]);
    if (image.code !== 0) assert.fail(`image ${IMAGE} is missing: run test/images/build.sh`);
  });

  after(async () => {
    await docker(['rm', '-f', name]);
  });

  it(`runs ${IMAGE} and returns its output`, async () => {
    const run = await docker([
      'run',
      '--name',
      name,
      '--label',
      'orca.test=1',
      IMAGE,
      'echo',
      'hello',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hello\n');

    const labels = await docker(['inspect', '-f', '{{index .Config.Labels "orca.test"}}', name]);
    assert.equal(labels.stdout.trim(), '1');

    const rm = await docker(['rm', name]);
    assert.equal(rm.code, 0, rm.stderr);
    const gone = await docker(['ps', '-aq', '--filter', `name=^${name}$`]);
    assert.equal(gone.stdout.trim(), '');
  });
});
