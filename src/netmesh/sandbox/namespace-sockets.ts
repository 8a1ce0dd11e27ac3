// DNS sockets inside a task's network namespace, owned by this process: a short-lived helper
// binds them there and passes them over Node's IPC channel (SCM_RIGHTS underneath).

import { spawn } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { DnsSockets } from '../dns/index.ts';

const helper = fileURLToPath(new URL('./dns-helper.ts', import.meta.url));
const HELPER_TIMEOUT_MS = 10_000;

export interface NamespaceSocketOptions {
  /** The process whose network namespace to bind in; absent: this process's own. */
  readonly pid?: number;
  readonly address: string;
  readonly port: number;
  readonly nsenter?: string;
}

/** UDP and TCP bound on `address:port` inside the namespace of `pid`. */
export function openNamespaceDnsSockets(opts: NamespaceSocketOptions): Promise<DnsSockets> {
  const node = [process.execPath, helper, opts.address, String(opts.port)];
  const [command, ...args] =
    opts.pid === undefined
      ? node
      : [opts.nsenter ?? 'nsenter', '-t', String(opts.pid), '-n', '--', ...node];
  return new Promise((resolve, reject) => {
    const child = spawn(command ?? process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      timeout: HELPER_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let udp: UdpSocket | undefined;
    let tcp: Server | undefined;
    let failure = '';
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('message', (msg: { kind?: string; message?: string }, handle: unknown) => {
      if (msg.kind === 'udp') udp = handle as UdpSocket;
      else if (msg.kind === 'tcp') tcp = handle as Server;
      else if (msg.kind === 'error') failure = msg.message ?? 'failed';
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (udp !== undefined && tcp !== undefined) {
        resolve({ udp, tcp });
        return;
      }
      udp?.close();
      tcp?.close();
      const why = failure || stderr.trim().split('\n')[0] || `ended with ${code ?? signal}`;
      const where = opts.pid === undefined ? 'here' : `in the namespace of process ${opts.pid}`;
      reject(new Error(`cannot listen on ${opts.address}:${opts.port} ${where}: ${why}`));
    });
  });
}
