// A "host" of a benchmark cluster on this one machine is a tree of processes and a set of mounts
// under one folder. Killing a host must take all of it down at once, the way a power cut would:
// kill -9 of a Docker engine alone leaves its containerd shims and its containers running (they
// are not in its process group) and its netns and overlay mounts in place. Everything here is
// synchronous so that it also runs from a process 'exit' hook.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface Proc {
  pid: number;
  ppid: number;
  /** R, S, D, Z, ...: a zombie (Z) or dead (X) process holds nothing any more. */
  state: string;
  cmdline: string;
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { pid, ppid: Number(rest[1]), state: rest[0] ?? '?', cmdline };
  } catch {
    return undefined; // exited while we read the table
  }
}

function processTable(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/**
 * The live processes of a host: `roots` and every process whose command line names `folder`
 * (dockerd, its containerd, the shims, which are told the containerd socket's path), plus all
 * their descendants (the containers' init and workload processes).
 */
export function hostPids(folder: string, roots: readonly number[] = []): number[] {
  const table = processTable().filter((p) => p.state !== 'Z' && p.state !== 'X');
  const mine = new Set<number>(roots);
  for (const p of table) if (p.cmdline.includes(`${folder}/`)) mine.add(p.pid);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (!mine.has(p.pid) && mine.has(p.ppid)) {
        mine.add(p.pid);
        grew = true;
      }
    }
  }
  return table.filter((p) => mine.has(p.pid)).map((p) => p.pid);
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {} // already gone
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * kill -9 of every process of the host, found before the first signal so that the kill itself
 * is one quick loop; returns performance.now() from just before it. Processes that appear while
 * it runs (a shim being started) are found and killed on the next passes, until none is left.
 */
export function killHost(folder: string, roots: readonly number[] = []): number {
  const first = hostPids(folder, roots);
  const t0 = performance.now();
  killAll(first);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const left = hostPids(folder, roots);
    if (left.length === 0) return t0;
    if (Date.now() > deadline)
      throw new Error(`processes of ${folder} survive kill -9: ${left.join(', ')}`);
    killAll(left);
    sleepSync(20);
  }
}

/** Mount points at or under `folder`, deepest first (mountinfo escapes spaces as \040). */
function mountsUnder(folder: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(Number.parseInt(o, 8)),
      ),
    )
    .filter((mp) => mp === folder || mp.startsWith(`${folder}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Unmounts everything the host's engine mounted under its folder: the containers' overlay roots
 * and shm, the network namespaces' bind mounts (unmounting the last one destroys the namespace
 * and with it the container's veth), and the engine's bind mount of its own data root. A path
 * can be mounted more than once, hence the passes; a busy mount is detached lazily.
 */
export function unmountUnder(folder: string): void {
  for (let pass = 0; pass < 5; pass++) {
    const mounts = mountsUnder(folder);
    if (mounts.length === 0) return;
    for (const mp of mounts) {
      try {
        execFileSync('umount', [mp], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
        } catch {} // gone with its parent already; the next pass looks again
      }
    }
  }
  const left = mountsUnder(folder);
  if (left.length > 0) throw new Error(`still mounted: ${left.join(', ')}`);
}
