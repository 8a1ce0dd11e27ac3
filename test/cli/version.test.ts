import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runOrca } from '../daemon/support/cli.ts';

describe('orca --version', () => {
  it("prints the package's version without needing a daemon, as docker --version", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = await runOrca([flag], { ORCA_HOST: 'unix:///nonexistent/orca.sock' });
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `orca version ${version}\n`);
      assert.equal(r.stderr, '');
    }
  });
});
