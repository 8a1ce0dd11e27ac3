// A 3-manager, 2-worker Docker Swarm on this one machine: five extra engines side by side
// (docker-engine.ts), each a swarm node at a loopback address of its own (127.0.0.21-25). The
// reference cluster for `npm run bench:failover`. Every way the process ends (destroy(), an error,
// Ctrl-C) kills its engines, shims and containers, undoes their mounts and removes their bridges:
// destroy() is synchronous and also runs from an 'exit' hook.

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ExtraEngine } from './docker-engine.ts';
import { IMAGE } from './failover-systems.ts';
import { Fatal, logTail, portFree, waitFor } from './proc.ts';

const run = promisify(execFile);

export const MANAGERS = [0, 1, 2] as const;
export const WORKERS = [3, 4] as const;
const ENGINES = 5;
/**
 * Not Swarm's 2377: a swarm of the main engine listens on 0.0.0.0:2377 by default, and Linux
 * refuses a wildcard listener next to a listener on 127.0.0.2X of the same port (either way
 * round), so one of the two would fail to start.
 */
const SWARM_PORT = 2477;
/** Swarm's gossip port, not configurable; a main-engine swarm binds it on 127.0.0.1 only. */
const GOSSIP_PORT = 7946;

/**
 * Names and addresses for one cluster. Slot s uses bridges ofswS0-4 (default networks) and
 * ofgwS0-4 (docker_gwbridge), subnets 10.233.(10s+0..9).0/24 and loopback 127.0.0.(20+10s+1..5),
 * so that two runs at once (or a leftover of a crashed run) never share one.
 */
function layout(slot: number, i: number, root: string) {
  return {
    index: i,
    dir: join(root, `e${i}`),
    bridge: `ofsw${slot}${i}`,
    bridgeCidr: `10.233.${10 * slot + i}.1/24`,
    gwBridge: `ofgw${slot}${i}`,
    gwSubnet: `10.233.${10 * slot + 5 + i}.0/24`,
    addr: `127.0.0.${20 + 10 * slot + 1 + i}`,
  };
}

async function freeSlot(log: (msg: string) => void): Promise<number> {
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  const addrs = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' });
  const why: string[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const l = Array.from({ length: ENGINES }, (_, i) => layout(slot, i, ''));
    const taken = l.find(
      (e) =>
        links.includes(`: ${e.bridge}:`) ||
        links.includes(`: ${e.gwBridge}:`) ||
        addrs.includes(` ${e.bridgeCidr.replace(/\.1\/24$/, '.')}`) ||
        addrs.includes(` ${e.gwSubnet.replace(/\.0\/24$/, '.')}`),
    );
    if (taken) {
      // Another run's, or a leftover of a run that was killed before its cleanup could run.
      why.push(`slot ${slot}: bridge ${taken.bridge} or its subnet is in use`);
      log(`swarm: ${why.at(-1)}; trying the next slot`);
      continue;
    }
    let ports = true;
    for (const e of l) {
      if (!(await portFree(e.addr, SWARM_PORT)) || !(await portFree(e.addr, GOSSIP_PORT))) {
        why.push(`slot ${slot}: ${e.addr}:${SWARM_PORT} or :${GOSSIP_PORT} is in use`);
        ports = false;
        break;
      }
    }
    if (ports) return slot;
  }
  throw new Error(`no free bridge names, subnets and ports for a swarm: ${why.join('; ')}`);
}

interface NodeRow {
  id: string;
  status: string;
  managerStatus: string;
}

export class SwarmCluster {
  readonly dir: string;
  readonly engines: ExtraEngine[];
  readonly #addrs: string[];
  readonly #keep: boolean;
  #nodeIds: string[] = [];
  readonly #onExit = (): void => {
    try {
      this.destroy();
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
    }
  };

  private constructor(dir: string, slot: number, keep: boolean) {
    this.dir = dir;
    this.#keep = keep;
    const specs = Array.from({ length: ENGINES }, (_, i) => layout(slot, i, dir));
    this.engines = specs.map((s) => new ExtraEngine(s));
    this.#addrs = specs.map((s) => s.addr);
  }

  /** Starts the engines and forms the swarm; resolves when all five nodes are Ready. */
  static async start(opts: { keep: boolean; log: (msg: string) => void }): Promise<SwarmCluster> {
    const slot = await freeSlot(opts.log);
    const c = new SwarmCluster(
      mkdtempSync(join(tmpdir(), 'orca-bench-failover-swarm-')),
      slot,
      opts.keep,
    );
    process.on('exit', c.#onExit);
    try {
      await c.#form(opts.log);
    } catch (err) {
      const msg = `${(err as Error).message}\n${c.logTails()}`;
      c.destroy();
      throw new Error(msg);
    }
    return c;
  }

  async #form(log: (msg: string) => void): Promise<void> {
    const image = join(this.dir, 'image.tar');
    log(`swarm: starting ${ENGINES} engines in ${this.dir}`);
    await Promise.all([
      // From the main engine, read only: there is no registry to pull from.
      run('docker', ['save', '-o', image, IMAGE]),
      ...this.engines.map((e) => e.start()),
    ]);
    await Promise.all(this.engines.map((e) => e.docker(['load', '-q', '-i', image])));

    const first = this.engines[0]!;
    const a0 = `${this.#addrs[0]}:${SWARM_PORT}`;
    await first.docker(['swarm', 'init', '--listen-addr', a0, '--advertise-addr', a0]);
    // The routing mesh cannot work here (no IPVS in this kernel) and the benchmark publishes no
    // port; without the ingress network no node sets up an ingress sandbox, which would give
    // every node a VXLAN device on the same UDP port in the machine's one network namespace.
    await first.api.getNetwork('ingress').remove();
    const token = async (role: 'manager' | 'worker') =>
      (await first.docker(['swarm', 'join-token', '-q', role])).trim();
    const join1 = async (i: number, tok: string) => {
      const a = `${this.#addrs[i]}:${SWARM_PORT}`;
      const args = ['swarm', 'join', '--token', tok, '--listen-addr', a, '--advertise-addr', a, a0];
      await this.engines[i]!.docker(args);
    };
    // Managers one at a time: each join is a Raft membership change that must commit first.
    const managerToken = await token('manager');
    for (const m of MANAGERS.slice(1)) await join1(m, managerToken);
    const workerToken = await token('worker');
    await Promise.all(WORKERS.map((w) => join1(w, workerToken)));
    this.#nodeIds = await Promise.all(
      this.engines.map(async (e) =>
        (await e.docker(['info', '--format', '{{.Swarm.NodeID}}'])).trim(),
      ),
    );
    await this.waitHealthy(60_000);
  }

  /** `docker node ls` through manager `m`. */
  async #nodes(m: number): Promise<NodeRow[]> {
    const out = await this.engines[m]!.docker(
      ['node', 'ls', '--format', '{{.ID}}\t{{.Status}}\t{{.ManagerStatus}}'],
      { timeoutMs: 10_000 },
    );
    return out
      .trim()
      .split('\n')
      .map((line) => {
        const [id = '', status = '', managerStatus = ''] = line.split('\t');
        return { id, status, managerStatus };
      });
  }

  /** Asks each running manager in turn; the first answer counts. */
  async #nodesFromAnyManager(): Promise<NodeRow[]> {
    const errors: string[] = [];
    for (const m of MANAGERS) {
      if (!this.engines[m]!.running) continue;
      try {
        return await this.#nodes(m);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new Error(`no manager answered: ${errors.join('; ') || 'none running'}`);
  }

  /** The engine whose node is the Raft leader now. */
  async leader(): Promise<number> {
    const rows = await this.#nodesFromAnyManager();
    const id = rows.find((r) => r.managerStatus === 'Leader')?.id;
    const i = id === undefined ? -1 : this.#nodeIds.indexOf(id);
    if (i < 0) throw new Error(`no leader in docker node ls: ${JSON.stringify(rows)}`);
    return i;
  }

  /** A manager whose engine runs (some manager always does between trials). */
  anyManager(): number {
    const m = MANAGERS.find((i) => this.engines[i]!.running);
    if (m === undefined) throw new Error('no manager engine is running');
    return m;
  }

  /** The docker CLI against engine `i`. */
  docker(i: number, args: string[], opts?: { timeoutMs?: number; signal?: AbortSignal }) {
    return this.engines[i]!.docker(args, opts);
  }

  /** kill -9 of engine `i` as a whole host; returns performance.now() from just before it. */
  kill9(i: number): number {
    return this.engines[i]!.kill9();
  }

  /** Starts engine `i` again on its data root and waits until its node is Ready again. */
  async restart(i: number, timeoutMs = 60_000): Promise<void> {
    await this.engines[i]!.start();
    await waitFor(
      `node of engine ${i} Ready again`,
      timeoutMs,
      async () => {
        const row = (await this.#nodesFromAnyManager()).find((r) => r.id === this.#nodeIds[i]);
        return row?.status === 'Ready';
      },
      250,
    );
  }

  /** All five nodes Ready, one leader, the two other managers Reachable. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(
      'swarm healthy (5 nodes Ready, a leader, 2 managers Reachable)',
      timeoutMs,
      async () => {
        const down = this.engines.findIndex((e) => !e.running);
        if (down >= 0) throw new Fatal(`engine ${down} is not running`);
        const rows = await this.#nodesFromAnyManager();
        const byId = new Map(rows.map((r) => [r.id, r]));
        const nodes = this.#nodeIds.map((id) => byId.get(id));
        if (nodes.some((n) => n?.status !== 'Ready')) return false;
        const ms = MANAGERS.map((m) => nodes[m]!.managerStatus).sort();
        return ms.join(',') === 'Leader,Reachable,Reachable';
      },
      250,
    );
  }

  /** The last lines of every engine's log, for an error report. */
  logTails(): string {
    return this.engines
      .map((e) => `--- engine ${e.spec.index} (${e.log}):\n${logTail(e.log, 8)}`)
      .join('\n');
  }

  /** Everything gone: processes, mounts, bridges, and (unless kept) the folder. Synchronous. */
  destroy(): void {
    process.off('exit', this.#onExit);
    const errors: string[] = [];
    for (const e of this.engines) {
      try {
        e.destroy();
      } catch (err) {
        errors.push(`engine ${e.spec.index}: ${(err as Error).message}`);
      }
    }
    // A folder with something still mounted in it is left alone rather than half deleted.
    if (errors.length > 0) throw new Error(`swarm teardown: ${errors.join('; ')}`);
    if (!this.#keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
