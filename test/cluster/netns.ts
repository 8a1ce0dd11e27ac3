// Several "hosts" on one machine, each a network namespace with its own address on a private
// bridge, so that tests can kill, pause, cut off and isolate real processes talking over real
// TCP. Needs root, `ip` (iproute2) and `iptables`. One bridge per cluster, one veth pair per
// host, and one FORWARD rule on the bridge, because dockerd sets the FORWARD policy to DROP and
// bridged frames pass through it.

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { waitFor } from '../support/wait.ts';

export interface Host {
  /** 0-based position in `cluster.hosts`. */
  readonly index: number;
  /** The network namespace's name, as `ip netns list` shows it. */
  readonly name: string;
  /** The host's address on the cluster bridge. */
  readonly ip: string;
  /** The root namespace's end of the host's veth pair (down while the host is isolated). */
  readonly veth: string;
}

export interface ClusterOptions {
  hosts: number;
  /** Names of namespaces and links start with it; default `orca-t` plus 4 random hex digits. */
  prefix?: string;
  /** A /24 given as `10.231.7.0/24` or `10.231.7`; default a free random 10.231.N.0/24. */
  subnet?: string;
  /** Keep the log folder after destroy() (also when ORCA_TEST_KEEP_LOGS is set). */
  keepLogs?: boolean;
}

export interface SpawnOptions {
  /** Added on top of process.env, so children find the same Node; `undefined` removes a name. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Where stdout and stderr go (together); default a file in the cluster's log folder. */
  logFile?: string;
  /**
   * Enter only the host's network namespace (nsenter), keeping the machine's mounts: `ip netns
   * exec` mounts a /sys of the namespace's own, without the cgroup hierarchy dockerd needs.
   */
  hostMounts?: boolean;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** SIGKILL the command after this long (default 10 s). */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What `probe()` saw: connected, refused (RST), no answer in time, or another error code. */
export type ProbeResult = 'ok' | 'refused' | 'timeout' | (string & {});

const TAIL_BYTES = 64 * 1024;
const LINK_NAME_MAX = 15;

/** A process started in a host's namespace. Signal it through the cluster (kill9, stop, pause). */
export class Proc {
  readonly host: Host;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly logFile: string;
  /** The real process: `ip netns exec` and `setpriv` exec it, so this pid is the command's own. */
  readonly pid: number;
  paused = false;
  #tail = '';
  #exit: ExitStatus | undefined;
  // Output can still arrive after the exit event, until the pipes close.
  #closed = false;
  #exited: Promise<ExitStatus>;
  #watchers = new Set<() => void>();

  constructor(
    host: Host,
    cmd: string,
    args: readonly string[],
    logFile: string,
    child: ChildProcess,
  ) {
    // Unhandled, a spawn error would crash the test process instead of failing one test.
    child.on('error', (err) => {
      this.#tail = (this.#tail + `\n[${err.message}]\n`).slice(-TAIL_BYTES);
    });
    if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${host.name}`);
    this.host = host;
    this.cmd = cmd;
    this.args = args;
    this.logFile = logFile;
    this.pid = child.pid;
    mkdirSync(dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: 'a' });
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      this.#tail = (this.#tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
      this.#notify();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('close', () => {
      log.end();
      this.#closed = true;
      this.#notify();
    });
    this.#exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.paused = false;
        resolve(this.#exit);
        this.#notify();
      });
    });
    // A test that forgets destroy() must still end; the exit handler then kills the child.
    child.unref();
    (child.stdout as Socket | null)?.unref();
    (child.stderr as Socket | null)?.unref();
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How it ended, or undefined while it runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  /** The last 64 KiB of stdout and stderr together. */
  output(): string {
    return this.#tail;
  }

  /** "node (pid 12, orca-t1a2b-0) exited with code 1; output: ...", for assertion messages. */
  describe(): string {
    const state = this.#exit
      ? this.#exit.signal
        ? `was killed by ${this.#exit.signal}`
        : `exited with code ${this.#exit.code}`
      : this.paused
        ? 'is paused'
        : 'is running';
    const tail = this.#tail.slice(-2000).trimEnd();
    return `${basename(this.cmd)} (pid ${this.pid}, ${this.host.name}) ${state}; log ${this.logFile}${tail ? `; last output:\n${tail}` : ''}`;
  }

  /** Waits for the process to end; holds a timer so the event loop stays alive meanwhile. */
  async wait(timeoutMs = 10_000): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.describe()}: did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.#exited, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits until the output matches; fails early, with the output, if the process ends first. */
  waitForOutput(pattern: RegExp | string, timeoutMs = 10_000): Promise<string> {
    const match = (): string | undefined => {
      if (typeof pattern === 'string') return this.#tail.includes(pattern) ? pattern : undefined;
      return this.#tail.match(pattern)?.[0];
    };
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#watchers.delete(check);
      };
      const check = () => {
        const found = match();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.#closed) {
          done();
          reject(new Error(`${this.describe()}\nbefore printing ${String(pattern)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.describe()}\nno ${String(pattern)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#watchers.add(check);
      check();
    });
  }

  #notify(): void {
    for (const check of [...this.#watchers]) check();
  }

  /** Used by the cluster's teardown: the whole process group, since the child leads one. */
  killGroup(): void {
    if (!this.running) return;
    for (const target of [-this.pid, this.pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

export class NetnsCluster {
  readonly prefix: string;
  readonly hosts: readonly Host[];
  readonly bridge: string;
  /** The bridge's address in the root namespace: every host's default gateway. */
  readonly bridgeIp: string;
  /** The /24 the hosts live in, e.g. `10.231.7.0/24`. */
  readonly subnet: string;
  /** Where spawned processes' logs go unless spawn() is told otherwise. */
  readonly logDir: string;
  #procs = new Set<Proc>();
  #drops = new Set<string>();
  #isolated = new Set<number>();
  #keepLogs: boolean;
  #destroying: Promise<void> | undefined;
  #seq = 0;

  private constructor(prefix: string, base: string, hosts: number, keepLogs: boolean) {
    this.prefix = prefix;
    this.bridge = `${prefix}br`;
    this.bridgeIp = `${base}.1`;
    this.subnet = `${base}.0/24`;
    this.hosts = Array.from({ length: hosts }, (_, index) => ({
      index,
      name: `${prefix}-${index}`,
      ip: `${base}.${index + 2}`,
      veth: `${prefix}v${index}`,
    }));
    this.#keepLogs = keepLogs;
    this.logDir = mkdtempSync(join(tmpdir(), `${prefix}-logs-`));
  }

  static async create(opts: ClusterOptions): Promise<NetnsCluster> {
    const unsupported = netnsUnsupported();
    if (unsupported) throw new Error(`network namespaces unavailable: ${unsupported}`);
    const prefix = opts.prefix ?? `orca-t${randomBytes(2).toString('hex')}`;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9-]*$/.test(prefix)) throw new Error(`bad prefix ${prefix}`);
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 250) {
      throw new Error(`hosts must be 1..250, not ${opts.hosts}`);
    }
    const longest = `${prefix}v${opts.hosts - 1}`;
    if (longest.length > LINK_NAME_MAX) {
      throw new Error(`prefix ${prefix} too long: link name ${longest} exceeds 15 characters`);
    }
    const base = opts.subnet ? parseSubnet(opts.subnet) : await pickSubnet();
    const cluster = new NetnsCluster(
      prefix,
      base,
      opts.hosts,
      opts.keepLogs ?? Boolean(process.env.ORCA_TEST_KEEP_LOGS),
    );
    track(cluster);
    try {
      await cluster.#setUp();
    } catch (err) {
      await cluster.destroy().catch(() => {});
      throw err;
    }
    return cluster;
  }

  async #setUp(): Promise<void> {
    await sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${this.bridgeIp}/24`, 'dev', this.bridge]);
    await sh('ip', ['link', 'set', this.bridge, 'up']);
    await sh('iptables', ['-w', '10', '-I', 'FORWARD', ...this.#forwardRule()]);
    for (const h of this.hosts) {
      await sh('ip', ['netns', 'add', h.name]);
      // `ip netns exec` puts this over /etc/resolv.conf: whatever a host looks up goes to the
      // test's own address (where a test may answer), never to the machine's resolvers.
      mkdirSync(resolvConfDir(h), { recursive: true });
      writeFileSync(join(resolvConfDir(h), 'resolv.conf'), `nameserver ${this.bridgeIp}\n`);
      await sh('ip', [
        'link',
        'add',
        h.veth,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        h.name,
      ]);
      await sh('ip', ['link', 'set', h.veth, 'master', this.bridge, 'up']);
      await sh('ip', ['-n', h.name, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', h.name, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', h.name, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', h.name, 'route', 'add', 'default', 'via', this.bridgeIp]);
    }
  }

  #forwardRule(): string[] {
    return ['-i', this.bridge, '-o', this.bridge, '-j', 'ACCEPT'];
  }

  host(h: Host | number): Host {
    const index = typeof h === 'number' ? h : h.index;
    const host = this.hosts[index];
    if (!host || (typeof h !== 'number' && host.name !== h.name)) {
      throw new Error(`no host ${typeof h === 'number' ? h : h.name} in cluster ${this.prefix}`);
    }
    return host;
  }

  /**
   * Starts `cmd args` inside the host's namespace. stdout and stderr go to a log file and to an
   * in-memory tail (`proc.output()`). The child dies with this process (parent-death signal),
   * even when the test runner is killed hard.
   */
  spawn(
    host: Host | number,
    cmd: string,
    args: readonly string[] = [],
    opts: SpawnOptions = {},
  ): Proc {
    this.#assertLive();
    const h = this.host(host);
    this.#seq += 1;
    const logFile =
      opts.logFile ?? join(this.logDir, `${h.index}-${basename(cmd)}-${this.#seq}.log`);
    const enter = opts.hostMounts
      ? ['nsenter', `--net=/var/run/netns/${h.name}`, '--']
      : ['ip', 'netns', 'exec', h.name];
    const [launcher = 'ip', ...launch] = enter;
    const child = spawn(launcher, [...launch, ...deathSignalWrapper(), cmd, ...args], {
      env: mergeEnv(opts.env),
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so teardown can kill whatever it started too.
      detached: true,
    });
    const proc = new Proc(h, cmd, args, logFile, child);
    this.#procs.add(proc);
    return proc;
  }

  /** Runs a short command in the host's namespace to its end; never throws on a non-zero exit. */
  run(
    host: Host | number,
    cmd: string,
    args: readonly string[] = [],
    opts: RunOptions = {},
  ): Promise<RunResult> {
    this.#assertLive();
    const h = this.host(host);
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', h.name, ...deathSignalWrapper(), cmd, ...args],
        {
          env: mergeEnv(opts.env),
          cwd: opts.cwd,
          timeout: opts.timeoutMs ?? 10_000,
          killSignal: 'SIGKILL',
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const e = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
          resolve({
            code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
            signal: e?.signal ?? null,
            stdout: String(stdout),
            stderr:
              e && typeof e.code !== 'number' && !e.signal
                ? `${stderr}${e.message}`
                : String(stderr),
          });
        },
      );
    });
  }

  /**
   * Tries a TCP connection from inside `from` to ip:port. 'timeout' is what a cut or isolated
   * peer looks like; 'refused' is a live host with nothing listening.
   */
  async probe(
    from: Host | number,
    ip: string,
    port: number,
    timeoutMs = 1000,
  ): Promise<ProbeResult> {
    const res = await this.run(
      from,
      process.execPath,
      ['-e', PROBE_SCRIPT, ip, String(port), String(timeoutMs)],
      {
        timeoutMs: timeoutMs + 10_000,
      },
    );
    const out = res.stdout.trim();
    if (res.code !== 0 || !out) {
      throw new Error(
        `probe from ${this.host(from).name} failed: ${res.code ?? res.signal} ${res.stderr}`,
      );
    }
    return out;
  }

  /** SIGKILL, then wait until the process is gone. */
  async kill9(proc: Proc, timeoutMs = 10_000): Promise<ExitStatus> {
    signal(proc, 'SIGKILL');
    return proc.wait(timeoutMs);
  }

  /** Sends `sig` (resuming a paused process so it can act on it); SIGKILL after `timeoutMs`. */
  async stop(proc: Proc, sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitStatus> {
    signal(proc, sig);
    if (proc.paused) signal(proc, 'SIGCONT');
    try {
      return await proc.wait(timeoutMs);
    } catch {
      return this.kill9(proc);
    }
  }

  /** SIGSTOP; resolves once the kernel shows the process stopped. */
  async pause(proc: Proc): Promise<void> {
    signal(proc, 'SIGSTOP');
    proc.paused = true;
    await waitFor(() => !proc.running || procState(proc.pid) === 'T', {
      timeoutMs: 5000,
      intervalMs: 5,
      what: `${proc.describe()} to stop`,
    });
  }

  /** SIGCONT. */
  async resume(proc: Proc): Promise<void> {
    signal(proc, 'SIGCONT');
    proc.paused = false;
    await waitFor(() => !proc.running || procState(proc.pid) !== 'T', {
      timeoutMs: 5000,
      intervalMs: 5,
      what: `${proc.describe()} to continue`,
    });
  }

  /** a and b can no longer reach each other (also established connections); heal() undoes it. */
  async cut(a: Host | number, b: Host | number): Promise<void> {
    await this.oneWay(a, b);
    await this.oneWay(b, a);
  }

  async heal(a: Host | number, b: Host | number): Promise<void> {
    await this.healOneWay(a, b);
    await this.healOneWay(b, a);
  }

  /**
   * Packets from `from` arriving at `to` are dropped; the other direction passes. Note that TCP
   * needs both directions, so connections either way stall; datagrams show the asymmetry.
   */
  async oneWay(from: Host | number, to: Host | number): Promise<void> {
    this.#assertLive();
    const src = this.host(from);
    const dst = this.host(to);
    const key = `${dst.index}<${src.index}`;
    if (this.#drops.has(key)) return;
    await sh('ip', [
      'netns',
      'exec',
      dst.name,
      'iptables',
      '-w',
      '10',
      '-I',
      'INPUT',
      '-s',
      src.ip,
      '-j',
      'DROP',
    ]);
    this.#drops.add(key);
  }

  async healOneWay(from: Host | number, to: Host | number): Promise<void> {
    this.#assertLive();
    const src = this.host(from);
    const dst = this.host(to);
    const key = `${dst.index}<${src.index}`;
    if (!this.#drops.has(key)) return;
    await sh('ip', [
      'netns',
      'exec',
      dst.name,
      'iptables',
      '-w',
      '10',
      '-D',
      'INPUT',
      '-s',
      src.ip,
      '-j',
      'DROP',
    ]);
    this.#drops.delete(key);
  }

  /** Cuts every host of one group off from every host of the others. */
  async partition(...groups: ReadonlyArray<ReadonlyArray<Host | number>>): Promise<void> {
    for (const [i, group] of groups.entries()) {
      for (const other of groups.slice(i + 1)) {
        for (const a of group) for (const b of other) await this.cut(a, b);
      }
    }
  }

  /** Takes the host off the bridge (its veth down): nobody reaches it, it reaches nobody. */
  async isolate(host: Host | number): Promise<void> {
    this.#assertLive();
    const h = this.host(host);
    await sh('ip', ['link', 'set', h.veth, 'down']);
    this.#isolated.add(h.index);
  }

  async rejoin(host: Host | number): Promise<void> {
    this.#assertLive();
    const h = this.host(host);
    await sh('ip', ['link', 'set', h.veth, 'up']);
    this.#isolated.delete(h.index);
  }

  /** Undoes every cut, one-way drop and isolation. */
  async healAll(): Promise<void> {
    for (const key of [...this.#drops]) {
      const [to, from] = key.split('<').map(Number) as [number, number];
      await this.healOneWay(from, to);
    }
    for (const index of [...this.#isolated]) await this.rejoin(index);
  }

  /**
   * Kills every process (spawned or otherwise still in a namespace), removes namespaces, veths,
   * the bridge and the FORWARD rule. Idempotent; tolerates anything already gone.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#teardown();
    return this.#destroying;
  }

  get destroyed(): boolean {
    return this.#destroying !== undefined;
  }

  async #teardown(): Promise<void> {
    const problems: string[] = [];
    for (const proc of this.#procs) proc.killGroup();
    for (const proc of this.#procs) {
      await proc.wait(5000).catch((err: Error) => problems.push(err.message));
    }
    for (const h of this.hosts) {
      // Processes started by run() or re-parented grandchildren keep a namespace alive.
      await waitFor(
        () => {
          const pids = netnsPids(h.name);
          for (const pid of pids) killQuietly(pid);
          return pids.length === 0;
        },
        { timeoutMs: 5000, intervalMs: 20, what: `the processes in ${h.name} to end` },
      ).catch((err: Error) => problems.push(err.message));
      await quiet('ip', ['link', 'del', h.veth], problems);
      await quiet('ip', ['netns', 'del', h.name], problems);
      rmSync(resolvConfDir(h), { recursive: true, force: true });
    }
    await quiet('ip', ['link', 'del', this.bridge], problems);
    await dropForwardRule(this.bridge, problems);
    untrack(this);
    if (!this.#keepLogs) rmSync(this.logDir, { recursive: true, force: true });
    if (problems.length)
      throw new Error(`cluster ${this.prefix} teardown:\n${problems.join('\n')}`);
  }

  /** For the exit and signal handlers: the same teardown without waiting for anything. */
  destroySync(): void {
    for (const proc of this.#procs) proc.killGroup();
    for (const h of this.hosts) {
      for (const pid of netnsPids(h.name)) killQuietly(pid);
      for (const args of [
        ['link', 'del', h.veth],
        ['netns', 'del', h.name],
      ]) {
        try {
          execFileSync('ip', args, { stdio: 'ignore' });
        } catch {
          // Already gone.
        }
      }
      rmSync(resolvConfDir(h), { recursive: true, force: true });
    }
    try {
      execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
    for (let i = 0; i < 10; i += 1) {
      try {
        execFileSync('iptables', ['-w', '10', '-D', 'FORWARD', ...this.#forwardRule()], {
          stdio: 'ignore',
        });
      } catch {
        break;
      }
    }
    untrack(this);
  }

  #assertLive(): void {
    if (this.#destroying) throw new Error(`cluster ${this.prefix} is destroyed`);
  }
}

/** Where `ip netns exec` finds the files it mounts over /etc for a namespace. */
function resolvConfDir(h: Host): string {
  return join('/etc/netns', h.name);
}

/**
 * `skip:` for a test of namespace clusters. CI runs as root with ORCA_TEST_REQUIRE_NETNS=1:
 * there a missing capability must fail, not quietly skip the tests of real processes under
 * partitions.
 */
export function netnsSkip(): string | false {
  const unsupported = netnsUnsupported();
  return unsupported && !process.env.ORCA_TEST_REQUIRE_NETNS
    ? `network namespaces unavailable: ${unsupported}`
    : false;
}

/** Why namespace clusters cannot run here, or undefined when they can. For `skip:` in tests. */
export function netnsUnsupported(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (network namespaces and iptables need root)';
  for (const [cmd, args] of [
    ['ip', ['netns', 'list']],
    ['iptables', ['-w', '10', '-S', 'FORWARD']],
  ] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch (err) {
      return `\`${cmd} ${args.join(' ')}\` failed: ${(err as Error).message}`;
    }
  }
  return undefined;
}

// Prints one word: what a connection attempt saw. argv: ip port timeoutMs.
const PROBE_SCRIPT = `
const [ip, port, ms] = process.argv.slice(1);
const say = (w) => { process.stdout.write(w + '\\n', () => process.exit(0)); };
const s = require('node:net').connect({ host: ip, port: Number(port) });
setTimeout(() => say('timeout'), Number(ms));
s.on('connect', () => say('ok'));
s.on('error', (e) => say(e.code === 'ECONNREFUSED' ? 'refused' : e.code || e.message));
`;

function signal(proc: Proc, sig: NodeJS.Signals): void {
  if (!proc.running) return;
  try {
    process.kill(proc.pid, sig);
  } catch (err) {
    // ESRCH: it ended between the check and the signal; the exit event follows.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function procState(pid: number): string | undefined {
  try {
    // The state follows the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function netnsPids(name: string): number[] {
  try {
    const out = execFileSync('ip', ['netns', 'pids', name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return [];
  }
}

let pdeathsig: string[] | undefined;

// setpriv (util-linux) sets the parent-death signal and execs the command, so the pid stays the
// command's and a test runner killed with SIGKILL does not leave daemons behind.
function deathSignalWrapper(): string[] {
  if (pdeathsig === undefined) {
    try {
      const help = execFileSync('setpriv', ['--help'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      pdeathsig = help.includes('--pdeathsig') ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
    } catch {
      pdeathsig = [];
    }
  }
  return pdeathsig;
}

function mergeEnv(extra: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function sh(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

// Teardown runs after failures, so "already gone" is expected and anything else only noted.
async function quiet(cmd: string, args: readonly string[], problems: string[]): Promise<void> {
  try {
    await sh(cmd, args);
  } catch (err) {
    const msg = (err as Error).message;
    if (!/Cannot find device|No such file|does not exist|not found/i.test(msg)) problems.push(msg);
  }
}

async function dropForwardRule(bridge: string, problems: string[]): Promise<void> {
  const rule = ['-i', bridge, '-o', bridge, '-j', 'ACCEPT'];
  for (let i = 0; i < 10; i += 1) {
    try {
      await sh('iptables', ['-w', '10', '-C', 'FORWARD', ...rule]);
    } catch {
      return;
    }
    try {
      await sh('iptables', ['-w', '10', '-D', 'FORWARD', ...rule]);
    } catch (err) {
      problems.push((err as Error).message);
      return;
    }
  }
}

function parseSubnet(subnet: string): string {
  const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3})(?:\.0\/24)?$/.exec(subnet);
  if (!m?.[1] || m[1].split('.').some((o) => Number(o) > 255)) {
    throw new Error(`subnet must be a /24 like 10.231.7.0/24, not ${subnet}`);
  }
  return m[1];
}

const claimed = new Set<string>();

// Random, so two test files (or a leftover of a crashed run) do not collide on one /24.
async function pickSubnet(): Promise<string> {
  const inUse =
    (await sh('ip', ['-4', '-o', 'addr', 'show'])) + (await sh('ip', ['-4', 'route', 'show']));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const base = `10.231.${1 + Math.floor(Math.random() * 250)}`;
    if (!claimed.has(base) && !inUse.includes(`${base}.`)) {
      claimed.add(base);
      return base;
    }
  }
  throw new Error('no free 10.231.N.0/24 subnet');
}

// Clusters still up, torn down synchronously if the process ends or is told to.
const live = new Set<NetnsCluster>();
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function onExit(): void {
  for (const cluster of [...live]) cluster.destroySync();
}

function onSignal(sig: NodeJS.Signals): void {
  onExit();
  // Leave the exit to another listener (the test runner reports first); otherwise die as told.
  if (process.listenerCount(sig) <= 1) process.exit(128 + SIGNALS[sig as keyof typeof SIGNALS]);
}

function track(cluster: NetnsCluster): void {
  if (live.size === 0) {
    process.on('exit', onExit);
    for (const sig of Object.keys(SIGNALS)) process.on(sig, onSignal);
  }
  live.add(cluster);
}

function untrack(cluster: NetnsCluster): void {
  if (!live.delete(cluster) || live.size > 0) return;
  process.off('exit', onExit);
  for (const sig of Object.keys(SIGNALS)) process.off(sig, onSignal);
}
