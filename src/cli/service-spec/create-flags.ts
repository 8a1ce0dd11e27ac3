import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Mount, ServiceMode, ServiceSpec } from '../../api/objects.ts';
import { defaultServiceSpec, maxReplicas } from '../../api/service-defaults.ts';
import { parseConstraint, parsePlacementPref } from './constraints.ts';
import { mergeEnv, parseEnvFile, parseEnvFlag, parseLabel } from './env-file.ts';
import { parseMount } from './mounts.ts';
import { networksFrom } from './networks.ts';
import { parseChoice, parseWhole } from './numbers.ts';
import { portsFrom } from './ports.ts';
import { bad, Problems } from './problems.ts';
import {
  addSharedServiceOptions,
  applySharedOptions,
  checkImage,
  checkSharedConsistency,
  collect,
  type Draft,
  modes,
  processContext,
  type SharedServiceOptions,
  type SpecContext,
} from './shared-flags.ts';

export interface ServiceCreateOptions extends SharedServiceOptions {
  readonly name?: string;
  readonly mode?: string;
  readonly env?: readonly string[];
  readonly envFile?: readonly string[];
  readonly label?: readonly string[];
  readonly containerLabel?: readonly string[];
  readonly constraint?: readonly string[];
  readonly placementPref?: readonly string[];
  readonly mount?: readonly string[];
  readonly publish?: readonly string[];
  readonly endpointMode?: string;
  readonly network?: readonly string[];
}

/**
 * Registers `docker service create`'s flags (those orca implements) on `cmd`. Values stay text
 * until `serviceSpecFromCreate`, which checks them all together. The caller adds the
 * IMAGE [COMMAND] [ARG...] arguments and should call `passThroughOptions()` (with
 * `enablePositionalOptions()` on the program), so that flags after the image belong to the
 * command, as Docker's SetInterspersed(false) does.
 */
export function addServiceCreateOptions(cmd: Command): Command {
  cmd
    .option('--name <string>', 'Service name')
    .option(
      '--mode <string>',
      'Service mode ("replicated", "global", "replicated-job", "global-job") (default "replicated")',
    )
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <list>', 'Read in a file of environment variables', collect)
    .option('-l, --label <list>', 'Service labels', collect)
    .option('--container-label <list>', 'Container labels', collect)
    .option('--constraint <list>', 'Placement constraints', collect)
    .option('--placement-pref <pref>', 'Add a placement preference', collect)
    .option('--mount <mount>', 'Attach a filesystem mount to the service', collect)
    .option(
      '-p, --publish <port>',
      'Publish a port as a node port: [PUBLISHED:]TARGET[/udp] or published=,target=[,protocol=][,mode=ingress|host][,lb=][,proxy-protocol]',
      collect,
    )
    .option('--endpoint-mode <mode>', 'Endpoint mode (vip or dnsrr) (default "vip")')
    .option(
      '--network <network>',
      'Network attachments: NETWORK or name=NETWORK[,alias=ALIAS] (orca network create)',
      collect,
    );
  addSharedServiceOptions(cmd, true);
  return cmd;
}

/** Swarm's service names; the manager picks one when --name is absent. */
const nameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function checkServiceName(name: string, p: Problems): void {
  if (!nameRe.test(name) || name.length > 63) {
    p.add(
      `--name: "${name}" is not a service name (letters, digits, _ . -, starting with a letter ` +
        'or digit, at most 63 characters)',
    );
  }
}

function readEnvFile(file: string, ctx: SpecContext): string[] {
  let bytes: Uint8Array;
  try {
    bytes = ctx.readFile(resolve(ctx.cwd, file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message;
    return bad(`--env-file: cannot read ${file}: ${why}`);
  }
  return parseEnvFile(bytes, file, ctx.lookupEnv);
}

/** Labels in order; a later KEY wins, as Docker's map conversion. */
export function labelsFrom(values: readonly string[], flag: string, p: Problems) {
  const labels: Record<string, string> = {};
  for (const text of values) {
    const kv = p.check(() => parseLabel(text, flag));
    if (kv !== undefined) labels[kv[0]] = kv[1];
  }
  return labels;
}

/** Mounts in order; two on one target is an error, as the engine refuses it. */
export function mountsFrom(
  values: readonly string[],
  flag: string,
  p: Problems,
  ctx: SpecContext,
): Mount[] {
  const mounts: Mount[] = [];
  for (const text of values) {
    const m = p.check(() => parseMount(text, flag, ctx.cwd));
    if (m === undefined) continue;
    if (mounts.some((x) => x.target === m.target))
      p.add(`${flag}: target ${m.target} is mounted twice`);
    else mounts.push(m);
  }
  return mounts;
}

function modeFromCreate(o: ServiceCreateOptions, p: Problems): ServiceMode {
  const text = o.mode;
  const kind =
    (text === undefined ? 'replicated' : p.check(() => parseChoice(text, '--mode', modes))) ??
    'replicated';
  const replicasText = o.replicas;
  const replicas =
    replicasText === undefined
      ? undefined
      : p.check(() => parseWhole(replicasText, '--replicas', 0, maxReplicas));
  const concurrentText = o.maxConcurrent;
  const maxConcurrent =
    concurrentText === undefined
      ? undefined
      : p.check(() => parseWhole(concurrentText, '--max-concurrent', 1, maxReplicas));
  if (o.maxConcurrent !== undefined && kind !== 'replicated-job') {
    p.add('--max-concurrent is only for --mode replicated-job');
  }
  switch (kind) {
    case 'replicated':
      return { kind, replicas: replicas ?? 1 };
    case 'replicated-job': {
      // docker/cli: max-concurrent defaults to --replicas; Swarm: both default to 1 and total
      // completions to max-concurrent. A job of 0 completions still runs at most 1 at a time.
      const concurrent = maxConcurrent ?? Math.max(replicas ?? 1, 1);
      return { kind, maxConcurrent: concurrent, totalCompletions: replicas ?? concurrent };
    }
    default:
      if (o.replicas !== undefined) p.add(`--replicas cannot be used with --mode ${kind}`);
      return { kind };
  }
}

/**
 * The ServiceSpec a `service create IMAGE [ARG...]` line asks for: Swarm's defaults where a flag
 * is absent. Every problem is collected and thrown together as one InvalidFlagsError
 * (ORCA_BAD_REQUEST, exit 2). `name` stays '' when --name is absent: the manager names it.
 */
export function serviceSpecFromCreate(
  image: string,
  args: readonly string[],
  o: ServiceCreateOptions,
  ctx: SpecContext = processContext(),
): ServiceSpec {
  const p = new Problems();
  checkImage(image, 'IMAGE', p);
  const draft: Draft<ServiceSpec> = structuredClone(
    defaultServiceSpec(image),
  ) as Draft<ServiceSpec>;
  if (o.name !== undefined) {
    checkServiceName(o.name, p);
    draft.name = o.name;
  }
  const c = draft.task.container;
  if (args.length > 0) c.args = [...args];
  draft.mode = modeFromCreate(o, p);

  const env: string[] = [];
  for (const file of o.envFile ?? []) env.push(...(p.check(() => readEnvFile(file, ctx)) ?? []));
  for (const text of o.env ?? []) {
    const entry = p.check(() => parseEnvFlag(text, '--env', ctx.lookupEnv));
    if (entry !== undefined) env.push(entry);
  }
  c.env = mergeEnv(env);

  draft.labels = labelsFrom(o.label ?? [], '--label', p);
  c.labels = labelsFrom(o.containerLabel ?? [], '--container-label', p);
  for (const text of o.constraint ?? []) {
    if (p.check(() => parseConstraint(text, '--constraint')) !== undefined) {
      draft.task.placement.constraints.push(text);
    }
  }
  for (const text of o.placementPref ?? []) {
    const pref = p.check(() => parsePlacementPref(text, '--placement-pref'));
    if (pref !== undefined) draft.task.placement.preferences.push(pref);
  }
  c.mounts = mountsFrom(o.mount ?? [], '--mount', p, ctx);
  if (o.network !== undefined) draft.task.networks = networksFrom(o.network, '--network', p);
  if (o.publish !== undefined || o.endpointMode !== undefined) {
    draft.endpoint = {
      mode: endpointModeFrom(o.endpointMode, p) ?? 'vip',
      ports: portsFrom(
        o.publish ?? [],
        '--publish',
        (f) => p.check(f),
        (x) => p.add(x),
      ),
    };
  }

  applySharedOptions(draft, o, p);
  checkSharedConsistency(draft, o, p, true);
  checkEndpoint(draft, p);
  p.throwIfAny();
  return draft;
}

export function endpointModeFrom(
  text: string | undefined,
  p: Problems,
): 'vip' | 'dnsrr' | undefined {
  if (text === undefined) return undefined;
  if (text === 'vip' || text === 'dnsrr') return text;
  p.add(`--endpoint-mode: "${text}" is not vip or dnsrr`);
  return undefined;
}

/** As the manager checks it, so the flag is named: an ingress port needs a virtual IP. */
export function checkEndpoint(draft: Draft<ServiceSpec>, p: Problems): void {
  const e = draft.endpoint;
  if (e?.mode === 'dnsrr' && e.ports.some((x) => x.publishMode === 'ingress')) {
    p.add(
      '--endpoint-mode dnsrr: a port published in ingress mode needs vip; publish it with mode=host, or use --endpoint-mode vip',
    );
  }
}

export const serviceCreateHelpText = `
Examples:
  # three nginx replicas, at most one per node, spread over zones
  orca service create --name web --replicas 3 --replicas-max-per-node 1 \\
    --placement-pref spread=node.labels.zone nginx:1.27

  # one task on every worker, with a read-only bind mount and a memory limit
  orca service create --name agent --mode global --constraint node.role==worker \\
    --mount type=bind,src=/var/log,dst=/host/log,ro --limit-memory 256M alpine tail -f /dev/null

  # a health-checked service updated two at a time, newest first, rolled back on failure
  orca service create --name api -e PORT=8080 --env-file ./api.env \\
    --health-cmd "wget -qO- localhost:8080/health" --health-interval 5s \\
    --update-parallelism 2 --update-order start-first --update-failure-action rollback myorg/api:2

  # published on port 8080 of every node (the routing mesh), least connections first
  orca service create --name web --replicas 3 -p 8080:80 nginx:1.27
  orca service create --name api --publish published=9000,target=8080,lb=least-conn myorg/api:2
  # a UDP port bound only on the nodes that run a task
  orca service create --name dns --mode global --publish published=53,target=53,protocol=udp,mode=host coredns

  # on a network of its own, where another service of that network will find it by name
  orca network create backend
  orca service create --name db --network backend postgres:17
  orca service create --name api --network name=backend,alias=app myorg/api:2

  # a job: 10 completions, 2 at a time
  orca service create --name migrate --mode replicated-job --replicas 10 --max-concurrent 2 \\
    --restart-condition on-failure myorg/migrate:latest

Durations are Go's (300ms, 10s, 1m30s, 1h); sizes are 512M, 1.5G (powers of 1024); CPUs are
decimals (0.5, 2).`;
