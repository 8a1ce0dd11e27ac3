import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { GrpcTransport, type GrpcTransportOptions } from '../../src/raft/transport.ts';
import { type Message, type MessageType, message } from '../../src/raft/types.ts';
import { waitFor } from '../support/wait.ts';

const CLUSTER = 'cluster-a';

interface Node {
  readonly t: GrpcTransport;
  readonly addr: string;
  readonly received: Message[];
  readonly unreachable: string[];
  readonly snapshotStatus: Array<[string, boolean]>;
  readonly warnings: string[];
  /** Separate receive events (one per delivered batch, roughly). */
  receiveBursts: number;
}

const open: GrpcTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function node(
  nodeId: string,
  opts: Partial<GrpcTransportOptions> = {},
  listenAddr = '127.0.0.1:0',
): Promise<Node> {
  let burstPending = false;
  const n: Omit<Node, 't' | 'addr'> = {
    received: [],
    unreachable: [],
    snapshotStatus: [],
    warnings: [],
    receiveBursts: 0,
  };
  const t = new GrpcTransport({
    nodeId,
    clusterId: CLUSTER,
    listenAddr,
    onMessage: (m) => {
      n.received.push(m);
      if (!burstPending) {
        burstPending = true;
        n.receiveBursts++;
        queueMicrotask(() => {
          burstPending = false;
        });
      }
    },
    onUnreachable: (peer) => n.unreachable.push(peer),
    onSnapshotStatus: (peer, ok) => n.snapshotStatus.push([peer, ok]),
    logger: { warn: (obj, msg) => n.warnings.push(`${msg} ${JSON.stringify(obj)}`) },
    ...opts,
  });
  open.push(t);
  const addr = await t.start();
  return Object.assign(n, { t, addr });
}

function heartbeat(from: string, to: string, seq: number): Message {
  return message({ type: 'heartbeat', from, to, term: 1, commit: seq });
}

/** An address where nothing listens: a port just released by the OS. */
async function deadAddress(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

/** Sends heartbeats from `from` to `to` every few ms, as a leader would, until stopped. */
function keepSending(from: Node, fromId: string, to: string): { stop(): void; sent(): number } {
  let seq = 0;
  const timer = setInterval(() => from.t.send([heartbeat(fromId, to, ++seq)]), 10);
  return { stop: () => clearInterval(timer), sent: () => seq };
}

describe('GrpcTransport', () => {
  it('delivers a burst of messages in order, in a few batches', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    for (let i = 1; i <= 1000; i++) {
      a.t.send([
        message({
          type: 'app',
          from: 'a',
          to: 'b',
          term: 3,
          index: i,
          logTerm: 3,
          commit: i - 1,
          entries: [{ index: i + 1, term: 3, type: 'normal', data: Buffer.from(`put k${i}`) }],
        }),
      ]);
    }
    await waitFor(() => b.received.length >= 1000, { what: '1000 messages at b' });
    assert.equal(b.received.length, 1000);
    b.received.forEach((m, i) => {
      assert.equal(m.index, i + 1);
      assert.equal(m.from, 'a');
      assert.equal(m.to, 'b');
      assert.equal(Buffer.from(m.entries[0]!.data).toString(), `put k${i + 1}`);
    });
    assert.ok(b.receiveBursts <= 5, `1000 messages arrived in ${b.receiveBursts} bursts`);
  });

  it('carries every message type and field unchanged', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    const types: MessageType[] = [
      'app',
      'appResp',
      'vote',
      'voteResp',
      'preVote',
      'preVoteResp',
      'heartbeat',
      'heartbeatResp',
      'timeoutNow',
      'prop',
      'readIndex',
      'readIndexResp',
    ];
    const sent = types.map((type, i) =>
      message({
        type,
        from: 'a',
        to: 'b',
        term: 2 ** 40 + i,
        index: 10 + i,
        logTerm: 5,
        commit: 9,
        reject: i % 2 === 0,
        rejectHint: 7 + i,
        context: Buffer.from(`ctx-${i}`),
        entries: [
          { index: 11 + i, term: 5, type: 'conf', data: Buffer.from('{"type":"addVoter"}') },
          { index: 12 + i, term: 5, type: 'normal', data: new Uint8Array(0) },
        ],
      }),
    );
    a.t.send(sent);
    await waitFor(() => b.received.length === sent.length, { what: 'all types at b' });
    const plain = (m: Message) => ({
      ...m,
      context: Buffer.from(m.context).toString(),
      entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString() })),
    });
    assert.deepEqual(b.received.map(plain), sent.map(plain));
  });

  it('streams a 5 MiB snapshot in chunks and reports it delivered', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const snapshot = {
      meta: { index: 500, term: 4, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } },
      data,
    };
    a.t.send([message({ type: 'snap', from: 'a', to: 'b', term: 4, snapshot })]);
    // Other messages do not wait for the snapshot.
    a.t.send([heartbeat('a', 'b', 1)]);

    const snap = await waitFor(() => b.received.find((m) => m.type === 'snap'), {
      what: 'snapshot at b',
    });
    assert.equal(snap.from, 'a');
    assert.equal(snap.term, 4);
    assert.deepEqual(snap.snapshot?.meta, snapshot.meta);
    assert.ok(Buffer.from(snap.snapshot!.data).equals(data), 'snapshot data differs');
    await waitFor(() => a.snapshotStatus.length > 0, { what: 'snapshot status at a' });
    assert.deepEqual(a.snapshotStatus, [['b', true]]);
    await waitFor(() => b.received.some((m) => m.type === 'heartbeat'), { what: 'heartbeat' });
  });

  it('reports a snapshot to an unreachable peer as failed', async () => {
    const a = await node('a');
    a.t.setPeer('c', await deadAddress());
    const snapshot = {
      meta: { index: 5, term: 1, conf: { voters: ['a'], learners: [] } },
      data: randomBytes(10),
    };
    a.t.send([message({ type: 'snap', from: 'a', to: 'c', term: 1, snapshot })]);
    await waitFor(() => a.snapshotStatus.length > 0, { what: 'snapshot status at a' });
    assert.deepEqual(a.snapshotStatus, [['c', false]]);
  });

  it('a dead peer is reported unreachable and does not hold up a healthy one', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    a.t.setPeer('c', await deadAddress());
    for (let i = 1; i <= 200; i++) {
      a.t.send([heartbeat('a', 'c', i), heartbeat('a', 'b', i)]);
    }
    await waitFor(() => a.unreachable.includes('c'), { what: 'c reported unreachable' });
    await waitFor(() => b.received.length === 200, { what: '200 messages at b' });
    assert.deepEqual(
      b.received.map((m) => m.commit),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.ok(!a.unreachable.includes('b'));
    assert.ok(
      a.warnings.some((w) => w.includes('"peer":"c"')),
      'the failure to reach c is logged',
    );
  });

  it('drops the oldest messages for a peer that does not keep up, and says so', async () => {
    // A peer that accepts connections and never answers: writes to it can only queue up.
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sockets = new Set<net.Socket>();
    silent.on('connection', (s) => sockets.add(s));
    try {
      const debug: string[] = [];
      const a = await node('a', {
        maxQueuedMessages: 100,
        logger: { warn() {}, debug: (_obj, msg) => debug.push(msg) },
      });
      const b = await node('b');
      a.t.setPeer('b', b.addr);
      a.t.setPeer('s', `127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
      for (let i = 1; i <= 2000; i++) a.t.send([heartbeat('a', 's', i)]);
      for (let i = 1; i <= 50; i++) a.t.send([heartbeat('a', 'b', i)]);
      await waitFor(() => a.unreachable.includes('s'), { what: 's reported unreachable' });
      assert.ok(
        debug.some((m) => m.includes('queue full')),
        debug.join('\n'),
      );
      await waitFor(() => b.received.length === 50, { what: '50 messages at b' });
      assert.ok(!a.unreachable.includes('b'));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses messages from another cluster', async () => {
    const b = await node('b');
    const stranger = await node('x', { clusterId: 'cluster-other' });
    stranger.t.setPeer('b', b.addr);
    stranger.t.send([heartbeat('x', 'b', 1)]);
    await waitFor(() => stranger.unreachable.includes('b'), { what: 'refusal seen by sender' });
    assert.deepEqual(b.received, []);
    assert.ok(
      stranger.warnings.some((w) => w.includes('cluster-a') && w.includes('cluster-other')),
      `sender's log names both clusters: ${stranger.warnings.join('\n')}`,
    );
    assert.ok(b.warnings.some((w) => w.includes('refused')));
  });

  it('refuses messages meant for another node at the same address', async () => {
    const a = await node('a');
    const c = await node('c');
    // The address a believes is b's now belongs to c.
    a.t.setPeer('b', c.addr);
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => a.unreachable.includes('b'), { what: 'refusal seen by sender' });
    assert.deepEqual(c.received, []);
  });

  it('resumes delivery after the receiver restarts on the same port', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    const sender = keepSending(a, 'a', 'b');
    try {
      await waitFor(() => b.received.length > 0, { what: 'first delivery' });
      await b.t.close();
      await waitFor(() => a.unreachable.includes('b'), { what: 'b reported unreachable' });

      const port = b.addr.slice(b.addr.lastIndexOf(':') + 1);
      const b2 = await node('b', {}, `127.0.0.1:${port}`);
      assert.equal(b2.addr, b.addr);
      const before = sender.sent();
      await waitFor(() => b2.received.some((m) => m.commit > before), {
        what: 'delivery to the restarted b',
      });
      const seqs = b2.received.map((m) => m.commit);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'messages after the restart arrive in order',
      );
    } finally {
      sender.stop();
    }
  });

  it('follows a peer to its new address', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, { what: 'first delivery' });
    await b.t.close();
    const moved = await node('b');
    a.t.setPeer('b', moved.addr);
    const sender = keepSending(a, 'a', 'b');
    try {
      await waitFor(() => moved.received.length > 0, { what: 'delivery at the new address' });
    } finally {
      sender.stop();
    }
  });

  it('stops sending to a removed peer', async () => {
    const a = await node('a');
    const b = await node('b');
    a.t.setPeer('b', b.addr);
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, { what: 'first delivery' });
    a.t.removePeer('b');
    a.t.send([heartbeat('a', 'b', 2)]);
    // A message sent afterwards to a live peer proves the removed one had its chance.
    const c = await node('c');
    a.t.setPeer('c', c.addr);
    a.t.send([heartbeat('a', 'c', 3)]);
    await waitFor(() => c.received.length === 1, { what: 'delivery to c' });
    assert.deepEqual(
      b.received.map((m) => m.commit),
      [1],
    );
  });
});
