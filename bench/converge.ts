// `npm run bench:converge`: how fast orca converges a replicated service, next to Docker Swarm
// mode and to the bare Engine API on the same engine, one after the other in one run, with the
// same image and command (`orca-test/busybox:1 sleep 3600`, with an init as PID 1 so that stops
// are immediate). For each size N it times, from just before the command is issued to the
// engine's own timestamp of the container event (start, die, destroy of the service's label)
// after which the state holds; each step starts once the host is quiet (bench/lib/host-quiet.ts):
//   create     N replicas            -> N running
//   repair     `docker rm -f` of one of them -> N running again, that one not among them
//              (orca and Swarm only, each with its default restart policy)
//   scale_up   N -> 2N                -> 2N running
//   scale_down 2N -> N                -> N running
//   update     --env-add, parallelism 5, no delay -> N running, all with the new env, none of
//              the old containers running
// The bare-engine row is the benchmark itself doing the work through dockerode: create and scale
// with every container in flight at once, the update 5 slots at a time (stop, remove, create,
// start), like a stop-first rolling update with parallelism 5.
// Progress goes to stderr; the last line of stdout is one JSON object.

import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import {
  EngineSystem,
  OrcaSystem,
  SwarmSystem,
  type System,
  untrack,
} from './lib/converge-systems.ts';
import { updatedTo, waitGone } from './lib/converge-watch.ts';
import { epochMs, RunningWatch } from './lib/engine-events.ts';
import { waitHostQuiet } from './lib/host-quiet.ts';
import { freePortBase, makeTempDir, removeTempDir } from './lib/proc.ts';
import { ratio, round } from './lib/stats.ts';

const USAGE = `usage: node bench/converge.ts [options]
  --sizes LIST     replica counts N, comma-separated (default 10,50)
  --only LIST      systems to run, comma-separated, of orca,swarm,engine (default all three)
  --rounds R       run every system R times, in turn (orca, swarm, engine, orca, ...), and
                   report each time as the median of its R measurements (default 1)
  --keep           keep orca's data dir and daemon log (the folder is printed)`;

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,50' },
    only: { type: 'string', default: 'orca,swarm,engine' },
    rounds: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(0);
}
const sizes = flags.sizes.split(',').map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write(`--sizes: expected positive integers, got ${flags.sizes}\n${USAGE}\n`);
  process.exit(2);
}
const only = new Set(flags.only.split(',').map((s) => s.trim()));
const rounds = Number(flags.rounds);
if (!Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write(`--rounds: expected a positive integer, got ${flags.rounds}\n${USAGE}\n`);
  process.exit(2);
}

const ROWS = ['create', 'repair', 'scale_up', 'scale_down', 'update'] as const;
type Row = (typeof ROWS)[number];
type Times = Record<string, Partial<Record<Row | 'rm', number>>>; // key: String(N)

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const docker = new Docker();
const timeoutFor = (containers: number): number => 60_000 + 3_000 * containers;
const ms = (t: number): string => `${(t / 1000).toFixed(2)} s`;
/** How long each timed step waited for the host to go quiet first. */
const settleMs: number[] = [];

/** Settles the host, issues the command, and times it to the first engine event that meets `done`. */
async function timed(
  watch: RunningWatch,
  timeoutMs: number,
  what: string,
  command: () => Promise<unknown>,
  done: (running: ReadonlySet<string>) => boolean | Promise<boolean>,
): Promise<number> {
  settleMs.push(await waitHostQuiet());
  const t0 = epochMs();
  // Waiting before the command starts: the engine row's own commands return only once the work
  // is done, and every event of theirs must still be looked at.
  const reached = watch.until(t0, timeoutMs, what, done);
  reached.catch(() => {});
  await command();
  return reached;
}

async function measure(sys: System, n: number): Promise<Partial<Record<Row | 'rm', number>>> {
  const svc = `bconv-${sys.name}-${n}-${process.pid}`;
  const label = sys.label(svc);
  const out: Partial<Record<Row | 'rm', number>> = {};
  const watch = await RunningWatch.open(docker, label);
  const count = (want: number) => (running: ReadonlySet<string>) => running.size === want;
  try {
    out.create = await timed(
      watch,
      timeoutFor(n),
      `${n} running`,
      () => sys.create(svc, n, 'BENCH_GEN=1'),
      count(n),
    );
    log(`  ${sys.name} N=${n} create: ${ms(out.create)}`);

    if (sys.name !== 'engine') {
      const [victim] = watch.running;
      out.repair = await timed(
        watch,
        timeoutFor(1),
        `${n} running again after docker rm -f`,
        () => docker.getContainer(victim!).remove({ force: true }),
        (running) => running.size === n && !running.has(victim!),
      );
      log(`  ${sys.name} N=${n} repair after docker rm -f: ${ms(out.repair)}`);
    }

    out.scale_up = await timed(
      watch,
      timeoutFor(n),
      `${2 * n} running`,
      () => sys.scale(svc, 2 * n),
      count(2 * n),
    );
    log(`  ${sys.name} N=${n} scale ${n}->${2 * n}: ${ms(out.scale_up)}`);

    out.scale_down = await timed(
      watch,
      timeoutFor(n),
      `${n} running`,
      () => sys.scale(svc, n),
      count(n),
    );
    log(`  ${sys.name} N=${n} scale ${2 * n}->${n}: ${ms(out.scale_down)}`);

    const old = new Set(watch.running);
    out.update = await timed(
      watch,
      timeoutFor(2 * n),
      `${n} running with BENCH_GEN=2`,
      () => sys.update(svc, 'BENCH_GEN=2'),
      updatedTo(docker, n, 'BENCH_GEN=2', old),
    );
    log(`  ${sys.name} N=${n} rolling update: ${ms(out.update)}`);
  } finally {
    watch.close();
    const t0 = performance.now();
    try {
      await sys.remove(svc);
    } catch (err) {
      log(`  ${sys.name}: removing ${svc}: ${(err as Error).message}`);
    }
    // Every container of the service, stopped ones included, gone before the next measurement.
    await waitGone(docker, label, 60_000);
    out.rm = performance.now() - t0;
    untrack(label);
  }
  return out;
}

async function runSystem(sys: System): Promise<Times> {
  const times: Times = {};
  log(`${sys.name}: setting up`);
  await sys.setup();
  try {
    for (const n of sizes) times[String(n)] = await measure(sys, n);
  } finally {
    log(`${sys.name}: tearing down`);
    await sys.teardown();
  }
  return times;
}

/** Each time as the median of the rounds' (upper median for an even count). */
function medianTimes(list: readonly Times[]): Times {
  const out: Times = {};
  for (const n of Object.keys(list[0] ?? {})) {
    out[n] = {};
    for (const key of [...ROWS, 'rm'] as const) {
      const values = list
        .map((t) => t[n]?.[key])
        .filter((v): v is number => v !== undefined)
        .sort((a, b) => a - b);
      if (values.length > 0) out[n][key] = values[Math.floor(values.length / 2)];
    }
  }
  return out;
}

const SYSTEMS = ['orca', 'swarm', 'engine'] as const;

async function makeSystem(name: (typeof SYSTEMS)[number]): Promise<System> {
  if (name === 'swarm') return new SwarmSystem();
  if (name === 'engine') return new EngineSystem(docker, 5);
  const port = await freePortBase('127.0.0.1', [24377, 25377, 26377, 27377], [0]);
  return new OrcaSystem(port, flags.keep);
}

async function main(): Promise<void> {
  const started = performance.now();
  // proc.ts's signal hooks (SIGINT/SIGTERM kill members and exit, which runs the cleanup hooks).
  removeTempDir(makeTempDir('orca-bench-converge-hooks-', false));
  await docker.ping();
  await docker.getImage('orca-test/busybox:1').inspect();

  // Rounds take turns so that a slow spell of the shared machine hits every system alike, and
  // the order turns by one each round so that none always follows the same one.
  const runs: Record<string, Times[]> = { orca: [], swarm: [], engine: [] };
  const order = SYSTEMS.filter((s) => only.has(s));
  for (let round = 1; round <= rounds; round++) {
    const turn = [
      ...order.slice((round - 1) % order.length),
      ...order.slice(0, (round - 1) % order.length),
    ];
    if (rounds > 1) log(`round ${round} of ${rounds}: ${turn.join(', ')}`);
    for (const name of turn) runs[name]?.push(await runSystem(await makeSystem(name)));
  }
  const results: Record<string, Times> = {};
  for (const [sys, list] of Object.entries(runs)) {
    if (list.length > 0) results[sys] = medianTimes(list);
  }

  const big = String(Math.max(...sizes));
  const at = (sys: string, n: string, row: Row): number | undefined => results[sys]?.[n]?.[row];
  const ratios: Record<string, { orca_swarm: number | null; orca_engine: number | null }> = {};
  let maxRatio: number | null = null;
  for (const n of sizes.map(String)) {
    for (const row of ROWS) {
      const r = ratio(at('orca', n, row), at('swarm', n, row));
      ratios[`${row}_${n}`] = {
        orca_swarm: r,
        orca_engine: ratio(at('orca', n, row), at('engine', n, row)),
      };
      if (r !== null && (maxRatio === null || r > maxRatio)) maxRatio = r;
    }
  }
  const rawMs: Record<string, Record<string, Record<string, number | null>>> = {};
  for (const [sys, t] of Object.entries(results)) {
    rawMs[sys] = {};
    for (const [n, rows] of Object.entries(t)) {
      rawMs[sys][n] = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, round(v, 0)]));
    }
  }
  const report = {
    bench: 'converge',
    sizes,
    image: 'orca-test/busybox:1 sleep 3600 (init)',
    create_ratio: ratio(at('orca', big, 'create'), at('swarm', big, 'create')),
    engine_ratio: ratio(at('orca', big, 'create'), at('engine', big, 'create')),
    max_ratio: maxRatio,
    ratio_size: Number(big),
    ratios,
    times_ms: rawMs,
    rounds,
    engine_parallelism: { create: 'N', scale: 'N', update: 5 },
    timing:
      'engine events: the start/die/destroy timestamp that met the step, less the command start',
    settle_s: {
      total: round(settleMs.reduce((a, b) => a + b, 0) / 1000, 1),
      max: round(Math.max(0, ...settleMs) / 1000, 2),
    },
    cpus: availableParallelism(),
    loadavg: loadavg().map((l) => round(l, 2)),
    total_s: round((performance.now() - started) / 1000, 1),
  };
  log(`total: ${report.total_s} s`);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(
      `bench:converge failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exit(1);
  },
);
