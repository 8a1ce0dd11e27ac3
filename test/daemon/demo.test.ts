// `orca demo`, the README's main job: a one-host swarm whose web service answers on every
// replica, and nothing left behind afterwards, whether it ends by itself or by Ctrl-C.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from '../support/wait.ts';
import { orcaBin } from './support/cli.ts';

const exec = promisify(execFile);

async function demoContainers(): Promise<string[]> {
  const { stdout } = await exec('docker', ['ps', '-aq', '--filter', 'label=orca.demo']);
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

function runDemo(args: string[]) {
  const proc = spawn(process.execPath, [orcaBin, 'demo', ...args], {
    env: { ...process.env, ORCA_HOST: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (c: Buffer) => {
    out.stdout += c.toString('utf8');
  });
  proc.stderr.on('data', (c: Buffer) => {
    out.stderr += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
  return { proc, out, exited };
}

describe('orca demo', () => {
  it('runs a web service whose replicas answer, then removes it (--once)', async () => {
    const { out, exited } = runDemo(['--once', '--replicas', '2']);
    const code = await exited;
    assert.equal(code, 0, out.stdout + out.stderr);
    const answers = [...out.stdout.matchAll(/-> hello from (\w+)/g)].map((m) => m[1]);
    assert.equal(answers.length, 2, out.stdout);
    assert.equal(new Set(answers).size, 2, 'each replica served its own page');
    assert.match(out.stdout, /verify: Service converged/);
    assert.deepEqual(await demoContainers(), [], 'no container left behind');
  });

  it('keeps the swarm until Ctrl-C, then removes it', async () => {
    const { proc, out, exited } = runDemo(['--replicas', '1']);
    await waitFor(
      () => {
        if (proc.exitCode !== null) throw new Error(`demo exited: ${out.stdout}${out.stderr}`);
        return out.stdout.includes('The swarm runs until Ctrl-C');
      },
      { timeoutMs: 60_000, what: 'the demo serving' },
    );
    assert.equal((await demoContainers()).length, 1);
    proc.kill('SIGINT');
    assert.equal(await exited, 0, out.stderr);
    assert.deepEqual(await demoContainers(), []);
  });

  it('refuses a bad replica count before starting anything', async () => {
    const { out, exited } = runDemo(['--replicas', '0', '--once']);
    assert.equal(await exited, 2);
    assert.match(out.stderr, /--replicas: "0" is not a whole number from 1 to 50/);
  });
});
