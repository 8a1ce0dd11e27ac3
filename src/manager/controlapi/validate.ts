// The manager's own check of a ServiceSpec. The CLI already checked the flags it was built from,
// but the control socket takes any JSON, and whatever passes here is written to the Raft log that
// every manager applies, so the leader re-checks the shape and the bounds. Problems name the
// field (`spec.mode.replicas`), not a flag: the request may not have come from a command line.

import type { ServiceSpec } from '../../api/objects.ts';
import { maxHealthRetries, maxReplicas, maxRestartAttempts } from '../../api/service-defaults.ts';
import { InvalidConstraintError, InvalidFlagsError } from '../../errors.ts';
import { parseConstraint } from '../scheduler/constraint.ts';

/** As Swarm: what `--name` accepts. */
export const serviceNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const maxServiceNameLength = 63;

const modeKinds = ['replicated', 'global', 'replicated-job', 'global-job'];
const restartConditions = ['none', 'on-failure', 'any'];
const mountTypes = ['bind', 'volume', 'tmpfs'];
const orders = ['stop-first', 'start-first'];
const labelPrefixes = ['node.labels.', 'engine.labels.'];
const endpointModes = ['vip', 'dnsrr'];
const balancers = ['round-robin', 'least-conn', 'p2c'];

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Checker {
  readonly problems: string[] = [];

  add(problem: string): void {
    this.problems.push(problem);
  }

  record(v: unknown, path: string): Rec {
    if (isRecord(v)) return v;
    this.add(`${path}: must be an object`);
    return {};
  }

  whole(v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.add(`${path}: ${JSON.stringify(v)} is not a whole number from ${min} to ${max}`);
    }
  }

  choice(v: unknown, path: string, choices: readonly string[]): void {
    if (typeof v !== 'string' || !choices.includes(v)) {
      this.add(`${path}: ${JSON.stringify(v)} is not one of ${choices.join(', ')}`);
    }
  }

  bool(v: unknown, path: string): void {
    if (typeof v !== 'boolean') this.add(`${path}: must be true or false`);
  }

  optString(v: unknown, path: string): void {
    if (v !== undefined && typeof v !== 'string') this.add(`${path}: must be a string`);
  }

  strings(v: unknown, path: string, optional = false): readonly string[] {
    if (v === undefined && optional) return [];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    this.add(`${path}: must be a list of strings`);
    return [];
  }

  labels(v: unknown, path: string): void {
    const r = this.record(v, path);
    for (const [k, value] of Object.entries(r)) {
      if (k === '' || typeof value !== 'string') {
        this.add(`${path}: "${k}" needs a non-empty key and a string value`);
      }
    }
  }
}

function checkUpdateConfig(c: Checker, v: unknown, path: string, isRollback: boolean): void {
  const u = c.record(v, path);
  c.whole(u.parallelism, `${path}.parallelism`, 0, maxReplicas);
  c.whole(u.delayMs, `${path}.delayMs`, 0);
  c.whole(u.monitorMs, `${path}.monitorMs`, 0);
  // Nothing to roll back to from a rollback, as swarmkit.
  c.choice(
    u.failureAction,
    `${path}.failureAction`,
    isRollback ? ['pause', 'continue'] : ['pause', 'continue', 'rollback'],
  );
  const r = u.maxFailureRatio;
  if (typeof r !== 'number' || !(r >= 0 && r <= 1)) {
    c.add(`${path}.maxFailureRatio: ${JSON.stringify(r)} is not a number from 0 to 1`);
  }
  c.choice(u.order, `${path}.order`, orders);
}

function checkEndpoint(c: Checker, v: unknown): void {
  const e = c.record(v, 'spec.endpoint');
  c.choice(e.mode, 'spec.endpoint.mode', endpointModes);
  if (!Array.isArray(e.ports)) {
    c.add('spec.endpoint.ports: must be a list');
    return;
  }
  const published = new Set<string>();
  e.ports.forEach((p: unknown, i) => {
    const path = `spec.endpoint.ports[${i}]`;
    const port = c.record(p, path);
    c.choice(port.protocol, `${path}.protocol`, ['tcp', 'udp']);
    c.whole(port.targetPort, `${path}.targetPort`, 1, 65535);
    c.whole(port.publishedPort, `${path}.publishedPort`, 0, 65535);
    c.choice(port.publishMode, `${path}.publishMode`, ['ingress', 'host']);
    if (port.lb !== undefined) c.choice(port.lb, `${path}.lb`, balancers);
    if (port.proxyProtocol !== undefined) c.bool(port.proxyProtocol, `${path}.proxyProtocol`);
    const meshOnly = port.lb !== undefined || port.proxyProtocol === true;
    if (port.publishMode === 'host' && meshOnly) {
      c.add(
        `${path}: lb and proxy-protocol apply to ingress ports only (mode=host is bound on the task's node, not balanced)`,
      );
    }
    if (port.proxyProtocol === true && port.protocol === 'udp') {
      c.add(`${path}.proxyProtocol: PROXY protocol is for TCP ports only`);
    }
    if (port.publishMode === 'ingress' && e.mode === 'dnsrr') {
      c.add(
        `${path}: an ingress port needs endpoint mode vip (dnsrr has no virtual IP to balance behind); use mode=host or --endpoint-mode vip`,
      );
    }
    if (typeof port.publishedPort === 'number' && port.publishedPort > 0) {
      const k = `${port.publishedPort}/${String(port.protocol)}`;
      if (published.has(k)) c.add(`${path}.publishedPort: ${k} is published twice`);
      published.add(k);
    }
  });
}

/** The shape only: whether each target names a network is decided against the store. */
function checkNetworks(c: Checker, v: unknown): void {
  if (!Array.isArray(v)) {
    c.add('spec.task.networks: must be a list');
    return;
  }
  v.forEach((n: unknown, i) => {
    const path = `spec.task.networks[${i}]`;
    const attachment = c.record(n, path);
    if (typeof attachment.target !== 'string' || attachment.target === '') {
      c.add(`${path}.target: must be a network name or id`);
    }
    if (attachment.aliases === undefined) return;
    for (const alias of c.strings(attachment.aliases, `${path}.aliases`)) {
      if (!serviceNamePattern.test(alias) || alias.length > maxServiceNameLength) {
        c.add(
          `${path}.aliases: "${alias}" is not a name (letters, digits, _ . -, starting with a letter or digit, at most ${maxServiceNameLength} characters)`,
        );
      }
    }
  });
}

/**
 * Checks `spec` and returns it typed, or throws one InvalidFlagsError (ORCA_BAD_REQUEST) listing
 * every problem. An empty name is allowed: the caller generates one.
 */
export function validateServiceSpec(spec: unknown): ServiceSpec {
  const c = new Checker();
  const s = c.record(spec, 'spec');
  if (typeof s.name !== 'string') c.add('spec.name: must be a string');
  else if (
    s.name !== '' &&
    (!serviceNamePattern.test(s.name) || s.name.length > maxServiceNameLength)
  ) {
    c.add(
      `spec.name: "${s.name}" is not a service name (letters, digits, _ . -, starting with a ` +
        `letter or digit, at most ${maxServiceNameLength} characters)`,
    );
  }
  c.labels(s.labels, 'spec.labels');

  const task = c.record(s.task, 'spec.task');
  const ctr = c.record(task.container, 'spec.task.container');
  if (typeof ctr.image !== 'string' || ctr.image === '' || /\s/.test(ctr.image)) {
    c.add(`spec.task.container.image: ${JSON.stringify(ctr.image)} is not an image reference`);
  }
  if (ctr.entrypoint !== undefined) c.strings(ctr.entrypoint, 'spec.task.container.entrypoint');
  if (ctr.args !== undefined) c.strings(ctr.args, 'spec.task.container.args');
  for (const e of c.strings(ctr.env, 'spec.task.container.env')) {
    if (e.startsWith('=') || e === '') c.add(`spec.task.container.env: "${e}" has no name`);
  }
  c.labels(ctr.labels, 'spec.task.container.labels');
  c.optString(ctr.user, 'spec.task.container.user');
  c.optString(ctr.workdir, 'spec.task.container.workdir');
  c.optString(ctr.hostname, 'spec.task.container.hostname');
  c.optString(ctr.stopSignal, 'spec.task.container.stopSignal');
  c.bool(ctr.init, 'spec.task.container.init');
  c.whole(ctr.stopGracePeriodMs, 'spec.task.container.stopGracePeriodMs', 0);
  if (!Array.isArray(ctr.mounts)) c.add('spec.task.container.mounts: must be a list');
  else {
    const targets = new Set<string>();
    ctr.mounts.forEach((m: unknown, i) => {
      const path = `spec.task.container.mounts[${i}]`;
      const mount = c.record(m, path);
      c.choice(mount.type, `${path}.type`, mountTypes);
      c.optString(mount.source, `${path}.source`);
      c.bool(mount.readOnly, `${path}.readOnly`);
      if (typeof mount.target !== 'string' || !mount.target.startsWith('/')) {
        c.add(`${path}.target: ${JSON.stringify(mount.target)} is not an absolute path`);
      } else if (targets.has(mount.target)) {
        c.add(`${path}.target: ${mount.target} is mounted twice`);
      } else targets.add(mount.target);
    });
  }
  if (ctr.healthcheck !== undefined) {
    const h = c.record(ctr.healthcheck, 'spec.task.container.healthcheck');
    c.strings(h.test, 'spec.task.container.healthcheck.test');
    c.whole(h.intervalMs, 'spec.task.container.healthcheck.intervalMs', 0);
    c.whole(h.timeoutMs, 'spec.task.container.healthcheck.timeoutMs', 0);
    c.whole(h.startPeriodMs, 'spec.task.container.healthcheck.startPeriodMs', 0);
    c.whole(h.retries, 'spec.task.container.healthcheck.retries', 0, maxHealthRetries);
  }

  const res = c.record(task.resources, 'spec.task.resources');
  const limits = c.record(res.limits, 'spec.task.resources.limits');
  const reservations = c.record(res.reservations, 'spec.task.resources.reservations');
  for (const [name, cap] of [
    ['limits', limits],
    ['reservations', reservations],
  ] as const) {
    c.whole(cap.nanoCpus, `spec.task.resources.${name}.nanoCpus`, 0);
    c.whole(cap.memoryBytes, `spec.task.resources.${name}.memoryBytes`, 0);
  }
  for (const k of ['nanoCpus', 'memoryBytes'] as const) {
    const limit = limits[k];
    const reserve = reservations[k];
    if (typeof limit === 'number' && typeof reserve === 'number' && limit > 0 && reserve > limit) {
      c.add(`spec.task.resources.reservations.${k}: ${reserve} exceeds the limit ${limit}`);
    }
  }

  const restart = c.record(task.restart, 'spec.task.restart');
  c.choice(restart.condition, 'spec.task.restart.condition', restartConditions);
  c.whole(restart.delayMs, 'spec.task.restart.delayMs', 0);
  c.whole(restart.maxAttempts, 'spec.task.restart.maxAttempts', 0, maxRestartAttempts);
  c.whole(restart.windowMs, 'spec.task.restart.windowMs', 0);

  const placement = c.record(task.placement, 'spec.task.placement');
  for (const text of c.strings(placement.constraints, 'spec.task.placement.constraints')) {
    try {
      parseConstraint(text);
    } catch (err) {
      if (!(err instanceof InvalidConstraintError)) throw err;
      c.add(`spec.task.placement.constraints: ${err.message}`);
    }
  }
  if (!Array.isArray(placement.preferences)) {
    c.add('spec.task.placement.preferences: must be a list');
  } else {
    for (const p of placement.preferences as unknown[]) {
      const spread = isRecord(p) ? p.spread : undefined;
      if (
        typeof spread !== 'string' ||
        !labelPrefixes.some((x) => spread.startsWith(x) && spread.length > x.length)
      ) {
        c.add(
          `spec.task.placement.preferences: ${JSON.stringify(p)} is not {spread: "node.labels.<key>"} or {spread: "engine.labels.<key>"}`,
        );
      }
    }
  }
  c.whole(placement.maxReplicasPerNode, 'spec.task.placement.maxReplicasPerNode', 0, maxReplicas);
  c.whole(task.forceUpdate, 'spec.task.forceUpdate', 0);
  if (task.networks !== undefined) checkNetworks(c, task.networks);

  const mode = c.record(s.mode, 'spec.mode');
  c.choice(mode.kind, 'spec.mode.kind', modeKinds);
  if (mode.kind === 'replicated') c.whole(mode.replicas, 'spec.mode.replicas', 0, maxReplicas);
  if (mode.kind === 'replicated-job') {
    c.whole(mode.maxConcurrent, 'spec.mode.maxConcurrent', 1, maxReplicas);
    c.whole(mode.totalCompletions, 'spec.mode.totalCompletions', 0, maxReplicas);
  }
  if (
    (mode.kind === 'global' || mode.kind === 'global-job') &&
    typeof placement.maxReplicasPerNode === 'number' &&
    placement.maxReplicasPerNode > 0
  ) {
    c.add(`spec.task.placement.maxReplicasPerNode: cannot be used with a ${mode.kind} service`);
  }
  checkUpdateConfig(c, s.update, 'spec.update', false);
  checkUpdateConfig(c, s.rollback, 'spec.rollback', true);
  if (s.endpoint !== undefined) checkEndpoint(c, s.endpoint);

  if (c.problems.length > 0) throw new InvalidFlagsError(c.problems);
  return spec as ServiceSpec;
}
