// `node inspect --pretty`: Docker's layout (docker/cli's node formatter), with orca's usage
// section added after the resources it is measured against.

import type { NodeView } from '../api/control-wire.ts';
import type { Labels, NodeUsage } from '../api/objects.ts';
import { bytesSize, type Field, fieldList, title } from './output.ts';
import { humanDuration } from './service-format.ts';

function labelLines(labels: Labels): Field[] {
  return Object.keys(labels)
    .sort()
    .map((k) => [` - ${k}${labels[k] === '' ? '' : `=${labels[k]}`}`, null]);
}

function usageLines(usage: NodeUsage | null, memoryBytes: number, now: number): Field[] {
  if (usage === null) return [['Usage', 'not reported yet']];
  const memory =
    memoryBytes > 0
      ? `${bytesSize(usage.memoryBytes)} of ${bytesSize(memoryBytes)} (${Math.round((usage.memoryBytes / memoryBytes) * 100)}%)`
      : bytesSize(usage.memoryBytes);
  // The node's clock against this one's: a skew between them shows here as extra age.
  const age = humanDuration(Math.max(now - Date.parse(usage.measuredAt), 0));
  return [
    ['Usage', null],
    [' CPU', `${usage.cpuPercent}%`],
    [' Memory', memory],
    [' Measured', `${age} ago`],
  ];
}

/** One node as `docker node inspect --pretty` prints it; `now` ages the usage measurement. */
export function formatNodePretty(n: NodeView, now: number): string {
  const d = n.description;
  const lines: Field[] = [['ID', n.meta.id]];
  if (Object.keys(n.spec.labels).length > 0)
    lines.push(['Labels', null], ...labelLines(n.spec.labels));
  lines.push(
    ['Hostname', d.hostname],
    ['Joined at', n.meta.createdAt],
    ['Status', null],
    [' State', title(n.status.state)],
  );
  if (n.status.message !== '') lines.push([' Message', n.status.message]);
  lines.push([' Availability', title(n.spec.availability)]);
  if (n.status.addr !== '') lines.push([' Address', n.status.addr]);
  const m = n.managerStatus;
  if (m !== null) {
    lines.push(
      ['Manager Status', null],
      [' Address', m.addr],
      [' Raft Status', title(m.reachability)],
      [' Leader', m.leader ? 'Yes' : 'No'],
    );
  }
  lines.push(
    ['Platform', null],
    [' Operating System', d.platform.os],
    [' Architecture', d.platform.arch],
    ['Resources', null],
    [' CPUs', String(d.resources.nanoCpus / 1e9)],
    [' Memory', bytesSize(d.resources.memoryBytes)],
    ...usageLines(d.usage, d.resources.memoryBytes, now),
    ['Engine Version', d.engine.version],
  );
  if (Object.keys(d.engine.labels).length > 0) {
    lines.push(['Engine Labels', null], ...labelLines(d.engine.labels));
  }
  return fieldList(lines);
}
