// A 3-member etcd cluster on loopback, with etcd's defaults for durability (the WAL is fsynced
// before a write is acknowledged) and for timing (100 ms heartbeat, 1000 ms election timeout).
// Writes go through etcd's v3 JSON gateway, the HTTP/JSON door etcd itself ships.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
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

interface EtcdStatus {
  header: { member_id: string };
  leader?: string;
  raftIndex?: string;
  raftAppliedIndex?: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export const etcdWrite: WriteProtocol = {
  path: '/v3/kv/put',
  body: (key, value) => `{"key":"${b64(key)}","value":"${b64(value)}"}`,
};

export interface EtcdOptions {
  bin?: string;
  keepData?: boolean;
}

export class EtcdCluster implements BenchCluster {
  readonly system = 'etcd' as const;
  readonly write = etcdWrite;
  endpoints: Endpoint[] = [];
  private readonly bin: string;
  private readonly keepData: boolean;
  private readonly agent = keepAliveAgent();
  dir = '';
  private peerPorts: number[] = [];
  private members: (Spawned | undefined)[] = [];

  constructor(opts: EtcdOptions = {}) {
    this.bin = opts.bin ?? 'etcd';
    this.keepData = opts.keepData ?? false;
  }

  async start(): Promise<void> {
    this.dir = makeTempDir('orca-bench-etcd-', this.keepData);
    // Client ports base+1..3, peer ports base+11..13 (23791-3 and 23801-3 when free).
    const base = await freePortBase(
      HOST,
      [23790, 24790, 25790, 26790, 33790],
      [1, 2, 3, 11, 12, 13],
    );
    this.endpoints = [1, 2, 3].map((i) => ({ host: HOST, port: base + i }));
    this.peerPorts = [11, 12, 13].map((i) => base + i);
    for (let i = 0; i < SIZE; i++) this.spawn(i);
    await this.waitHealthy(30_000);
  }

  private name(i: number): string {
    return `e${i + 1}`;
  }

  private logFile(i: number): string {
    return join(this.dir, `${this.name(i)}.log`);
  }

  private spawn(i: number): void {
    const dataDir = join(this.dir, this.name(i));
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const client = `http://${HOST}:${this.endpoints[i]!.port}`;
    const peer = `http://${HOST}:${this.peerPorts[i]}`;
    const initialCluster = this.peerPorts
      .map((p, j) => `${this.name(j)}=http://${HOST}:${p}`)
      .join(',');
    // On a restart the data dir already holds a WAL, and etcd then ignores the initial-cluster
    // flags: the same command line serves both cases.
    const args = [
      '--name',
      this.name(i),
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      `orca-bench-${process.pid}`,
      '--initial-cluster-state',
      'new',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
      '--log-level',
      'warn',
    ];
    this.members[i] = spawnMember(this.bin, args, { logFile: this.logFile(i) });
  }

  private status(i: number): Promise<EtcdStatus> {
    return getJson<EtcdStatus>(this.endpoints[i]!, '/v3/maintenance/status', this.agent, {});
  }

  async leader(): Promise<number> {
    return waitFor('an etcd leader', 15_000, async () => {
      for (let i = 0; i < SIZE; i++) {
        if (!this.members[i]) continue;
        try {
          const st = await this.status(i);
          if (st.leader && st.leader !== '0' && st.leader === st.header.member_id) return i + 1;
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
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(`etcd: all ${SIZE} members agree on a leader`, timeoutMs, async () => {
      const leaders = new Set<string>();
      for (let i = 0; i < SIZE; i++) {
        const m = this.members[i];
        if (!m || m.gone()) {
          const why = m?.gone() ?? 'not started';
          throw new Fatal(`${this.name(i)} ${why}:\n${logTail(this.logFile(i))}`);
        }
        const st = await this.status(i);
        if (!st.leader || st.leader === '0') return false;
        leaders.add(st.leader);
      }
      return leaders.size === 1;
    });
    // A put through a member is answered once that member has applied it, so one through each
    // also shows a restarted member has caught up.
    for (let i = 0; i < SIZE; i++) {
      await waitFor(`etcd: a write through ${this.name(i)}`, timeoutMs, async () => {
        const res = await httpRequest(this.endpoints[i]!, etcdWrite.path, {
          agent: this.agent,
          body: etcdWrite.body('bench/health', String(i)),
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
