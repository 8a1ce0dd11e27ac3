import type { ServiceSpec, UpdateConfig } from './objects.ts';

// Swarm's defaults (swarmkit api/defaults/service.go, and docker/cli where it fills a field the
// daemon leaves empty): what a flag that is absent from `service create` stands for.

export const defaultReplicas = 1;
/** Replicas, max-concurrent and update parallelism above this are typing mistakes. */
export const maxReplicas = 100_000;
export const maxRestartAttempts = 100_000;
export const maxHealthRetries = 10_000;

export const defaultUpdateConfig: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: 'stop-first',
};

/** Swarm's rollback defaults are its update defaults. */
export const defaultRollbackConfig: UpdateConfig = defaultUpdateConfig;

export function defaultServiceSpec(image: string): ServiceSpec {
  return {
    name: '',
    labels: {},
    task: {
      container: {
        image,
        env: [],
        labels: {},
        init: false,
        stopGracePeriodMs: 10_000,
        mounts: [],
      },
      resources: {
        limits: { nanoCpus: 0, memoryBytes: 0 },
        reservations: { nanoCpus: 0, memoryBytes: 0 },
      },
      restart: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], maxReplicasPerNode: 0 },
      forceUpdate: 0,
    },
    mode: { kind: 'replicated', replicas: defaultReplicas },
    update: { ...defaultUpdateConfig },
    rollback: { ...defaultRollbackConfig },
  };
}
