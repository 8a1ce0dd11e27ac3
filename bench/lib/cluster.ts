// What the benchmark needs from a cluster under test. Both runners implement it, so that the load
// generator and the failover client are literally the same code for orca and etcd; only the URL
// path and the body encoding of a write differ.

import type { Endpoint } from './http.ts';

export interface WriteProtocol {
  /** The HTTP path of a durable write. */
  readonly path: string;
  /** The JSON body for writing `value` (ASCII) under `key`. */
  body(key: string, value: string): string;
}

export interface BenchCluster {
  readonly system: 'orca' | 'etcd';
  /** The members' client endpoints, in member order. */
  readonly endpoints: readonly Endpoint[];
  readonly write: WriteProtocol;
  /** The temp folder with the members' data dirs and logs ('' before start). */
  readonly dir: string;
  /** Starts every member and resolves once a leader is elected and writes go through. */
  start(): Promise<void>;
  /** The index (into `endpoints`) of the member that is leader now. */
  leader(): Promise<number>;
  /** kill -9 of one member; resolves once the process is gone. */
  kill(index: number): Promise<void>;
  /** Starts a killed member again from its data dir. */
  restart(index: number): Promise<void>;
  /** Resolves once all members agree on one leader and a write through each of them succeeds. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** Kills every member and removes the data dirs. */
  destroy(): Promise<void>;
  /** Member logs, for error reports. */
  logTails(): string;
}
