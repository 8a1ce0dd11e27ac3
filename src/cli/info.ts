import type { Command } from 'commander';
import type { Info } from '../api/control-wire.ts';
import { hostOf, outputFormat } from './common.ts';
import { callDaemon } from './control-client.ts';
import { json } from './output.ts';

export function formatInfo(i: Info): string {
  const lines = [`Swarm: ${i.swarm}`];
  if (i.message !== '') lines.push(` Message: ${i.message}`);
  if (i.swarm !== 'inactive') {
    lines.push(` NodeID: ${i.nodeId}`, ` Is Manager: ${i.isManager}`);
    // As Docker's: a worker holds no cluster state, so it has no counts or settings to show.
    if (i.isManager) lines.push(` ClusterID: ${i.clusterId}`);
    // A locked manager has read nothing of the cluster yet.
    if (i.isManager && i.swarm !== 'locked') {
      lines.push(` Managers: ${i.managers}`, ` Nodes: ${i.nodes}`);
    }
    if (i.cluster !== null) {
      lines.push(
        ' Orchestration:',
        `  Task History Retention Limit: ${i.cluster.spec.taskHistoryLimit}`,
        ' Dispatcher:',
        `  Heartbeat Period: ${i.cluster.spec.dispatcherHeartbeatMs / 1000} seconds`,
        ` Autolock Managers: ${i.cluster.spec.autolock === true}`,
      );
    }
    if (i.raft !== null) {
      lines.push(
        ' Raft:',
        `  Term: ${i.raft.term}`,
        `  Leader: ${i.raft.leader ?? '(none)'}`,
        `  Role: ${i.raft.role}`,
        `  Commit Index: ${i.raft.commit}`,
        `  Applied Index: ${i.raft.applied}`,
      );
    }
    if (i.advertiseAddr !== '') lines.push(` Node Address: ${i.advertiseAddr}`);
    if (i.isManager) lines.push(` Listen Address: ${i.listenAddr}`);
    lines.push(' Manager Addresses:', ...i.managerAddresses.map((a) => `  ${a}`));
  }
  lines.push(
    `Orca Version: ${i.orcaVersion}`,
    `Data Dir: ${i.dataDir}`,
    `Docker Host: ${i.dockerHost}`,
  );
  return `${lines.join('\n')}\n`;
}

export function addInfoCommand(program: Command): void {
  program
    .command('info')
    .description('show the daemon and the swarm it belongs to')
    .option('--format <format>', 'table (a short report) or json', 'table')
    .addHelpText(
      'after',
      `
Examples:
  orca info
  orca info --format json | jq -r .raft.leader`,
    )
    .action(async (o: { format?: string }, cmd: Command) => {
      const format = outputFormat(o.format, 'table');
      const info = await callDaemon(hostOf(cmd), 'Info', {});
      process.stdout.write(format === 'json' ? json(info) : formatInfo(info));
    });
}
