// What createNodeMesh and its data-path threads say to each other.

import type { ListenerFailure, MeshListener } from './data-path.ts';

export interface WorkerSetup {
  bindAddr: string;
  connectTimeoutMs: number | undefined;
  udpIdleMs: number | undefined;
  udp: boolean;
}

export type WorkerRequest =
  | { type: 'apply'; id: number; listeners: MeshListener[] }
  | { type: 'stats'; id: number }
  | { type: 'close'; id: number };

export interface ListenerStats {
  protocol: string;
  port: number;
  open: number;
}

export type WorkerReply =
  | { type: 'applied'; id: number; failures: ListenerFailure[] }
  | { type: 'stats'; id: number; stats: ListenerStats[] }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'warn'; obj: object; msg: string };

/** A request before the thread handle numbers it. */
export type WorkerRequestBody = WorkerRequest extends infer R
  ? R extends WorkerRequest
    ? Omit<R, 'id'>
    : never
  : never;
