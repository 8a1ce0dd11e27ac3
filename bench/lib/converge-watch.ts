// What the converge benchmark measures: the containers of one service (found by one label) that
// the engine reports as running, polled every 100 ms through the Engine API, the way
// `docker ps --filter label=... --filter status=running` would.

import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';

export const POLL_MS = 100;

export interface Running {
  ids: string[];
}

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

/** Waits for exactly `n` running containers with the label. */
export function waitRunning(
  docker: Docker,
  label: string,
  n: number,
  t0: number,
  timeoutMs: number,
): Promise<number> {
  return waitUntil(
    docker,
    label,
    t0,
    timeoutMs,
    `${n} running with ${label}`,
    (ids) => ids.length === n,
  );
}

/**
 * Waits until exactly `n` containers run, every one carries `env` (checked by one inspect per
 * new container id, cached) and none of `oldIds` still runs.
 */
export function waitUpdated(
  docker: Docker,
  label: string,
  n: number,
  env: string,
  oldIds: ReadonlySet<string>,
  t0: number,
  timeoutMs: number,
): Promise<number> {
  const hasEnv = new Map<string, boolean>();
  return waitUntil(docker, label, t0, timeoutMs, `${n} running with ${env}`, async (ids) => {
    if (ids.length !== n) return false;
    for (const id of ids) {
      if (oldIds.has(id)) return false;
      let ok = hasEnv.get(id);
      if (ok === undefined) {
        try {
          const info = await docker.getContainer(id).inspect();
          ok = (info.Config.Env ?? []).includes(env);
        } catch {
          return false; // gone between list and inspect: look again next poll
        }
        hasEnv.set(id, ok);
      }
      if (!ok) return false;
    }
    return true;
  });
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
