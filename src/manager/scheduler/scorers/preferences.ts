import type { Scorer } from '../scorer.ts';

/** `--placement-pref spread=...`: the group with the fewest of the service's tasks first, outermost preference first. */
export const preferencesScorer: Scorer = {
  name: 'preferences',
  compare: (_request, a, b, { spread }) => {
    for (const level of spread) {
      const diff = level.tasksInGroup(a) - level.tasksInGroup(b);
      if (diff !== 0) return diff;
    }
    return 0;
  },
};
