import type { Command } from 'commander';
import type { ServiceSpec } from '../../api/objects.ts';
import { maxReplicas } from '../../api/service-defaults.ts';
import { parseConstraint, parsePlacementPref } from './constraints.ts';
import { checkEndpoint, endpointModeFrom, labelsFrom, mountsFrom } from './create-flags.ts';
import { envKey, parseEnvFlag } from './env-file.ts';
import { networksFrom } from './networks.ts';
import { parseWhole } from './numbers.ts';
import { parsePublishRm, portsFrom, samePublished } from './ports.ts';
import { Problems } from './problems.ts';
import {
  addSharedServiceOptions,
  applySharedOptions,
  checkImage,
  checkSharedConsistency,
  collect,
  type Draft,
  processContext,
  type SharedServiceOptions,
  type SpecContext,
} from './shared-flags.ts';
import { splitShellWords } from './shell-words.ts';

export interface ServiceUpdateOptions extends SharedServiceOptions {
  readonly image?: string;
  readonly args?: string;
  readonly force?: boolean;
  readonly envAdd?: readonly string[];
  readonly envRm?: readonly string[];
  readonly labelAdd?: readonly string[];
  readonly labelRm?: readonly string[];
  readonly containerLabelAdd?: readonly string[];
  readonly containerLabelRm?: readonly string[];
  readonly constraintAdd?: readonly string[];
  readonly constraintRm?: readonly string[];
  readonly placementPrefAdd?: readonly string[];
  readonly placementPrefRm?: readonly string[];
  readonly mountAdd?: readonly string[];
  readonly mountRm?: readonly string[];
  readonly publishAdd?: readonly string[];
  readonly publishRm?: readonly string[];
  readonly endpointMode?: string;
  readonly networkAdd?: readonly string[];
  readonly networkRm?: readonly string[];
}

/**
 * Registers `docker service update`'s flags (those orca implements). As Docker, update has no
 * --name, --mode, --env, --label, --constraint or --mount: lists change through the -add/-rm
 * pairs, and a service's name and mode are fixed at creation.
 */
export function addServiceUpdateOptions(cmd: Command): Command {
  cmd
    .option('--image <string>', 'Service image tag')
    .option('--args <command>', 'Service command args')
    .option('--force', 'Force update even if no changes require it')
    .option('--env-add <list>', 'Add or update an environment variable', collect)
    .option('--env-rm <list>', 'Remove an environment variable', collect)
    .option('--label-add <list>', 'Add or update a service label', collect)
    .option('--label-rm <list>', 'Remove a label by its key', collect)
    .option('--container-label-add <list>', 'Add or update a container label', collect)
    .option('--container-label-rm <list>', 'Remove a container label by its key', collect)
    .option('--constraint-add <list>', 'Add or update a placement constraint', collect)
    .option('--constraint-rm <list>', 'Remove a constraint', collect)
    .option('--placement-pref-add <pref>', 'Add a placement preference', collect)
    .option('--placement-pref-rm <pref>', 'Remove a placement preference', collect)
    .option('--mount-add <mount>', 'Add or update a mount on a service', collect)
    .option('--mount-rm <list>', 'Remove a mount by its target path', collect)
    .option('--publish-add <port>', 'Add or update a published port (as --publish)', collect)
    .option(
      '--publish-rm <port>',
      'Remove a published port by its published port: PORT[/udp]',
      collect,
    )
    .option('--endpoint-mode <mode>', 'Endpoint mode (vip or dnsrr)')
    .option('--network-add <network>', 'Add a network (as --network)', collect)
    .option('--network-rm <network>', 'Remove a network by its name or id', collect);
  addSharedServiceOptions(cmd, false);
  cmd.option('--no-init', 'Do not use an init inside each service container (orca only)');
  return cmd;
}

function updateEndpoint(draft: Draft<ServiceSpec>, o: ServiceUpdateOptions, p: Problems): void {
  if (o.publishAdd === undefined && o.publishRm === undefined && o.endpointMode === undefined) {
    return;
  }
  const endpoint = draft.endpoint ?? { mode: 'vip', ports: [] };
  let ports = endpoint.ports;
  for (const text of o.publishRm ?? []) {
    const rm = p.check(() => parsePublishRm(text));
    if (rm === undefined) continue;
    const kept = ports.filter((x) => !samePublished(x, rm));
    if (kept.length === ports.length) {
      p.add(`--publish-rm: the service publishes no port ${rm.publishedPort}/${rm.protocol}`);
    }
    ports = kept;
  }
  for (const port of portsFrom(
    o.publishAdd ?? [],
    '--publish-add',
    (f) => p.check(f),
    (x) => p.add(x),
  )) {
    // The same published port, or (for an unnumbered one) the same target, is replaced.
    const at = ports.findIndex((x) =>
      port.publishedPort > 0
        ? samePublished(x, port)
        : x.targetPort === port.targetPort && x.protocol === port.protocol,
    );
    if (at === -1) ports.push(port);
    else ports[at] = port;
  }
  endpoint.ports = ports;
  endpoint.mode = endpointModeFrom(o.endpointMode, p) ?? endpoint.mode;
  draft.endpoint = endpoint;
}

/**
 * Removes, then adds, as Docker. References are compared as ids where the context can resolve
 * them (the spec stores ids); a network the daemon does not know is named by its flag.
 */
function updateNetworks(
  draft: Draft<ServiceSpec>,
  o: ServiceUpdateOptions,
  p: Problems,
  ctx: SpecContext,
): void {
  if (o.networkAdd === undefined && o.networkRm === undefined) return;
  const idOf = (ref: string, flag: string): string => {
    if (ctx.networkId === undefined) return ref;
    const id = ctx.networkId(ref);
    if (id === undefined) p.add(`${flag}: network ${ref} not found`);
    return id ?? ref;
  };
  let networks = draft.task.networks ?? [];
  const rm = new Set((o.networkRm ?? []).map((ref) => idOf(ref, '--network-rm')));
  networks = networks.filter((n) => !rm.has(n.target));
  for (const n of networksFrom(o.networkAdd ?? [], '--network-add', p)) {
    const target = idOf(n.target, '--network-add');
    if (networks.some((x) => x.target === target)) {
      p.add(`--network-add: the service is already attached to network ${n.target}`);
      continue;
    }
    networks.push({ ...n, target });
  }
  if (networks.length === 0) delete draft.task.networks;
  else draft.task.networks = networks;
}

function updateMode(draft: Draft<ServiceSpec>, o: ServiceUpdateOptions, p: Problems): void {
  const mode = draft.mode;
  if (o.replicas !== undefined) {
    const text = o.replicas;
    const n = p.check(() => parseWhole(text, '--replicas', 0, maxReplicas));
    if (mode.kind === 'replicated') {
      if (n !== undefined) mode.replicas = n;
    } else if (mode.kind === 'replicated-job') {
      if (n !== undefined) mode.totalCompletions = n;
    } else {
      p.add(`--replicas cannot be used with a ${mode.kind} service`);
    }
  }
  if (o.maxConcurrent !== undefined) {
    const text = o.maxConcurrent;
    const n = p.check(() => parseWhole(text, '--max-concurrent', 1, maxReplicas));
    if (mode.kind !== 'replicated-job') {
      p.add(`--max-concurrent is only for replicated-job services, not a ${mode.kind} service`);
    } else if (n !== undefined) mode.maxConcurrent = n;
  }
}

/**
 * The spec after `service update` with these flags: a flag that is absent leaves its field as it
 * is, so no flags at all give back a deep-equal spec. Lists keep their order (Docker sorts some
 * of them; orca keeps what the user built): a changed entry stays where it was, a new one goes
 * last. Removing what is not there is not an error, as in Docker. Problems are collected and
 * thrown together as one InvalidFlagsError.
 */
export function serviceSpecFromUpdate(
  current: ServiceSpec,
  o: ServiceUpdateOptions,
  ctx: SpecContext = processContext(),
): ServiceSpec {
  const p = new Problems();
  const draft = structuredClone(current) as Draft<ServiceSpec>;
  const c = draft.task.container;
  const placement = draft.task.placement;

  if (o.image !== undefined) {
    checkImage(o.image, '--image', p);
    c.image = o.image;
  }
  if (o.args !== undefined) {
    const text = o.args;
    const words = p.check(() => splitShellWords(text, '--args'));
    if (words !== undefined) {
      if (words.length === 0) delete c.args;
      else c.args = words;
    }
  }
  if (o.force === true) draft.task.forceUpdate += 1;

  if (o.envRm !== undefined || o.envAdd !== undefined) {
    const rm = new Set(o.envRm ?? []);
    let env = c.env.filter((e) => !rm.has(envKey(e)));
    for (const text of o.envAdd ?? []) {
      const entry = p.check(() => parseEnvFlag(text, '--env-add', ctx.lookupEnv));
      if (entry === undefined) continue;
      const key = envKey(entry);
      const at = env.findIndex((e) => envKey(e) === key);
      // a bare KEY that is not set in the environment unsets KEY, as the engine treats it
      if (!entry.includes('=')) env = env.filter((e) => envKey(e) !== key);
      else if (at === -1) env.push(entry);
      else env[at] = entry;
    }
    c.env = env;
  }

  const updateLabels = (
    labels: Record<string, string>,
    rm: readonly string[] | undefined,
    add: readonly string[] | undefined,
    addFlag: string,
  ) => {
    for (const key of rm ?? []) delete labels[key];
    Object.assign(labels, labelsFrom(add ?? [], addFlag, p));
  };
  updateLabels(draft.labels, o.labelRm, o.labelAdd, '--label-add');
  updateLabels(c.labels, o.containerLabelRm, o.containerLabelAdd, '--container-label-add');

  for (const text of o.constraintAdd ?? []) {
    if (
      p.check(() => parseConstraint(text, '--constraint-add')) !== undefined &&
      !placement.constraints.includes(text)
    ) {
      placement.constraints.push(text);
    }
  }
  if (o.constraintRm !== undefined) {
    const rm = new Set(o.constraintRm);
    placement.constraints = placement.constraints.filter((x) => !rm.has(x));
  }

  if (o.placementPrefRm !== undefined) {
    const rm = new Set<string>();
    for (const text of o.placementPrefRm) {
      const pref = p.check(() => parsePlacementPref(text, '--placement-pref-rm'));
      if (pref !== undefined) rm.add(pref.spread);
    }
    placement.preferences = placement.preferences.filter((x) => !rm.has(x.spread));
  }
  for (const text of o.placementPrefAdd ?? []) {
    const pref = p.check(() => parsePlacementPref(text, '--placement-pref-add'));
    if (pref !== undefined) placement.preferences.push(pref);
  }

  if (o.mountAdd !== undefined) {
    for (const m of mountsFrom(o.mountAdd, '--mount-add', p, ctx)) {
      const at = c.mounts.findIndex((x) => x.target === m.target);
      if (at === -1) c.mounts.push(m);
      else c.mounts[at] = m;
    }
  }
  if (o.mountRm !== undefined) {
    const rm = new Set(o.mountRm);
    c.mounts = c.mounts.filter((m) => !rm.has(m.target));
  }

  updateEndpoint(draft, o, p);
  updateNetworks(draft, o, p, ctx);
  updateMode(draft, o, p);
  applySharedOptions(draft, o, p);
  checkSharedConsistency(draft, o, p, false);
  checkEndpoint(draft, p);
  p.throwIfAny();
  return draft;
}

export const serviceUpdateHelpText = `
Examples:
  # a new image, rolled out two tasks at a time
  orca service update --image nginx:1.27.1 --update-parallelism 2 web

  # add or change one variable, drop another; move to nodes labelled for it
  orca service update --env-add LOG_LEVEL=debug --env-rm OLD_FLAG \\
    --constraint-add node.labels.tier==frontend --constraint-rm node.role==manager web

  # swap a mount, raise the memory limit, scale to 5
  orca service update --mount-rm /data --mount-add type=volume,src=web-data,dst=/srv/data \\
    --limit-memory 1G --replicas 5 web

  # publish another port, stop publishing 8080
  orca service update --publish-add 8443:443 --publish-rm 8080 web

  # move from one network to another (the tasks are replaced)
  orca service update --network-rm frontend --network-add name=backend,alias=app web

  # replace every task although nothing changed (e.g. to pull :latest again)
  orca service update --force web

Flags that are not given leave the service as it is.`;
