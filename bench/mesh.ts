// `npm run bench:mesh`: the routing mesh's data path against HAProxy 2.6 and against no proxy at
// all, in one run, with the same client and the same backends. Backends are nginx in containers
// (bench/lib/mesh-backends.ts), reached at their bridge addresses. Rows:
//   direct   wrk straight to one backend: the ceiling of this machine
//   orca     createNodeMesh on 127.0.0.1, round robin over the backends, --threads threads
//   haproxy  haproxy in `mode tcp`, `balance roundrobin`, `nbthread` = --threads
// each in two modes: keep-alive, and a new connection per request (`Connection: close`).
// Every row gets a warm-up run of wrk, then the measured one; with --rounds R the rows take turns
// R times and each figure is the median. CPU time of the proxy over the measured run, divided by
// its requests, says what each request costs the proxy itself.
// Progress goes to stderr; the last line of stdout is one JSON object.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { parseArgs, promisify } from 'node:util';
import type { MeshDataPath } from '../src/netmesh/data-path.ts';
import { createKernelMesh } from '../src/netmesh/kernel-mesh.ts';
import { createNodeMesh } from '../src/netmesh/node-mesh.ts';
import {
  type Backend,
  BODY,
  removeLeftovers,
  startBackends,
  stopBackends,
} from './lib/mesh-backends.ts';
import { startHaproxy } from './lib/mesh-haproxy.ts';
import { runWrk, type WrkResult } from './lib/mesh-wrk.ts';
import { kill9, makeTempDir } from './lib/proc.ts';
import { median, ratio, round } from './lib/stats.ts';

const USAGE = `usage: node bench/mesh.ts [options]
  --threads T       data-path threads of orca, and nbthread of haproxy (default 1)
  --backends N      nginx backends (default 2)
  --connections C   wrk connections (default 32)
  --wrk-threads W   wrk threads (default 1)
  --duration S      seconds measured per row and mode (default 10)
  --warmup S        seconds of wrk before each measured run (default 2)
  --rounds R        rows take turns R times; figures are medians (default 1)
  --only LIST       rows to run, comma-separated (default all: ${'direct,orca,nftables,haproxy'})`;

const execFileP = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    backends: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    'wrk-threads': { type: 'string', default: '1' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(0);
}
function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name}: expected a positive integer, got ${text}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}
const threads = positive('threads', flags.threads);
const backendCount = positive('backends', flags.backends);
const connections = positive('connections', flags.connections);
const wrkThreads = positive('wrk-threads', flags['wrk-threads']);
const durationS = positive('duration', flags.duration);
const warmupS = Number(flags.warmup);
const rounds = positive('rounds', flags.rounds);

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

/** A running system under test: where wrk goes, and the CPU time it has used so far. */
interface Target {
  host: string;
  port: number;
  /** Milliseconds of CPU (user + system) of the proxy so far; null when not measurable. */
  cpuMs(): number | null;
  stop(): Promise<void>;
}

interface RowContext {
  backends: readonly Backend[];
  threads: number;
  dir: string;
}

interface RowSpec {
  name: string;
  start(ctx: RowContext): Promise<Target>;
}

/** CPU of this process: the in-process data path is all it does while wrk runs. */
function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const CLOCK_TICKS_PER_S = 100;
function pidCpuMs(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return null;
  }
}

/** The default bridge's gateway: an address of this host on the backends' network. */
async function bridgeGateway(): Promise<string> {
  const { stdout } = await execFileP('docker', [
    'network',
    'inspect',
    'bridge',
    '--format',
    '{{(index .IPAM.Config 0).Gateway}}',
  ]);
  return stdout.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A row for any MeshDataPath: it listens on a free port at `host` (loopback unless the data
 * path needs another address), round robin over the backends. `cpu`: whether this process's
 * CPU is the data path's (not for the kernel's).
 */
function meshRow(
  name: string,
  create: (threads: number, host: string) => MeshDataPath,
  host: () => Promise<string> = async () => '127.0.0.1',
  cpu = true,
): RowSpec {
  return {
    name,
    async start({ backends, threads }) {
      const port = await freePort();
      const bindAddr = await host();
      const mesh = create(threads, bindAddr);
      const failures = await mesh.apply([
        { protocol: 'tcp', port, lb: 'round-robin', proxyProtocol: false, backends },
      ]);
      if (failures.length > 0) {
        await mesh.close();
        throw new Error(`${name}: could not listen: ${failures.map((f) => f.message).join('; ')}`);
      }
      return {
        host: bindAddr,
        port,
        cpuMs: cpu ? ownCpuMs : () => null,
        stop: () => mesh.close(),
      };
    },
  };
}

const ROWS: readonly RowSpec[] = [
  {
    name: 'direct',
    async start({ backends }) {
      const b = backends[0]!;
      return { host: b.host, port: b.port, cpuMs: () => null, stop: async () => {} };
    },
  },
  meshRow('orca', (t, bindAddr) => createNodeMesh({ bindAddr, threads: t })),
  // The kernel data path answers on the engine bridge's own address, a local non-loopback
  // address: DNAT from 127.0.0.1 would need route_localnet turned on for the whole host.
  meshRow(
    'nftables',
    (_t, bindAddr) => createKernelMesh({ bindAddr, table: 'orca_mesh_bench' }),
    bridgeGateway,
    false,
  ),
  {
    name: 'haproxy',
    async start({ backends, threads, dir }) {
      const port = await freePort();
      const member = await startHaproxy(dir, port, threads, backends);
      return {
        host: '127.0.0.1',
        port,
        cpuMs: () => (member.child.pid === undefined ? null : pidCpuMs(member.child.pid)),
        stop: () => kill9(member),
      };
    },
  },
];

const only = new Set((flags.only ?? ROWS.map((r) => r.name).join(',')).split(','));
const rows = ROWS.filter((r) => only.has(r.name));
const MODES = ['keepalive', 'close'] as const;
type Mode = (typeof MODES)[number];

interface Measured extends WrkResult {
  cpuUsPerReq: number | null;
}

async function measure(row: RowSpec, mode: Mode, ctx: RowContext): Promise<Measured> {
  const target = await row.start(ctx);
  try {
    const url = `http://${target.host}:${target.port}/`;
    const wrk = { url, threads: wrkThreads, connections, close: mode === 'close' };
    if (warmupS > 0) await runWrk({ ...wrk, durationS: warmupS });
    const cpu0 = target.cpuMs();
    const res = await runWrk({ ...wrk, durationS });
    const cpu1 = target.cpuMs();
    const cpuUsPerReq =
      cpu0 === null || cpu1 === null || res.requests === 0
        ? null
        : ((cpu1 - cpu0) * 1000) / res.requests;
    return { ...res, cpuUsPerReq };
  } finally {
    await target.stop();
  }
}

async function checkBody(backends: readonly Backend[]): Promise<void> {
  const b = backends[0]!;
  const res = await fetch(`http://${b.host}:${b.port}/`);
  const text = await res.text();
  if (res.status !== 200 || text !== BODY) {
    throw new Error(`backend ${b.id} answered ${res.status} ${JSON.stringify(text)}`);
  }
}

async function main(): Promise<void> {
  const dir = makeTempDir('orca-bench-mesh-', false);
  log(
    `bench:mesh: ${backendCount} nginx backends, threads ${threads}, wrk -t${wrkThreads} -c${connections} -d${durationS}s, ${rounds} round(s)`,
  );
  await removeLeftovers();
  const samples = new Map<string, Measured[]>();
  try {
    const backends = await startBackends(backendCount, dir);
    await checkBody(backends);
    log(`backends: ${backends.map((b) => `${b.host}:${b.port}`).join(', ')}`);
    const ctx: RowContext = { backends, threads, dir };
    for (let r = 0; r < rounds; r++) {
      // Each round starts with a different row, so that no row always runs on a warmer machine.
      const order = rows.map((_, i) => rows[(i + r) % rows.length]!);
      for (const mode of MODES) {
        for (const row of order) {
          const m = await measure(row, mode, ctx);
          const key = `${row.name}/${mode}`;
          samples.set(key, [...(samples.get(key) ?? []), m]);
          log(
            `  round ${r + 1} ${row.name.padEnd(8)} ${mode.padEnd(9)} ${m.requestsPerS.toFixed(0).padStart(7)} req/s  p50 ${m.p50Ms} ms  p99 ${m.p99Ms} ms  errors ${m.errors}` +
              (m.cpuUsPerReq === null ? '' : `  cpu ${m.cpuUsPerReq.toFixed(1)} us/req`),
          );
        }
      }
    }
  } finally {
    await stopBackends();
  }

  const med = (list: Measured[], f: (m: Measured) => number | null): number | null => {
    const vals = list.map(f).filter((v): v is number => v !== null);
    return vals.length === 0 ? null : round(median(vals), 3);
  };
  const table = [...samples].map(([key, list]) => {
    const [row, mode] = key.split('/') as [string, Mode];
    return {
      row,
      mode,
      requests_per_s: med(list, (m) => m.requestsPerS),
      p50_ms: med(list, (m) => m.p50Ms),
      p99_ms: med(list, (m) => m.p99Ms),
      errors: list.reduce((s, m) => s + m.errors, 0),
      cpu_us_per_req: med(list, (m) => m.cpuUsPerReq),
    };
  });
  const get = (row: string, mode: Mode) => table.find((t) => t.row === row && t.mode === mode);
  const cmp = (mode: Mode) => ({
    haproxy: ratio(get('orca', mode)?.requests_per_s, get('haproxy', mode)?.requests_per_s),
    p99: ratio(get('orca', mode)?.p99_ms, get('haproxy', mode)?.p99_ms),
    direct: ratio(get('orca', mode)?.requests_per_s, get('direct', mode)?.requests_per_s),
  });
  const ka = cmp('keepalive');
  const cl = cmp('close');
  const kernel = (mode: Mode) => ({
    haproxy: ratio(get('nftables', mode)?.requests_per_s, get('haproxy', mode)?.requests_per_s),
    p99: ratio(get('nftables', mode)?.p99_ms, get('haproxy', mode)?.p99_ms),
    direct: ratio(get('nftables', mode)?.requests_per_s, get('direct', mode)?.requests_per_s),
  });
  const result = {
    haproxy_ratio: ka.haproxy,
    p99_haproxy_ratio: ka.p99,
    direct_ratio: ka.direct,
    close_haproxy_ratio: cl.haproxy,
    close_p99_haproxy_ratio: cl.p99,
    close_direct_ratio: cl.direct,
    nftables_haproxy_ratio: kernel('keepalive').haproxy,
    nftables_p99_haproxy_ratio: kernel('keepalive').p99,
    nftables_direct_ratio: kernel('keepalive').direct,
    nftables_close_haproxy_ratio: kernel('close').haproxy,
    cpu_haproxy_ratio: ratio(
      get('orca', 'keepalive')?.cpu_us_per_req,
      get('haproxy', 'keepalive')?.cpu_us_per_req,
    ),
    threads,
    backends: backendCount,
    connections,
    duration_s: durationS,
    rounds,
    rows: table,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  log(`bench:mesh failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
