// `service inspect --pretty`: Docker's layout (docker/cli's service formatter), for people; the
// JSON is the full object.

import type { Capacity, Service, UpdateConfig } from '../api/objects.ts';
import { bytesSize, type Field, fieldList, goDuration } from './output.ts';
import { publishedPorts } from './service-format.ts';

function labelLines(labels: Readonly<Record<string, string>>): Field[] {
  return Object.keys(labels)
    .sort()
    .map((k) => [` - ${k}${labels[k] === '' ? '' : `=${labels[k]}`}`, null]);
}

function updateConfigLines(heading: string, c: UpdateConfig, rollback: boolean): Field[] {
  const lines: Field[] = [
    [heading, null],
    [' Parallelism', String(c.parallelism)],
  ];
  if (c.delayMs > 0) lines.push([' Delay', goDuration(c.delayMs)]);
  lines.push(
    [' On failure', c.failureAction],
    [' Monitoring Period', goDuration(c.monitorMs)],
    [' Max failure ratio', String(c.maxFailureRatio)],
    [rollback ? ' Rollback order' : ' Update order', c.order],
  );
  return lines;
}

function capacityLines(heading: string, c: Capacity): Field[] {
  if (c.nanoCpus === 0 && c.memoryBytes === 0) return [];
  const lines: Field[] = [[heading, null]];
  if (c.nanoCpus > 0) lines.push(['  CPU', String(c.nanoCpus / 1e9)]);
  if (c.memoryBytes > 0) lines.push(['  Memory', bytesSize(c.memoryBytes)]);
  return lines;
}

/**
 * One service as `docker service inspect --pretty` prints it. `networkNames` (id → name) shows
 * the networks by name, as Docker's does; an id it lacks is shown as it is.
 */
export function formatServicePretty(
  svc: Service,
  networkNames: ReadonlyMap<string, string> = new Map(),
): string {
  const spec = svc.spec;
  const task = spec.task;
  const c = task.container;
  const lines: Field[] = [
    ['ID', svc.meta.id],
    ['Name', spec.name],
  ];
  if (Object.keys(spec.labels).length > 0) lines.push(['Labels', null], ...labelLines(spec.labels));
  const mode = spec.mode;
  switch (mode.kind) {
    case 'replicated':
      lines.push(['Service Mode', 'Replicated'], [' Replicas', String(mode.replicas)]);
      break;
    case 'global':
      lines.push(['Service Mode', 'Global']);
      break;
    case 'replicated-job':
      lines.push(
        ['Service Mode', 'Replicated Job'],
        [' Max Concurrent', String(mode.maxConcurrent)],
        [' Total Completions', String(mode.totalCompletions)],
      );
      break;
    case 'global-job':
      lines.push(['Service Mode', 'Global Job']);
      break;
  }
  const status = svc.updateStatus;
  if (status !== null) {
    lines.push(['UpdateStatus', null], [' State', status.state], [' Started', status.startedAt]);
    if (status.completedAt !== undefined) lines.push([' Completed', status.completedAt]);
    lines.push([' Message', status.message]);
  }
  const p = task.placement;
  lines.push(['Placement', null]);
  if (p.constraints.length > 0) lines.push([' Constraints', `[${p.constraints.join(' ')}]`]);
  if (p.preferences.length > 0) {
    lines.push([' Preferences', p.preferences.map((x) => `spread=${x.spread}`).join(', ')]);
  }
  if (p.maxReplicasPerNode > 0)
    lines.push([' Max Replicas Per Node', String(p.maxReplicasPerNode)]);
  lines.push(
    ...updateConfigLines('UpdateConfig', spec.update, false),
    ...updateConfigLines('RollbackConfig', spec.rollback, true),
    ['ContainerSpec', null],
    [' Image', c.image],
  );
  if (c.entrypoint !== undefined) lines.push([' Entrypoint', c.entrypoint.join(' ')]);
  if (c.args !== undefined) lines.push([' Args', c.args.join(' ')]);
  if (c.env.length > 0) lines.push([' Env', c.env.join(' ')]);
  if (c.user !== undefined) lines.push([' User', c.user]);
  if (c.workdir !== undefined) lines.push([' Dir', c.workdir]);
  if (c.init) lines.push([' Init', 'true']);
  if (c.healthcheck !== undefined) lines.push([' Healthcheck', c.healthcheck.test.join(' ')]);
  if (c.mounts.length > 0) {
    lines.push(['Mounts', null]);
    for (const m of c.mounts) {
      lines.push([
        ` - ${m.type} ${m.source ?? ''}${m.source === undefined ? '' : ':'}${m.target}${m.readOnly ? ' (read-only)' : ''}`,
        null,
      ]);
    }
  }
  const reservations = capacityLines(' Reservations', task.resources.reservations);
  const limits = capacityLines(' Limits', task.resources.limits);
  if (reservations.length + limits.length > 0)
    lines.push(['Resources', null], ...reservations, ...limits);
  const r = task.restart;
  lines.push(
    ['Restart Policy', null],
    [' Condition', r.condition],
    [' Delay', goDuration(r.delayMs)],
  );
  if (r.maxAttempts > 0) lines.push([' Max Attempts', String(r.maxAttempts)]);
  if (r.windowMs > 0) lines.push([' Window', goDuration(r.windowMs)]);
  const networks = task.networks ?? [];
  if (networks.length > 0) {
    const shown = networks.map((n) => {
      const name = networkNames.get(n.target) ?? n.target;
      return n.aliases === undefined ? name : `${name} (aliases: ${n.aliases.join(', ')})`;
    });
    lines.push(['Networks', shown.join(' ')]);
  }
  // Docker shows these only in the JSON (Endpoint.VirtualIPs); one line, named as Networks.
  const vips = svc.endpoint?.virtualIps ?? [];
  if (vips.length > 0) {
    const shown = vips.map((v) => `${networkNames.get(v.network) ?? v.network}=${v.addr}`);
    lines.push(['Virtual IPs', shown.join(' ')]);
  }
  // As Docker's: the allocated ports (an unnumbered ingress port has its number here).
  const ports = publishedPorts(svc);
  if (spec.endpoint?.mode === 'dnsrr') lines.push(['Endpoint Mode', 'dnsrr']);
  if (ports.length > 0) {
    lines.push(['Ports', null]);
    for (const p of ports) {
      lines.push(
        [' PublishedPort', String(p.publishedPort)],
        ['  Protocol', p.protocol],
        ['  TargetPort', String(p.targetPort)],
        ['  PublishMode', p.publishMode],
      );
      if (p.lb !== undefined) lines.push(['  LoadBalancing', p.lb]);
      if (p.proxyProtocol === true) lines.push(['  ProxyProtocol', 'v2']);
    }
  }
  return fieldList(lines);
}
