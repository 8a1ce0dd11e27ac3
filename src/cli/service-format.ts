// How `service ls` and `service ps` print, as Docker prints them.

import type { ServiceListItem, TaskView } from '../api/control-wire.ts';
import type { PortConfig, Service, ServiceMode } from '../api/objects.ts';
import type { OutputFormat } from './common.ts';
import { json, table, title } from './output.ts';

/** Docker truncates service and task ids to 12 characters in tables; a prefix still finds them. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

function modeWords(mode: ServiceMode): string {
  return mode.kind.replace('-', ' ');
}

/** "2/3"; jobs add their completions, as Docker: "1/2 (3/10 completed)". */
export function replicasText(s: ServiceListItem): string {
  const { runningTasks, desiredTasks, completedTasks } = s.serviceStatus;
  const base = `${runningTasks}/${desiredTasks}`;
  const mode = s.spec.mode;
  if (mode.kind === 'replicated-job') {
    return `${base} (${completedTasks}/${mode.totalCompletions} completed)`;
  }
  if (mode.kind === 'global-job') return `${base} (${completedTasks} completed)`;
  return base;
}

export function formatServiceTable(services: readonly ServiceListItem[]): string {
  return table(
    ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'],
    services.map((s) => [
      shortId(s.meta.id),
      s.spec.name,
      modeWords(s.spec.mode),
      replicasText(s),
      s.spec.task.container.image,
      portsText(publishedPorts(s)),
    ]),
  );
}

/**
 * The ports a service publishes: as allocated (an unnumbered ingress port has its number there),
 * else as its spec asks. An endpoint may hold virtual IPs only, with no ports.
 */
export function publishedPorts(s: Service): readonly PortConfig[] {
  const allocated = s.endpoint?.ports ?? [];
  return allocated.length > 0 ? allocated : (s.spec.endpoint?.ports ?? []);
}

/** As Docker's PORTS column: `*:8080->80/tcp`; a host-mode port without a number as `*:0->...`. */
export function portsText(ports: readonly PortConfig[]): string {
  return ports
    .map(
      (p) =>
        `*:${p.publishedPort}->${p.targetPort}/${p.protocol}${p.publishMode === 'host' ? ' (host)' : ''}`,
    )
    .join(', ');
}

/** go-units' HumanDuration, which Docker's "Running 5 seconds ago" uses. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** `web.2` for a replica; `web.<node id>` for a global task, as Docker names them. */
export function taskName(t: TaskView): string {
  const service = t.serviceName === '' ? shortId(t.serviceId) : t.serviceName;
  return `${service}.${t.slot > 0 ? t.slot : t.nodeId}`;
}

/** What went wrong, for the ERROR column and for progress: the error, else a reason to wait. */
export function taskProblem(t: TaskView): string {
  if (t.status.err !== undefined && t.status.err !== '') return t.status.err;
  const state = t.status.state;
  if (state === 'failed' || state === 'rejected') return t.status.message;
  // The scheduler explains a task it cannot place ("no suitable node (...)") in the message.
  if (state === 'pending' && t.status.message !== 'created') return t.status.message;
  return '';
}

function slotKey(t: TaskView): string {
  return `${t.serviceId}/${t.slot > 0 ? t.slot : t.nodeId}`;
}

export interface TaskTableOptions {
  /** Task ids cut to 12 characters, as Docker's tables (default); false: `--no-trunc`. */
  readonly trunc?: boolean;
}

/**
 * `service ps` and `node ps`: one row per task, the slot's current task first and its history
 * under it, marked `\_` as Docker does. `tasks` comes from the daemon newest first within each
 * slot.
 */
export function formatTaskTable(
  tasks: readonly TaskView[],
  now: number = Date.now(),
  opts: TaskTableOptions = {},
): string {
  const seen = new Set<string>();
  return table(
    ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'],
    tasks.map((t) => {
      const key = slotKey(t);
      const history = seen.has(key);
      seen.add(key);
      const problem = taskProblem(t);
      const since = humanDuration(Math.max(now - Date.parse(t.status.timestamp), 0));
      return [
        opts.trunc === false ? t.meta.id : shortId(t.meta.id),
        `${history ? ' \\_ ' : ''}${taskName(t)}`,
        t.spec.container.image,
        t.nodeHostname,
        title(t.desiredState),
        `${title(t.status.state)} ${since} ago`,
        problem === '' ? '' : JSON.stringify(problem),
      ];
    }),
  );
}

export interface TaskListOutput extends TaskTableOptions {
  /** Task ids only, one a line. */
  readonly quiet?: boolean;
  readonly format: OutputFormat;
}

/** What `service ps` and `node ps` print: ids (-q), a JSON array, or the table. */
export function formatTasks(
  tasks: readonly TaskView[],
  out: TaskListOutput,
  now: number = Date.now(),
): string {
  const id = (t: TaskView) => (out.trunc === false ? t.meta.id : shortId(t.meta.id));
  if (out.quiet === true) return tasks.map((t) => `${id(t)}\n`).join('');
  if (out.format === 'json') return json(tasks);
  return formatTaskTable(tasks, now, out);
}
