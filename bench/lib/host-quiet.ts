// Waiting for the machine to be quiet before a timed step. Removing containers goes on after
// the engine reports them gone (the kernel tears their network namespaces down in the
// background, containerd collects their snapshots), and on two cores that work would land in
// whichever step comes next, of whichever system. Each step therefore starts once the CPU has
// gone quiet, or has settled at whatever other work the machine carries, so that no system
// inherits another's cleanup.

import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

const WINDOW_MS = 250;

function cpuTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.slice(1, 9).map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, total: busy + idle! + iowait! };
}

export interface QuietOptions {
  /** Quiet enough: the share of all CPUs busy over one window (default 0.15). */
  readonly busyBelow?: number;
  /** Settled: four windows in a row within this much of each other (default 0.08). */
  readonly steadyWithin?: number;
  /** Give up waiting after this long (default 10 s). */
  readonly maxMs?: number;
}

/** Waits until the host is quiet (or steady); returns how long it waited, in ms. */
export async function waitHostQuiet(opts: QuietOptions = {}): Promise<number> {
  const busyBelow = opts.busyBelow ?? 0.15;
  const steadyWithin = opts.steadyWithin ?? 0.08;
  const maxMs = opts.maxMs ?? 10_000;
  const start = performance.now();
  const recent: number[] = [];
  let prev = cpuTicks();
  while (performance.now() - start < maxMs) {
    await delay(WINDOW_MS);
    const now = cpuTicks();
    const total = now.total - prev.total;
    const share = total > 0 ? (now.busy - prev.busy) / total : 0;
    prev = now;
    if (share < busyBelow) break;
    recent.push(share);
    if (recent.length > 4) recent.shift();
    if (recent.length === 4 && Math.max(...recent) - Math.min(...recent) <= steadyWithin) break;
  }
  return performance.now() - start;
}
