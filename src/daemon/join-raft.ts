// A joined manager's second step: with the manager certificate its admission gave it, it asks
// the leader to add it to the Raft group (as a learner; the leader promotes it once its log has
// caught up). A follower answers with the leader's address, and the request goes there; an
// unreachable manager or an election in progress is retried until the deadline.

import { setTimeout as delay } from 'node:timers/promises';
import { CaClient } from '../api/ca-wire.ts';
import { type NodeTlsMaterial, nodeClientTls } from '../ca/index.ts';
import { OrcaError } from '../errors.ts';

export interface JoinRaftOptions {
  /** The manager to ask first: the one the node was admitted through. */
  readonly via: string;
  /** This manager's advertised cluster address, which the others will dial. */
  readonly raftAddr: string;
  readonly tls: NodeTlsMaterial;
  readonly stopped: () => boolean;
  /** Give up after this long (default 60 s). */
  readonly timeoutMs?: number;
}

/** Errors that another attempt may get past: no answer, no leader yet, a leader change. */
const retried = new Set(['ORCA_JOIN', 'ORCA_NOT_LEADER', 'ORCA_SWARM_PENDING', 'ORCA_STOPPED']);

export async function joinRaftGroup(opts: JoinRaftOptions): Promise<void> {
  const { credentials, channelOptions } = nodeClientTls(opts.tls, { role: 'manager' });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let addr = opts.via;
  let last = '';
  while (Date.now() < deadline) {
    if (opts.stopped()) throw new OrcaError('ORCA_STOPPED', 'the daemon is stopping');
    const ca = new CaClient(addr, credentials, channelOptions);
    try {
      const res = await ca.call('JoinRaft', { raftAddr: opts.raftAddr }, 10_000);
      if ('joined' in res) return;
      last = `${addr} is not the leader`;
      if (res.leaderAddr !== null) {
        addr = res.leaderAddr;
        continue;
      }
    } catch (err) {
      if (!(err instanceof OrcaError) || !retried.has(err.code)) throw err;
      last = err.message;
    } finally {
      ca.close();
    }
    await delay(200);
  }
  throw new OrcaError(
    'ORCA_JOIN',
    `could not join the Raft group through ${opts.via} (${last}); is a majority of the managers up?`,
  );
}
