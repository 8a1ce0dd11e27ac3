import type { Command } from 'commander';
import { parseGateway, parseSubnet } from '../api/ipv4.ts';
import type { Network, NetworkSpec } from '../api/objects.ts';
import { InvalidFlagsError } from '../errors.ts';
import { collect, forEachRef, hostOf, outputFormat } from './common.ts';
import { callDaemon } from './control-client.ts';
import { json, table } from './output.ts';
import { shortId } from './service-format.ts';
import { labelsFrom } from './service-spec/create-flags.ts';
import { Problems } from './service-spec/problems.ts';

// `docker network create --driver overlay` and its companions. orca has one kind of network,
// the overlay spanning the swarm, so the commands keep Docker's flags and columns and refuse
// what only local drivers have.

export interface NetworkCreateOptions {
  readonly driver?: string;
  readonly subnet?: readonly string[];
  readonly gateway?: readonly string[];
  readonly attachable?: boolean;
  readonly internal?: boolean;
  readonly label?: readonly string[];
}

const nameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** One of a repeatable flag Docker takes several of, where an orca network has one. */
function single(values: readonly string[] | undefined, flag: string, p: Problems) {
  if (values === undefined) return undefined;
  if (values.length > 1) p.add(`${flag}: an orca network has one ${flag.slice(2)}; give it once`);
  return values[values.length - 1];
}

/**
 * The NetworkSpec a `network create` line asks for, every problem collected into one
 * InvalidFlagsError (exit 2) naming the flag. Whether the subnet is free is the manager's call.
 */
export function networkSpecFromCreate(name: string, o: NetworkCreateOptions): NetworkSpec {
  const p = new Problems();
  if (!nameRe.test(name) || name.length > 63) {
    p.add(
      `NAME: "${name}" is not a network name (letters, digits, _ . -, starting with a letter or digit, at most 63 characters)`,
    );
  }
  if (o.driver !== undefined && o.driver !== 'overlay') {
    p.add(
      `--driver: "${o.driver}" is not available: orca networks are overlay networks spanning the swarm (use --driver overlay, or leave it out)`,
    );
  }
  const subnetText = single(o.subnet, '--subnet', p);
  const gatewayText = single(o.gateway, '--gateway', p);
  const subnet =
    subnetText === undefined ? undefined : p.check(() => parseSubnet(subnetText, '--subnet'));
  if (gatewayText !== undefined) {
    if (subnetText === undefined) p.add('--gateway needs --subnet: a gateway is inside a subnet');
    else if (subnet !== undefined) p.check(() => parseGateway(gatewayText, subnet, '--gateway'));
  }
  const labels = labelsFrom(o.label ?? [], '--label', p);
  p.throwIfAny();
  return {
    name,
    labels,
    driver: 'overlay',
    attachable: o.attachable === true,
    ...(o.internal === true ? { internal: true } : {}),
    ...(subnetText === undefined
      ? {}
      : {
          ipam: {
            subnet: subnetText,
            ...(gatewayText === undefined ? {} : { gateway: gatewayText }),
          },
        }),
  };
}

/**
 * The id a reference names among `networks`, as the manager resolves it (id, name, unique id
 * prefix); undefined for none or an ambiguous prefix.
 */
export function networkIdResolver(
  networks: readonly Network[],
): (ref: string) => string | undefined {
  return (ref) => {
    const exact =
      networks.find((n) => n.meta.id === ref) ?? networks.find((n) => n.spec.name === ref);
    if (exact !== undefined) return exact.meta.id;
    const matches = ref === '' ? [] : networks.filter((n) => n.meta.id.startsWith(ref));
    return matches.length === 1 ? matches[0]?.meta.id : undefined;
  };
}

/** Docker's `network ls` columns; every orca network spans the swarm. */
export function formatNetworkTable(networks: readonly Network[], trunc = true): string {
  return table(
    ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
    networks.map((n) => [
      trunc ? shortId(n.meta.id) : n.meta.id,
      n.spec.name,
      n.spec.driver,
      'swarm',
    ]),
  );
}

export function addNetworkCommands(program: Command): void {
  const network = program
    .command('network')
    .description('manage the overlay networks of the swarm')
    .addHelpText(
      'after',
      `
Examples:
  orca network create backend
  orca network ls
  orca service create --name db --network backend postgres:17
  orca network rm backend`,
    );

  network
    .command('create')
    .description('create an overlay network spanning the swarm (prints its id)')
    .argument('<name>', 'the network name')
    .option(
      '-d, --driver <driver>',
      'Driver to manage the Network (only "overlay") (default "overlay")',
    )
    .option('--subnet <cidr>', 'Subnet in CIDR format (default: a free /24 of 10.0.0.0/8)', collect)
    .option('--gateway <ip>', 'IPv4 Gateway for the subnet (default: its first address)', collect)
    .option('--attachable', 'Enable manual container attachment')
    .option('--internal', 'Restrict external access to the network')
    .option('--label <list>', 'Set metadata on a network', collect)
    .addHelpText(
      'after',
      `
Examples:
  orca network create backend
  orca network create --subnet 10.20.0.0/16 --gateway 10.20.0.254 --label team=data data
  orca network create --internal --attachable private

Without --subnet a network gets the first /24 of 10.0.0.0/8 that no other orca network uses.`,
    )
    .action(async (name: string, o: NetworkCreateOptions, cmd: Command) => {
      const spec = networkSpecFromCreate(name, o);
      const created = await callDaemon(hostOf(cmd), 'NetworkCreate', { spec });
      process.stdout.write(`${created.meta.id}\n`);
    });

  network
    .command('ls')
    .alias('list')
    .description('list the networks')
    .option('-q, --quiet', 'print the ids only')
    .option('--no-trunc', 'show the ids in full')
    .option('--format <format>', 'table or json (one JSON array of networks)', 'table')
    .addHelpText(
      'after',
      `
Examples:
  orca network ls
  orca network ls --format json | jq -r '.[] | "\\(.spec.name) \\(.subnet)"'`,
    )
    .action(async (o: { quiet?: boolean; trunc?: boolean; format?: string }, cmd: Command) => {
      const format = outputFormat(o.format, 'table');
      const { networks } = await callDaemon(hostOf(cmd), 'NetworkList', {});
      const trunc = o.trunc !== false;
      if (o.quiet === true) {
        process.stdout.write(
          networks.map((n) => `${trunc ? shortId(n.meta.id) : n.meta.id}\n`).join(''),
        );
      } else if (format === 'json') {
        process.stdout.write(json(networks));
      } else {
        process.stdout.write(formatNetworkTable(networks, trunc));
      }
    });

  network
    .command('inspect')
    .description('show networks as JSON (an array, as docker network inspect)')
    .argument('<network...>', 'id, name, or unique id prefix')
    .option('--format <format>', 'json (the only format)')
    .addHelpText(
      'after',
      `
Examples:
  orca network inspect backend
  orca network inspect backend | jq -r '.[0].subnet'`,
    )
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      if (o.format !== undefined && o.format !== 'json') {
        throw new InvalidFlagsError([`--format: "${o.format}" is not json, the only format here`]);
      }
      const host = hostOf(cmd);
      const out: Network[] = [];
      for (const ref of refs) out.push(await callDaemon(host, 'NetworkInspect', { network: ref }));
      process.stdout.write(json(out));
    });

  network
    .command('rm')
    .alias('remove')
    .description('remove networks (refused while a service is attached)')
    .argument('<network...>', 'id, name, or unique id prefix')
    .addHelpText(
      'after',
      `
Examples:
  orca network rm backend
  orca network rm $(orca network ls -q)`,
    )
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const host = hostOf(cmd);
      await forEachRef(refs, 'networks', async (ref) => {
        await callDaemon(host, 'NetworkRemove', { network: ref });
        process.stdout.write(`${ref}\n`);
      });
    });
}
