// One proxied TCP connection: the accepted client socket, a backend chosen for it, and the
// bytes copied both ways. This is the hot path, so it avoids streams: pipe() and 'data' events
// cost a Readable push, an event and a fresh buffer per read in each direction, and measured as
// most of the mesh's own CPU per request. Both sockets instead read with `onread` into a
// ReadBuffer and write what they read straight to the other side; when that write reports
// backpressure the reading side stops until the other drains.
//
// The client is accepted paused (pauseOnConnect) and stays so until a backend accepts: nothing
// is read before a backend could take it, so a refused or timed-out connect is retried on
// another backend (each at most once) without replaying anything.

import { connect, Socket } from 'node:net';
import type { Balancer } from './balancer.ts';
import type { MeshBackend, MeshListener } from './data-path.ts';
import { errorMessage, type MeshContext } from './mesh-context.ts';
import { encodeProxyV2 } from './proxy-protocol.ts';
import { ReadBuffer } from './read-buffer.ts';

/** What a relay needs from the listener that accepted it. */
export interface RelayOwner {
  readonly spec: MeshListener;
  readonly balancer: Balancer;
  readonly ctx: MeshContext;
  relayDone(relay: TcpRelay): void;
}

type OnRead = (n: number, buf: Buffer) => boolean;

export class TcpRelay {
  readonly #owner: RelayOwner;
  /** The accepted socket; replaced by one reading with onread once a backend accepts. */
  #client: Socket;
  #backend: Socket | undefined;
  #backendId: string | undefined;
  #tried: Set<string> | undefined;
  #connected = false;
  #done = false;
  #toClient: ReadBuffer | undefined;
  #toBackend: ReadBuffer | undefined;
  #clientClosed = false;
  #backendClosed = false;

  constructor(owner: RelayOwner, client: Socket) {
    this.#owner = owner;
    this.#client = client;
    client.on('error', this.#onClientError);
    client.on('close', this.#onClientClose);
  }

  start(): void {
    this.#tryNext();
  }

  /** Ends both sides at once (the listener is closing). */
  destroy(): void {
    this.#client.destroy();
    this.#backend?.destroy();
    this.#finish();
  }

  #tryNext(): void {
    const { spec, balancer, ctx } = this.#owner;
    const backend = balancer.pick(spec.backends, this.#tried);
    if (backend === undefined) {
      // No backend left to try: the client sees its connection closed.
      this.#client.destroy();
      this.#finish();
      return;
    }
    this.#connect(backend, ctx);
  }

  #connect(b: MeshBackend, ctx: MeshContext): void {
    ctx.counts.add(b.id);
    this.#backendId = b.id;
    const toClient = new ReadBuffer();
    this.#toClient = toClient;
    const sock = connect({
      host: b.host,
      port: b.port,
      noDelay: true,
      allowHalfOpen: true,
      onread: { buffer: toClient.next, callback: this.#forward(toClient, () => this.#client) },
    });
    this.#backend = sock;
    sock.setTimeout(ctx.connectTimeoutMs);
    sock.on('timeout', this.#onBackendTimeout);
    sock.on('connect', this.#onBackendConnect);
    sock.on('error', this.#onBackendError);
    sock.on('end', this.#onBackendEnd);
    sock.on('close', this.#onBackendClose);
  }

  /** The onread callback of one direction: what was read goes straight to `dest()`. */
  #forward(rb: ReadBuffer, dest: () => Socket): OnRead {
    return (n, buf) => {
      const out = dest();
      const ok = out.write(buf.subarray(0, n));
      rb.written(n, out);
      return ok;
    };
  }

  #onBackendTimeout = (): void => {
    if (!this.#connected) this.#backend?.destroy(new Error('connect timeout'));
  };

  #onBackendConnect = (): void => {
    const backend = this.#backend!;
    this.#connected = true;
    backend.setTimeout(0);
    const accepted = this.#client;
    if (this.#owner.spec.proxyProtocol) backend.write(encodeProxyV2(addressesOf(accepted)));
    const toBackend = new ReadBuffer();
    this.#toBackend = toBackend;
    const onread = { buffer: toBackend.next, callback: this.#forward(toBackend, () => backend) };
    const client = adoptWithOnread(accepted, onread) ?? accepted;
    if (client !== accepted) {
      accepted.off('error', this.#onClientError);
      accepted.off('close', this.#onClientClose);
      client.on('error', this.#onClientError);
      client.on('close', this.#onClientClose);
      this.#client = client;
      // The accepted socket gives up its handle: destroying it only settles the server's count.
      accepted.destroy();
    } else {
      client.on('data', (chunk: Buffer) => {
        if (!backend.write(chunk)) client.pause();
      });
      client.resume();
    }
    client.on('end', this.#onClientEnd);
    client.on('drain', this.#onClientDrain);
    backend.on('drain', this.#onBackendDrain);
  };

  #onBackendDrain = (): void => {
    this.#client.resume();
  };

  #onClientDrain = (): void => {
    this.#backend?.resume();
  };

  #onClientEnd = (): void => {
    this.#backend?.end();
  };

  #onBackendEnd = (): void => {
    this.#client.end();
  };

  #onBackendError = (err: Error): void => {
    if (this.#connected || this.#done) {
      this.#client.destroy();
      return;
    }
    const { ctx, spec } = this.#owner;
    const id = this.#backendId!;
    ctx.logger.warn(
      { port: spec.port, backend: id, err: errorMessage(err) },
      'mesh: backend connect failed, trying another',
    );
    this.#tried ??= new Set();
    this.#tried.add(id);
  };

  #onBackendClose = (hadError: boolean): void => {
    if (this.#backendId !== undefined) this.#owner.ctx.counts.remove(this.#backendId);
    this.#backendId = undefined;
    if (!this.#connected) {
      // Nothing was read on this attempt: its buffer is free at once.
      this.#toClient?.release();
      this.#toClient = undefined;
      this.#backend = undefined;
      if (!this.#done) this.#tryNext();
      return;
    }
    this.#backendClosed = true;
    this.#releaseBuffers();
    if (!this.#done) closePeer(this.#client, hadError);
  };

  #onClientError = (): void => {
    this.#backend?.destroy();
  };

  #onClientClose = (hadError: boolean): void => {
    this.#clientClosed = true;
    this.#releaseBuffers();
    if (this.#backend !== undefined) {
      if (this.#connected) closePeer(this.#backend, hadError);
      else this.#backend.destroy();
    }
    this.#finish();
  };

  #releaseBuffers(): void {
    if (!this.#clientClosed || !this.#backendClosed) return;
    this.#toClient?.release();
    this.#toBackend?.release();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#owner.relayDone(this);
  }
}

function addressesOf(s: Socket) {
  if (s.remoteAddress === undefined || s.localAddress === undefined) return undefined;
  return {
    sourceAddress: s.remoteAddress,
    sourcePort: s.remotePort ?? 0,
    destinationAddress: s.localAddress,
    destinationPort: s.localPort ?? 0,
  };
}

/**
 * A socket on the accepted connection's handle that reads with `onread`, which net.Server
 * does not offer for the sockets it accepts. The handle moves to the new socket (which starts
 * reading at once) and the old one is left without it. This leans on `_handle` and the
 * constructor's `handle` option, which Node itself uses to hand sockets between processes but
 * does not document; where they are missing the caller keeps the accepted socket and its
 * 'data' events.
 */
function adoptWithOnread(
  accepted: Socket,
  onread: { buffer: () => Buffer; callback: OnRead },
): Socket | undefined {
  const holder = accepted as unknown as { _handle?: { readStart?: unknown } | null };
  const handle = holder._handle;
  if (handle == null || typeof handle.readStart !== 'function' || accepted.destroyed) {
    return undefined;
  }
  const options = { handle, allowHalfOpen: true, onread };
  const adopted = new Socket(options as unknown as ConstructorParameters<typeof Socket>[0]);
  holder._handle = null;
  return adopted;
}

/**
 * One side is gone. After an error the other is cut at once; after a clean close it gets what
 * is still queued for it, then a FIN, and is then destroyed: nothing more can flow to it, and a
 * peer that never half-closes must not keep it open forever.
 */
function closePeer(peer: Socket, hadError: boolean): void {
  if (peer.destroyed) return;
  if (hadError) {
    peer.destroy();
    return;
  }
  peer.end();
  if (peer.writableFinished) peer.destroy();
  else peer.once('finish', () => peer.destroy());
}
