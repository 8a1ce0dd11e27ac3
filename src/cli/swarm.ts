import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { SwarmJoinTokenResponse, SwarmUpdateRequest } from '../api/control-wire.ts';
import { InvalidFlagsError, NotManagerError, OrcaError, SwarmLockedError } from '../errors.ts';
import { hostOf } from './common.ts';
import { callDaemon } from './control-client.ts';
import { parseDuration } from './service-spec/durations.ts';
import { Problems } from './service-spec/problems.ts';
import {
  addSwarmLockCommands,
  currentUnlockKey,
  parseAutolock,
  unlockInstructions,
} from './swarm-lock.ts';

/**
 * `--task-history-limit`, `--dispatcher-heartbeat` and `--autolock`, shared by init and
 * update; every problem at once.
 */
export function clusterSettings(o: {
  taskHistoryLimit?: string;
  dispatcherHeartbeat?: string;
  autolock?: string | boolean;
  certExpiry?: string;
}): SwarmUpdateRequest {
  const p = new Problems();
  const out: {
    taskHistoryLimit?: number;
    dispatcherHeartbeatMs?: number;
    autolock?: boolean;
    certExpiryMs?: number;
  } = {};
  if (o.certExpiry !== undefined) {
    const text = o.certExpiry;
    const ms = p.check(() => parseDuration(text, '--cert-expiry'));
    if (ms !== undefined && ms < 3_600_000) p.add(`--cert-expiry: "${text}" is shorter than 1h`);
    else if (ms !== undefined) out.certExpiryMs = ms;
  }
  const autolock = p.check(() => parseAutolock(o.autolock));
  if (autolock !== undefined) out.autolock = autolock;
  if (o.taskHistoryLimit !== undefined) {
    const limit = Number(o.taskHistoryLimit);
    if (!/^\d+$/.test(o.taskHistoryLimit) || !Number.isSafeInteger(limit)) {
      p.add(`--task-history-limit: "${o.taskHistoryLimit}" is not a whole number of 0 or more`);
    } else out.taskHistoryLimit = limit;
  }
  if (o.dispatcherHeartbeat !== undefined) {
    const text = o.dispatcherHeartbeat;
    const ms = p.check(() => parseDuration(text, '--dispatcher-heartbeat'));
    if (ms !== undefined && ms < 100) {
      p.add(`--dispatcher-heartbeat: "${text}" is shorter than 100ms`);
    } else if (ms !== undefined && ms > 86_400_000) {
      p.add(`--dispatcher-heartbeat: "${text}" is longer than 24h`);
    } else if (ms !== undefined) out.dispatcherHeartbeatMs = ms;
  }
  p.throwIfAny();
  return out;
}

export function addSwarmCommands(program: Command): void {
  const swarm = program
    .command('swarm')
    .description('manage the swarm')
    .addHelpText(
      'after',
      `
Examples:
  orca swarm init --advertise-addr 10.0.0.5
  orca swarm join-token worker
  orca swarm join --token ORCA-1-... 10.0.0.5:2377
  orca swarm init --autolock
  orca swarm unlock
  orca swarm leave --force`,
    );

  swarm
    .command('init')
    .description('create a swarm with this node as its first manager')
    .option(
      '--advertise-addr <host[:port]>',
      "address other nodes dial (default: the daemon's --advertise-addr, the listen host, or the first non-loopback IPv4)",
    )
    .option(
      '--listen-addr <host:port>',
      "cluster address to listen on (default: the daemon's --listen-addr, 0.0.0.0:2377)",
    )
    .option(
      '--data-path-addr <ip>',
      "address other nodes reach this node's published ports at (routing mesh traffic; default: the advertise address)",
    )
    .option('--task-history-limit <n>', 'retained tasks per slot (default 5)')
    .option(
      '--dispatcher-heartbeat <duration>',
      'how often workers report; one silent for 3 periods is marked down (default 2s; Swarm: 5s)',
    )
    .option(
      '--autolock [bool]',
      'a restarted manager stays locked until "orca swarm unlock" is given the key printed here',
    )
    .option('--ca-cert <file>', "the swarm's root CA certificate (PEM), instead of a new CA")
    .option('--ca-key <file>', 'the private key of --ca-cert (PEM, P-256)')
    .option(
      '--force-new-cluster',
      'on a manager whose swarm lost its quorum for good: become its only manager, keeping its state',
    )
    .addHelpText(
      'after',
      `
Examples:
  orca swarm init
  orca swarm init --advertise-addr 10.0.0.5 --task-history-limit 10
  orca swarm init --dispatcher-heartbeat 1s    # a dead worker's tasks move after about 3 s
  orca swarm init --autolock                   # prints the unlock key: keep it safe
  orca swarm init --force-new-cluster          # two of three managers lost for good
  orca swarm init --ca-cert ca.crt --ca-key ca.key   # certificates from your own root CA`,
    )
    .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
      const host = hostOf(cmd);
      if (o.forceNewCluster === true) {
        const res = await callDaemon(host, 'SwarmInit', { forceNewCluster: true });
        process.stdout.write(
          `Swarm initialized: current node (${res.nodeId}) is now the only manager; the state of the swarm is kept.\n`,
        );
        return;
      }
      const text = o as Record<string, string | undefined>;
      const settings = clusterSettings(text);
      const res = await callDaemon(host, 'SwarmInit', {
        ...settings,
        ...(text.advertiseAddr === undefined ? {} : { advertiseAddr: text.advertiseAddr }),
        ...(text.listenAddr === undefined ? {} : { listenAddr: text.listenAddr }),
        ...(text.dataPathAddr === undefined ? {} : { dataPathAddr: text.dataPathAddr }),
        ...(await caFiles(text.caCert, text.caKey)),
      });
      process.stdout.write(`Swarm initialized: current node (${res.nodeId}) is now a manager.\n\n`);
      // As Docker's: the worker's join command, and where to find the manager's.
      const worker = await callDaemon(host, 'SwarmJoinToken', { role: 'worker' });
      process.stdout.write(
        `${joinInstructions(worker)}To add a manager to this swarm, run 'orca swarm join-token manager' and follow the instructions.\n\n`,
      );
      if (settings.autolock === true) {
        process.stdout.write(unlockInstructions(await currentUnlockKey(host)));
      }
    });

  swarm
    .command('join')
    .description('join a swarm as a node, through one of its managers')
    .argument('<HOST:PORT>', "a manager's cluster address (port 2377 when absent)")
    .requiredOption(
      '--token <token>',
      'the join token (orca swarm join-token worker, on a manager)',
    )
    .option(
      '--advertise-addr <host[:port]>',
      'address other nodes reach this one at (default: the address it dials the manager from)',
    )
    .option(
      '--listen-addr <host:port>',
      "cluster address to listen on once a manager (default: the daemon's --listen-addr, 0.0.0.0:2377)",
    )
    .option(
      '--data-path-addr <ip>',
      "address other nodes reach this node's published ports at (routing mesh traffic; default: the advertise address)",
    )
    .addHelpText(
      'after',
      `
Examples:
  orca swarm join --token ORCA-1-... 10.0.0.5:2377
  orca swarm join --token "$(ssh manager orca swarm join-token -q worker)" 10.0.0.5
  orca swarm join --token ORCA-1-... --advertise-addr 10.0.0.7 10.0.0.5:2377`,
    )
    .action(
      async (
        remoteAddr: string,
        o: { token: string; advertiseAddr?: string; listenAddr?: string; dataPathAddr?: string },
        cmd: Command,
      ) => {
        const res = await callDaemon(hostOf(cmd), 'SwarmJoin', {
          token: o.token,
          remoteAddr,
          ...(o.advertiseAddr === undefined ? {} : { advertiseAddr: o.advertiseAddr }),
          ...(o.listenAddr === undefined ? {} : { listenAddr: o.listenAddr }),
          ...(o.dataPathAddr === undefined ? {} : { dataPathAddr: o.dataPathAddr }),
        });
        process.stdout.write(
          res.sessionOpen
            ? `This node joined a swarm as a ${res.role}.\n`
            : 'Timeout was reached before node joined. The attempt to join the swarm will continue ' +
                'in the background. Use the "orca info" command to see the current swarm status of your node.\n',
        );
      },
    );

  swarm
    .command('join-token')
    .description('print the command (or with -q the token) that joins a node as ROLE')
    .argument('<role>', 'worker or manager')
    .option('-q, --quiet', 'print the token only')
    .option('--rotate', "replace the role's token: the old one admits nobody from now on")
    .addHelpText(
      'after',
      `
Nodes that joined with a rotated token stay in the swarm.

Examples:
  orca swarm join-token worker
  orca swarm join-token -q worker
  orca swarm join-token --rotate worker`,
    )
    .action(async (role: string, o: { quiet?: boolean; rotate?: boolean }, cmd: Command) => {
      if (role !== 'worker' && role !== 'manager') {
        throw new InvalidFlagsError([`role: "${role}" is not a role; give worker or manager`]);
      }
      const res = await callDaemon(hostOf(cmd), 'SwarmJoinToken', {
        role,
        rotate: o.rotate === true,
      });
      if (o.quiet === true) {
        process.stdout.write(`${res.token}\n`);
        return;
      }
      if (o.rotate === true) process.stdout.write(`Successfully rotated ${role} join token.\n\n`);
      process.stdout.write(joinInstructions(res));
    });

  swarm
    .command('leave')
    .description('leave the swarm (a manager needs --force: it removes its copy of the state)')
    .option('-f, --force', 'leave even as a manager; the last manager leaving erases the swarm')
    .addHelpText(
      'after',
      `
Examples:
  orca swarm leave --force`,
    )
    .action(async (o: { force?: boolean }, cmd: Command) => {
      await callDaemon(hostOf(cmd), 'SwarmLeave', { force: o.force === true });
      process.stdout.write('Node left the swarm.\n');
    });

  swarm
    .command('update')
    .description("change the swarm's settings (those not given are kept)")
    .option('--task-history-limit <n>', 'retained tasks per slot')
    .option(
      '--dispatcher-heartbeat <duration>',
      'how often workers report; one silent for 3 periods is marked down',
    )
    .option(
      '--autolock [bool]',
      'true: managers need the unlock key (printed here) to restart; false: they restart by themselves',
    )
    .option(
      '--cert-expiry <duration>',
      'validity of node certificates issued from now on (default 2160h, 90 days; at least 1h)',
    )
    .addHelpText(
      'after',
      `
Examples:
  orca swarm update --task-history-limit 2
  orca swarm update --dispatcher-heartbeat 1s
  orca swarm update --autolock=true     # prints the unlock key
  orca swarm update --autolock=false
  orca swarm update --cert-expiry 720h  # certificates of 30 days`,
    )
    .action(
      async (
        o: {
          taskHistoryLimit?: string;
          dispatcherHeartbeat?: string;
          autolock?: string | boolean;
          certExpiry?: string;
        },
        cmd: Command,
      ) => {
        const settings = clusterSettings(o);
        if (Object.keys(settings).length === 0) {
          throw new InvalidFlagsError([
            'nothing to update: give --task-history-limit, --dispatcher-heartbeat, --autolock or --cert-expiry',
          ]);
        }
        const host = hostOf(cmd);
        // As Docker: the key is shown when this update turns autolock on.
        const wasLocking =
          settings.autolock === true &&
          (await callDaemon(host, 'Info', {})).cluster?.spec.autolock === true;
        await callDaemon(host, 'SwarmUpdate', settings);
        process.stdout.write('Swarm updated.\n');
        if (settings.autolock === true && !wasLocking) {
          process.stdout.write(unlockInstructions(await currentUnlockKey(host)));
        }
      },
    );

  addSwarmLockCommands(swarm);

  swarm
    .command('ca')
    .description("print the swarm's root CA certificate (PEM)")
    .addHelpText(
      'after',
      `
Examples:
  orca swarm ca
  orca swarm ca | openssl x509 -noout -subject -enddate`,
    )
    .action(async (_o: unknown, cmd: Command) => {
      const info = await callDaemon(hostOf(cmd), 'Info', {});
      if (info.swarm === 'active' && !info.isManager) throw new NotManagerError();
      if (info.swarm === 'locked') throw new SwarmLockedError();
      const certPem = info.cluster?.rootCa?.certPem;
      if (certPem === undefined) {
        throw new OrcaError(
          'ORCA_SWARM_INACTIVE',
          info.swarm === 'active'
            ? 'this swarm has no root CA yet; restart its daemon to create one'
            : 'this node is not part of a swarm; create one with "orca swarm init"',
        );
      }
      process.stdout.write(certPem.endsWith('\n') ? certPem : `${certPem}\n`);
    });
}

/** What Docker prints for a join token: the command to run on the node to add. */
function joinInstructions(t: SwarmJoinTokenResponse): string {
  return (
    `To add a ${t.role} to this swarm, run the following command:\n\n` +
    `    orca swarm join --token ${t.token} ${t.managerAddr}\n\n`
  );
}

/** The PEM texts of --ca-cert and --ca-key, read here: the daemon may not see the CLI's files. */
async function caFiles(
  certFile: string | undefined,
  keyFile: string | undefined,
): Promise<{ caCertPem?: string; caKeyPem?: string }> {
  if (certFile === undefined && keyFile === undefined) return {};
  if (certFile === undefined || keyFile === undefined) {
    throw new InvalidFlagsError([
      '--ca-cert, --ca-key: give both, the root CA certificate and its private key',
    ]);
  }
  const read = async (file: string, flag: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new InvalidFlagsError([`${flag}: cannot read ${file}: ${(err as Error).message}`]);
    }
  };
  return {
    caCertPem: await read(certFile, '--ca-cert'),
    caKeyPem: await read(keyFile, '--ca-key'),
  };
}
