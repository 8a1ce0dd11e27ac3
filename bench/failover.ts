// `npm run bench:failover`: how fast a 3-manager, 2-worker cluster recovers from the loss of a
// host, orca next to Docker Swarm mode, each on five "hosts" of this one machine:
//   leader_failover  kill -9 of the leader's host -> the next acknowledged `service update`
//   worker_replace   kill -9 of a worker's host   -> all its replicas running on the other worker
// Median and max of N trials each. A host's kill takes its engine (or daemon), shims, containers
// and mounts at once; after each trial the host is started again and the cluster restored.
// Progress goes to stderr; the last line of stdout is one JSON object.

import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import { POLL_MS } from './lib/converge-watch.ts';
import { OrcaFailover } from './lib/failover-orca.ts';
import { SwarmFailover } from './lib/failover-swarm.ts';
import {
  type FailoverSystem,
  REPLICAS,
  type SystemName,
  type SystemOptions,
  UPDATE_PROBE,
} from './lib/failover-systems.ts';
import { killEverything } from './lib/proc.ts';
import { median, ratio, round } from './lib/stats.ts';

/** The systems this benchmark compares, in the order they run by default. */
const SYSTEMS: Record<SystemName, (o: SystemOptions) => FailoverSystem> = {
  orca: (o) => new OrcaFailover(o, new Docker()),
  swarm: (o) => new SwarmFailover(o),
};
const ALL = Object.keys(SYSTEMS) as SystemName[];

const USAGE = `usage: node bench/failover.ts [options]
  --trials N    trials of each kind per system (default 10)
  --only LIST   systems, comma-separated, of swarm,orca (default: ${ALL.join(',')})
  --keep        keep each cluster's folder (engine data roots and logs; the path is printed)`;

const { values: flags } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    only: { type: 'string', default: ALL.join(',') },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(0);
}
const trials = Number(flags.trials);
if (!Number.isInteger(trials) || trials < 1) {
  process.stderr.write(`--trials: expected a positive integer, got ${flags.trials}\n${USAGE}\n`);
  process.exit(2);
}
const only = flags.only.split(',').map((s) => s.trim());
const unknown = only.filter((s) => !(s in SYSTEMS));
if (unknown.length > 0 || only.length === 0) {
  process.stderr.write(`--only: unknown system(s) ${unknown.join(',')}\n${USAGE}\n`);
  process.exit(2);
}

const started = performance.now();
function log(msg: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${msg}\n`);
}

interface Figures {
  median: number | null;
  max: number | null;
  trials: number[];
  failed: string[];
}

interface SystemReport {
  leader_failover: Figures;
  worker_replace: Figures;
  loadavg_before: number | null;
  error?: string;
}

function figures(ms: number[], failed: string[]): Figures {
  return {
    median: ms.length ? round(median(ms), 0) : null,
    max: ms.length ? round(Math.max(...ms), 0) : null,
    trials: ms.map((v) => round(v, 0)!),
    failed,
  };
}

/** N trials of one kind; a failed trial is recorded and the next one runs. */
async function series(
  sys: FailoverSystem,
  kind: 'leader_failover' | 'worker_replace',
): Promise<Figures> {
  const ms: number[] = [];
  const failed: string[] = [];
  for (let t = 0; t < trials; t++) {
    try {
      const r =
        kind === 'leader_failover'
          ? await sys.leaderFailoverTrial(t)
          : await sys.workerLossTrial(t);
      ms.push(r.ms);
      log(`${sys.name}: ${kind} ${t + 1}/${trials}: ${r.note}`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failed.push(msg);
      log(`${sys.name}: ${kind} ${t + 1}/${trials} FAILED: ${msg}`);
    }
  }
  return figures(ms, failed);
}

async function runSystem(sys: FailoverSystem): Promise<SystemReport> {
  const report: SystemReport = {
    leader_failover: figures([], []),
    worker_replace: figures([], []),
    loadavg_before: round(loadavg()[0]!),
  };
  try {
    log(`${sys.name}: setting up (load average ${report.loadavg_before})`);
    await sys.setup();
    log(`${sys.name}: ready after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    report.leader_failover = await series(sys, 'leader_failover');
    report.worker_replace = await series(sys, 'worker_replace');
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
    log(`${sys.name}: FAILED: ${report.error}`);
  } finally {
    await sys.teardown();
    log(`${sys.name}: torn down`);
  }
  return report;
}

function engineVersion(): string | null {
  try {
    return execFileSync('dockerd', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const opts: SystemOptions = { keep: flags.keep, log };
  const systems = only.map((s) => SYSTEMS[s as SystemName](opts));
  log(`bench:failover: ${only.join(' then ')}; ${trials} trials of each kind`);

  const results: Partial<Record<SystemName, SystemReport>> = {};
  for (const sys of systems) results[sys.name] = await runSystem(sys);

  const med = (s: SystemName, k: 'leader_failover' | 'worker_replace') =>
    results[s]?.[k].median ?? null;
  const out = {
    bench: 'failover',
    leader_failover_ms: med('orca', 'leader_failover'),
    worker_replace_ms: med('orca', 'worker_replace'),
    swarm: results.swarm ?? null,
    orca: results.orca ?? null,
    ratios: {
      leader_failover: ratio(med('orca', 'leader_failover'), med('swarm', 'leader_failover')),
      worker_replace: ratio(med('orca', 'worker_replace'), med('swarm', 'worker_replace')),
    },
    config: {
      trials,
      cluster: '3 managers + 2 workers, one host each, on loopback',
      replicas: REPLICAS,
      placement: 'workers only, spread evenly before each trial',
      update_probe: UPDATE_PROBE,
      replica_poll_ms: POLL_MS,
    },
    machine: {
      cpus: availableParallelism(),
      loadavg_after: loadavg().map((l) => round(l, 2)),
      node: process.version,
      docker_engine: engineVersion(),
    },
    total_s: round((performance.now() - started) / 1000, 1),
  };
  log(`done in ${out.total_s} s`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  const failed = Object.values(results).some((r) => r.error !== undefined);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`bench:failover: ${text}\n`);
  killEverything();
  process.exit(1);
});
