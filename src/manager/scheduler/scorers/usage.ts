import type { Scorer } from '../scorer.ts';

/**
 * The least busy host first (NodeInfo.load): the last word, so that a node loaded by work orca
 * did not place, and so does not account for, loses a tie to an idle one.
 */
export const usageScorer: Scorer = {
  name: 'usage',
  compare: (_request, a, b) => a.load - b.load,
};
