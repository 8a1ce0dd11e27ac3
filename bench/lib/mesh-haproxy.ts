// HAProxy 2.6 as the reference proxy of bench:mesh: TCP mode, round robin over the same
// backends, as many threads as orca's data path is given, no health checks (the mesh has none
// either; the daemon only feeds it healthy tasks).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from './mesh-backends.ts';
import { accepts } from './mesh-backends.ts';
import { Fatal, logTail, type Spawned, spawnMember, waitFor } from './proc.ts';

export function haproxyConf(port: number, threads: number, backends: readonly Backend[]): string {
  return `global
  nbthread ${threads}
  maxconn 8000

defaults
  mode tcp
  timeout connect 3s
  timeout client 300s
  timeout server 300s

frontend mesh
  bind 127.0.0.1:${port}
  default_backend tasks

backend tasks
  balance roundrobin
${backends.map((b, i) => `  server t${i + 1} ${b.host}:${b.port}`).join('\n')}
`;
}

export async function startHaproxy(
  dir: string,
  port: number,
  threads: number,
  backends: readonly Backend[],
): Promise<Spawned> {
  const conf = join(dir, 'haproxy.cfg');
  const log = join(dir, 'haproxy.log');
  writeFileSync(conf, haproxyConf(port, threads, backends));
  const member = spawnMember('haproxy', ['-db', '-f', conf], { logFile: log });
  await waitFor(`haproxy listening on 127.0.0.1:${port}`, 10_000, async () => {
    const why = member.gone();
    if (why !== undefined) throw new Fatal(`haproxy ${why}:\n${logTail(log)}`);
    return accepts('127.0.0.1', port);
  });
  return member;
}
