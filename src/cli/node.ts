import type { Command } from 'commander';
import type { NodeView, TaskView } from '../api/control-wire.ts';
import type { NodeAvailability, NodeRole } from '../api/objects.ts';
import { InvalidFlagsError, OrcaError } from '../errors.ts';
import {
  collect,
  hostOf,
  type InspectFlags,
  inspectFormat,
  outputFormat,
  type TaskListFlags,
  taskListOutput,
} from './common.ts';
import { callDaemon } from './control-client.ts';
import { formatNodePretty } from './node-pretty.ts';
import { json, table, title } from './output.ts';
import { formatTasks } from './service-format.ts';

const availabilities: readonly string[] = ['active', 'pause', 'drain'];

function managerStatus(n: NodeView): string {
  const m = n.managerStatus;
  if (m === null) return '';
  return m.leader ? 'Leader' : title(m.reachability);
}

export function formatNodeTable(self: string, nodes: readonly NodeView[]): string {
  return table(
    ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'],
    nodes.map((n) => [
      n.meta.id === self ? `${n.meta.id} *` : n.meta.id,
      n.description.hostname,
      title(n.status.state),
      title(n.spec.availability),
      managerStatus(n),
      n.description.engine.version,
    ]),
  );
}

/** `--format json` (Docker's default for inspect) or `pretty`; `--pretty` is Docker's spelling. */
/** `--label-add k=v` (or `k`, an empty value, as Docker) and `--label-rm k`, every problem at once. */
export function parseNodeUpdate(o: {
  availability?: string;
  labelAdd?: readonly string[];
  labelRm?: readonly string[];
  role?: string;
}): {
  availability?: NodeAvailability;
  labelAdd: Record<string, string>;
  labelRm: string[];
  role?: NodeRole;
} {
  const problems: string[] = [];
  if (o.role !== undefined && o.role !== 'manager' && o.role !== 'worker') {
    problems.push(`--role: "${o.role}" is not one of manager, worker`);
  }
  if (o.availability !== undefined && !availabilities.includes(o.availability)) {
    problems.push(`--availability: "${o.availability}" is not one of ${availabilities.join(', ')}`);
  }
  const labelAdd: Record<string, string> = {};
  for (const kv of o.labelAdd ?? []) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (key.trim() === '' || /\s/.test(key)) {
      problems.push(`--label-add: "${kv}" is not key=value (example: --label-add zone=east)`);
      continue;
    }
    labelAdd[key] = eq < 0 ? '' : kv.slice(eq + 1);
  }
  const labelRm: string[] = [];
  for (const k of o.labelRm ?? []) {
    if (k.trim() === '' || k.includes('=')) {
      problems.push(`--label-rm: "${k}" is not a label key (example: --label-rm zone)`);
      continue;
    }
    if (k in labelAdd) problems.push(`--label-rm: "${k}" is also given to --label-add`);
    labelRm.push(k);
  }
  if (problems.length > 0) throw new InvalidFlagsError(problems);
  return {
    ...(o.availability === undefined ? {} : { availability: o.availability as NodeAvailability }),
    labelAdd,
    labelRm,
    ...(o.role === undefined ? {} : { role: o.role as NodeRole }),
  };
}

export function addNodeCommands(program: Command): void {
  const node = program
    .command('node')
    .description('manage the nodes of the swarm')
    .addHelpText(
      'after',
      `
Examples:
  orca node ls
  orca node ps
  orca node update --availability drain worker-1
  orca node promote worker-1`,
    );

  node
    .command('rm')
    .alias('remove')
    .description(
      'remove nodes from the swarm: their tasks run elsewhere, their certificates open nothing',
    )
    .argument('<node...>', 'ids, unique id prefixes or hostnames')
    .option('-f, --force', 'remove a node that is not down (its containers are left to it)')
    .addHelpText(
      'after',
      `
Examples:
  orca node rm worker-3            # a worker that is down
  orca node demote node-2 && orca node rm node-2
  orca node rm --force worker-4    # a worker that is still up`,
    )
    .action(async (refs: string[], o: { force?: boolean }, cmd: Command) => {
      for (const ref of refs) {
        const { id } = await callDaemon(hostOf(cmd), 'NodeRemove', {
          node: ref,
          ...(o.force === true ? { force: true } : {}),
        });
        process.stdout.write(`${id}\n`);
      }
    });

  for (const [name, role, done] of [
    ['promote', 'manager', (id: string) => `Node ${id} promoted to a manager in the swarm.`],
    ['demote', 'worker', (id: string) => `Manager ${id} demoted in the swarm.`],
  ] as const) {
    node
      .command(name)
      .description(
        role === 'manager'
          ? 'make nodes managers: each joins the Raft group once it has the cluster state'
          : 'make managers workers: each leaves the Raft group (the leader hands over first)',
      )
      .argument('<node...>', 'ids, unique id prefixes, hostnames, or self')
      .option('--force', 'even where the managers left up would be too few for a quorum')
      .addHelpText(
        'after',
        `
Examples:
  orca node ${name} worker-1
  orca node ${name} node-2 node-3`,
      )
      .action(async (refs: string[], o: { force?: boolean }, cmd: Command) => {
        for (const ref of refs) {
          const updated = await callDaemon(hostOf(cmd), 'NodeUpdate', {
            node: ref,
            role,
            ...(o.force === true ? { force: true } : {}),
          });
          for (const w of updated.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
          process.stdout.write(`${done(updated.meta.id)}\n`);
        }
      });
  }

  node
    .command('ls')
    .alias('list')
    .description('list the nodes of the swarm (the node answering is marked with *)')
    .option('-q, --quiet', 'print the ids only')
    .option('--format <format>', 'table or json (one JSON array of nodes)', 'table')
    .addHelpText(
      'after',
      `
Examples:
  orca node ls
  orca node ls -q
  orca node ls --format json | jq -r '.[].description.hostname'`,
    )
    .action(async (o: { quiet?: boolean; format?: string }, cmd: Command) => {
      const format = outputFormat(o.format, 'table');
      const { self, nodes } = await callDaemon(hostOf(cmd), 'NodeList', {});
      if (o.quiet === true) {
        process.stdout.write(nodes.map((n) => `${n.meta.id}\n`).join(''));
      } else if (format === 'json') {
        process.stdout.write(json(nodes));
      } else {
        process.stdout.write(formatNodeTable(self, nodes));
      }
    });

  node
    .command('inspect')
    .description(
      'show nodes: their resources, CPU and memory use, engine and status (JSON by default, as docker node inspect)',
    )
    .argument('<node...>', 'id, unique id prefix, hostname, or self')
    .option('--format <format>', 'json (one JSON array of nodes) or pretty')
    .option('--pretty', 'the same as --format pretty')
    .option('-q, --quiet', 'print the node ids only')
    .addHelpText(
      'after',
      `
Examples:
  orca node inspect --pretty self
  orca node inspect worker-1 | jq '.[0].spec.availability'
  orca node inspect self --format json | jq '.[0].description.usage'`,
    )
    .action(async (refs: string[], o: InspectFlags, cmd: Command) => {
      const format = inspectFormat(o);
      const host = hostOf(cmd);
      const out: NodeView[] = [];
      for (const ref of refs) out.push(await callDaemon(host, 'NodeInspect', { node: ref }));
      if (o.quiet === true) {
        process.stdout.write(out.map((n) => `${n.meta.id}\n`).join(''));
      } else if (format === 'json') {
        process.stdout.write(json(out));
      } else {
        const now = Date.now();
        process.stdout.write(out.map((n) => formatNodePretty(n, now)).join('\n'));
      }
    });

  node
    .command('ps')
    .description('list the tasks on nodes (default: the node answering), as service ps shows them')
    .argument('[node...]', 'id, unique id prefix, hostname, or self', ['self'])
    .option('-q, --quiet', 'print the task ids only')
    .option('--no-trunc', 'show task ids in full')
    .option('--format <format>', 'table or json (one JSON array of tasks)', 'table')
    .addHelpText(
      'after',
      `
Examples:
  orca node ps
  orca node ps worker-1 worker-2
  orca node ps --format json self | jq -r '.[] | "\\(.serviceName).\\(.slot) \\(.status.state)"'`,
    )
    .action(async (refs: string[], o: TaskListFlags, cmd: Command) => {
      const format = outputFormat(o.format, 'table');
      const host = hostOf(cmd);
      const byId = new Map<string, TaskView>();
      const failures: OrcaError[] = [];
      for (const ref of refs) {
        try {
          for (const t of (await callDaemon(host, 'TaskList', { node: ref })).tasks) {
            byId.set(t.meta.id, t);
          }
        } catch (err) {
          if (!(err instanceof OrcaError)) throw err;
          failures.push(err);
        }
      }
      // As Docker: the nodes that answered are listed, then every node that failed is named.
      if (failures.length < refs.length) {
        process.stdout.write(formatTasks([...byId.values()], { ...taskListOutput(o), format }));
      }
      if (failures.length === 1 && refs.length === 1) throw failures[0];
      for (const f of failures) process.stderr.write(`orca: ${f.message}\n`);
      if (failures.length > 0) {
        throw new OrcaError('ORCA_PARTIAL', `${failures.length} of ${refs.length} nodes failed`);
      }
    });

  node
    .command('update')
    .description("change a node's availability or labels")
    .argument('<node>', 'id, unique id prefix, hostname, or self')
    .option('--availability <state>', 'active, pause (no new tasks) or drain (move tasks away)')
    .option('--label-add <key=value>', 'add or change a node label (repeatable)', collect)
    .option('--label-rm <key>', 'remove a node label (repeatable)', collect)
    .option('--role <role>', 'manager or worker (as node promote / node demote)')
    .addHelpText(
      'after',
      `
Examples:
  orca node update --availability drain worker-1
  orca node update --label-add zone=east --label-add ssd self`,
    )
    .action(
      async (
        ref: string,
        o: { availability?: string; labelAdd?: string[]; labelRm?: string[]; role?: string },
        cmd: Command,
      ) => {
        const update = parseNodeUpdate(o);
        const updated = await callDaemon(hostOf(cmd), 'NodeUpdate', { node: ref, ...update });
        for (const w of updated.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
        process.stdout.write(`${updated.meta.id}\n`);
      },
    );
}
