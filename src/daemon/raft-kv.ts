import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  BadRequestError,
  NotLeaderError,
  OrcaError,
  ProposalDroppedError,
  ProposalUnknownError,
} from '../errors.ts';
import { encodeKvCommand, type KvCommand, KvMachine, type KvResult } from '../raft/kv.ts';
import { RaftNode } from '../raft/node.ts';
import type { Logger } from './logger.ts';

/**
 * `orca raft-kv`: one member of a replicated key-value store on orca's Raft log, served over a
 * small JSON HTTP API. It is what the Raft tests, the benchmark against etcd and the demo run
 * until the cluster store (issue 3) takes the key-value machine's place.
 */
export interface RaftKvOptions {
  readonly id: string;
  readonly dataDir: string;
  readonly listen: string;
  readonly clientListen: string;
  readonly initialCluster?: readonly { id: string; addr: string }[];
  readonly clusterId?: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEvery: number;
  readonly logger: Logger;
}

/** Parses `n1=host:port,n2=host:port`; throws naming the flag and the bad part. */
export function parseInitialCluster(text: string): { id: string; addr: string }[] {
  const members = text.split(',').map((part) => {
    const m = /^([A-Za-z0-9._-]+)=([^=\s]+:\d+)$/.exec(part.trim());
    if (m === null) {
      throw new BadRequestError(
        `--initial-cluster: "${part}" is not id=host:port (example: n1=10.0.0.1:7001,n2=10.0.0.2:7001)`,
      );
    }
    return { id: m[1] as string, addr: m[2] as string };
  });
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length)
    throw new BadRequestError('--initial-cluster names a member twice');
  return members;
}

/** A stable id for a new cluster, so that data dirs of different clusters are never mixed. */
export function clusterIdFor(initialCluster: readonly { id: string; addr: string }[]): string {
  const canonical = [...initialCluster]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((m) => `${m.id}=${m.addr}`)
    .join(',');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function field(
  body: Record<string, unknown>,
  name: string,
  opts: { nullable?: boolean } = {},
): string | null {
  const v = body[name];
  if (opts.nullable === true && v === null) return null;
  if (typeof v !== 'string' || (name === 'key' && v.length === 0)) {
    throw new BadRequestError(
      `field "${name}" must be a ${name === 'key' ? 'non-empty ' : ''}string${opts.nullable === true ? ' or null' : ''}`,
    );
  }
  return v;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequestError('the request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError('the request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function errorStatus(err: unknown): number {
  if (err instanceof BadRequestError) return 400;
  if (err instanceof NotLeaderError || err instanceof ProposalDroppedError) return 503;
  if (err instanceof ProposalUnknownError) return 504;
  if (err instanceof OrcaError) return 409;
  return 500;
}

export interface RaftKvServer {
  readonly node: RaftNode;
  readonly clientAddr: string;
  stop(): Promise<void>;
}

export async function startRaftKv(opts: RaftKvOptions): Promise<RaftKvServer> {
  const clusterId =
    opts.clusterId ??
    (opts.initialCluster === undefined ? undefined : clusterIdFor(opts.initialCluster));
  if (clusterId === undefined) {
    throw new BadRequestError(
      'give --initial-cluster for a new cluster, or --cluster-id to join one',
    );
  }
  // Every flag is checked before anything starts, so bad input changes nothing.
  const [host, port] = splitHostPort(opts.clientListen, '--client-listen');
  splitHostPort(opts.listen, '--listen');
  const machine = new KvMachine();
  const node = await RaftNode.start({
    id: opts.id,
    clusterId,
    dataDir: opts.dataDir,
    listenAddr: opts.listen,
    ...(opts.initialCluster === undefined ? {} : { initialCluster: opts.initialCluster }),
    tickMs: opts.tickMs,
    raft: { electionTick: opts.electionTicks },
    snapshotEvery: opts.snapshotEvery,
    machine,
    logger: opts.logger,
  });

  const write = async (cmd: KvCommand) => (await node.propose(encodeKvCommand(cmd))) as KvResult;
  const routes: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    'POST /v1/put': async (b) => {
      await write({
        op: 'put',
        key: field(b, 'key') as string,
        value: field(b, 'value') as string,
      });
      return { index: node.status().applied };
    },
    'POST /v1/get': async (b) => {
      const key = field(b, 'key') as string;
      await node.linearizableBarrier();
      return { value: machine.get(key) };
    },
    'POST /v1/cas': async (b) => {
      const r = await write({
        op: 'cas',
        key: field(b, 'key') as string,
        expect: field(b, 'expect', { nullable: true }),
        value: field(b, 'value') as string,
      });
      return { ok: r.ok, value: r.value };
    },
    'POST /v1/delete': async (b) => {
      await write({ op: 'delete', key: field(b, 'key') as string });
      return { index: node.status().applied };
    },
    'GET /v1/status': async () => node.status(),
    // Membership, on the leader (others answer 503 naming it): a new member joins as a learner,
    // is promoted once it has caught up, and any member can be removed.
    'POST /v1/members/add-learner': async (b) => {
      const addr = field(b, 'addr') as string;
      splitHostPort(addr, 'field "addr"');
      await node.addLearner(field(b, 'id') as string, addr);
      return node.status();
    },
    'POST /v1/members/promote': async (b) => {
      await node.promote(field(b, 'id') as string);
      return node.status();
    },
    'POST /v1/members/remove': async (b) => {
      await node.removeMember(field(b, 'id') as string);
      return node.status();
    },
    'POST /v1/leader/transfer': async (b) => {
      await node.transferLeadership(field(b, 'id') as string);
      return node.status();
    },
  };

  const server: Server = createServer((req, res) => {
    const route = routes[`${req.method} ${req.url}`];
    if (route === undefined) {
      send(res, 404, {
        error: 'ORCA_NOT_FOUND',
        message: `no such endpoint: ${req.method} ${req.url}`,
      });
      return;
    }
    readJson(req)
      .then(route)
      .then(
        (body) => send(res, 200, body),
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          const status = errorStatus(e);
          if (status === 500) opts.logger.warn({ err: e }, 'request failed');
          send(res, status, {
            error: e instanceof OrcaError ? e.code : 'ORCA_INTERNAL',
            message: e.message,
            ...(e instanceof NotLeaderError ? { leader: e.leader } : {}),
          });
        },
      );
  });
  server.keepAliveTimeout = 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    await node.stop();
    throw new OrcaError(
      'ORCA_LISTEN',
      `--client-listen ${opts.clientListen}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const addr = server.address();
  const clientAddr =
    typeof addr === 'object' && addr !== null ? `${host}:${addr.port}` : opts.clientListen;
  return {
    node,
    clientAddr,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await node.stop();
    },
  };
}

export function splitHostPort(addr: string, flag: string): [string, number] {
  const m = /^(.+):(\d+)$/.exec(addr);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new BadRequestError(`${flag}: "${addr}" is not host:port (example: 127.0.0.1:7001)`);
  }
  return [m[1] as string, port];
}
