import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between two checks (default 50 ms). */
  intervalMs?: number;
  /** What is awaited, for the error message: "leader elected", "port 7000 open". */
  what?: string;
}

/**
 * Polls `cond` until it returns a truthy value, and returns that value. A throw counts as "not
 * yet"; the last one is quoted if the deadline passes, because it usually says why.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const what = opts.what ?? 'condition';
  const start = Date.now();
  const deadline = start + timeoutMs;
  let last: string | undefined;
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      // A check that hangs (a connect without a timeout) must not outlive the deadline.
      const value = await withDeadline(Promise.resolve().then(cond), Math.max(remaining, 1));
      if (value) return value as NonNullable<T>;
      last = `last result: ${describe(value)}`;
    } catch (err) {
      last =
        err === DEADLINE
          ? 'the last check was still running'
          : `last error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${Date.now() - start} ms waiting for ${what} (${last})`);
    }
    await delay(Math.min(intervalMs, Math.max(deadline - Date.now(), 0)));
  }
}

const DEADLINE = Symbol('deadline');

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(DEADLINE), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}
