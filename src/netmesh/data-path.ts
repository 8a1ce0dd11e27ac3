// What a node's routing mesh is told to serve, and the contract every data path implements.
// The daemon turns the dispatcher's endpoint table into MeshListener values (choosing, for each
// task, the address this node reaches it at); a data path only listens and forwards. It imports
// neither the manager nor the worker (ARCHITECTURE.md).

export type MeshProtocol = 'tcp' | 'udp';

/** How a listener picks a backend for each new connection or UDP flow. */
export type LoadBalancing = 'round-robin' | 'least-conn' | 'p2c';

/** One running, healthy task as this node reaches it. */
export interface MeshBackend {
  /** The task id: stable across table updates, so counters (least-conn) survive them. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** One published port of one service, in ingress mode. */
export interface MeshListener {
  readonly protocol: MeshProtocol;
  /** The published port, listened on at the data path's bind address. */
  readonly port: number;
  readonly lb: LoadBalancing;
  /** Send a PROXY protocol v2 header to the backend first (TCP only). */
  readonly proxyProtocol: boolean;
  /** Empty: connections are accepted and closed (TCP) or datagrams dropped (UDP). */
  readonly backends: readonly MeshBackend[];
}

export interface ListenerFailure {
  readonly protocol: MeshProtocol;
  readonly port: number;
  /** Why it could not listen ("address already in use", ...). */
  readonly message: string;
}

export interface MeshDataPath {
  /**
   * Makes the listeners exactly these: opens new ones, closes those no longer named, and swaps
   * the backend set (and options) of the others in place, leaving their open connections alone.
   * Resolves once every listener is bound or has failed; failures are returned, not thrown.
   */
  apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]>;
  /** Closes every listener and every proxied connection. */
  close(): Promise<void>;
}
