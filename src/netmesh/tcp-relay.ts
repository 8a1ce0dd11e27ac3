// One proxied TCP connection: the accepted client socket, a backend chosen for it, and the
// bytes copied both ways. This is the hot path, so it avoids stream pipes (pipe() adds an
// event and a state machine per chunk in each direction): client bytes go from a 'data'
// handler straight into backend.write(), and backend bytes are read with `onread` into a
// buffer owned by the connection and written straight to the client, with no allocation per
// read. Backpressure pauses the reading side until the other drains.

import { connect, type Socket } from 'node:net';
import type { Balancer } from './balancer.ts';
import type { MeshBackend, MeshListener } from './data-path.ts';
import { errorMessage, type MeshContext } from './mesh-context.ts';
import { encodeProxyV2 } from './proxy-protocol.ts';

/** Enough for a full read of a typical socket buffer, small enough for many idle connections. */
const READ_BUFFER_BYTES = 16 * 1024;

/** What a relay needs from the listener that accepted it. */
export interface RelayOwner {
  readonly spec: MeshListener;
  readonly balancer: Balancer;
  readonly ctx: MeshContext;
  relayDone(relay: TcpRelay): void;
}

export class TcpRelay {
  readonly #owner: RelayOwner;
  readonly #client: Socket;
  #backend: Socket | undefined;
  #backendId: string | undefined;
  #tried: Set<string> | undefined;
  #connected = false;
  #done = false;
  #buf: Buffer | undefined;
  /** The last write to the client still holds #buf: the next read needs a fresh one. */
  #bufLent = false;

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
      // No backend left to try (or none at all): the client sees its connection closed.
      this.#client.destroy();
      this.#finish();
      return;
    }
    this.#connect(backend, ctx);
  }

  #connect(b: MeshBackend, ctx: MeshContext): void {
    ctx.counts.add(b.id);
    this.#backendId = b.id;
    const sock = connect({
      host: b.host,
      port: b.port,
      noDelay: true,
      allowHalfOpen: true,
      onread: { buffer: this.#nextBuffer, callback: this.#onBackendRead },
    });
    this.#backend = sock;
    sock.setTimeout(ctx.connectTimeoutMs);
    sock.on('timeout', this.#onBackendTimeout);
    sock.on('connect', this.#onBackendConnect);
    sock.on('error', this.#onBackendError);
    sock.on('end', this.#onBackendEnd);
    sock.on('close', this.#onBackendClose);
  }

  #nextBuffer = (): Buffer => {
    if (this.#buf === undefined || this.#bufLent) {
      this.#buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      this.#bufLent = false;
    }
    return this.#buf;
  };

  #onBackendTimeout = (): void => {
    if (!this.#connected) this.#backend?.destroy(new Error('connect timeout'));
  };

  #onBackendConnect = (): void => {
    const backend = this.#backend!;
    const client = this.#client;
    this.#connected = true;
    backend.setTimeout(0);
    if (this.#owner.spec.proxyProtocol) {
      backend.write(
        encodeProxyV2(
          client.remoteAddress === undefined || client.localAddress === undefined
            ? undefined
            : {
                sourceAddress: client.remoteAddress,
                sourcePort: client.remotePort ?? 0,
                destinationAddress: client.localAddress,
                destinationPort: client.localPort ?? 0,
              },
        ),
      );
    }
    client.on('data', this.#onClientData);
    client.on('end', this.#onClientEnd);
    backend.on('drain', this.#onBackendDrain);
    client.on('drain', this.#onClientDrain);
    // Accepted paused (pauseOnConnect): nothing was read before a backend could take it, so a
    // failed connect could be retried elsewhere without replaying anything.
    client.resume();
  };

  #onClientData = (chunk: Buffer): void => {
    if (!this.#backend!.write(chunk)) this.#client.pause();
  };

  #onBackendDrain = (): void => {
    this.#client.resume();
  };

  #onBackendRead = (n: number, buf: Buffer): boolean => {
    const client = this.#client;
    const ok = client.write(buf.subarray(0, n));
    // A write the kernel took whole is done with the bytes; one left queued still points into
    // buf, so the next read must go elsewhere.
    if (client.writableLength > 0) this.#bufLent = true;
    return ok;
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
    if (this.#done) return;
    if (!this.#connected) {
      this.#backend = undefined;
      this.#tryNext();
      return;
    }
    closePeer(this.#client, hadError);
  };

  #onClientError = (): void => {
    this.#backend?.destroy();
  };

  #onClientClose = (hadError: boolean): void => {
    if (this.#backend !== undefined) {
      if (this.#connected) closePeer(this.#backend, hadError);
      else this.#backend.destroy();
    }
    this.#finish();
  };

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#owner.relayDone(this);
  }
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
