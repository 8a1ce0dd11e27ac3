// The default scorers, in order of precedence: each only breaks the ties of those before it.
// Two nodes still equal after all of them are ordered by node id, so a plan is deterministic.

import type { Scorer } from '../scorer.ts';
import { preferencesScorer } from './preferences.ts';
import { reservedScorer } from './reserved.ts';
import { spreadScorer } from './spread.ts';
import { taskCountScorer } from './task-count.ts';
import { usageScorer } from './usage.ts';

export const defaultScorers: readonly Scorer[] = [
  preferencesScorer,
  spreadScorer,
  reservedScorer,
  taskCountScorer,
  usageScorer,
];

export { preferencesScorer, reservedScorer, spreadScorer, taskCountScorer, usageScorer };
