import type { Command } from 'commander';
import type { TaskView } from '../api/control-wire.ts';
import type { Service } from '../api/objects.ts';
import { maxReplicas } from '../api/service-defaults.ts';
import { InvalidFlagsError } from '../errors.ts';
import {
  forEachRef,
  hostOf,
  type InspectFlags,
  inspectFormat,
  outputFormat,
  type TaskListFlags,
  taskListOutput,
} from './common.ts';
import { callDaemon } from './control-client.ts';
import { networkIdResolver } from './network.ts';
import { json } from './output.ts';
import { formatServiceTable, formatTasks, shortId } from './service-format.ts';
import { addServiceLogsCommand } from './service-logs.ts';
import { formatServicePretty } from './service-pretty.ts';
import { type WaitOptions, waitForConvergence } from './service-progress.ts';
import {
  addServiceCreateOptions,
  type ServiceCreateOptions,
  serviceCreateHelpText,
  serviceSpecFromCreate,
} from './service-spec/create-flags.ts';
import { processContext } from './service-spec/shared-flags.ts';
import {
  addServiceUpdateOptions,
  type ServiceUpdateOptions,
  serviceSpecFromUpdate,
  serviceUpdateHelpText,
} from './service-spec/update-flags.ts';

interface WaitFlags {
  readonly detach?: boolean;
  readonly quiet?: boolean;
}

/** Without --detach, as Docker: follow the service until it converges (or give up, exit 1). */
async function maybeWait(
  host: string,
  serviceId: string,
  o: WaitFlags,
  waitingFor: WaitOptions['waitingFor'],
): Promise<void> {
  if (o.detach === true) return;
  await waitForConvergence({
    waitingFor,
    fetch: async () => {
      const service = await callDaemon(host, 'ServiceInspect', { service: serviceId });
      const { tasks } = await callDaemon(host, 'TaskList', { service: serviceId });
      return { service, tasks };
    },
    write: (text) => process.stdout.write(text),
    ...(o.quiet === true ? { quiet: true } : {}),
  });
}

/** `web=3`, every one checked before any is sent. */
export function parseScaleArgs(args: readonly string[]): { service: string; replicas: number }[] {
  const problems: string[] = [];
  const out: { service: string; replicas: number }[] = [];
  for (const arg of args) {
    const eq = arg.lastIndexOf('=');
    const service = eq < 0 ? '' : arg.slice(0, eq);
    const n = eq < 0 ? '' : arg.slice(eq + 1);
    if (service === '' || !/^\d+$/.test(n) || Number(n) > maxReplicas) {
      problems.push(
        `SERVICE=REPLICAS: "${arg}" is not a service and a whole number of replicas from 0 to ${maxReplicas} (example: web=3)`,
      );
      continue;
    }
    out.push({ service, replicas: Number(n) });
  }
  if (problems.length > 0) throw new InvalidFlagsError(problems);
  return out;
}

export function addServiceCommands(program: Command): void {
  // Options after the image belong to the container's command, as Docker's SetInterspersed(false).
  program.enablePositionalOptions();
  const service = program
    .command('service')
    .description('manage the services of the swarm')
    .enablePositionalOptions()
    .addHelpText(
      'after',
      `
Examples:
  orca service create --name web --replicas 3 nginx:1.27
  orca service ls
  orca service ps web
  orca service logs -f web
  orca service scale web=5`,
    );

  const create = service
    .command('create')
    .description('create a service (prints its id; waits for it to converge unless --detach)')
    .argument('<image>', 'the image of the service')
    .argument('[command...]', 'the command and its arguments (flags after the image go to it)')
    .passThroughOptions()
    .addHelpText('after', serviceCreateHelpText);
  addServiceCreateOptions(create).action(
    async (image: string, args: string[], o: ServiceCreateOptions, cmd: Command) => {
      const spec = serviceSpecFromCreate(image, args, o);
      const host = hostOf(cmd);
      const created = await callDaemon(host, 'ServiceCreate', { spec });
      process.stdout.write(`${created.meta.id}\n`);
      await maybeWait(host, created.meta.id, o, 'create');
    },
  );

  service
    .command('ls')
    .alias('list')
    .description('list the services, with their running and desired task counts')
    .option('-q, --quiet', 'print the ids only')
    .option('--format <format>', 'table or json (one JSON array of services)', 'table')
    .addHelpText(
      'after',
      `
Examples:
  orca service ls
  orca service ls -q | xargs orca service rm
  orca service ls --format json | jq -r '.[] | "\\(.spec.name) \\(.serviceStatus.runningTasks)"'`,
    )
    .action(async (o: { quiet?: boolean; format?: string }, cmd: Command) => {
      const format = outputFormat(o.format, 'table');
      const { services } = await callDaemon(hostOf(cmd), 'ServiceList', {});
      if (o.quiet === true) {
        process.stdout.write(services.map((s) => `${shortId(s.meta.id)}\n`).join(''));
      } else if (format === 'json') {
        process.stdout.write(json(services));
      } else {
        process.stdout.write(formatServiceTable(services));
      }
    });

  service
    .command('ps')
    .description("list the tasks of services: each slot's current task, its history under it")
    .argument('<service...>', 'id, name, or unique id prefix')
    .option('-q, --quiet', 'print the task ids only')
    .option('--no-trunc', 'show task ids in full')
    .option('--format <format>', 'table or json (one JSON array of tasks)', 'table')
    .addHelpText(
      'after',
      `
Examples:
  orca service ps web
  orca service ps web api --format json | jq -r '.[] | select(.status.state != "running") | .meta.id'`,
    )
    .action(async (refs: string[], o: TaskListFlags, cmd: Command) => {
      const format = outputFormat(o.format, 'table');
      const host = hostOf(cmd);
      const tasks: TaskView[] = [];
      for (const ref of refs) {
        tasks.push(...(await callDaemon(host, 'TaskList', { service: ref })).tasks);
      }
      process.stdout.write(formatTasks(tasks, { ...taskListOutput(o), format }));
    });

  addServiceLogsCommand(service);

  service
    .command('inspect')
    .description('show services: JSON (an array, as docker service inspect) or --pretty')
    .argument('<service...>', 'id, name, or unique id prefix')
    .option('--format <format>', 'json (one JSON array of services) or pretty')
    .option('--pretty', 'the same as --format pretty')
    .option('-q, --quiet', 'print the service ids only')
    .addHelpText(
      'after',
      `
Examples:
  orca service inspect --pretty web
  orca service inspect web | jq '.[0].spec.mode'`,
    )
    .action(async (refs: string[], o: InspectFlags, cmd: Command) => {
      const format = inspectFormat(o);
      const host = hostOf(cmd);
      const out: Service[] = [];
      for (const ref of refs) out.push(await callDaemon(host, 'ServiceInspect', { service: ref }));
      if (o.quiet === true) process.stdout.write(out.map((s) => `${s.meta.id}\n`).join(''));
      else if (format === 'json') process.stdout.write(json(out));
      else {
        const attached = out.some((s) => (s.spec.task.networks ?? []).length > 0);
        const networks = attached ? (await callDaemon(host, 'NetworkList', {})).networks : [];
        const names = new Map(networks.map((n) => [n.meta.id, n.spec.name]));
        process.stdout.write(out.map((s) => formatServicePretty(s, names)).join('\n'));
      }
    });

  service
    .command('rm')
    .alias('remove')
    .description('remove services (their tasks are stopped and removed)')
    .argument('<service...>', 'id, name, or unique id prefix')
    .addHelpText(
      'after',
      `
Examples:
  orca service rm web
  orca service rm $(orca service ls -q)`,
    )
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const host = hostOf(cmd);
      await forEachRef(refs, 'services', async (ref) => {
        await callDaemon(host, 'ServiceRemove', { service: ref });
        process.stdout.write(`${ref}\n`);
      });
    });

  service
    .command('scale')
    .description('set the number of replicas of replicated services')
    .argument('<service=replicas...>', 'for example web=3')
    .option('-d, --detach', 'Exit immediately instead of waiting for the services to converge')
    .addHelpText(
      'after',
      `
Examples:
  orca service scale web=5
  orca service scale --detach web=0 api=2`,
    )
    .action(async (args: string[], o: WaitFlags, cmd: Command) => {
      const wanted = parseScaleArgs(args);
      const host = hostOf(cmd);
      await forEachRef(wanted, 'services', async (w) => {
        const scaled = await callDaemon(host, 'ServiceScale', w);
        process.stdout.write(`${w.service} scaled to ${w.replicas}\n`);
        await maybeWait(host, scaled.meta.id, o, 'scale');
      });
    });

  const update = service
    .command('update')
    .description("change a service's spec (the old one is kept for rollback)")
    .argument('<service>', 'id, name, or unique id prefix')
    .addHelpText('after', serviceUpdateHelpText);
  addServiceUpdateOptions(update).action(
    async (ref: string, o: ServiceUpdateOptions, cmd: Command) => {
      const host = hostOf(cmd);
      const current = await callDaemon(host, 'ServiceInspect', { service: ref });
      // The spec stores network ids: names given to --network-add/-rm are compared as ids.
      const networks =
        o.networkAdd === undefined && o.networkRm === undefined
          ? undefined
          : (await callDaemon(host, 'NetworkList', {})).networks;
      const spec = serviceSpecFromUpdate(current.spec, o, {
        ...processContext(),
        ...(networks === undefined ? {} : { networkId: networkIdResolver(networks) }),
      });
      // The version read goes with the spec: a change made meanwhile is not overwritten.
      const updated = await callDaemon(host, 'ServiceUpdate', {
        service: current.meta.id,
        spec,
        version: current.meta.version,
      });
      process.stdout.write(`${ref}\n`);
      await maybeWait(host, updated.meta.id, o, 'update');
    },
  );

  service
    .command('rollback')
    .description("go back to the service's previous spec (a second rollback undoes the first)")
    .argument('<service>', 'id, name, or unique id prefix')
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .addHelpText(
      'after',
      `
Examples:
  orca service rollback web
  orca service rollback --detach web`,
    )
    .action(async (ref: string, o: WaitFlags, cmd: Command) => {
      const host = hostOf(cmd);
      const rolled = await callDaemon(host, 'ServiceRollback', { service: ref });
      process.stdout.write(`${ref}\nrollback: manually requested rollback\n`);
      await maybeWait(host, rolled.meta.id, o, 'rollback');
    });
}
