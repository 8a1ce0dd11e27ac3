// The Node data path on real sockets: small Node servers on 127.0.0.1 as backends, each
// answering with its own name, and the mesh listening on free loopback ports.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { MeshBackend, MeshListener } from '../../src/netmesh/data-path.ts';
import { createNodeMesh, type NodeMesh } from '../../src/netmesh/node-mesh.ts';
import { PROXY_V2_SIGNATURE } from '../../src/netmesh/proxy-protocol.ts';
import { waitFor } from '../support/wait.ts';

const HOST = '127.0.0.1';

/** A TCP backend: answers every chunk with `name:chunk`, and counts its open connections. */
interface TcpBackend {
  name: string;
  server: Server;
  port: number;
  open: Set<Socket>;
  backend: MeshBackend;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function tcpBackend(name: string, onConn?: (s: Socket) => void): Promise<TcpBackend> {
  const open = new Set<Socket>();
  const server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    if (onConn !== undefined) onConn(s);
    else s.on('data', (d) => s.write(`${name}:${d}`));
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { name, server, port, open, backend: { id: name, host: HOST, port } };
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, HOST);
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function mesh(threads = 1, udpIdleMs?: number): NodeMesh {
  const m = createNodeMesh({
    bindAddr: HOST,
    threads,
    connectTimeoutMs: 2000,
    ...(udpIdleMs === undefined ? {} : { udpIdleMs }),
  });
  cleanups.push(() => m.close());
  return m;
}

function tcp(
  port: number,
  backends: MeshBackend[],
  more: Partial<MeshListener> = {},
): MeshListener {
  return { protocol: 'tcp', port, lb: 'round-robin', proxyProtocol: false, backends, ...more };
}

/** A client connection with a line-at-a-time conversation. */
class Client {
  readonly socket: Socket;
  #buffered = '';
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.#buffered += d;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    cleanups.push(() => void socket.destroy());
  }

  static async open(port: number): Promise<Client> {
    const s = connect(port, HOST);
    await once(s, 'connect');
    return new Client(s);
  }

  /** Sends `msg` and returns everything the backend answered to it. */
  async ask(msg: string): Promise<string> {
    this.socket.write(msg);
    await waitFor(() => this.#buffered.endsWith(msg) || this.closed, {
      what: `an answer to ${msg}`,
      intervalMs: 5,
    });
    const answer = this.#buffered;
    this.#buffered = '';
    if (!answer.endsWith(msg)) throw new Error(`connection closed with ${JSON.stringify(answer)}`);
    return answer.slice(0, -msg.length - 1);
  }
}

/** The name of the backend that answers one new connection. */
async function whoAnswers(port: number): Promise<string> {
  const c = await Client.open(port);
  const name = await c.ask('hi');
  c.socket.destroy();
  return name;
}

describe('createNodeMesh, TCP', () => {
  it('takes the backends in turn with round robin', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => tcpBackend(n)));
    const m = mesh();
    const port = await freePort();
    assert.deepEqual(await m.apply([tcp(port, [a!.backend, b!.backend, c!.backend])]), []);
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push(await whoAnswers(port));
    assert.deepEqual(names, ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('sends a new connection to the backend with the fewest open ones with least-conn', async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((n) => tcpBackend(n)));
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [a!.backend, b!.backend], { lb: 'least-conn' })]);
    const held = await Client.open(port);
    assert.equal(await held.ask('1'), 'a');
    assert.equal(await whoAnswers(port), 'b');
    // Once that second connection is closed, b has none and a still has one.
    await waitFor(async () => (await m.stats())[0]?.open === 1, { what: 'one open connection' });
    assert.equal(await whoAnswers(port), 'b');
    assert.equal(await held.ask('2'), 'a');
  });

  it('retries a refusing backend on another, unseen by the client', async () => {
    const a = await tcpBackend('a');
    const dead: MeshBackend = { id: 'dead', host: HOST, port: await freePort() };
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [dead, a.backend])]);
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(port), 'a');
  });

  it('retries a backend that does not answer the connect in time on another', async () => {
    // A listener in a process whose event loop is blocked never accepts: once its accept queue
    // (backlog 1: two connections) is full, the kernel drops further SYNs, and a connect hangs.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').createServer();
         s.listen({ host: '${HOST}', port: 0, backlog: 1 }, () => {
           require('node:fs').writeSync(1, s.address().port + '\\n');
           Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => void child.kill('SIGKILL'));
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const stuckPort = Number(String(line).trim());
    const fillers = Array.from({ length: 3 }, () => connect(stuckPort, HOST).on('error', () => {}));
    cleanups.push(() => fillers.forEach((f) => void f.destroy()));
    await Promise.race(fillers.slice(0, 2).map((f) => once(f, 'connect')));

    const a = await tcpBackend('a');
    const m = createNodeMesh({ bindAddr: HOST, connectTimeoutMs: 200 });
    cleanups.push(() => m.close());
    const port = await freePort();
    await m.apply([tcp(port, [{ id: 'stuck', host: HOST, port: stuckPort }, a.backend])]);
    const started = performance.now();
    assert.equal(await whoAnswers(port), 'a');
    assert.ok(performance.now() - started >= 150, 'the stuck backend was tried first');
  });

  it('closes the client when every backend refuses', async () => {
    const m = mesh();
    const port = await freePort();
    const deadPorts = [await freePort(), await freePort()];
    await m.apply([
      tcp(
        port,
        deadPorts.map((p, i) => ({ id: `d${i}`, host: HOST, port: p })),
      ),
    ]);
    const c = await Client.open(port);
    await waitFor(() => c.closed, { what: 'the client connection closed' });
  });

  it('accepts and closes connections when there is no backend', async () => {
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [])]);
    const c = await Client.open(port);
    await waitFor(() => c.closed, { what: 'the client connection closed' });
  });

  it('keeps a removed backend’s open connection while new ones go elsewhere', async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((n) => tcpBackend(n)));
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [a!.backend])]);
    const held = await Client.open(port);
    assert.equal(await held.ask('before'), 'a');
    await m.apply([tcp(port, [b!.backend])]);
    assert.equal(await held.ask('after'), 'a');
    assert.equal(await whoAnswers(port), 'b');
    assert.equal(await whoAnswers(port), 'b');
  });

  it('sends a PROXY v2 header with the client’s address first', async () => {
    let header: Buffer | undefined;
    const a = await tcpBackend('a', (s) => {
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        if (header === undefined) {
          got = Buffer.concat([got, d]);
          if (got.length < 28) return;
          header = got.subarray(0, 28);
          const rest = got.subarray(28);
          if (rest.length > 0) s.write(`a:${rest}`);
          return;
        }
        s.write(`a:${d}`);
      });
    });
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [a.backend], { proxyProtocol: true })]);
    const c = await Client.open(port);
    assert.equal(await c.ask('hello'), 'a');
    const h = header!;
    assert.deepEqual(h.subarray(0, 12), PROXY_V2_SIGNATURE);
    assert.equal(h[12], 0x21);
    assert.equal(h[13], 0x11);
    assert.equal(h.readUInt16BE(14), 12);
    assert.equal(h.subarray(16, 20).join('.'), '127.0.0.1');
    assert.equal(h.subarray(20, 24).join('.'), '127.0.0.1');
    assert.equal(h.readUInt16BE(24), c.socket.localPort);
    assert.equal(h.readUInt16BE(26), port);
  });

  it('passes on what a backend sends first, before the client has said anything', async () => {
    const a = await tcpBackend('a', (s) => s.write('220 ready\n'));
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [a.backend])]);
    const s = connect(port, HOST);
    cleanups.push(() => void s.destroy());
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
    });
    await waitFor(() => got === '220 ready\n', { what: 'the greeting', intervalMs: 5 });
  });

  it('carries a large transfer both ways intact, with backpressure', async () => {
    const a = await tcpBackend('a', (s) => s.pipe(s));
    const m = mesh();
    const port = await freePort();
    await m.apply([tcp(port, [a.backend])]);
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) % 251;
    const s = connect(port, HOST);
    cleanups.push(() => void s.destroy());
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.end(payload);
    await once(s, 'end');
    assert.ok(Buffer.concat(chunks).equals(payload), 'echoed bytes differ');
  });
});

describe('createNodeMesh, apply()', () => {
  it('opens new listeners and closes removed ones', async () => {
    const a = await tcpBackend('a');
    const m = mesh();
    const [p1, p2] = [await freePort(), await freePort()];
    await m.apply([tcp(p1, [a.backend])]);
    const held = await Client.open(p1);
    assert.equal(await held.ask('x'), 'a');
    assert.deepEqual(await m.apply([tcp(p2, [a.backend])]), []);
    assert.equal(await whoAnswers(p2), 'a');
    await assert.rejects(Client.open(p1), /ECONNREFUSED/);
    // Closing a listener ends the connections it carried.
    await waitFor(() => held.closed, { what: 'the old listener’s connection closed' });
  });

  it('returns a port already in use as a failure and opens the others', async () => {
    const a = await tcpBackend('a');
    const busy = a.port;
    const m = mesh();
    const free = await freePort();
    const failures = await m.apply([tcp(busy, [a.backend]), tcp(free, [a.backend])]);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.port, busy);
    assert.equal(failures[0]!.protocol, 'tcp');
    assert.match(failures[0]!.message, /EADDRINUSE/);
    assert.equal(await whoAnswers(free), 'a');
  });
});

/** A UDP backend answering every datagram with `name:datagram`. */
async function udpBackend(name: string): Promise<{ backend: MeshBackend; seen: Set<string> }> {
  const sock = createSocket('udp4');
  const seen = new Set<string>();
  sock.on('message', (msg, rinfo) => {
    seen.add(`${rinfo.address}:${rinfo.port}`);
    sock.send(`${name}:${msg}`, rinfo.port, rinfo.address);
  });
  sock.bind(0, HOST);
  await once(sock, 'listening');
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  return { backend: { id: name, host: HOST, port: sock.address().port }, seen };
}

async function udpClient(): Promise<UdpSocket> {
  const sock = createSocket('udp4');
  sock.bind(0, HOST);
  await once(sock, 'listening');
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  return sock;
}

/** Sends until an answer comes from the mesh's port (UDP may drop; the answer is awaited). */
async function udpAsk(sock: UdpSocket, port: number, msg: string): Promise<string> {
  let answer: string | undefined;
  const onMessage = (reply: Buffer, rinfo: { port: number }) => {
    if (rinfo.port === port) answer = String(reply);
  };
  sock.on('message', onMessage);
  try {
    sock.send(msg, port, HOST);
    return await waitFor(() => answer, { what: `a UDP answer to ${msg}`, intervalMs: 5 });
  } finally {
    sock.off('message', onMessage);
  }
}

describe('createNodeMesh, UDP', () => {
  it('forwards a flow to one backend and sends replies from the listening port', async () => {
    const [a, b] = [await udpBackend('a'), await udpBackend('b')];
    const m = mesh();
    const port = await freePort();
    await m.apply([
      {
        protocol: 'udp',
        port,
        lb: 'round-robin',
        proxyProtocol: false,
        backends: [a.backend, b.backend],
      },
    ]);
    const c1 = await udpClient();
    assert.equal(await udpAsk(c1, port, 'one'), 'a:one');
    assert.equal(await udpAsk(c1, port, 'two'), 'a:two');
    const c2 = await udpClient();
    assert.equal(await udpAsk(c2, port, 'three'), 'b:three');
    assert.equal(a.seen.size, 1);
    assert.equal(b.seen.size, 1);
  });

  it('closes a flow once it has been idle', async () => {
    const a = await udpBackend('a');
    const m = mesh(1, 50);
    const port = await freePort();
    await m.apply([
      { protocol: 'udp', port, lb: 'round-robin', proxyProtocol: false, backends: [a.backend] },
    ]);
    const c = await udpClient();
    assert.equal(await udpAsk(c, port, 'x'), 'a:x');
    await waitFor(async () => (await m.stats())[0]?.open === 0, { what: 'the flow closed' });
    // The next datagram opens a new flow, from a new source port at the backend.
    assert.equal(await udpAsk(c, port, 'y'), 'a:y');
    assert.equal(a.seen.size, 2);
  });
});

describe('createNodeMesh with several threads', () => {
  it('serves TCP and UDP from every thread and applies updates to all of them', async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((n) => tcpBackend(n)));
    const u = await udpBackend('u');
    const m = mesh(2);
    const [port, busy] = [await freePort(), a!.port];
    const failures = await m.apply([
      tcp(port, [a!.backend, b!.backend]),
      tcp(busy, [a!.backend]),
      { protocol: 'udp', port, lb: 'round-robin', proxyProtocol: false, backends: [u.backend] },
    ]);
    assert.deepEqual(
      failures.map((f) => [f.protocol, f.port]),
      [['tcp', busy]],
    );
    // Many connections: the kernel spreads them over both threads; each answers.
    const clients = await Promise.all(Array.from({ length: 20 }, () => Client.open(port)));
    const names = await Promise.all(clients.map((c) => c.ask('q')));
    assert.ok(
      names.every((n) => n === 'a' || n === 'b'),
      names.join(','),
    );
    assert.ok(names.includes('a') && names.includes('b'), names.join(','));
    await waitFor(
      async () =>
        (await m.stats()).find((s) => s.protocol === 'tcp' && s.port === port)?.open === 20,
      { what: '20 open connections across threads' },
    );

    await m.apply([tcp(port, [b!.backend])]);
    for (let i = 0; i < 10; i++) assert.equal(await whoAnswers(port), 'b');
    // The old connections to a still work, on whichever thread holds them.
    for (const [i, c] of clients.entries()) assert.equal(await c.ask(`r${i}`), names[i]);
  });

  it('answers UDP from its one UDP thread', async () => {
    const u = await udpBackend('u');
    const m = mesh(2);
    const port = await freePort();
    await m.apply([
      { protocol: 'udp', port, lb: 'round-robin', proxyProtocol: false, backends: [u.backend] },
    ]);
    assert.equal(await udpAsk(await udpClient(), port, 'ping'), 'u:ping');
  });
});
