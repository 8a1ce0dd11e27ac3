// The HTTP backends of bench:mesh: Debian's nginx, run from the host's /usr inside containers of
// the local busybox image (no registry here), each answering a small static response. They are
// reached at their bridge addresses: a port published on 127.0.0.1 goes through Docker's
// userland proxy, which would cap every row at its speed instead of the backend's.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './proc.ts';

const run = promisify(execFile);

export const IMAGE = 'orca-test/busybox:1';
export const NAME_PREFIX = 'orca-bench-mesh-';
export const BODY = 'hello from orca bench\n';

export interface Backend {
  id: string;
  host: string;
  port: number;
}

/** One nginx worker per backend: the machine has 2 cores for client, proxy and backends. */
export function nginxConf(): string {
  return `worker_processes 1;
daemon off;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 80 backlog=4096;
    location / {
      default_type text/plain;
      return 200 '${BODY.trimEnd()}\\n';
    }
  }
}
`;
}

const started = new Set<string>();
let hooked = false;

/** Synchronous, so that it also runs from the 'exit' event (after an error or Ctrl-C). */
export function removeBackendsSync(): void {
  if (started.size === 0) return;
  try {
    execFileSync('docker', ['rm', '-f', ...started], { stdio: 'ignore' });
  } catch {}
  started.clear();
}

/** Containers a killed earlier run left behind (by name prefix and the test label). */
export async function removeLeftovers(): Promise<void> {
  const { stdout } = await run('docker', [
    'ps',
    '-aq',
    '--filter',
    'label=orca.test=1',
    '--filter',
    `name=${NAME_PREFIX}`,
  ]);
  const ids = stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await run('docker', ['rm', '-f', ...ids]);
}

export async function startBackends(count: number, confDir: string): Promise<Backend[]> {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeBackendsSync);
  }
  writeFileSync(join(confDir, 'nginx.conf'), nginxConf());
  const mounts = ['/usr', '/lib', '/lib64', '/etc']
    .filter((p) => existsSync(p))
    .flatMap((p) => ['-v', `${p}:${p}:ro`]);
  const names = Array.from({ length: count }, (_, i) => `${NAME_PREFIX}${process.pid}-${i + 1}`);
  await Promise.all(
    names.map(async (name) => {
      started.add(name);
      await run('docker', [
        'run',
        '-d',
        '--name',
        name,
        '--label',
        'orca.test=1',
        ...mounts,
        '-v',
        `${confDir}:/bench-conf:ro`,
        IMAGE,
        '/usr/sbin/nginx',
        '-c',
        '/bench-conf/nginx.conf',
        '-p',
        '/tmp/',
        '-e',
        'stderr',
      ]);
    }),
  );
  const backends = await Promise.all(
    names.map(async (name) => {
      const { stdout } = await run('docker', [
        'inspect',
        '-f',
        '{{.NetworkSettings.IPAddress}}',
        name,
      ]);
      return { id: name, host: stdout.trim(), port: 80 };
    }),
  );
  for (const b of backends) {
    await waitFor(`nginx in ${b.id} answering on ${b.host}:${b.port}`, 20_000, () =>
      accepts(b.host, b.port),
    );
  }
  return backends;
}

export async function stopBackends(): Promise<void> {
  if (started.size === 0) return;
  const names = [...started];
  started.clear();
  await run('docker', ['rm', '-f', ...names]).catch(() => {});
}

export function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
