// A pending task compiled once into what the filters and scorers ask of it, so that parsing
// constraints and preferences happens once per task rather than once per task and node.

import type { Capacity, Platform, Task } from '../../api/objects.ts';
import { InvalidConstraintError, InvalidPlacementPreferenceError } from '../../errors.ts';
import { type Constraint, parseConstraints } from './constraint.ts';
import { parseSpread, type SpreadPreference } from './preference.ts';

/** The first `depth` spread preferences of a task, named by `key` for the group counts. */
export interface SpreadLevel {
  readonly key: string;
  readonly preferences: readonly SpreadPreference[];
}

export interface TaskRequest {
  readonly task: Task;
  readonly serviceId: string;
  readonly reservations: Capacity;
  readonly constraints: readonly Constraint[];
  /** Nested spread preferences, outermost first: level i holds preferences 0..i. */
  readonly spread: readonly SpreadLevel[];
  /** 0: unlimited. */
  readonly maxReplicasPerNode: number;
  /** Platforms the task's image runs on; empty: any, or not known. */
  readonly platforms: readonly Platform[];
}

/**
 * Where a task's image platforms come from. Nothing reads image manifests yet, so the default
 * knows none; the platform filter is in place for when something does.
 */
export type ImagePlatforms = (task: Task) => readonly Platform[];

export const noImagePlatforms: ImagePlatforms = () => [];

/** Throws InvalidConstraintError or InvalidPlacementPreferenceError for a malformed spec. */
export function compileRequest(
  task: Task,
  imagePlatforms: ImagePlatforms = noImagePlatforms,
): TaskRequest {
  const placement = task.spec.placement;
  const preferences = placement.preferences.map((p) => parseSpread(p.spread));
  return {
    task,
    serviceId: task.serviceId,
    reservations: task.spec.resources.reservations,
    constraints: parseConstraints(placement.constraints),
    spread: preferences.map((_, i) => {
      const prefix = preferences.slice(0, i + 1);
      return { key: prefix.map((p) => `${p.source}.${p.key}`).join('\n'), preferences: prefix };
    }),
    maxReplicasPerNode: placement.maxReplicasPerNode,
    platforms: imagePlatforms(task),
  };
}

/**
 * The request, or the parse error's message where the spec is malformed: a spec that slipped
 * past validation leaves its task pending, saying why, rather than failing the whole pass.
 */
export function compileOrExplain(
  task: Task,
  imagePlatforms: ImagePlatforms = noImagePlatforms,
): TaskRequest | string {
  try {
    return compileRequest(task, imagePlatforms);
  } catch (err) {
    if (err instanceof InvalidConstraintError || err instanceof InvalidPlacementPreferenceError) {
      return err.message;
    }
    throw err;
  }
}
