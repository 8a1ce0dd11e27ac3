// The running containers of one service (found by one label), polled every 100 ms through the
// Engine API the way `docker ps --filter label=... --filter status=running` would (the failover
// benchmark's replica poll), and the end states the converge benchmark waits for.

import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';

export const POLL_MS = 100;

export async function listRunning(docker: Docker, label: string): Promise<string[]> {
  const list = await docker.listContainers({
    filters: { label: [label], status: ['running'] },
  });
  return list.map((c) => c.Id);
}

/** Every container (any state) with the label. */
export async function listAll(docker: Docker, label: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  return list.map((c) => c.Id);
}

/**
 * Polls until `done(running ids)` holds; returns the ms since `t0` at the first poll that saw it
 * (the poll that saw it started at most POLL_MS + one list call after the state was reached).
 */
export async function waitUntil(
  docker: Docker,
  label: string,
  t0: number,
  timeoutMs: number,
  what: string,
  done: (ids: string[]) => boolean | Promise<boolean>,
): Promise<number> {
  const deadline = t0 + timeoutMs;
  let last = -1;
  for (;;) {
    const ids = await listRunning(docker, label);
    last = ids.length;
    if (await done(ids)) return performance.now() - t0;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms: ${what} (last poll: ${last} running)`);
    await delay(POLL_MS);
  }
}

/**
 * The rolling update's end state: exactly `n` run, every one carries `env` (one inspect per new
 * container, remembered) and none of `oldIds` still runs.
 */
export function updatedTo(
  docker: Docker,
  n: number,
  env: string,
  oldIds: ReadonlySet<string>,
): (running: ReadonlySet<string>) => Promise<boolean> {
  const hasEnv = new Map<string, boolean>();
  return async (running) => {
    if (running.size !== n) return false;
    for (const id of running) {
      if (oldIds.has(id)) return false;
      let ok = hasEnv.get(id);
      if (ok === undefined) {
        try {
          const info = await docker.getContainer(id).inspect();
          ok = (info.Config.Env ?? []).includes(env);
        } catch {
          return false; // removed since it started: a later event decides
        }
        hasEnv.set(id, ok);
      }
      if (!ok) return false;
    }
    return true;
  };
}

/** Waits until no container (any state) carries the label; force-removes what is left after `graceMs`. */
export async function waitGone(docker: Docker, label: string, graceMs: number): Promise<void> {
  const deadline = performance.now() + graceMs;
  for (;;) {
    const ids = await listAll(docker, label);
    if (ids.length === 0) return;
    if (performance.now() > deadline) {
      await Promise.all(
        ids.map((id) =>
          docker
            .getContainer(id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
      return;
    }
    await delay(250);
  }
}
