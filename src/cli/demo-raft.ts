import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { OrcaError } from '../errors.ts';
import type { RaftStatus } from '../raft/node.ts';

/**
 * `orca demo raft`: starts a 3-member Raft key-value cluster on this machine as separate
 * processes, replicates writes, kills the leader with SIGKILL, shows a new leader taking over
 * and the old one catching up after restart.
 */

const orcaBin = fileURLToPath(new URL('../../bin/orca', import.meta.url));

interface Member {
  readonly id: string;
  readonly raft: string;
  readonly client: string;
  readonly dataDir: string;
  proc: ChildProcess | null;
}

async function call(
  member: Member,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://${member.client}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(3000),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new OrcaError('ORCA_DEMO', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function start(m: Member, initialCluster: string): Promise<void> {
  const proc = spawn(
    process.execPath,
    [
      orcaBin,
      'raft-kv',
      '--id',
      m.id,
      '--data-dir',
      m.dataDir,
      '--listen',
      m.raft,
      '--client-listen',
      m.client,
      '--initial-cluster',
      initialCluster,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  m.proc = proc;
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready ')) resolve();
    });
    proc.once('exit', (code) =>
      reject(new OrcaError('ORCA_DEMO', `member ${m.id} exited with code ${code}`)),
    );
  });
}

function kill(m: Member, signal: NodeJS.Signals): Promise<void> {
  const proc = m.proc;
  m.proc = null;
  if (proc === null || proc.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}

export function addRaftDemoCommand(demo: Command): void {
  demo
    .command('raft')
    .description(
      'start a local 3-member Raft cluster, replicate writes, kill the leader and watch it fail over',
    )
    .option(
      '--base-port <port>',
      'first of the ports to use (raft: base..base+2, clients: base+100..)',
      '17001',
    )
    .option('--writes <n>', 'how many keys to write', '200')
    .option('--keep', "keep the members' data dirs (printed at the end)", false)
    .addHelpText('after', '\nExample:\n  orca demo raft --writes 500')
    .action(async (o: { basePort: string; writes: string; keep: boolean }) => {
      const base = Number(o.basePort);
      const writes = Number(o.writes);
      if (!Number.isInteger(base) || base < 1024 || base > 65000) {
        throw new OrcaError(
          'ORCA_BAD_REQUEST',
          `--base-port: "${o.basePort}" is not a port between 1024 and 65000`,
        );
      }
      if (!Number.isInteger(writes) || writes < 1) {
        throw new OrcaError(
          'ORCA_BAD_REQUEST',
          `--writes: "${o.writes}" is not a whole number above 0`,
        );
      }
      const dir = mkdtempSync(join(tmpdir(), 'orca-demo-'));
      const members: Member[] = [1, 2, 3].map((i) => ({
        id: `n${i}`,
        raft: `127.0.0.1:${base + i - 1}`,
        client: `127.0.0.1:${base + 100 + i - 1}`,
        dataDir: join(dir, `n${i}`),
        proc: null,
      }));
      const initialCluster = members.map((m) => `${m.id}=${m.raft}`).join(',');
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const leaderOf = (ms: Member[]) =>
        until('a leader', 10_000, async () => {
          for (const m of ms) {
            const { json } = await call(m, '/v1/status');
            const st = json as unknown as RaftStatus;
            if (st.role === 'leader') return { member: m, status: st };
          }
          return null;
        });
      try {
        say(`starting 3 members in ${dir}`);
        await Promise.all(members.map((m) => start(m, initialCluster)));
        const { member: leader, status } = await leaderOf(members);
        say(`✓ ${leader.id} elected leader (term ${status.term})`);

        const follower = members.find((m) => m !== leader) as Member;
        const t0 = performance.now();
        for (let i = 0; i < writes; i++) {
          const r = await call(follower, '/v1/put', { key: `key-${i}`, value: `value-${i}` });
          if (r.status !== 200)
            throw new OrcaError('ORCA_DEMO', `write ${i} failed: ${JSON.stringify(r.json)}`);
        }
        const ms = performance.now() - t0;
        say(
          `✓ ${writes} writes through follower ${follower.id} in ${ms.toFixed(0)} ms (each one durable on a majority)`,
        );
        for (const m of members) {
          const r = await call(m, '/v1/get', { key: `key-${writes - 1}` });
          say(
            `  ${m.id} reads key-${writes - 1} = ${JSON.stringify(r.json.value)} (linearizable read)`,
          );
        }

        say(`killing leader ${leader.id} with SIGKILL`);
        const killedAt = performance.now();
        await kill(leader, 'SIGKILL');
        const survivors = members.filter((m) => m !== leader);
        await until('a write after failover', 15_000, async () => {
          for (const m of survivors) {
            const r = await call(m, '/v1/put', { key: 'after-failover', value: 'yes' });
            if (r.status === 200) return true;
          }
          return null;
        });
        const failover = performance.now() - killedAt;
        const next = await leaderOf(survivors);
        say(
          `✓ ${next.member.id} leads term ${next.status.term}; first write acknowledged ${failover.toFixed(0)} ms after the kill`,
        );

        say(`restarting ${leader.id} from its data dir`);
        await start(leader, initialCluster);
        const caughtUp = await until(`${leader.id} to catch up`, 15_000, async () => {
          const mine = (await call(leader, '/v1/status')).json as unknown as RaftStatus;
          const theirs = (await call(next.member, '/v1/status')).json as unknown as RaftStatus;
          return mine.applied >= theirs.commit && mine.leader !== null ? mine : null;
        });
        const check = await call(leader, '/v1/get', { key: 'after-failover' });
        say(
          `✓ ${leader.id} rejoined as ${caughtUp.role}, applied ${caughtUp.applied} entries, reads after-failover = ${JSON.stringify(check.json.value)}`,
        );
      } finally {
        await Promise.all(members.map((m) => kill(m, 'SIGTERM')));
        if (o.keep) say(`data dirs kept in ${dir}`);
        else rmSync(dir, { recursive: true, force: true });
      }
    });
}
