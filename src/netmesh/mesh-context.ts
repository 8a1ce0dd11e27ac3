// What every listener of one data-path thread shares: its options, its open-connection counts
// (least-conn and p2c read them) and where warnings go.

import type { ConnectionCounts } from './balancer.ts';

export interface MeshLogger {
  warn(obj: object, msg: string): void;
}

export interface MeshContext {
  readonly bindAddr: string;
  readonly connectTimeoutMs: number;
  readonly udpIdleMs: number;
  /** Several threads listen on the same port and the kernel spreads connections among them. */
  readonly reusePort: boolean;
  readonly counts: ConnectionCounts;
  readonly logger: MeshLogger;
  readonly rand: () => number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
export const DEFAULT_UDP_IDLE_MS = 30_000;

export const silentLogger: MeshLogger = { warn() {} };

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code)
      ? `${code}: ${err.message}`
      : err.message;
  }
  return String(err);
}
