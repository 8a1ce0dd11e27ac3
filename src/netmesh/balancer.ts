// How a listener picks a backend for each new connection or UDP flow. Pure: the open-connection
// counts are kept by the caller (one ConnectionCounts per data-path thread) and randomness is
// injected, so each policy is tested without sockets.

import type { LoadBalancing, MeshBackend } from './data-path.ts';

/** Open connections (or UDP flows) per backend id, across every listener of one thread. */
export class ConnectionCounts {
  readonly #open = new Map<string, number>();

  get(id: string): number {
    return this.#open.get(id) ?? 0;
  }

  add(id: string): void {
    this.#open.set(id, (this.#open.get(id) ?? 0) + 1);
  }

  remove(id: string): void {
    const n = (this.#open.get(id) ?? 0) - 1;
    // Task ids come and go for the life of the node: keep only the ones in use.
    if (n <= 0) this.#open.delete(id);
    else this.#open.set(id, n);
  }

  get size(): number {
    return this.#open.size;
  }
}

export interface Balancer {
  readonly policy: LoadBalancing;
  /**
   * The backend for the next connection, skipping the ids in `exclude` (backends already tried
   * for this connection); undefined when none is left.
   */
  pick(backends: readonly MeshBackend[], exclude?: ReadonlySet<string>): MeshBackend | undefined;
}

/** Each backend in turn. The position survives table swaps (modulo the new length). */
export class RoundRobin implements Balancer {
  readonly policy = 'round-robin' as const;
  #next = 0;

  pick(backends: readonly MeshBackend[], exclude?: ReadonlySet<string>): MeshBackend | undefined {
    const n = backends.length;
    for (let i = 0; i < n; i++) {
      const b = backends[(this.#next + i) % n]!;
      if (exclude?.has(b.id)) continue;
      this.#next = (this.#next + i + 1) % n;
      return b;
    }
    return undefined;
  }
}

/**
 * The backend with the fewest open connections. Ties go to the first at or after a rotating
 * start, so that a burst of connections opened before any closes is spread, not piled on one.
 */
export class LeastConnections implements Balancer {
  readonly policy = 'least-conn' as const;
  readonly #counts: ConnectionCounts;
  #start = 0;

  constructor(counts: ConnectionCounts) {
    this.#counts = counts;
  }

  pick(backends: readonly MeshBackend[], exclude?: ReadonlySet<string>): MeshBackend | undefined {
    const n = backends.length;
    let best: MeshBackend | undefined;
    let bestCount = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const b = backends[(this.#start + i) % n]!;
      if (exclude?.has(b.id)) continue;
      const c = this.#counts.get(b.id);
      if (c < bestCount) {
        best = b;
        bestCount = c;
      }
    }
    this.#start = n === 0 ? 0 : (this.#start + 1) % n;
    return best;
  }
}

/**
 * Power of two random choices: two distinct random backends, the one with fewer open
 * connections wins (the first drawn on a tie). Nearly as even as least-conn, with O(1) work and
 * no herd on the one least-loaded backend when several threads decide from stale counts.
 */
export class PowerOfTwo implements Balancer {
  readonly policy = 'p2c' as const;
  readonly #counts: ConnectionCounts;
  readonly #rand: () => number;

  constructor(counts: ConnectionCounts, rand: () => number = Math.random) {
    this.#counts = counts;
    this.#rand = rand;
  }

  pick(backends: readonly MeshBackend[], exclude?: ReadonlySet<string>): MeshBackend | undefined {
    const candidates =
      exclude === undefined || exclude.size === 0
        ? backends
        : backends.filter((b) => !exclude.has(b.id));
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    const i = Math.floor(this.#rand() * n) % n;
    // A second index drawn from the n-1 others, so the two are always distinct.
    const j = (i + 1 + (Math.floor(this.#rand() * (n - 1)) % (n - 1))) % n;
    const a = candidates[i]!;
    const b = candidates[j]!;
    return this.#counts.get(b.id) < this.#counts.get(a.id) ? b : a;
  }
}

export function createBalancer(
  policy: LoadBalancing,
  counts: ConnectionCounts,
  rand: () => number = Math.random,
): Balancer {
  switch (policy) {
    case 'round-robin':
      return new RoundRobin();
    case 'least-conn':
      return new LeastConnections(counts);
    case 'p2c':
      return new PowerOfTwo(counts, rand);
  }
}
