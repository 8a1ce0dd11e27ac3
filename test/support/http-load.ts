// A paced HTTP load for the routing mesh tests: a fixed number of requests per second, spread
// over several targets, each on a new connection (an L4 mesh balances connections), recording
// every failure with when its request started. Not a benchmark: it shows that no request fails
// while the cluster changes underneath.

import { request } from 'node:http';

export interface LoadTarget {
  readonly host: string;
  readonly port: number;
}

export interface LoadFailure {
  readonly startedAt: number;
  readonly target: string;
  readonly error: string;
}

export interface LoadReport {
  readonly requests: number;
  readonly failures: readonly LoadFailure[];
  /** Answers per body (the backend names itself in it). */
  readonly byBody: ReadonlyMap<string, number>;
  readonly durationMs: number;
}

export class HttpLoad {
  readonly #targets: readonly LoadTarget[];
  readonly #perSecond: number;
  readonly #timeoutMs: number;
  readonly #failures: LoadFailure[] = [];
  readonly #byBody = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  #requests = 0;
  #timer: NodeJS.Timeout | null = null;
  #startedAt = 0;

  constructor(targets: readonly LoadTarget[], perSecond: number, timeoutMs = 5_000) {
    this.#targets = targets;
    this.#perSecond = perSecond;
    this.#timeoutMs = timeoutMs;
  }

  start(): void {
    this.#startedAt = Date.now();
    const tickMs = 10;
    this.#timer = setInterval(() => {
      // Catch up on the schedule rather than fire per tick: timers drift under load.
      const due = Math.floor(((Date.now() - this.#startedAt) * this.#perSecond) / 1000);
      while (this.#requests < due) this.#fire();
    }, tickMs);
  }

  /** Counts so far, while the load runs. */
  snapshot(): { requests: number; failures: number } {
    return { requests: this.#requests, failures: this.#failures.length };
  }

  async stop(): Promise<LoadReport> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const durationMs = Date.now() - this.#startedAt;
    await Promise.all(this.#inFlight);
    return {
      requests: this.#requests,
      failures: [...this.#failures],
      byBody: new Map(this.#byBody),
      durationMs,
    };
  }

  #fire(): void {
    const target = this.#targets[this.#requests % this.#targets.length] as LoadTarget;
    this.#requests++;
    const startedAt = Date.now();
    const done = get(target, this.#timeoutMs).then(
      (body) => {
        this.#byBody.set(body, (this.#byBody.get(body) ?? 0) + 1);
      },
      (err: Error) => {
        this.#failures.push({
          startedAt,
          target: `${target.host}:${target.port}`,
          error: err.message,
        });
      },
    );
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }
}

/** One GET on a new connection; the body, or an error for anything but a 200. */
export function get(target: LoadTarget, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.host, port: target.port, path: '/', agent: false, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`HTTP ${res.statusCode}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
