import { runWorld, Violation, type WorldResult } from './world.ts';

export interface SeedsOutcome {
  readonly violation: (Violation & { seed: number }) | null;
  readonly totals: WorldResult;
}

/** Odd seeds run 3-member clusters and even seeds 5-member ones, unless members is given. */
export function runSeeds(opts: {
  first: number;
  count: number;
  members?: 3 | 5;
  log?: (line: string) => void;
}): SeedsOutcome {
  const totals = {
    steps: 0,
    proposals: 0,
    committed: 0,
    leaders: 0,
    snapshots: 0,
    confChanges: 0,
    crashes: 0,
    readsServed: 0,
    transfers: 0,
  };
  for (let seed = opts.first; seed < opts.first + opts.count; seed++) {
    try {
      const r = runWorld({
        seed,
        members: opts.members ?? (seed % 2 === 1 ? 3 : 5),
        faultMs: 3000,
        livenessMs: 6000,
        snapshotEvery: 25,
        ...(opts.log === undefined ? {} : { log: opts.log }),
      });
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r[k];
    } catch (err) {
      if (err instanceof Violation) return { violation: Object.assign(err, { seed }), totals };
      throw new Error(`seed ${seed} crashed the simulation`, { cause: err });
    }
  }
  return { violation: null, totals };
}
