// Placement preferences (`--placement-pref spread=node.labels.zone`): spread a service's tasks
// evenly over the values of a node or engine label, before spreading over nodes. As in Swarm,
// nodes without the label form one more group of their own (value ''), and several preferences
// nest: the second spreads within each group of the first.

import type { Node } from '../../api/objects.ts';
import { InvalidPlacementPreferenceError } from '../../errors.ts';

export interface SpreadPreference {
  /** As stored in the spec, for messages. */
  readonly descriptor: string;
  readonly source: 'node.labels' | 'engine.labels';
  readonly key: string;
}

/** Parses a spread descriptor (`node.labels.zone`), as stored in `Placement.preferences`. */
export function parseSpread(descriptor: string): SpreadPreference {
  const lower = descriptor.toLowerCase();
  for (const source of ['node.labels', 'engine.labels'] as const) {
    const prefix = `${source}.`;
    if (!lower.startsWith(prefix)) continue;
    const key = descriptor.slice(prefix.length);
    if (key === '') {
      throw new InvalidPlacementPreferenceError(
        `spread=${descriptor}`,
        `no label key after "${prefix}"`,
      );
    }
    return { descriptor, source, key };
  }
  throw new InvalidPlacementPreferenceError(
    `spread=${descriptor}`,
    'only node and engine labels can be spread over',
  );
}

/** The node's group for one preference; '' for a node without the label. */
export function spreadValue(node: Node, preference: SpreadPreference): string {
  const labels =
    preference.source === 'node.labels' ? node.spec.labels : node.description.engine.labels;
  return labels[preference.key] ?? '';
}
