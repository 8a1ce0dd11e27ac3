// `npm run bench:raft`: orca's Raft key-value store against etcd 3.4, side by side on this
// machine, with the same client program for both. Progress goes to stderr; the last line of
// stdout is one JSON object with the figures and the orca/etcd ratios. Absolute numbers depend on
// the machine (and on whatever else runs on it); the ratios are the point.

import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchCluster } from './lib/cluster.ts';
import { EtcdCluster } from './lib/etcd.ts';
import { measureFailover, runLevel } from './lib/load.ts';
import { OrcaCluster } from './lib/orca.ts';
import { killEverything } from './lib/proc.ts';
import { median, ratio, round } from './lib/stats.ts';

const USAGE = `usage: node bench/raft.ts [options]
  --duration S          measured seconds per concurrency level (default 5)
  --warmup S            unmeasured seconds before each level (default 1)
  --levels LIST         concurrent clients, comma-separated (default 1,16,64)
  --failover-trials N   leader kill -9 trials per system (default 10; 0 skips failover)
  --rounds N            repeat the throughput levels N times, alternating which system goes
                        first, and report the median of each figure (default 1)
  --only orca|etcd      run one side only
  --value-bytes N       bytes per written value (default 256)
  --probe-ms MS         failover client: one write to every member this often (default 10)
  --etcd-bin PATH       etcd binary (default: etcd on PATH)
  --orca-tick-ms MS     passed to orca as --tick-ms (default: orca's own)
  --orca-election-ticks N  passed to orca as --election-ticks (default: orca's own)
  --keep                keep data dirs and member logs (their folder is printed)`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    levels: { type: 'string', default: '1,16,64' },
    'failover-trials': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    'value-bytes': { type: 'string', default: '256' },
    'probe-ms': { type: 'string', default: '10' },
    'etcd-bin': { type: 'string', default: 'etcd' },
    'orca-tick-ms': { type: 'string' },
    'orca-election-ticks': { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (flags.help) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(0);
}

function num(name: string, raw: string | undefined, min: number): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isFinite(n) || n < min) {
    process.stderr.write(`--${name}: expected a number >= ${min}, got ${raw}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

const durationS = num('duration', flags.duration, 0.1);
const warmupS = num('warmup', flags.warmup, 0);
const trials = Math.floor(num('failover-trials', flags['failover-trials'], 0));
const rounds = Math.floor(num('rounds', flags.rounds, 1));
const valueBytes = Math.floor(num('value-bytes', flags['value-bytes'], 1));
const probeMs = num('probe-ms', flags['probe-ms'], 1);
const levels = flags.levels.split(',').map((s) => Math.floor(num('levels', s.trim(), 1)));
const orcaTickMs =
  flags['orca-tick-ms'] === undefined ? undefined : num('orca-tick-ms', flags['orca-tick-ms'], 1);
const orcaElectionTicks =
  flags['orca-election-ticks'] === undefined
    ? undefined
    : num('orca-election-ticks', flags['orca-election-ticks'], 1);
if (flags.only !== undefined && flags.only !== 'orca' && flags.only !== 'etcd') {
  process.stderr.write(`--only: expected orca or etcd, got ${flags.only}\n`);
  process.exit(2);
}
const systems = flags.only ? [flags.only as 'orca' | 'etcd'] : (['orca', 'etcd'] as const);

const started = performance.now();
function log(msg: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${msg}\n`);
}

interface LevelReport {
  writes_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  p90_ms: number | null;
  mean_ms: number | null;
  max_ms: number | null;
  writes: number;
  errors: Record<string, number>;
}

interface FailoverReport {
  median: number | null;
  max: number | null;
  trials: number[];
  failed: string[];
}

/** One system's figures from one round: a fresh cluster, every level, maybe the failover. */
interface SystemRun {
  levels: Record<string, LevelReport>;
  failover?: FailoverReport;
  error?: string;
  /** 1-minute load average just before the cluster started: other work on the machine. */
  loadavg: number;
}

async function failoverTrials(cluster: BenchCluster): Promise<FailoverReport> {
  const done: number[] = [];
  const failed: string[] = [];
  for (let t = 0; t < trials; t++) {
    const leader = await cluster.leader();
    let killed = false;
    try {
      const r = await measureFailover({
        endpoints: cluster.endpoints,
        write: cluster.write,
        kill: async () => {
          killed = true;
          await cluster.kill(leader);
        },
        valueBytes,
        keyPrefix: `bench/failover/${t}`,
        probeIntervalMs: probeMs,
      });
      done.push(round(r.ms, 1)!);
      log(
        `${cluster.system}: failover ${t + 1}/${trials}: killed member ${leader + 1}, ` +
          `first write acknowledged by member ${r.member + 1} after ${r.ms.toFixed(1)} ms`,
      );
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failed.push(msg);
      log(`${cluster.system}: failover ${t + 1}/${trials} failed: ${msg}`);
    }
    if (killed) await cluster.restart(leader);
    const h = performance.now();
    await cluster.waitHealthy(60_000);
    log(
      `${cluster.system}: member ${leader + 1} restarted, cluster healthy after ` +
        `${((performance.now() - h) / 1000).toFixed(1)} s`,
    );
  }
  return {
    median: done.length ? round(median(done), 1) : null,
    max: done.length ? round(Math.max(...done), 1) : null,
    trials: done,
    failed,
  };
}

async function benchSystem(system: 'orca' | 'etcd', withFailover: boolean): Promise<SystemRun> {
  const report: SystemRun = { levels: {}, loadavg: round(loadavg()[0]!)! };
  const cluster: BenchCluster =
    system === 'orca'
      ? new OrcaCluster({
          tickMs: orcaTickMs,
          electionTicks: orcaElectionTicks,
          keepData: flags.keep,
        })
      : new EtcdCluster({ bin: flags['etcd-bin'], keepData: flags.keep });
  try {
    log(`${system}: starting 3 members (load average ${report.loadavg})`);
    const t = performance.now();
    await cluster.start();
    log(`${system}: healthy after ${((performance.now() - t) / 1000).toFixed(1)} s`);
    for (const clients of levels) {
      const leader = await cluster.leader();
      log(
        `${system}: ${clients} client(s) → member ${leader + 1} (leader), ` +
          `${warmupS} s warm-up + ${durationS} s`,
      );
      const r = await runLevel({
        endpoint: cluster.endpoints[leader]!,
        write: cluster.write,
        clients,
        warmupMs: warmupS * 1000,
        durationMs: durationS * 1000,
        valueBytes,
        keyPrefix: `bench/c${clients}`,
      });
      const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
      log(
        `${system}: ${clients} client(s): ${r.writesPerS.toFixed(0)} writes/s, ` +
          `p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms` +
          (errs ? `, ${errs} errors ${JSON.stringify(r.errors)}` : ''),
      );
      report.levels[`c${clients}`] = {
        writes_per_s: round(r.writesPerS, 1),
        p50_ms: round(r.latency.p50),
        p99_ms: round(r.latency.p99),
        p90_ms: round(r.latency.p90),
        mean_ms: round(r.latency.mean),
        max_ms: round(r.latency.max),
        writes: r.writes,
        errors: r.errors,
      };
    }
    if (withFailover && trials > 0) report.failover = await failoverTrials(cluster);
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
    log(`${system}: FAILED: ${report.error}\n${cluster.logTails()}`);
  } finally {
    await cluster.destroy();
    log(
      flags.keep
        ? `${system}: members killed; data dirs and logs kept in ${cluster.dir}`
        : `${system}: members killed, data removed`,
    );
  }
  return report;
}

function etcdVersion(): string | null {
  try {
    const out = execFileSync(flags['etcd-bin'], ['--version'], { encoding: 'utf8' });
    return /etcd Version: (\S+)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

function mergeCounts(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counts of all) for (const [k, n] of Object.entries(counts)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function medianOf(runs: LevelReport[], pick: (r: LevelReport) => number | null): number | null {
  const vals = runs.map(pick).filter((v): v is number => v !== null);
  return vals.length ? round(median(vals)) : null;
}

/**
 * One system's report: with one round its figures as measured; with several, the median of each
 * figure over the rounds, and every round's own figures under `rounds`.
 */
function aggregate(runs: SystemRun[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of levels) {
    const per = runs.map((r) => r.levels[`c${c}`]).filter((r): r is LevelReport => !!r);
    if (per.length === 0) continue;
    if (per.length === 1) {
      out[`c${c}`] = per[0];
      continue;
    }
    out[`c${c}`] = {
      writes_per_s: medianOf(per, (r) => r.writes_per_s),
      p50_ms: medianOf(per, (r) => r.p50_ms),
      p99_ms: medianOf(per, (r) => r.p99_ms),
      p90_ms: medianOf(per, (r) => r.p90_ms),
      mean_ms: medianOf(per, (r) => r.mean_ms),
      max_ms: medianOf(per, (r) => r.max_ms),
      writes: per.reduce((a, r) => a + r.writes, 0),
      errors: mergeCounts(per.map((r) => r.errors)),
      rounds: per.map((r) => ({
        writes_per_s: r.writes_per_s,
        p50_ms: r.p50_ms,
        p99_ms: r.p99_ms,
      })),
    };
  }
  const failover = runs.find((r) => r.failover)?.failover;
  if (failover) out.failover_ms = failover;
  out.loadavg_before = runs.map((r) => r.loadavg);
  const errors = runs.map((r) => r.error).filter((e) => e !== undefined);
  if (errors.length) out.error = errors.join('; ');
  return out;
}

interface Figures {
  writes_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
}

function levelOf(r: Record<string, unknown> | undefined, c: number): Figures | undefined {
  return r?.[`c${c}`] as Figures | undefined;
}

async function main(): Promise<void> {
  log(
    `bench:raft: ${systems.join(' then ')}; levels ${levels.join(',')}; ` +
      `${warmupS} s + ${durationS} s per level; ${rounds} round(s); ${trials} failover trials; ` +
      `${valueBytes}-byte values`,
  );
  const runs: Record<'orca' | 'etcd', SystemRun[]> = { orca: [], etcd: [] };
  for (let r = 0; r < rounds; r++) {
    // Alternating the order spreads a slow drift of the machine over both systems.
    const order = r % 2 === 0 ? systems : [...systems].reverse();
    if (rounds > 1) log(`round ${r + 1}/${rounds}`);
    for (const system of order) runs[system].push(await benchSystem(system, r === 0));
  }
  const results: Partial<Record<'orca' | 'etcd', Record<string, unknown>>> = {};
  for (const system of systems) results[system] = aggregate(runs[system]);
  const fo = (s: 'orca' | 'etcd') => results[s]?.failover_ms as FailoverReport | undefined;

  const ratios: Record<
    string,
    { throughput: number | null; p50: number | null; p99: number | null }
  > = {};
  for (const c of levels) {
    const o = levelOf(results.orca, c);
    const e = levelOf(results.etcd, c);
    ratios[`c${c}`] = {
      throughput: ratio(o?.writes_per_s, e?.writes_per_s),
      p50: ratio(o?.p50_ms, e?.p50_ms),
      p99: ratio(o?.p99_ms, e?.p99_ms),
    };
  }
  // The headline ratios are taken at 64 clients, or at the highest level run when 64 was not.
  const headline = levels.includes(64) ? 64 : Math.max(...levels);
  const out = {
    orca: results.orca ?? null,
    etcd: results.etcd ?? null,
    throughput_ratio: ratios[`c${headline}`]?.throughput ?? null,
    p99_ratio: ratios[`c${headline}`]?.p99 ?? null,
    ratio_clients: headline,
    failover_ms: fo('orca')?.median ?? null,
    etcd_failover_ms: fo('etcd')?.median ?? null,
    failover_ratio: ratio(fo('orca')?.median, fo('etcd')?.median),
    ratios,
    config: {
      duration_s: durationS,
      warmup_s: warmupS,
      levels,
      value_bytes: valueBytes,
      failover_trials: trials,
      rounds,
      probe_ms: probeMs,
    },
    machine: {
      cpus: availableParallelism(),
      cpu_model: cpus()[0]?.model ?? null,
      node: process.version,
      etcd: etcdVersion(),
    },
    total_s: round((performance.now() - started) / 1000, 1),
  };
  log(`done in ${out.total_s} s`);
  const failed = systems.some((s) => results[s]?.error !== undefined);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`bench:raft: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`);
  killEverything();
  process.exit(1);
});
