import type { Scorer } from '../scorer.ts';

/**
 * The least busy host first (NodeInfo.load), last of all: reservations and task counts, which
 * orca accounts for, decide first; live usage only breaks their ties, so that a node loaded by
 * work orca did not place loses to an idle one but never outweighs a reservation.
 */
export const usageScorer: Scorer = {
  name: 'usage',
  compare: (_request, a, b) => a.load - b.load,
};
