// Child processes of the benchmark, and the promise that none outlives it. Every member runs in
// its own process group so that kill -9 reaches anything it started, and an exit hook kills what
// is left whatever way the benchmark ends (error, Ctrl-C, SIGTERM).

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let keepTemp = false;
let hooked = false;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}

/** Synchronous, so that it also works from the 'exit' event. */
export function killEverything(): void {
  for (const child of live) killGroup(child);
  live.clear();
  if (!keepTemp) {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  }
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killEverything);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: killing cluster members\n`);
      killEverything();
      process.exit(130);
    });
  }
}

export function makeTempDir(prefix: string, keep: boolean): string {
  installHooks();
  keepTemp ||= keep;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  if (!keepTemp) rmSync(dir, { recursive: true, force: true });
}

export interface Spawned {
  child: ChildProcess;
  /** Resolves when the process has exited (and its group has been killed). */
  exited: Promise<void>;
  /** Why it is gone (exit status, or the spawn error); undefined while it runs. */
  gone(): string | undefined;
}

/**
 * Starts a member with stderr (and stdout unless `pipeStdout`) appended to `logFile`.
 */
export function spawnMember(
  cmd: string,
  args: string[],
  opts: { logFile: string; cwd?: string; pipeStdout?: boolean },
): Spawned {
  installHooks();
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    detached: true,
    stdio: ['ignore', opts.pipeStdout ? 'pipe' : fd, fd],
  });
  closeSync(fd);
  live.add(child);
  let why: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      why = signal ? `killed by ${signal}` : `exited with ${code}`;
      // Anything the member started itself would still hold ports and data-dir locks.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }
      live.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      why = `could not start ${cmd}: ${err.message}`;
      live.delete(child);
      resolve();
    });
  });
  return { child, exited, gone: () => why };
}

export async function kill9(member: Spawned): Promise<void> {
  killGroup(member.child);
  await member.exited;
}

/** The last lines of a log, for an error message. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Thrown from a waitFor check to stop waiting at once: waiting longer cannot help. */
export class Fatal extends Error {}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | null | false>,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = `last result: ${String(v)}`;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = `last error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms: ${what} (${last})`);
    await delay(intervalMs);
  }
}

export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * The first base port from `bases` for which base+offset is free on `host` for every offset;
 * members then use fixed, predictable ports within that range.
 */
export async function freePortBase(
  host: string,
  bases: readonly number[],
  offsets: readonly number[],
): Promise<number> {
  for (const base of bases) {
    let ok = true;
    for (const off of offsets) {
      if (!(await portFree(host, base + off))) {
        ok = false;
        break;
      }
    }
    if (ok) return base;
  }
  throw new Error(`no free port range on ${host} among bases ${bases.join(', ')}`);
}
