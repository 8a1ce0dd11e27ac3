// Sends a query the table cannot answer to the upstream resolvers, one after another, and hands
// back the first answer. Each attempt uses a fresh socket (a random source port) and a random
// id, so an off-path attacker cannot guess either to slip in a forged answer; the client's own
// id, which it chose and may have chosen poorly, is put back on the way out and nothing else of
// the upstream's answer is touched.

import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { Upstream } from './upstreams.ts';
import { isResponse, messageId, withId } from './wire.ts';

export type Transport = 'udp' | 'tcp';

export interface ForwardFailure {
  readonly upstream: Upstream;
  readonly reason: string;
}

export interface ForwardResult {
  /** The upstream's answer with the client's id, or undefined when every upstream failed. */
  readonly answer: Buffer | undefined;
  readonly failures: readonly ForwardFailure[];
}

export async function forward(
  query: Buffer,
  upstreams: readonly Upstream[],
  transport: Transport,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ForwardResult> {
  const clientId = messageId(query);
  const failures: ForwardFailure[] = [];
  if (clientId === undefined) return { answer: undefined, failures };
  for (const upstream of upstreams) {
    if (signal.aborted) break;
    const id = randomInt(0x10000);
    const ask = transport === 'udp' ? askUdp : askTcp;
    const outcome = await ask(withId(query, id), id, upstream, timeoutMs, signal);
    if (typeof outcome !== 'string') return { answer: withId(outcome, clientId), failures };
    failures.push({ upstream, reason: outcome });
  }
  return { answer: undefined, failures };
}

/**
 * One attempt's outcome, settled once: the answer, a timeout, the server stopping, or an error,
 * whichever comes first; `release` closes the attempt's socket.
 */
function attempt(
  timeoutMs: number,
  signal: AbortSignal,
  run: (done: (outcome: Buffer | string) => void) => { release(): void },
): Promise<Buffer | string> {
  return new Promise((resolve) => {
    let settled = false;
    let socket: { release(): void } | undefined;
    const done = (outcome: Buffer | string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket?.release();
      resolve(outcome);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => done('server stopped');
    signal.addEventListener('abort', onAbort);
    socket = run(done);
    if (settled) socket.release();
  });
}

/** The answer, or why there is none. */
function askUdp(
  query: Buffer,
  id: number,
  upstream: Upstream,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Buffer | string> {
  return attempt(timeoutMs, signal, (done) => {
    const socket = createSocket(upstream.host.includes(':') ? 'udp6' : 'udp4');
    // ICMP port unreachable arrives as ECONNREFUSED on a connected socket: next upstream at once.
    socket.on('error', (err) => done(err.message));
    socket.on('message', (msg) => {
      // Connected, so only the upstream's address reaches here; a stale or forged id is ignored.
      if (messageId(msg) === id && isResponse(msg)) done(msg);
    });
    socket.connect(upstream.port, upstream.host, () => socket.send(query));
    return { release: () => socket.close() };
  });
}

function askTcp(
  query: Buffer,
  id: number,
  upstream: Upstream,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Buffer | string> {
  return attempt(timeoutMs, signal, (done) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let received = Buffer.alloc(0);
    socket.on('error', (err) => done(err.message));
    socket.on('close', () => done('connection closed before an answer'));
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 2) {
        const size = received.readUInt16BE(0);
        if (received.length < 2 + size) return;
        const msg = received.subarray(2, 2 + size);
        received = received.subarray(2 + size);
        if (messageId(msg) === id && isResponse(msg)) return done(Buffer.from(msg));
      }
    });
    return { release: () => socket.destroy() };
  });
}
