// CPU use from the kernel's cumulative per-CPU counters (os.cpus()), as the difference between
// two readings. systeminformation's currentLoad computes the same thing, but on Linux it also runs
// a shell (`cat /proc/stat`) synchronously on every call; this runs every few seconds on every
// node, so the counters Node reads without a process are enough.

export interface CpuTimes {
  /** Milliseconds all CPUs spent on anything but idling, since boot. */
  readonly busyMs: number;
  readonly totalMs: number;
}

interface CpuCounters {
  readonly times: {
    readonly user: number;
    readonly nice: number;
    readonly sys: number;
    readonly idle: number;
    readonly irq: number;
  };
}

/** The counters of every CPU added up. */
export function cpuTimes(cpus: readonly CpuCounters[]): CpuTimes {
  let busyMs = 0;
  let totalMs = 0;
  for (const { times } of cpus) {
    const busy = times.user + times.nice + times.sys + times.irq;
    busyMs += busy;
    totalMs += busy + times.idle;
  }
  return { busyMs, totalMs };
}

/**
 * The busy share of all CPU time between two readings, 0..100 (one decimal); null when no CPU
 * time passed between them (or a CPU went offline and the sums went back).
 */
export function cpuPercentBetween(earlier: CpuTimes, later: CpuTimes): number | null {
  const total = later.totalMs - earlier.totalMs;
  if (total <= 0) return null;
  const share = (later.busyMs - earlier.busyMs) / total;
  return Math.round(Math.min(Math.max(share, 0), 1) * 1000) / 10;
}

/**
 * CPU use over the time since the previous measurement. A measurement asked for sooner than
 * `minWindowMs` after the last one returns that one again: the counters tick every 10 ms per CPU,
 * so a window of a few milliseconds (a report at session start just after the one at `swarm
 * init`) would read 0 or 100.
 */
export class CpuMeter {
  readonly #read: () => CpuTimes;
  readonly #now: () => number;
  readonly #minWindowMs: number;
  #baseline: CpuTimes;
  #baselineAt: number;
  #last: number | null = null;

  constructor(read: () => CpuTimes, now: () => number, minWindowMs = 500) {
    this.#read = read;
    this.#now = now;
    this.#minWindowMs = minWindowMs;
    this.#baseline = read();
    this.#baselineAt = now();
  }

  /** Percent of all CPU time busy (see cpuPercentBetween); null until a window could be measured. */
  percent(): number | null {
    const now = this.#now();
    if (this.#last !== null && now - this.#baselineAt < this.#minWindowMs) return this.#last;
    const times = this.#read();
    const percent = cpuPercentBetween(this.#baseline, times);
    // Without a result the baseline stays, so the next window is longer rather than empty again.
    if (percent === null) return this.#last;
    this.#baseline = times;
    this.#baselineAt = now;
    this.#last = percent;
    return percent;
  }
}
