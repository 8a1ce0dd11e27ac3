// The embedded DNS server of one node: answers the names of the services on the asking task's
// networks from a table the daemon keeps current, and relays every other question to the host's
// resolvers, so a task needs no other resolver in its resolv.conf. UDP and TCP on the same port:
// an answer too large for the client's UDP size goes out truncated (TC) and the client asks
// again over TCP, as every stub resolver does.

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { DnsConfigError } from './errors.ts';
import { forward, type Transport } from './forwarder.ts';
import { type DnsClient, RecordTable } from './record-table.ts';
import { parseUpstream, readResolvConf, type Upstream, upstreamLabel } from './upstreams.ts';
import {
  CLASS_IN,
  CLASSIC_UDP_SIZE,
  type DnsQuery,
  encodeAnswer,
  encodeHeaderOnlyError,
  isResponse,
  MAX_TCP_SIZE,
  MAX_UDP_SIZE,
  parseQuery,
  RCODE_FORMERR,
  RCODE_NOERROR,
  RCODE_SERVFAIL,
  TYPE_A,
} from './wire.ts';

export interface DnsLogger {
  warn(obj: object, msg: string): void;
}

export interface DnsServerOptions {
  /** Absent: the server listens on nothing of its own and answers only on adopted sockets. */
  readonly bindAddr?: string;
  /** 0 picks a free port, the same one for UDP and TCP. */
  readonly port?: number;
  /** `ip` or `ip:port`; default: the nameservers of /etc/resolv.conf. */
  readonly upstreams?: readonly string[];
  readonly ttlSeconds?: number;
  /** How long one upstream has to answer before the next is asked. */
  readonly upstreamTimeoutMs?: number;
  /** Forwarded questions waiting for an upstream at once; more get SERVFAIL at once. */
  readonly maxForwarding?: number;
  readonly logger?: DnsLogger;
}

/**
 * Short, unlike Docker's 600 s: dnsrr answers change as tasks come and go, and a caching client
 * would keep a dead task's address for the whole TTL.
 */
export const DEFAULT_TTL_SECONDS = 5;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;
export const DEFAULT_MAX_FORWARDING = 1024;
/** A TCP client quiet this long is let go: stub resolvers open one connection per retry. */
const TCP_IDLE_MS = 10_000;
/** A warning for failing upstreams at most this often: a dead resolver must not flood the log. */
const FAILURE_LOG_EVERY_MS = 10_000;

const silentLogger: DnsLogger = { warn() {} };

/** A UDP socket and a TCP server on the same address and port. */
export interface DnsSockets {
  readonly udp: UdpSocket;
  readonly tcp: Server;
}

interface Running {
  /** Its own sockets; absent when it serves adopted ones only. */
  readonly own: DnsSockets | undefined;
  readonly adopted: Map<string, DnsSockets>;
  readonly connections: Set<Socket>;
  readonly abort: AbortController;
  readonly address: string;
  readonly port: number;
  readonly ttlSeconds: number;
  readonly timeoutMs: number;
  readonly maxForwarding: number;
  readonly logger: DnsLogger;
}

export class DnsServer {
  readonly #table = new RecordTable();
  #running: Running | undefined;
  #upstreams: readonly Upstream[] = [];
  #forwarding = 0;
  #lastFailureLog = Number.NEGATIVE_INFINITY;
  #failuresUnlogged = 0;

  /** Binds UDP and TCP and serves until stop(); the address and port it listens on. */
  async start(options: DnsServerOptions): Promise<{ address: string; port: number }> {
    if (this.#running !== undefined) throw new DnsConfigError('the DNS server is already started');
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > 0x7fffffff)
      throw new DnsConfigError(`ttlSeconds ${ttlSeconds} is not a whole number of seconds`);
    const upstreamTexts = options.upstreams ?? (await readResolvConf());
    const upstreams = upstreamTexts.map(parseUpstream);
    const address = options.bindAddr ?? '';
    const bound = address === '' ? undefined : await bindBoth(address, options.port ?? 53);
    const running: Running = {
      own: bound,
      adopted: new Map(),
      connections: new Set(),
      abort: new AbortController(),
      address,
      port: bound?.port ?? 0,
      ttlSeconds,
      timeoutMs: options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      maxForwarding: options.maxForwarding ?? DEFAULT_MAX_FORWARDING,
      logger: options.logger ?? silentLogger,
    };
    this.#running = running;
    this.#setUpstreamList(upstreams);
    if (bound !== undefined) this.#serve(running, bound, null);
    return { address, port: running.port };
  }

  /**
   * Answers on sockets bound elsewhere (inside a task's network namespace) until released or
   * stopped. Questions that come by them see the names of `scopes`, whatever their source
   * address: the socket says which task asks. A key adopted again replaces its sockets.
   */
  adopt(key: string, sockets: DnsSockets, scopes: readonly string[]): void {
    const r = this.#running;
    if (r === undefined) {
      closeSockets(sockets);
      throw new DnsConfigError('the DNS server is not started');
    }
    this.release(key);
    r.adopted.set(key, sockets);
    this.#serve(r, sockets, { scopes: [...scopes] });
  }

  /** Closes the sockets adopted under `key`; unknown keys are fine. */
  release(key: string): void {
    const r = this.#running;
    const sockets = r?.adopted.get(key);
    if (r === undefined || sockets === undefined) return;
    r.adopted.delete(key);
    closeSockets(sockets);
  }

  /** The keys of the adopted sockets. */
  adoptedKeys(): string[] {
    return [...(this.#running?.adopted.keys() ?? [])];
  }

  /** `scopes` null: the client is known by its source address. */
  #serve(r: Running, { udp, tcp }: DnsSockets, scopes: DnsClient | null): void {
    udp.on('message', (msg, rinfo) => {
      this.#onUdp(r, udp, msg, rinfo, scopes).catch((err: unknown) =>
        r.logger.warn({ err: String(err) }, 'dns: cannot answer'),
      );
    });
    udp.on('error', (err) => r.logger.warn({ err: err.message }, 'dns: udp socket error'));
    tcp.on('connection', (conn) => this.#onTcp(r, conn, scopes));
    tcp.on('error', (err) => r.logger.warn({ err: err.message }, 'dns: tcp server error'));
  }

  /** Where the server listens, once started. */
  get address(): { address: string; port: number } | undefined {
    const r = this.#running;
    return r === undefined ? undefined : { address: r.address, port: r.port };
  }

  /** See RecordTable.setRecords; may be called before start. */
  setRecords(scope: string, records: ReadonlyMap<string, readonly string[]>): void {
    this.#table.setRecords(scope, records);
  }

  /** See RecordTable.setScopes; may be called before start. */
  setScopes(scopes: ReadonlyMap<string, readonly string[]>): void {
    this.#table.setScopes(scopes);
  }

  /** Replaces the upstream resolvers, for a resolv.conf that changed under a running daemon. */
  setUpstreams(upstreams: readonly string[]): void {
    this.#setUpstreamList(upstreams.map(parseUpstream));
  }

  async stop(): Promise<void> {
    const r = this.#running;
    if (r === undefined) return;
    this.#running = undefined;
    r.abort.abort();
    for (const conn of r.connections) conn.destroy();
    for (const sockets of r.adopted.values()) closeSockets(sockets);
    r.adopted.clear();
    if (r.own === undefined) return;
    const { udp, tcp } = r.own;
    await Promise.all([
      new Promise<void>((resolve) => udp.close(() => resolve())),
      new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  #setUpstreamList(upstreams: readonly Upstream[]): void {
    const r = this.#running;
    // Asking ourselves would send each unknown name round until every timeout ran out.
    this.#upstreams =
      r === undefined ? upstreams : upstreams.filter((u) => !isSelf(u, r.address, r.port));
    if (r !== undefined && this.#upstreams.length < upstreams.length)
      r.logger.warn(
        { port: r.port },
        'dns: an upstream resolver is this server itself; it is left out',
      );
  }

  async #onUdp(
    r: Running,
    udp: UdpSocket,
    msg: Buffer,
    rinfo: RemoteInfo,
    scopes: DnsClient | null,
  ): Promise<void> {
    const answer = await this.#answer(r, msg, scopes ?? rinfo.address, 'udp');
    if (answer === undefined || this.#running !== r) return;
    try {
      udp.send(answer, rinfo.port, rinfo.address);
    } catch {
      // Released while the question was out: its task is gone.
    }
  }

  #onTcp(r: Running, conn: Socket, scopes: DnsClient | null): void {
    r.connections.add(conn);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    conn.on('close', () => r.connections.delete(conn));
    const client = scopes ?? conn.remoteAddress ?? '';
    let buffered = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const size = buffered.readUInt16BE(0);
        if (buffered.length < 2 + size) return;
        const msg = Buffer.from(buffered.subarray(2, 2 + size));
        buffered = buffered.subarray(2 + size);
        // Answers may leave out of order (RFC 7766 section 6.2.1.1): each carries its id.
        this.#answer(r, msg, client, 'tcp').then(
          (answer) => {
            if (answer === undefined || conn.destroyed) return;
            const length = Buffer.alloc(2);
            length.writeUInt16BE(answer.length);
            conn.write(Buffer.concat([length, answer]));
          },
          (err: unknown) => r.logger.warn({ err: String(err) }, 'dns: cannot answer'),
        );
      }
    });
  }

  /** The answer to send, or undefined to send none (not a query, or not even a header). */
  async #answer(
    r: Running,
    msg: Buffer,
    client: DnsClient,
    transport: Transport,
  ): Promise<Buffer | undefined> {
    if (msg.length < 12 || isResponse(msg)) return undefined;
    let query: DnsQuery;
    try {
      query = parseQuery(msg);
    } catch {
      return encodeHeaderOnlyError(msg, RCODE_FORMERR);
    }
    const maxSize =
      transport === 'tcp'
        ? MAX_TCP_SIZE
        : Math.min(Math.max(query.ednsUdpSize ?? CLASSIC_UDP_SIZE, CLASSIC_UDP_SIZE), MAX_UDP_SIZE);
    const reply = (rcode: number, addresses: readonly string[]) =>
      encodeAnswer(query, {
        rcode,
        addresses,
        ttlSeconds: r.ttlSeconds,
        maxSize,
        ednsUdpSize: MAX_UDP_SIZE,
      });
    const q = query.question;
    if (query.opcode === 0 && q !== undefined && q.class === CLASS_IN && q.name !== undefined) {
      const isA = q.type === TYPE_A;
      const addresses = this.#table.lookup(client, q.name, isA);
      // A known name with no address of the asked type is NODATA, never NXDOMAIN: NXDOMAIN
      // would tell the client the name has no A record either.
      if (addresses !== undefined) return reply(RCODE_NOERROR, isA ? addresses : []);
    }
    if (this.#forwarding >= r.maxForwarding) return reply(RCODE_SERVFAIL, []);
    this.#forwarding++;
    let result: Awaited<ReturnType<typeof forward>>;
    try {
      result = await forward(msg, this.#upstreams, transport, r.timeoutMs, r.abort.signal);
    } finally {
      this.#forwarding--;
    }
    if (result.failures.length > 0) this.#logFailures(r, result.failures);
    return result.answer ?? reply(RCODE_SERVFAIL, []);
  }

  #logFailures(r: Running, failures: readonly { upstream: Upstream; reason: string }[]): void {
    const now = performance.now();
    if (now - this.#lastFailureLog < FAILURE_LOG_EVERY_MS) {
      this.#failuresUnlogged++;
      return;
    }
    r.logger.warn(
      {
        failures: failures.map((f) => `${upstreamLabel(f.upstream)}: ${f.reason}`),
        alsoFailedSinceLastWarning: this.#failuresUnlogged,
      },
      'dns: upstream resolver failed',
    );
    this.#lastFailureLog = now;
    this.#failuresUnlogged = 0;
  }
}

function closeSockets({ udp, tcp }: DnsSockets): void {
  try {
    udp.close();
  } catch {
    // already closed
  }
  tcp.close();
}

function isSelf(u: Upstream, address: string, port: number): boolean {
  if (u.port !== port) return false;
  if (u.host === address) return true;
  // Bound to every address, a loopback upstream on our port may well be us.
  const any = address === '0.0.0.0' || address === '::';
  return any && (u.host.startsWith('127.') || u.host === '::1');
}

/**
 * UDP then TCP on the same port. With port 0 the kernel picks UDP's, and TCP's may be taken
 * already by another program: pick again a few times before giving up.
 */
async function bindBoth(
  address: string,
  port: number,
): Promise<{ udp: UdpSocket; tcp: Server; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new DnsConfigError(`cannot listen on udp ${address}:${port}`, { cause: err });
    });
    const bound = udp.address().port;
    const tcp = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: bound }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port: bound };
    } catch (err) {
      udp.close();
      if (port === 0 && attempt < 5) continue;
      throw new DnsConfigError(`cannot listen on tcp ${address}:${bound}`, { cause: err });
    }
  }
}
