// The running containers of one service as the engine itself reports them: its event stream
// (start, die, destroy) filtered by the service's label, opened before the service exists. A
// row's time is the engine's own timestamp of the event after which the row's state first held,
// less the moment the benchmark issued the command: no poll interval in the figure, and no poll
// loading the engine while it starts containers (a `docker ps` every 100 ms added up to 100 ms
// to every row and cost dockerd CPU that the three systems then shared).

import type { Readable } from 'node:stream';
import type Docker from 'dockerode';

/** Wall-clock ms with sub-ms precision, on the same clock as the engine's event timestamps. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

interface EngineEvent {
  readonly id: string;
  readonly action: string;
  readonly atMs: number;
}

type Predicate = (running: ReadonlySet<string>) => boolean | Promise<boolean>;

interface Waiter {
  /** Not yet checked against the state as it was when the wait began. */
  fresh: boolean;
  readonly t0: number;
  readonly done: Predicate;
  readonly resolve: (ms: number) => void;
  readonly reject: (err: Error) => void;
}

export class RunningWatch {
  readonly #stream: Readable;
  readonly #running = new Set<string>();
  readonly #queue: EngineEvent[] = [];
  #draining = false;
  #waiter: Waiter | null = null;
  #failed: Error | null = null;
  #partial = '';

  private constructor(stream: Readable) {
    this.#stream = stream;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.#onData(chunk));
    const lost = (why: string) => this.#fail(new Error(`the engine's event stream ${why}`));
    stream.on('error', (err) => lost(`failed: ${err.message}`));
    stream.on('end', () => lost('ended'));
  }

  /** Subscribes before returning, so nothing the caller does next goes unseen. */
  static async open(docker: Docker, label: string): Promise<RunningWatch> {
    const stream = (await docker.getEvents({
      filters: { type: ['container'], label: [label], event: ['start', 'die', 'destroy'] },
    })) as unknown as Readable;
    return new RunningWatch(stream);
  }

  get running(): ReadonlySet<string> {
    return this.#running;
  }

  /**
   * Resolves with the ms from `t0` (epochMs()) to the engine's timestamp of the first event
   * after which `done(running)` holds; 0 if it holds already. Call it before the command that
   * is timed, then await it.
   */
  async until(t0: number, timeoutMs: number, what: string, done: Predicate): Promise<number> {
    if (this.#failed) throw this.#failed;
    if (this.#waiter) throw new Error('one wait at a time');
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(
          new Error(`timed out after ${timeoutMs} ms: ${what} (${this.#running.size} running)`),
        );
      }, timeoutMs);
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          this.#waiter = null;
          fn(v);
        };
      this.#waiter = { fresh: true, t0, done, resolve: settle(resolve), reject: settle(reject) };
      void this.#drain();
    });
  }

  close(): void {
    this.#stream.removeAllListeners('end');
    this.#stream.destroy();
  }

  #onData(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const e = JSON.parse(line) as { id?: string; Action?: string; timeNano?: number };
      if (e.id === undefined || e.Action === undefined || e.timeNano === undefined) continue;
      this.#queue.push({ id: e.id, action: e.Action, atMs: e.timeNano / 1e6 });
    }
    void this.#drain();
  }

  /** One event at a time, in the engine's order, each followed by the waiter's check. */
  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        const w = this.#waiter;
        if (w?.fresh) {
          w.fresh = false;
          await this.#check(w, w.t0);
          continue;
        }
        const e = this.#queue.shift();
        if (e === undefined) break;
        if (e.action === 'start') this.#running.add(e.id);
        else this.#running.delete(e.id);
        if (w !== null) await this.#check(w, Math.max(e.atMs, w.t0));
      }
    } finally {
      this.#draining = false;
    }
  }

  async #check(w: Waiter, atMs: number): Promise<void> {
    try {
      const held = await w.done(this.#running);
      if (held && this.#waiter === w) w.resolve(atMs - w.t0);
    } catch (err) {
      if (this.#waiter === w) w.reject(err as Error);
    }
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    this.#waiter?.reject(err);
  }
}
