// Node descriptions reported by workers, applied to the store. A worker reports every few
// seconds; writing every report would put every node into the Raft log that often and wake the
// orchestrator and scheduler loops (they watch nodes) as often. So a report is written when
// something a user or the scheduler would notice changed (a fact such as the engine's labels, or
// usage moving past a threshold), and otherwise at least every maxAgeMs, so that the stored
// usage's measuredAt tells a reader how fresh it is to within that bound.

import type { NodeDescription, NodeUsage } from '../../api/objects.ts';
import type { WriteTx } from '../../store/index.ts';

export interface RecordingLimits {
  /** A CPU move of this many points (of 100) is written at once. */
  readonly cpuPoints: number;
  /** A memory move of this share of the node's total memory is written at once. */
  readonly memoryShare: number;
  /** The longest a stored usage is left standing while newer reports arrive. */
  readonly maxAgeMs: number;
}

export const defaultRecordingLimits: RecordingLimits = {
  cpuPoints: 5,
  memoryShare: 0.05,
  maxAgeMs: 60_000,
};

export interface NodeDescriptionReport {
  /** The node whose session reported it. */
  readonly nodeId: string;
  readonly description: NodeDescription;
}

/** Whether a report says enough that the stored description should be replaced by it. */
export function worthRecording(
  stored: NodeDescription,
  reported: NodeDescription,
  limits: RecordingLimits,
): boolean {
  if (!sameFacts(stored, reported)) return true;
  const was = stored.usage;
  const now = reported.usage;
  if (was === null || now === null) return was !== now;
  if (Date.parse(now.measuredAt) - Date.parse(was.measuredAt) >= limits.maxAgeMs) return true;
  if (Math.abs(now.cpuPercent - was.cpuPercent) >= limits.cpuPoints) return true;
  const total = reported.resources.memoryBytes;
  return Math.abs(now.memoryBytes - was.memoryBytes) >= limits.memoryShare * total;
}

/** Everything but usage: any change there is written, however small. */
function sameFacts(a: NodeDescription, b: NodeDescription): boolean {
  return (
    a.hostname === b.hostname &&
    a.platform.os === b.platform.os &&
    a.platform.arch === b.platform.arch &&
    a.resources.nanoCpus === b.resources.nanoCpus &&
    a.resources.memoryBytes === b.resources.memoryBytes &&
    a.engine.version === b.engine.version &&
    sameLabels(a.engine.labels, b.engine.labels)
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) {
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k])
  );
}

/** Stages the reports worth recording; returns how many it staged. */
export function applyNodeDescriptions(
  tx: WriteTx,
  reports: Iterable<NodeDescriptionReport>,
  limits: RecordingLimits,
): number {
  let applied = 0;
  for (const { nodeId, description } of reports) {
    const node = tx.nodes.get(nodeId);
    if (node === undefined || !worthRecording(node.description, description, limits)) continue;
    tx.nodes.update({ ...node, description });
    applied++;
  }
  return applied;
}

/**
 * A description from the wire, rebuilt from the fields this manager knows (a newer worker's
 * extra fields are left out), or null where it is malformed.
 */
export function parseNodeDescription(value: unknown): NodeDescription | null {
  if (!isObject(value)) return null;
  const { hostname, platform, resources, engine, usage } = value;
  if (typeof hostname !== 'string') return null;
  if (!isObject(platform) || typeof platform.os !== 'string' || typeof platform.arch !== 'string')
    return null;
  if (!isObject(resources) || !isSize(resources.nanoCpus) || !isSize(resources.memoryBytes))
    return null;
  if (!isObject(engine) || typeof engine.version !== 'string' || !isObject(engine.labels))
    return null;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(engine.labels)) {
    if (typeof v !== 'string') return null;
    labels[k] = v;
  }
  const parsedUsage = usage === null ? null : parseUsage(usage);
  if (parsedUsage === undefined) return null;
  return {
    hostname,
    platform: { os: platform.os, arch: platform.arch },
    resources: { nanoCpus: resources.nanoCpus, memoryBytes: resources.memoryBytes },
    engine: { version: engine.version, labels },
    usage: parsedUsage,
  };
}

function parseUsage(value: unknown): NodeUsage | undefined {
  if (!isObject(value)) return undefined;
  const { cpuPercent, memoryBytes, measuredAt } = value;
  if (typeof cpuPercent !== 'number' || !(cpuPercent >= 0 && cpuPercent <= 100)) return undefined;
  if (!isSize(memoryBytes)) return undefined;
  if (typeof measuredAt !== 'string' || Number.isNaN(Date.parse(measuredAt))) return undefined;
  return { cpuPercent, memoryBytes, measuredAt };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
