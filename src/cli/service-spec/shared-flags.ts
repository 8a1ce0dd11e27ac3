import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { HealthConfig, ServiceMode, ServiceSpec, UpdateConfig } from '../../api/objects.ts';
import { maxHealthRetries, maxReplicas, maxRestartAttempts } from '../../api/service-defaults.ts';
import { formatBytes, parseBytes } from './bytes.ts';
import { formatCpus, parseCpus } from './cpus.ts';
import { parseDuration } from './durations.ts';
import { parseChoice, parseRatio, parseWhole } from './numbers.ts';
import { bad, type Problems } from './problems.ts';
import { splitShellWords } from './shell-words.ts';
import { parseStopSignal } from './signals.ts';

// The flags `service create` and `service update` share (docker/cli's addServiceFlags), and how
// a given flag changes a spec. Create applies them to Swarm's defaults, update to the current
// spec: one code path, so a flag means the same in both and an absent flag changes nothing.

/** What commander hands over: every value still the user's text, `undefined` when absent. */
export interface SharedServiceOptions {
  readonly detach?: boolean;
  readonly quiet?: boolean;
  readonly workdir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly entrypoint?: string;
  readonly limitCpu?: string;
  readonly limitMemory?: string;
  readonly reserveCpu?: string;
  readonly reserveMemory?: string;
  readonly stopGracePeriod?: string;
  readonly stopSignal?: string;
  readonly replicas?: string;
  readonly maxConcurrent?: string;
  readonly replicasMaxPerNode?: string;
  readonly restartCondition?: string;
  readonly restartDelay?: string;
  readonly restartMaxAttempts?: string;
  readonly restartWindow?: string;
  readonly updateParallelism?: string;
  readonly updateDelay?: string;
  readonly updateFailureAction?: string;
  readonly updateMonitor?: string;
  readonly updateMaxFailureRatio?: string;
  readonly updateOrder?: string;
  readonly rollbackParallelism?: string;
  readonly rollbackDelay?: string;
  readonly rollbackFailureAction?: string;
  readonly rollbackMonitor?: string;
  readonly rollbackMaxFailureRatio?: string;
  readonly rollbackOrder?: string;
  readonly healthCmd?: string;
  readonly healthInterval?: string;
  readonly healthTimeout?: string;
  readonly healthRetries?: string;
  readonly healthStartPeriod?: string;
  /** `false`: `--no-healthcheck` (commander names a lone `--no-x` flag `x`, true by default). */
  readonly healthcheck?: boolean;
  /** `--init`; update also has `--no-init` (false), since commander has no `--init=false`. */
  readonly init?: boolean;
}

/** Where a command line meets the machine: tests pass their own. */
export interface SpecContext {
  /** `./` in a bind mount source and relative `--env-file` paths resolve against it. */
  readonly cwd: string;
  readonly lookupEnv: (key: string) => string | undefined;
  readonly readFile: (path: string) => Uint8Array;
  /**
   * The id of the network a name, id or id prefix names, undefined for none: update compares
   * `--network-add/-rm` with the ids the spec stores. Absent: references are kept as typed.
   */
  readonly networkId?: (ref: string) => string | undefined;
}

export function processContext(): SpecContext {
  return {
    cwd: process.cwd(),
    lookupEnv: (key) => process.env[key],
    readFile: (path) => readFileSync(path),
  };
}

export type Draft<T> = T extends readonly (infer U)[]
  ? Draft<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Draft<T[K]> }
    : T;

export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

export const modes = ['replicated', 'global', 'replicated-job', 'global-job'] as const;

const updateFlags = [
  'updateParallelism',
  'updateDelay',
  'updateFailureAction',
  'updateMonitor',
  'updateMaxFailureRatio',
  'updateOrder',
  'rollbackParallelism',
  'rollbackDelay',
  'rollbackFailureAction',
  'rollbackMonitor',
  'rollbackMaxFailureRatio',
  'rollbackOrder',
] as const;

const healthFlags = [
  'healthCmd',
  'healthInterval',
  'healthTimeout',
  'healthRetries',
  'healthStartPeriod',
] as const;

/** `updateMaxFailureRatio` -> `--update-max-failure-ratio`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Registers the shared flags. Create's help shows Swarm's defaults; update's does not, since
 * there an absent flag keeps the service's current value (as Docker's help does).
 */
export function addSharedServiceOptions(cmd: Command, forCreate: boolean): void {
  const d = (text: string, dflt: string) => (forCreate ? `${text} (default ${dflt})` : text);
  cmd
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .option('--replicas <uint>', 'Number of tasks')
    .option(
      '--max-concurrent <uint>',
      'Number of job tasks to run concurrently (default equal to --replicas)',
    )
    .option(
      '--replicas-max-per-node <uint>',
      'Maximum number of tasks per node (default 0 = unlimited)',
    )
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--hostname <string>', 'Container hostname')
    .option('--entrypoint <command>', 'Overwrite the default ENTRYPOINT of the image')
    .option('--limit-cpu <decimal>', 'Limit CPUs')
    .option('--limit-memory <bytes>', 'Limit Memory')
    .option('--reserve-cpu <decimal>', 'Reserve CPUs')
    .option('--reserve-memory <bytes>', 'Reserve Memory')
    .option(
      '--stop-grace-period <duration>',
      d('Time to wait before force killing a container (ms|s|m|h)', '10s'),
    )
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option(
      '--restart-condition <string>',
      d('Restart when condition is met ("none", "on-failure", "any")', '"any"'),
    )
    .option('--restart-delay <duration>', d('Delay between restart attempts (ms|s|m|h)', '5s'))
    .option('--restart-max-attempts <uint>', 'Maximum number of restarts before giving up')
    .option('--restart-window <duration>', 'Window used to evaluate the restart policy (ms|s|m|h)')
    .option(
      '--update-parallelism <uint>',
      d('Maximum number of tasks updated simultaneously (0 to update all at once)', '1'),
    )
    .option('--update-delay <duration>', d('Delay between updates (ms|s|m|h)', '0s'))
    .option(
      '--update-failure-action <string>',
      d('Action on update failure ("pause", "continue", "rollback")', '"pause"'),
    )
    .option(
      '--update-monitor <duration>',
      d('Duration after each task update to monitor for failure (ms|s|m|h)', '5s'),
    )
    .option(
      '--update-max-failure-ratio <float>',
      d('Failure rate to tolerate during an update', '0'),
    )
    .option(
      '--update-order <string>',
      d('Update order ("start-first", "stop-first")', '"stop-first"'),
    )
    .option(
      '--rollback-parallelism <uint>',
      d('Maximum number of tasks rolled back simultaneously (0 to roll back all at once)', '1'),
    )
    .option('--rollback-delay <duration>', d('Delay between task rollbacks (ms|s|m|h)', '0s'))
    .option(
      '--rollback-failure-action <string>',
      d('Action on rollback failure ("pause", "continue")', '"pause"'),
    )
    .option(
      '--rollback-monitor <duration>',
      d('Duration after each task rollback to monitor for failure (ms|s|m|h)', '5s'),
    )
    .option(
      '--rollback-max-failure-ratio <float>',
      d('Failure rate to tolerate during a rollback', '0'),
    )
    .option(
      '--rollback-order <string>',
      d('Rollback order ("start-first", "stop-first")', '"stop-first"'),
    )
    .option('--health-cmd <string>', 'Command to run to check health')
    .option('--health-interval <duration>', 'Time between running the check (ms|s|m|h)')
    .option('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h)')
    .option('--health-retries <int>', 'Consecutive failures needed to report unhealthy')
    .option(
      '--health-start-period <duration>',
      'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)',
    )
    .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK')
    .option(
      '--init',
      'Use an init inside each service container to forward signals and reap processes',
    );
}

/** Swarm's minimums for a non-zero resource (swarmkit controlapi validateResources). */
const minNanoCpus = 1_000_000;
const minMemoryBytes = 4 * 1024 * 1024;

function cpuFlag(text: string, flag: string): number {
  const n = parseCpus(text, flag);
  if (n !== 0 && n < minNanoCpus) {
    bad(`${flag}: "${text}" is less than 0.001 CPU, the least Swarm accepts (0: no limit)`);
  }
  return n;
}

function memoryFlag(text: string, flag: string): number {
  const n = parseBytes(text, flag);
  if (n !== 0 && n < minMemoryBytes) {
    bad(`${flag}: "${text}" is less than 4M, the least Swarm accepts (0: no limit)`);
  }
  return n;
}

function applyUpdateConfig(
  cfg: Draft<UpdateConfig>,
  o: SharedServiceOptions,
  prefix: 'update' | 'rollback',
  p: Problems,
): void {
  const get = (suffix: string) =>
    o[`${prefix}${suffix}` as keyof SharedServiceOptions] as string | undefined;
  const flag = (suffix: string) => flagName(`${prefix}${suffix}`);
  const parallelism = get('Parallelism');
  if (parallelism !== undefined) {
    const v = p.check(() => parseWhole(parallelism, flag('Parallelism'), 0, maxReplicas));
    if (v !== undefined) cfg.parallelism = v;
  }
  const delay = get('Delay');
  if (delay !== undefined) {
    const v = p.check(() => parseDuration(delay, flag('Delay')));
    if (v !== undefined) cfg.delayMs = v;
  }
  const action = get('FailureAction');
  if (action !== undefined) {
    const choices =
      prefix === 'update'
        ? (['pause', 'continue', 'rollback'] as const)
        : (['pause', 'continue'] as const);
    const v = p.check(() => parseChoice(action, flag('FailureAction'), choices));
    if (v !== undefined) cfg.failureAction = v;
  }
  const monitor = get('Monitor');
  if (monitor !== undefined) {
    const v = p.check(() => parseDuration(monitor, flag('Monitor')));
    if (v !== undefined) cfg.monitorMs = v;
  }
  const ratio = get('MaxFailureRatio');
  if (ratio !== undefined) {
    const v = p.check(() => parseRatio(ratio, flag('MaxFailureRatio')));
    if (v !== undefined) cfg.maxFailureRatio = v;
  }
  const order = get('Order');
  if (order !== undefined) {
    const v = p.check(() =>
      parseChoice(order, flag('Order'), ['stop-first', 'start-first'] as const),
    );
    if (v !== undefined) cfg.order = v;
  }
}

const noHealth = (): Draft<HealthConfig> => ({
  test: [],
  intervalMs: 0,
  timeoutMs: 0,
  retries: 0,
  startPeriodMs: 0,
});

/**
 * Docker's health flags: any --health-* starts from the current check (or an empty one, which
 * keeps the image's HEALTHCHECK command); --health-cmd "" goes back to the image's command;
 * --no-healthcheck replaces everything with NONE and cannot be combined with --health-*.
 */
function applyHealth(draft: Draft<ServiceSpec>, o: SharedServiceOptions, p: Problems): void {
  const given = healthFlags.filter((k) => o[k] !== undefined);
  const c = draft.task.container;
  if (o.healthcheck === false) {
    if (given.length > 0) {
      p.add(`--no-healthcheck cannot be used with ${given.map(flagName).join(', ')}`);
      return;
    }
    c.healthcheck = { ...noHealth(), test: ['NONE'] };
    return;
  }
  if (given.length === 0) return;
  const h: Draft<HealthConfig> = structuredClone(c.healthcheck ?? noHealth());
  if (h.test[0] === 'NONE') h.test = [];
  if (o.healthCmd !== undefined) h.test = o.healthCmd === '' ? [] : ['CMD-SHELL', o.healthCmd];
  const duration = (text: string | undefined, flag: string, set: (ms: number) => void) => {
    if (text === undefined) return;
    const v = p.check(() => parseDuration(text, flag));
    if (v !== undefined) set(v);
  };
  duration(o.healthInterval, '--health-interval', (v) => {
    h.intervalMs = v;
  });
  duration(o.healthTimeout, '--health-timeout', (v) => {
    h.timeoutMs = v;
  });
  duration(o.healthStartPeriod, '--health-start-period', (v) => {
    h.startPeriodMs = v;
  });
  if (o.healthRetries !== undefined) {
    const text = o.healthRetries;
    const v = p.check(() => parseWhole(text, '--health-retries', 0, maxHealthRetries));
    if (v !== undefined) h.retries = v;
  }
  c.healthcheck = h;
}

/** Applies every given shared flag except the mode ones (--replicas, --max-concurrent). */
export function applySharedOptions(
  draft: Draft<ServiceSpec>,
  o: SharedServiceOptions,
  p: Problems,
): void {
  const c = draft.task.container;
  const task = draft.task;

  if (o.workdir !== undefined) {
    if (o.workdir === '') delete c.workdir;
    else if (!o.workdir.startsWith('/')) {
      p.add(`--workdir: "${o.workdir}" is not an absolute path`);
    } else c.workdir = o.workdir;
  }
  if (o.user !== undefined) {
    if (o.user === '') delete c.user;
    else c.user = o.user;
  }
  if (o.hostname !== undefined) {
    if (o.hostname === '') delete c.hostname;
    else c.hostname = o.hostname;
  }
  if (o.entrypoint !== undefined) {
    const text = o.entrypoint;
    const words = p.check(() => splitShellWords(text, '--entrypoint'));
    if (words !== undefined) {
      if (words.length === 0) delete c.entrypoint;
      else c.entrypoint = words;
    }
  }
  if (o.init !== undefined) c.init = o.init;
  if (o.stopSignal !== undefined) {
    const text = o.stopSignal;
    if (text === '') delete c.stopSignal;
    else {
      const v = p.check(() => parseStopSignal(text, '--stop-signal'));
      if (v !== undefined) c.stopSignal = v;
    }
  }
  if (o.stopGracePeriod !== undefined) {
    const text = o.stopGracePeriod;
    const v = p.check(() => parseDuration(text, '--stop-grace-period'));
    if (v !== undefined) c.stopGracePeriodMs = v;
  }

  const resource = (
    text: string | undefined,
    flag: string,
    parse: (t: string, f: string) => number,
    set: (n: number) => void,
  ) => {
    if (text === undefined) return;
    const v = p.check(() => parse(text, flag));
    if (v !== undefined) set(v);
  };
  const r = task.resources;
  resource(o.limitCpu, '--limit-cpu', cpuFlag, (n) => {
    r.limits.nanoCpus = n;
  });
  resource(o.limitMemory, '--limit-memory', memoryFlag, (n) => {
    r.limits.memoryBytes = n;
  });
  resource(o.reserveCpu, '--reserve-cpu', cpuFlag, (n) => {
    r.reservations.nanoCpus = n;
  });
  resource(o.reserveMemory, '--reserve-memory', memoryFlag, (n) => {
    r.reservations.memoryBytes = n;
  });

  const rp = task.restart;
  if (o.restartCondition !== undefined) {
    const text = o.restartCondition;
    const v = p.check(() =>
      parseChoice(text, '--restart-condition', ['none', 'on-failure', 'any'] as const),
    );
    if (v !== undefined) rp.condition = v;
  }
  if (o.restartDelay !== undefined) {
    const text = o.restartDelay;
    const v = p.check(() => parseDuration(text, '--restart-delay'));
    if (v !== undefined) rp.delayMs = v;
  }
  if (o.restartMaxAttempts !== undefined) {
    const text = o.restartMaxAttempts;
    const v = p.check(() => parseWhole(text, '--restart-max-attempts', 0, maxRestartAttempts));
    if (v !== undefined) rp.maxAttempts = v;
  }
  if (o.restartWindow !== undefined) {
    const text = o.restartWindow;
    const v = p.check(() => parseDuration(text, '--restart-window'));
    if (v !== undefined) rp.windowMs = v;
  }

  if (o.replicasMaxPerNode !== undefined) {
    const text = o.replicasMaxPerNode;
    const v = p.check(() => parseWhole(text, '--replicas-max-per-node', 0, maxReplicas));
    if (v !== undefined) task.placement.maxReplicasPerNode = v;
  }

  applyUpdateConfig(draft.update, o, 'update', p);
  applyUpdateConfig(draft.rollback, o, 'rollback', p);
  applyHealth(draft, o, p);
}

/** How a message names the mode: the flag on create, the service's mode on update. */
export function modeWords(kind: ServiceMode['kind'], forCreate: boolean): string {
  return forCreate ? `--mode ${kind}` : `a ${kind} service`;
}

/** Checks that span flags, on the spec as it will be sent. */
export function checkSharedConsistency(
  spec: Draft<ServiceSpec>,
  o: SharedServiceOptions,
  p: Problems,
  forCreate: boolean,
): void {
  const { limits, reservations } = spec.task.resources;
  if (limits.memoryBytes !== 0 && reservations.memoryBytes > limits.memoryBytes) {
    p.add(
      `--reserve-memory ${o.reserveMemory ?? formatBytes(reservations.memoryBytes)} exceeds ` +
        `--limit-memory ${o.limitMemory ?? formatBytes(limits.memoryBytes)}`,
    );
  }
  if (limits.nanoCpus !== 0 && reservations.nanoCpus > limits.nanoCpus) {
    p.add(
      `--reserve-cpu ${o.reserveCpu ?? formatCpus(reservations.nanoCpus)} exceeds ` +
        `--limit-cpu ${o.limitCpu ?? formatCpus(limits.nanoCpus)}`,
    );
  }
  const kind = spec.mode.kind;
  if ((kind === 'global' || kind === 'global-job') && spec.task.placement.maxReplicasPerNode > 0) {
    p.add(`--replicas-max-per-node cannot be used with ${modeWords(kind, forCreate)}`);
  }
  if (kind === 'replicated-job' || kind === 'global-job') {
    const given = updateFlags.filter((k) => o[k] !== undefined);
    if (given.length > 0) {
      p.add(
        `${given.map(flagName).join(', ')} cannot be used with ${modeWords(kind, forCreate)}: ` +
          'jobs are not updated or rolled back',
      );
    }
  }
}

/** Docker takes any image reference; orca only refuses what cannot be one. */
export function checkImage(text: string, what: string, p: Problems): void {
  if (text === '' || /\s/.test(text)) p.add(`${what}: "${text}" is not an image reference`);
}
