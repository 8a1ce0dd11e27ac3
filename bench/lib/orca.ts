// A 3-member orca Raft key-value cluster on loopback (`orca raft-kv`), started the way an
// operator would: one process per member, each with its own data dir. Writes go to its HTTP
// client API; a write is answered once committed on a quorum and applied.

import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RaftStatus } from '../../src/raft/node.ts';
import type { BenchCluster, WriteProtocol } from './cluster.ts';
import { type Endpoint, getJson, httpRequest, keepAliveAgent } from './http.ts';
import {
  Fatal,
  freePortBase,
  kill9,
  logTail,
  makeTempDir,
  removeTempDir,
  type Spawned,
  spawnMember,
  waitFor,
} from './proc.ts';

const HOST = '127.0.0.1';
const SIZE = 3;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(REPO, 'bin', 'orca');

export const orcaWrite: WriteProtocol = {
  path: '/v1/put',
  body: (key, value) => JSON.stringify({ key, value }),
};

export interface OrcaOptions {
  tickMs?: number;
  electionTicks?: number;
  keepData?: boolean;
}

export class OrcaCluster implements BenchCluster {
  readonly system = 'orca' as const;
  readonly write = orcaWrite;
  endpoints: Endpoint[] = [];
  private readonly opts: OrcaOptions;
  private readonly agent = keepAliveAgent();
  dir = '';
  private raftPorts: number[] = [];
  private members: (Spawned | undefined)[] = [];
  private ready: (Promise<void> | undefined)[] = [];

  constructor(opts: OrcaOptions = {}) {
    this.opts = opts;
  }

  static available(): boolean {
    return existsSync(BIN);
  }

  async start(): Promise<void> {
    if (!OrcaCluster.available()) throw new Error(`${BIN} does not exist (yet)`);
    this.dir = makeTempDir('orca-bench-orca-', this.opts.keepData ?? false);
    // Raft ports base+1..3, client ports base+101..103 (27001-3 and 27101-3 when free).
    const base = await freePortBase(HOST, [27000, 28000, 29000, 37000], [1, 2, 3, 101, 102, 103]);
    this.raftPorts = [1, 2, 3].map((i) => base + i);
    this.endpoints = [101, 102, 103].map((i) => ({ host: HOST, port: base + i }));
    for (let i = 0; i < SIZE; i++) this.spawn(i);
    await Promise.all(this.ready);
    await this.waitHealthy(30_000);
  }

  private name(i: number): string {
    return `n${i + 1}`;
  }

  private logFile(i: number): string {
    return join(this.dir, `${this.name(i)}.log`);
  }

  private spawn(i: number): void {
    const dataDir = join(this.dir, this.name(i));
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const initialCluster = this.raftPorts.map((p, j) => `${this.name(j)}=${HOST}:${p}`).join(',');
    const args = [
      BIN,
      'raft-kv',
      '--id',
      this.name(i),
      '--data-dir',
      dataDir,
      '--listen',
      `${HOST}:${this.raftPorts[i]}`,
      '--client-listen',
      `${HOST}:${this.endpoints[i]!.port}`,
      '--initial-cluster',
      initialCluster,
      '--cluster-id',
      `orca-bench-${process.pid}`,
    ];
    if (this.opts.tickMs !== undefined) args.push('--tick-ms', String(this.opts.tickMs));
    if (this.opts.electionTicks !== undefined) {
      args.push('--election-ticks', String(this.opts.electionTicks));
    }
    const log = this.logFile(i);
    // The same Node that runs the benchmark, whatever `node` is first on PATH.
    const member = spawnMember(process.execPath, args, {
      logFile: log,
      cwd: REPO,
      pipeStdout: true,
    });
    this.members[i] = member;
    this.ready[i] = new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name(i)} printed no ready line in 30 s:\n${logTail(log)}`)),
        30_000,
      );
      void member.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name(i)} exited before it was ready:\n${logTail(log)}`));
      });
      createInterface({ input: member.child.stdout! }).on('line', (line) => {
        appendFileSync(log, `[stdout] ${line}\n`);
        if (line.startsWith('ready ')) {
          clearTimeout(timer);
          resolveReady();
        }
      });
    });
    // A member killed on purpose rejects its ready promise; nobody waits on it then.
    this.ready[i]!.catch(() => {});
  }

  private status(i: number): Promise<RaftStatus> {
    return getJson<RaftStatus>(this.endpoints[i]!, '/v1/status', this.agent);
  }

  async leader(): Promise<number> {
    return waitFor('an orca leader', 15_000, async () => {
      for (let i = 0; i < SIZE; i++) {
        if (!this.members[i]) continue;
        try {
          if ((await this.status(i)).role === 'leader') return i + 1;
        } catch {}
      }
      return undefined;
    }).then((n) => n - 1);
  }

  async kill(i: number): Promise<void> {
    const m = this.members[i];
    this.members[i] = undefined;
    if (m) await kill9(m);
  }

  async restart(i: number): Promise<void> {
    if (this.members[i]) throw new Error(`${this.name(i)} is still running`);
    this.spawn(i);
    await this.ready[i];
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(`orca: all ${SIZE} members agree on a leader`, timeoutMs, async () => {
      const leaders = new Set<string>();
      for (let i = 0; i < SIZE; i++) {
        const m = this.members[i];
        if (!m || m.gone()) {
          const why = m?.gone() ?? 'not started';
          throw new Fatal(`${this.name(i)} ${why}:\n${logTail(this.logFile(i))}`);
        }
        const st = await this.status(i);
        if (!st.leader || st.voters.length !== SIZE) return false;
        leaders.add(st.leader);
      }
      return leaders.size === 1;
    });
    for (let i = 0; i < SIZE; i++) {
      await waitFor(`orca: a write through ${this.name(i)}`, timeoutMs, async () => {
        const res = await httpRequest(this.endpoints[i]!, orcaWrite.path, {
          agent: this.agent,
          body: orcaWrite.body('bench/health', String(i)),
          timeoutMs: 5000,
        });
        return res.status === 200;
      });
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => (m ? kill9(m) : undefined)));
    this.members = [];
    this.agent.destroy();
    if (this.dir) removeTempDir(this.dir);
  }

  logTails(): string {
    return [0, 1, 2].map((i) => `--- ${this.name(i)}\n${logTail(this.logFile(i))}`).join('\n');
  }
}
