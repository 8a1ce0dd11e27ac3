// What the daemon end-to-end tests share: ports for a daemon, and the CLI run as a child process
// against that daemon's socket, as a user would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const orcaBin = fileURLToPath(new URL('../../../bin/orca', import.meta.url));

function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

/** A free loopback port: a daemon's cluster port (Raft and the dispatcher). */
export function freePort(): Promise<number> {
  return listenOn(0);
}

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `orca ARGS` as a child process, with ORCA_HOST unset unless `env` sets it; `stdin`, when
 * given, is piped in (as a script pipes an unlock key).
 */
export function runOrca(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  stdin?: string,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [orcaBin, ...args], {
      env: { ...process.env, ORCA_HOST: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Closed at once when there is nothing to give: the CLI reads end of input, as from /dev/null.
    proc.stdin.end(stdin ?? '');
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    proc.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The CLI bound to one daemon: `orca` reports any outcome, `ok` asserts success. */
export function cliFor(host: string) {
  const orca = (...args: string[]): Promise<Run> => runOrca(['-H', host, ...args]);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await orca(...args);
    assert.equal(r.code, 0, `orca ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  return { orca, ok };
}
