// What `npm run bench:failover` needs from a system under test, and the one probe both systems
// share. A system is a 3-manager, 2-worker cluster on this machine running one benchmark service
// whose replicas are placed on the workers only, so that killing a manager never kills a replica
// and killing a worker moves its replicas to the other worker.

export type SystemName = 'swarm' | 'orca';

/** Replicas of the benchmark service: two per worker, so that a lost worker's replicas all move. */
export const REPLICAS = 4;

/** The image both systems run, loaded into every extra engine of the Swarm reference. */
export const IMAGE = 'orca-test/busybox:1';

/** The service's name, the same in both systems. */
export const SERVICE = 'bench-failover';

/**
 * The `service create` flags and image both systems run, after `service create --detach`:
 * the workers only, busybox `sleep` under an init (it stops at once), every replica updated at
 * once so that the updates of the failover trials settle quickly.
 */
export const SERVICE_ARGS: readonly string[] = [
  '--name',
  SERVICE,
  '--replicas',
  String(REPLICAS),
  '--constraint',
  'node.role==worker',
  '--init',
  '--update-parallelism',
  '0',
  IMAGE,
  'sleep',
  '3600',
];

/**
 * How both systems probe for the first acknowledged update after the leader's kill, so that
 * their figures compare. Swarm's surviving managers hold an update until a new leader is elected
 * and then pass it on (measured: calls sent from 0.04 s to 10 s after the kill were all
 * acknowledged within 0.7 s of the election); another system may fail such calls fast instead,
 * or hold them longer than is useful. A fresh call every 100 ms, each given up after 3 s, covers
 * all of these: some call is always in flight, and none waits on a stale one for long. A call to
 * a healthy Swarm leader took 30 to 70 ms here.
 */
export const UPDATE_PROBE = {
  intervalMs: 100,
  attemptTimeoutMs: 3_000,
  maxInFlight: 30,
  deadlineMs: 90_000,
} as const;

export interface SystemOptions {
  /** Keep the cluster's folder (data, logs) after teardown. */
  keep: boolean;
  /** Progress, to stderr. */
  log: (msg: string) => void;
}

export interface TrialResult {
  /** The figure: kill -9 to the event, in milliseconds. */
  ms: number;
  /** What happened, for the progress log (which node, how many attempts, ...). */
  note: string;
}

export interface FailoverSystem {
  readonly name: SystemName;
  /** Starts the cluster and the service; resolves once both are healthy and the replicas spread. */
  setup(): Promise<void>;
  /**
   * kill -9 of the leader's host, to the first `service update` acknowledged after it. Resolves
   * (or rejects) only once the killed host is back and the cluster and service are as before.
   */
  leaderFailoverTrial(trial: number): Promise<TrialResult>;
  /**
   * kill -9 of a worker's host, to every replica running on the other worker. Restores the
   * cluster and the spread of the replicas before it resolves, like leaderFailoverTrial.
   */
  workerLossTrial(trial: number): Promise<TrialResult>;
  /** Everything the system started is gone (also when setup failed half way). */
  teardown(): Promise<void>;
}

export interface AckProbe {
  /**
   * One attempt; resolves once acknowledged, rejects with a short message (counted by message)
   * otherwise, and settles promptly when `signal` aborts.
   */
  attempt(seq: number, signal: AbortSignal): Promise<void>;
  /** A new attempt starts this often, whatever the ones in flight are doing. */
  intervalMs: number;
  /** An attempt that has not answered by then is abandoned (aborted). */
  attemptTimeoutMs: number;
  /** At most this many attempts in flight; a tick with that many skips its attempt. */
  maxInFlight: number;
  /** Give up when nothing was acknowledged by then. */
  deadlineMs: number;
}

export interface Ack {
  /** performance.now() when the first acknowledgement arrived. */
  at: number;
  /** Which attempt (0 = the first, started right away). */
  seq: number;
  /** How long the acknowledged attempt itself took. */
  callMs: number;
  /** How many attempts were started in all. */
  started: number;
  /** Errors of the failed attempts, by first line. */
  errors: Record<string, number>;
}

/**
 * Starts attempts every `intervalMs`, overlapping, until the first is acknowledged. Overlapping
 * rather than one after the other: during a failover a call can hang rather than fail, and a
 * strict retry loop would add that hang to the figure. So the figure is at most one interval
 * late, plus the time of the acknowledged call itself.
 */
export function firstAcknowledged(p: AckProbe): Promise<Ack> {
  const stop = new AbortController();
  const errors: Record<string, number> = {};
  const deadline = performance.now() + p.deadlineMs;
  let started = 0;
  let inFlight = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<Ack>((resolve, reject) => {
    const finish = (outcome: () => void): void => {
      if (stop.signal.aborted) return;
      clearInterval(timer);
      stop.abort();
      outcome();
    };
    const tick = (): void => {
      if (stop.signal.aborted) return;
      if (performance.now() > deadline) {
        finish(() =>
          reject(
            new Error(
              `nothing acknowledged within ${p.deadlineMs} ms (${started} attempts; ` +
                `errors: ${JSON.stringify(errors)})`,
            ),
          ),
        );
        return;
      }
      if (inFlight >= p.maxInFlight) return;
      const seq = started++;
      const begun = performance.now();
      inFlight++;
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(p.attemptTimeoutMs)]);
      void p
        .attempt(seq, signal)
        .then(
          () => {
            const at = performance.now();
            finish(() => resolve({ at, seq, callMs: at - begun, started, errors }));
          },
          (err: unknown) => {
            if (stop.signal.aborted) return;
            const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
            errors[msg] = (errors[msg] ?? 0) + 1;
          },
        )
        .finally(() => {
          inFlight--;
        });
    };
    timer = setInterval(tick, p.intervalMs);
    tick();
  });
}
