// What this host says about itself in its Node object: the facts that rarely change (hostname,
// platform, cores, memory, the engine's version and labels) and its live usage. The worker sends
// it when its dispatcher session opens and every few seconds after, on every node, so it has to
// stay cheap: the engine is asked once a minute, CPU use comes from counters Node reads without
// starting a process, and memory from one read of /proc/meminfo.

import { arch, availableParallelism, cpus, hostname, platform } from 'node:os';
import type { NodeDescription, Platform } from '../api/objects.ts';
import { CpuMeter, type CpuTimes, cpuTimes } from './cpu-usage.ts';
import { type EngineFacts, readEngineFacts } from './engine-info.ts';

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

export function goPlatform(nodePlatform: string, nodeArch: string): Platform {
  return { os: goOs[nodePlatform] ?? nodePlatform, arch: goArch[nodeArch] ?? nodeArch };
}

export interface MemoryReading {
  readonly totalBytes: number;
  /** Total less what the kernel can reclaim (MemAvailable on Linux): cache does not count. */
  readonly activeBytes: number;
}

async function readMemory(): Promise<MemoryReading> {
  // Loaded on first use: every CLI command loads the daemon's modules, and systeminformation
  // alone takes tens of milliseconds to load.
  const { mem } = await import('systeminformation');
  const m = await mem();
  return { totalBytes: m.total, activeBytes: m.active };
}

export interface HostDescriberOptions {
  /** The engine, as `--docker-host`. */
  readonly dockerHost: string;
  /** How long the engine's answer is reused (default 60 s): its labels change only on a reload. */
  readonly engineRefreshMs?: number;
  readonly now?: () => number;
  /** Stand-ins for the engine and the kernel, for tests. */
  readonly readEngine?: () => Promise<EngineFacts>;
  readonly readMemory?: () => Promise<MemoryReading>;
  readonly readCpuTimes?: () => CpuTimes;
}

export class HostDescriber {
  readonly #readEngine: () => Promise<EngineFacts>;
  readonly #readMemory: () => Promise<MemoryReading>;
  readonly #now: () => number;
  readonly #engineRefreshMs: number;
  readonly #cpu: CpuMeter;
  #engine: { readonly facts: EngineFacts; readonly at: number } | null = null;
  #asking: Promise<EngineFacts> | null = null;

  /** CPU use is measured from here on: the first description covers the time since. */
  constructor(opts: HostDescriberOptions) {
    this.#readEngine = opts.readEngine ?? (() => readEngineFacts(opts.dockerHost));
    this.#readMemory = opts.readMemory ?? readMemory;
    this.#now = opts.now ?? Date.now;
    this.#engineRefreshMs = opts.engineRefreshMs ?? 60_000;
    this.#cpu = new CpuMeter(opts.readCpuTimes ?? (() => cpuTimes(cpus())), this.#now);
  }

  /** The host now; usage is null until CPU use could be measured over some time. */
  async describe(): Promise<NodeDescription> {
    const [engine, memory] = await Promise.all([this.#engineFacts(), this.#readMemory()]);
    const cpuPercent = this.#cpu.percent();
    return {
      hostname: hostname(),
      platform: goPlatform(platform(), arch()),
      resources: { nanoCpus: availableParallelism() * 1e9, memoryBytes: memory.totalBytes },
      engine,
      usage:
        cpuPercent === null
          ? null
          : {
              cpuPercent,
              memoryBytes: memory.activeBytes,
              measuredAt: new Date(this.#now()).toISOString(),
            },
    };
  }

  #engineFacts(): Promise<EngineFacts> {
    const cached = this.#engine;
    if (cached !== null && this.#now() - cached.at < this.#engineRefreshMs) {
      return Promise.resolve(cached.facts);
    }
    this.#asking ??= this.#readEngine().then((facts) => {
      this.#asking = null;
      // An engine that did not answer is asked again next time: it may only be starting.
      this.#engine = facts.version === '' ? null : { facts, at: this.#now() };
      return facts;
    });
    return this.#asking;
  }
}
