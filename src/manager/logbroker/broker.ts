// The log broker: serves `service logs` from the workers' own reading of their containers. The
// manager never reads a container itself (on a cluster of many hosts it could not): it picks the
// tasks, asks each node that holds some of them over that node's dispatcher session, and fans
// the lines that come back into the one stream the client reads. Following, it also watches the
// store for tasks that get a container later (a replacement, a scale up) and asks for theirs.

import type { ServiceLogsMessage } from '../../api/control-wire.ts';
import type { WireLogOptions } from '../../api/dispatcher-wire.ts';
import type { Task } from '../../api/objects.ts';
import { OrcaError } from '../../errors.ts';
import type { Store } from '../../store/index.ts';
import { resolveService, resolveTask } from '../controlapi/index.ts';
import type { CancelLogs, LogRequest, LogSink } from '../dispatcher/index.ts';
import { type LoopLog, runPasses, silentLog } from '../loops/reconcile.ts';
import { LogOutbox } from './outbox.ts';
import { parseLogsRequest } from './request.ts';
import { groupByNode, logSource, type Names, tasksWithContainers } from './selection.ts';

/** The dispatcher, as far as logs go: a subscription on a node's session, if it has one. */
export interface LogSessions {
  openLogs(nodeId: string, request: LogRequest, sink: LogSink): CancelLogs | null;
}

export interface LogBrokerOptions {
  /** The leader's store, once a read on it is linearizable (as the service control API's). */
  readonly store: () => Promise<Store>;
  readonly sessions: LogSessions;
  readonly log?: LoopLog;
}

const stopped = () =>
  new OrcaError('ORCA_STOPPED', 'the swarm member stopped; its log streams ended');

export class LogBroker {
  readonly #opts: LogBrokerOptions;
  readonly #closing = new AbortController();

  constructor(opts: LogBrokerOptions) {
    this.#opts = opts;
  }

  /** Ends every stream with ORCA_STOPPED: the dispatcher they read through is going away. */
  close(): void {
    this.#closing.abort();
  }

  /**
   * The ServiceLogs stream: an unknown service or task fails before the first message. Ends
   * when every node has sent all (not following), or when `signal` aborts.
   */
  async *serviceLogs(request: unknown, signal: AbortSignal): AsyncGenerator<ServiceLogsMessage> {
    const query = parseLogsRequest(request);
    const store = await this.#opts.store();
    const select = store.view((tx) => {
      if (query.target.kind === 'service') {
        const serviceId = resolveService(tx.services.all(), query.target.ref).meta.id;
        return (): readonly Task[] => store.view((v) => v.tasks.byService(serviceId));
      }
      const taskId = resolveTask(tx.tasks.all(), query.target.ref).meta.id;
      return (): readonly Task[] => {
        const task = store.view((v) => v.tasks.get(taskId));
        return task === undefined ? [] : [task];
      };
    });
    const stream = new LogStream(store, this.#opts, query.options, select);
    const onAbort = () => stream.end();
    const onClose = () => stream.end(stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    this.#closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      if (this.#closing.signal.aborted) throw stopped();
      if (signal.aborted) return;
      stream.start();
      yield* stream.messages();
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onClose);
      stream.end();
    }
  }
}

/** One ServiceLogs call: its subscriptions, one per node and selection round, and its outbox. */
class LogStream {
  readonly #store: Store;
  readonly #opts: LogBrokerOptions;
  readonly #options: WireLogOptions;
  readonly #select: () => readonly Task[];
  readonly #outbox = new LogOutbox();
  readonly #halt = new AbortController();
  readonly #subscribed = new Set<string>();
  readonly #open = new Set<CancelLogs>();
  #ended = false;

  constructor(
    store: Store,
    opts: LogBrokerOptions,
    options: WireLogOptions,
    select: () => readonly Task[],
  ) {
    this.#store = store;
    this.#opts = opts;
    this.#options = options;
    this.#select = select;
  }

  messages(): AsyncIterable<ServiceLogsMessage> {
    return this.#outbox;
  }

  start(): void {
    if (!this.#options.follow) {
      this.#subscribeNew();
      this.#endIfAllDone();
      return;
    }
    // Level-triggered, as the leader loops: every commit to tasks looks for tasks that got a
    // container since, and a lost watch just means looking at everything again.
    const log = this.#opts.log ?? silentLog;
    runPasses({
      store: this.#store,
      tables: ['tasks'],
      signal: this.#halt.signal,
      pass: async () => {
        this.#subscribeNew();
        return { wakeAt: null, retry: false };
      },
      now: Date.now,
      retryMs: 1_000,
      log,
      name: 'service logs',
    }).catch((err: unknown) => {
      log.warn({ err }, 'following the tasks of a log stream failed');
      this.end(err);
    });
  }

  /** Cancels every subscription still open, then ends the stream (with `error`, if given). */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#halt.abort();
    const open = [...this.#open];
    this.#open.clear();
    for (const cancel of open) cancel();
    if (error === undefined) this.#outbox.close();
    else this.#outbox.fail(error);
  }

  #subscribeNew(): void {
    if (this.#ended) return;
    const fresh = tasksWithContainers(this.#select()).filter(
      (t) => !this.#subscribed.has(t.meta.id),
    );
    if (fresh.length === 0) return;
    const names: Names = this.#store.view((tx) => ({
      service: (id) => tx.services.get(id)?.spec.name,
      hostname: (id) => tx.nodes.get(id)?.description.hostname,
    }));
    for (const [nodeId, tasks] of groupByNode(fresh)) {
      for (const t of tasks) this.#subscribed.add(t.meta.id);
      const host = names.hostname(nodeId) ?? nodeId;
      this.#outbox.push({ sources: tasks.map((t) => logSource(t, names)), lines: [] });
      this.#subscribe(nodeId, host, tasks);
    }
  }

  #subscribe(nodeId: string, host: string, tasks: readonly Task[]): void {
    let cancel: CancelLogs | null = null;
    let finished = false;
    cancel = this.#opts.sessions.openLogs(
      nodeId,
      { taskIds: tasks.map((t) => t.meta.id), options: this.#options },
      {
        lines: (lines) => {
          if (!this.#ended) this.#outbox.push({ lines });
        },
        done: (error) => {
          finished = true;
          if (cancel !== null) this.#open.delete(cancel);
          if (error !== null && !this.#ended) {
            this.#outbox.push({ lines: [], errors: [`node ${host}: ${error}`] });
          }
          this.#endIfAllDone();
        },
      },
    );
    if (cancel === null) {
      // Reported, not waited for: the node may never come back, and the rest are readable.
      const count = tasks.length === 1 ? '1 task' : `${tasks.length} tasks`;
      this.#outbox.push({
        lines: [],
        errors: [
          `node ${host} is not connected to this manager: the logs of its ${count} cannot be read`,
        ],
      });
      return;
    }
    if (!finished) this.#open.add(cancel);
  }

  #endIfAllDone(): void {
    if (!this.#options.follow && this.#open.size === 0) this.end();
  }
}
