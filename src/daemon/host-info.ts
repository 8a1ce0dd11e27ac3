import { request } from 'node:http';
import { arch, availableParallelism, hostname, platform, totalmem } from 'node:os';
import type { NodeDescription } from '../api/objects.ts';

/** Node's names for platforms and architectures, as Go (and so Swarm's constraints) spell them. */
const goOs: Record<string, string> = { win32: 'windows', sunos: 'solaris' };
const goArch: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm: 'arm',
  arm64: 'arm64',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** What this host reports about itself in its Node object. */
export async function describeHost(dockerHost: string): Promise<NodeDescription> {
  return {
    hostname: hostname(),
    platform: { os: goOs[platform()] ?? platform(), arch: goArch[arch()] ?? arch() },
    resources: { nanoCpus: availableParallelism() * 1e9, memoryBytes: totalmem() },
    engine: { version: await engineVersion(dockerHost), labels: {} },
    usage: null,
  };
}

/**
 * The container engine's version from its `GET /version`, or '' when it does not answer within a
 * second: a node without a reachable engine can still run a manager.
 */
export function engineVersion(dockerHost: string, timeoutMs = 1000): Promise<string> {
  let target: { socketPath: string } | { host: string; port: number };
  if (dockerHost.startsWith('unix://')) {
    target = { socketPath: dockerHost.slice('unix://'.length) };
  } else {
    const m = /^(?:tcp|http):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(dockerHost);
    if (m === null) return Promise.resolve('');
    target = { host: m[1] as string, port: Number(m[2] ?? 2375) };
  }
  return new Promise((resolve) => {
    const req = request(
      { ...target, path: '/version', method: 'GET', timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => resolve(''));
        res.on('end', () => {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              Version?: unknown;
            };
            resolve(typeof body.Version === 'string' ? body.Version : '');
          } catch {
            resolve('');
          }
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
    req.end();
  });
}
