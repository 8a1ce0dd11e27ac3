// The server on real sockets: Node's own resolver (c-ares) as one client, to show a real stub
// resolver takes the answers; raw UDP and TCP clients for what c-ares hides (ids, TC, rcodes).
// Clients bind 127.0.0.2, .3 and .4, all loopback, to be in different scopes.

import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { DnsServer, type DnsServerOptions, serviceRecords } from '../../src/netmesh/dns/index.ts';

/** A lost answer fails its test instead of hanging the run. */
const TEST_TIMEOUT_MS = 20_000;
const ANSWER_TIMEOUT_MS = 5_000;

const servers: DnsServer[] = [];
const sockets: UdpSocket[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const s of sockets.splice(0)) s.close();
});

async function startServer(
  options: Partial<DnsServerOptions> = {},
): Promise<{ server: DnsServer; port: number }> {
  const server = new DnsServer();
  servers.push(server);
  const { port } = await server.start({
    bindAddr: '127.0.0.1',
    port: 0,
    upstreams: [],
    ...options,
  });
  return { server, port };
}

function resolver(port: number, localAddress = '127.0.0.1'): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  r.setLocalAddress(localAddress);
  return r;
}

function query(name: string, type = 1, id = 0x4242): Buffer {
  const labels = name
    .split('.')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
}

interface Reply {
  readonly id: number;
  readonly rcode: number;
  readonly tc: boolean;
  readonly aa: boolean;
  readonly addresses: string[];
  readonly raw: Buffer;
}

function skipName(msg: Buffer, offset: number): number {
  for (;;) {
    const len = msg[offset]!;
    if (len === 0) return offset + 1;
    if ((len & 0xc0) === 0xc0) return offset + 2;
    offset += 1 + len;
  }
}

function decode(msg: Buffer): Reply {
  const flags = msg.readUInt16BE(2);
  let offset = 12;
  for (let i = 0; i < msg.readUInt16BE(4); i++) offset = skipName(msg, offset) + 4;
  const addresses: string[] = [];
  for (let i = 0; i < msg.readUInt16BE(6); i++) {
    offset = skipName(msg, offset);
    const type = msg.readUInt16BE(offset);
    const rdlength = msg.readUInt16BE(offset + 8);
    if (type === 1) addresses.push([...msg.subarray(offset + 10, offset + 14)].join('.'));
    offset += 10 + rdlength;
  }
  return {
    id: msg.readUInt16BE(0),
    rcode: flags & 0xf,
    tc: (flags & 0x0200) !== 0,
    aa: (flags & 0x0400) !== 0,
    addresses,
    raw: msg,
  };
}

/** A UDP client bound to `localAddress`; `ask` sends and waits for the next datagram back. */
async function udpClient(port: number, localAddress = '127.0.0.1') {
  const socket = createSocket('udp4');
  sockets.push(socket);
  socket.bind(0, localAddress);
  await once(socket, 'listening');
  return {
    send: (msg: Buffer) => socket.send(msg, port, '127.0.0.1'),
    async ask(msg: Buffer): Promise<Reply> {
      const reply = once(socket, 'message', { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
      socket.send(msg, port, '127.0.0.1');
      const [answer] = (await reply) as [Buffer];
      return decode(answer);
    },
  };
}

async function askTcp(port: number, msg: Buffer): Promise<Reply> {
  const conn = connect({ host: '127.0.0.1', port });
  conn.setTimeout(ANSWER_TIMEOUT_MS, () => conn.destroy(new Error('no answer over TCP')));
  const length = Buffer.alloc(2);
  length.writeUInt16BE(msg.length);
  conn.write(Buffer.concat([length, msg]));
  let received = Buffer.alloc(0);
  for await (const chunk of conn) {
    received = Buffer.concat([received, chunk as Buffer]);
    if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) break;
  }
  conn.destroy();
  return decode(received.subarray(2, 2 + received.readUInt16BE(0)));
}

/**
 * A stand-in for the host's resolver: records what it is asked and answers with `respond`
 * (undefined: stays silent, as a dead resolver does).
 */
async function fakeUpstream(respond: (msg: Buffer) => Buffer | undefined) {
  const socket = createSocket('udp4');
  sockets.push(socket);
  const asked: Buffer[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (msg, rinfo) => {
    asked.push(msg);
    for (const w of waiters.splice(0)) w();
    const answer = respond(msg);
    if (answer !== undefined) socket.send(answer, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${socket.address().port}`,
    asked,
    /** Resolves once the upstream has been asked `n` questions in all. */
    askedAtLeast: (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (asked.length >= n ? resolve() : waiters.push(check));
        check();
      }),
  };
}

/** An answer to `msg` as an upstream would give it: NXDOMAIN, with a marker in ARCOUNT. */
function nxdomain(msg: Buffer): Buffer {
  const answer = Buffer.from(msg);
  answer.writeUInt16BE(0x8183, 2); // QR RD RA NXDOMAIN
  return answer;
}

/** A port nothing listens on: bound, noted, closed. */
async function deadPort(): Promise<number> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe('DnsServer: service names', { timeout: TEST_TIMEOUT_MS }, () => {
  it("answers a service's VIP and tasks.<name> its tasks, to Node's own resolver", async () => {
    const { server, port } = await startServer({ ttlSeconds: 7 });
    server.setScopes(new Map([['front', ['127.0.0.0/8']]]));
    server.setRecords(
      'front',
      serviceRecords([
        { name: 'web', mode: 'vip', vip: '10.0.1.2', taskAddresses: ['10.0.1.5', '10.0.1.6'] },
      ]),
    );
    const r = resolver(port);
    assert.deepEqual(await r.resolve4('web', { ttl: true }), [{ address: '10.0.1.2', ttl: 7 }]);
    assert.deepEqual((await r.resolve4('tasks.web')).sort(), ['10.0.1.5', '10.0.1.6']);
  });

  it('ignores case and a trailing dot, and echoes the name as asked', async () => {
    const { server, port } = await startServer();
    server.setScopes(new Map([['front', ['127.0.0.1']]]));
    server.setRecords('front', new Map([['Tasks.Web.', ['10.0.1.5']]]));
    assert.deepEqual(await resolver(port).resolve4('TASKS.web.'), ['10.0.1.5']);
    const reply = await (await udpClient(port)).ask(query('tAsKs.WeB'));
    assert.deepEqual(reply.addresses, ['10.0.1.5']);
    assert.equal(reply.aa, true);
    assert.equal(reply.raw.subarray(12, 12 + 11).toString('latin1'), '\x05tAsKs\x03WeB\x00');
  });

  it('answers NODATA, not NXDOMAIN, for another type of a known name', async () => {
    const upstream = await fakeUpstream(nxdomain);
    const { server, port } = await startServer({ upstreams: [upstream.address] });
    server.setScopes(new Map([['front', ['127.0.0.1']]]));
    server.setRecords('front', new Map([['web', ['10.0.1.5']]]));
    await assert.rejects(resolver(port).resolve6('web'), { code: 'ENODATA' });
    const reply = await (await udpClient(port)).ask(query('web', 28));
    assert.equal(reply.rcode, 0);
    assert.deepEqual(reply.addresses, []);
    assert.equal(upstream.asked.length, 0);
  });

  it('rotates the addresses of a name between answers', async () => {
    const { server, port } = await startServer();
    server.setScopes(new Map([['front', ['127.0.0.1']]]));
    server.setRecords('front', new Map([['db', ['10.0.1.5', '10.0.1.6', '10.0.1.7']]]));
    const r = resolver(port);
    assert.deepEqual(await r.resolve4('db'), ['10.0.1.5', '10.0.1.6', '10.0.1.7']);
    assert.deepEqual(await r.resolve4('db'), ['10.0.1.6', '10.0.1.7', '10.0.1.5']);
    assert.deepEqual(await r.resolve4('db'), ['10.0.1.7', '10.0.1.5', '10.0.1.6']);
    assert.deepEqual(await r.resolve4('db'), ['10.0.1.5', '10.0.1.6', '10.0.1.7']);
  });

  it('answers a known name with no healthy task with no address rather than forwarding it', async () => {
    const upstream = await fakeUpstream(nxdomain);
    const { server, port } = await startServer({ upstreams: [upstream.address] });
    server.setScopes(new Map([['front', ['127.0.0.1']]]));
    server.setRecords('front', serviceRecords([{ name: 'db', mode: 'dnsrr', taskAddresses: [] }]));
    await assert.rejects(resolver(port).resolve4('db'), { code: 'ENODATA' });
    assert.equal(upstream.asked.length, 0);
  });
});

describe('DnsServer: scopes', { timeout: TEST_TIMEOUT_MS }, () => {
  it('shows each client only the names of its own networks', async () => {
    const upstream = await fakeUpstream(nxdomain);
    const { server, port } = await startServer({ upstreams: [upstream.address] });
    server.setScopes(
      new Map([
        ['front', ['127.0.0.2/32']],
        ['back', ['127.0.0.3/32']],
      ]),
    );
    server.setRecords(
      'front',
      new Map([
        ['db', ['10.0.1.9']],
        ['web', ['10.0.1.2']],
      ]),
    );
    server.setRecords('back', new Map([['db', ['10.0.2.9']]]));

    const front = resolver(port, '127.0.0.2');
    const back = resolver(port, '127.0.0.3');
    const outside = resolver(port, '127.0.0.4');
    assert.deepEqual(await front.resolve4('db'), ['10.0.1.9']);
    assert.deepEqual(await back.resolve4('db'), ['10.0.2.9']);
    assert.deepEqual(await front.resolve4('web'), ['10.0.1.2']);
    // Not back's name: it goes to the host's resolver like any other, which knows nothing of it.
    await assert.rejects(back.resolve4('web'), { code: 'ENOTFOUND' });
    await assert.rejects(outside.resolve4('db'), { code: 'ENOTFOUND' });
    assert.equal(upstream.asked.length, 2);
  });

  it('follows new scopes and records at once', async () => {
    const upstream = await fakeUpstream(nxdomain);
    const { server, port } = await startServer({ upstreams: [upstream.address] });
    const client = resolver(port, '127.0.0.2');
    server.setRecords('front', new Map([['web', ['10.0.1.2']]]));
    await assert.rejects(client.resolve4('web'), { code: 'ENOTFOUND' });
    server.setScopes(new Map([['front', ['127.0.0.0/30']]]));
    assert.deepEqual(await client.resolve4('web'), ['10.0.1.2']);
    server.setRecords('front', new Map([['web', ['10.0.1.3']]]));
    assert.deepEqual(await client.resolve4('web'), ['10.0.1.3']);
    server.setRecords('front', new Map());
    await assert.rejects(client.resolve4('web'), { code: 'ENOTFOUND' });
  });
});

describe('DnsServer: forwarding', { timeout: TEST_TIMEOUT_MS }, () => {
  it("relays the upstream's answer unchanged but for the client's id", async () => {
    let upstreamAnswer = Buffer.alloc(0);
    const upstream = await fakeUpstream((msg) => {
      // A reply the server cannot have made itself: a TXT record it never writes.
      const txt = Buffer.from(
        'c00c 0010 0001 0000003c 0006 05 68656c6c6f'.replace(/ /g, ''),
        'hex',
      );
      upstreamAnswer = Buffer.concat([msg, txt]);
      upstreamAnswer.writeUInt16BE(0x8180, 2);
      upstreamAnswer.writeUInt16BE(1, 6);
      return upstreamAnswer;
    });
    const { port } = await startServer({ upstreams: [upstream.address] });
    const q = query('example.org', 16, 0x0102);
    const reply = await (await udpClient(port)).ask(q);
    assert.equal(reply.id, 0x0102);
    assert.deepEqual(upstream.asked[0]!.subarray(2), q.subarray(2), 'asked as the client asked');
    assert.deepEqual(reply.raw.subarray(2), upstreamAnswer.subarray(2));
    assert.deepEqual(await resolver(port).resolveTxt('example.org'), [['hello']]);
  });

  it('asks the next upstream when one stays silent or refuses', async () => {
    const silent = await fakeUpstream(() => undefined);
    const good = await fakeUpstream(nxdomain);
    const refused = `127.0.0.1:${await deadPort()}`;
    const { port } = await startServer({
      upstreams: [refused, silent.address, good.address],
      upstreamTimeoutMs: 200,
    });
    const reply = await (await udpClient(port)).ask(query('example.org'));
    assert.equal(reply.rcode, 3);
    assert.equal(silent.asked.length, 1);
    assert.equal(good.asked.length, 1);
  });

  it('answers SERVFAIL when every upstream fails', async () => {
    const silent = await fakeUpstream(() => undefined);
    const { port } = await startServer({
      upstreams: [silent.address, `127.0.0.1:${await deadPort()}`],
      upstreamTimeoutMs: 100,
    });
    const reply = await (await udpClient(port)).ask(query('example.org'));
    assert.equal(reply.rcode, 2);
    assert.equal(reply.id, 0x4242);
    await assert.rejects(resolver(port).resolve4('example.org'), { code: 'ESERVFAIL' });
  });

  it('never forwards to itself', async () => {
    const warnings: string[] = [];
    const { server, port } = await startServer({ logger: { warn: (_o, m) => warnings.push(m) } });
    server.setUpstreams([`127.0.0.1:${port}`]);
    assert.equal((await (await udpClient(port)).ask(query('example.org'))).rcode, 2);
    assert.match(warnings.join('\n'), /this server itself/);
  });

  it('answers SERVFAIL at once beyond maxForwarding questions in flight', async () => {
    const silent = await fakeUpstream(() => undefined);
    const { port } = await startServer({
      upstreams: [silent.address],
      upstreamTimeoutMs: 60_000,
      maxForwarding: 1,
    });
    const client = await udpClient(port);
    client.send(query('one.example', 1, 1));
    await silent.askedAtLeast(1);
    const reply = await client.ask(query('two.example', 1, 2));
    assert.equal(reply.id, 2);
    assert.equal(reply.rcode, 2);
  });

  it('stops without waiting for questions still at an upstream', async () => {
    const silent = await fakeUpstream(() => undefined);
    const { server, port } = await startServer({
      upstreams: [silent.address],
      upstreamTimeoutMs: 60_000,
    });
    (await udpClient(port)).send(query('slow.example'));
    await silent.askedAtLeast(1);
    await server.stop();
    assert.equal(server.address, undefined);
  });

  it('forwards over TCP what a client asks over TCP', async () => {
    // The upstream is another DnsServer: it speaks TCP too.
    const upstream = await startServer();
    upstream.server.setScopes(new Map([['host', ['127.0.0.1']]]));
    const many = Array.from({ length: 100 }, (_, i) => `10.0.3.${i}`);
    upstream.server.setRecords('host', new Map([['big.example', many]]));
    const { port } = await startServer({ upstreams: [`127.0.0.1:${upstream.port}`] });
    const viaUdp = await (await udpClient(port, '127.0.0.2')).ask(query('big.example'));
    assert.equal(viaUdp.tc, true, "the upstream's truncated UDP answer is relayed as it is");
    const viaTcp = await askTcp(port, query('big.example'));
    assert.equal(viaTcp.tc, false);
    assert.equal(viaTcp.addresses.length, 100);
    // c-ares does the same on its own: TC over UDP, then the whole answer over TCP.
    assert.equal((await resolver(port, '127.0.0.2').resolve4('big.example')).length, 100);
  });
});

describe('DnsServer: the wire', { timeout: TEST_TIMEOUT_MS }, () => {
  it('truncates what does not fit in 512 bytes and answers it whole over TCP', async () => {
    const { server, port } = await startServer();
    server.setScopes(new Map([['front', ['127.0.0.1']]]));
    const many = Array.from({ length: 60 }, (_, i) => `10.0.4.${i}`);
    server.setRecords('front', new Map([['big', many]]));
    const udp = await (await udpClient(port)).ask(query('big'));
    assert.equal(udp.tc, true);
    assert.ok(udp.raw.length <= 512);
    assert.ok(udp.addresses.length > 0 && udp.addresses.length < 60);
    const tcp = await askTcp(port, query('big'));
    assert.equal(tcp.tc, false);
    assert.equal(tcp.addresses.length, 60);
    assert.equal((await resolver(port).resolve4('big')).length, 60);
  });

  it('answers FORMERR to a broken question and nothing to what is not a query', async () => {
    const { port } = await startServer();
    const client = await udpClient(port);
    client.send(Buffer.from([1, 2, 3])); // shorter than a header: dropped
    client.send(nxdomain(query('x', 1, 7))); // a response: dropped, or two servers could loop
    const broken = query('web', 1, 9).subarray(0, 15);
    const reply = await client.ask(broken);
    assert.equal(reply.id, 9, 'the first datagram back answers the broken query');
    assert.equal(reply.rcode, 1);
  });

  it('serves several questions on one TCP connection', async () => {
    const { server, port } = await startServer();
    server.setScopes(new Map([['front', ['127.0.0.1']]]));
    server.setRecords('front', new Map([['web', ['10.0.1.2']]]));
    const conn = connect({ host: '127.0.0.1', port });
    const framed = [query('web', 1, 1), query('web', 1, 2)].map((q) => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(q.length);
      return Buffer.concat([length, q]);
    });
    conn.write(Buffer.concat(framed));
    let received = Buffer.alloc(0);
    const ids: number[] = [];
    for await (const chunk of conn) {
      received = Buffer.concat([received, chunk as Buffer]);
      while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        ids.push(received.readUInt16BE(2));
        received = received.subarray(2 + received.readUInt16BE(0));
      }
      if (ids.length === 2) break;
    }
    conn.destroy();
    assert.deepEqual(ids.sort(), [1, 2]);
  });
});
