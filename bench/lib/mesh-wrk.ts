// wrk as the load generator of bench:mesh, and the parsing of its --latency report.

import { type ChildProcess, execFile } from 'node:child_process';

/** wrk runs its whole duration unless killed: none may outlive the benchmark (Ctrl-C). */
const running = new Set<ChildProcess>();
let hooked = false;

function run(args: string[], timeoutMs: number): Promise<string> {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      running.delete(child);
      if (err) reject(new Error(`wrk ${args.join(' ')}: ${err.message} ${stderr}`.trim()));
      else resolve(stdout);
    });
    running.add(child);
  });
}

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  durationS: number;
  /** A new TCP connection for every request (`Connection: close`). */
  close: boolean;
}

export interface WrkResult {
  requests: number;
  requestsPerS: number;
  p50Ms: number | null;
  p75Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  errors: number;
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.durationS}s`,
    '--latency',
    ...(o.close ? ['-H', 'Connection: close'] : []),
    o.url,
  ];
  return parseWrk(await run(args, (o.durationS + 60) * 1000));
}

/** "441.55us", "1.20ms", "2.00s", "1.5m" as milliseconds. */
export function parseDuration(text: string): number | null {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) return null;
  const v = Number(m[1]);
  switch (m[2]) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    default:
      return v * 60_000;
  }
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: string): number | null => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm').exec(out);
    return m === null ? null : parseDuration(m[1]!);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in /m.exec(out);
  if (rps === null || total === null) throw new Error(`unexpected wrk output:\n${out}`);
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock !== null) errors += sock.slice(1).reduce((s, v) => s + Number(v), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx !== null) errors += Number(non2xx[1]);
  return {
    requests: Number(total[1]),
    requestsPerS: Number(rps[1]),
    p50Ms: pct('50'),
    p75Ms: pct('75'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    errors,
  };
}
