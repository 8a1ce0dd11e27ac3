// The client side of the benchmark, identical for both systems: closed-loop writers for
// throughput and latency, and an open-loop writer to every member for failover.

import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { WriteProtocol } from './cluster.ts';
import { type Endpoint, httpRequest, keepAliveAgent } from './http.ts';
import { type Summary, summarize } from './stats.ts';

/** ASCII, so that the value is `bytes` long both as a string and on disk. */
export function makeValue(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4))
    .toString('base64')
    .slice(0, bytes);
}

export interface LevelOptions {
  endpoint: Endpoint;
  write: WriteProtocol;
  clients: number;
  warmupMs: number;
  durationMs: number;
  valueBytes: number;
  keyPrefix: string;
  /** Keys per client; writes cycle over them so the key space stays bounded. */
  keysPerClient?: number;
  requestTimeoutMs?: number;
}

export interface LevelResult {
  clients: number;
  durationMs: number;
  /** Writes acknowledged inside the measuring window. */
  writes: number;
  writesPerS: number;
  latency: Summary;
  /** Failed writes inside the measuring window, by status code or error message. */
  errors: Record<string, number>;
}

/**
 * `clients` loops, each: send one write, await the answer, repeat. Latency is recorded for
 * every write acknowledged inside the window [warm-up end, warm-up end + duration].
 */
export async function runLevel(opts: LevelOptions): Promise<LevelResult> {
  const agent = keepAliveAgent();
  const keys = opts.keysPerClient ?? 1000;
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  const t0 = performance.now();
  const from = t0 + opts.warmupMs;
  const to = from + opts.durationMs;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const inWindow = (t: number) => t >= from && t <= to;

  async function client(id: number): Promise<void> {
    const value = makeValue(opts.valueBytes);
    for (let seq = 0; performance.now() < to; seq++) {
      const body = opts.write.body(`${opts.keyPrefix}/${id}/${seq % keys}`, value);
      const start = performance.now();
      let failure: string | undefined;
      try {
        const res = await httpRequest(opts.endpoint, opts.write.path, { agent, body, timeoutMs });
        if (res.status !== 200) failure = `http ${res.status}`;
      } catch (err) {
        failure = err instanceof Error ? err.message : String(err);
      }
      const end = performance.now();
      if (failure === undefined) {
        if (inWindow(end)) latencies.push(end - start);
      } else {
        if (inWindow(end)) errors[failure] = (errors[failure] ?? 0) + 1;
        // A member that refuses at once must not turn the client into a busy loop.
        await delay(10);
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: opts.clients }, (_, i) => client(i)));
  } finally {
    agent.destroy();
  }
  return {
    clients: opts.clients,
    durationMs: opts.durationMs,
    writes: latencies.length,
    writesPerS: latencies.length / (opts.durationMs / 1000),
    latency: summarize(latencies),
    errors,
  };
}

export interface FailoverOptions {
  endpoints: readonly Endpoint[];
  write: WriteProtocol;
  /** Kills the leader; called once the writer runs against every member. */
  kill: () => Promise<void>;
  valueBytes: number;
  keyPrefix: string;
  /** A new write goes to every member this often (the resolution of the measurement). */
  probeIntervalMs?: number;
  requestTimeoutMs?: number;
  /** Give up when no write succeeds this long after the kill. */
  timeoutMs?: number;
}

export interface FailoverResult {
  /** From the kill to the first acknowledged write that was sent after it. */
  ms: number;
  /** The member (index into endpoints) that acknowledged it. */
  member: number;
  attemptsAfterKill: number;
}

/**
 * A client writing continuously to all members: every `probeIntervalMs` it sends one more write
 * to each member, without waiting for earlier ones, so a request stuck on a member that still
 * believes in the dead leader never delays the next try. Only writes sent after the kill count,
 * so a write the old leader committed just before dying cannot pass for a recovery.
 */
export async function measureFailover(opts: FailoverOptions): Promise<FailoverResult> {
  const agent = keepAliveAgent();
  const abort = new AbortController();
  const interval = opts.probeIntervalMs ?? 10;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const value = makeValue(opts.valueBytes);
  const okBefore = opts.endpoints.map(() => 0);
  let killedAt: number | undefined;
  let attemptsAfterKill = 0;
  let inFlight = 0;
  let seq = 0;
  let done: ((r: FailoverResult) => void) | undefined;
  const recovered = new Promise<FailoverResult>((resolve) => {
    done = resolve;
  });

  const attempt = (member: number) => {
    // Bounds memory if members hang for long; far above what a healthy run reaches.
    if (inFlight >= 5000) return;
    const sentAt = performance.now();
    if (killedAt !== undefined) attemptsAfterKill++;
    const body = opts.write.body(`${opts.keyPrefix}/${seq++ % 1000}`, value);
    inFlight++;
    httpRequest(opts.endpoints[member]!, opts.write.path, {
      agent,
      body,
      timeoutMs: opts.requestTimeoutMs ?? 10_000,
      signal: abort.signal,
    })
      .then((res) => {
        if (res.status !== 200) return;
        if (killedAt === undefined) okBefore[member]!++;
        else if (sentAt >= killedAt) {
          done?.({ ms: performance.now() - killedAt, member, attemptsAfterKill });
          done = undefined;
        }
      })
      .catch(() => {})
      .finally(() => inFlight--);
  };

  const timer = setInterval(() => {
    for (let m = 0; m < opts.endpoints.length; m++) attempt(m);
  }, interval);
  try {
    const warmUntil = performance.now() + 20_000;
    while (okBefore.some((n) => n < 3)) {
      if (performance.now() > warmUntil) {
        throw new Error(`not every member accepted writes before the kill (${okBefore.join('/')})`);
      }
      await delay(interval);
    }
    killedAt = performance.now();
    await opts.kill();
    let expire: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      expire = setTimeout(
        () => reject(new Error(`no write succeeded within ${timeoutMs} ms of the kill`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([recovered, expired]);
    } finally {
      clearTimeout(expire);
    }
  } finally {
    clearInterval(timer);
    abort.abort();
    agent.destroy();
  }
}
