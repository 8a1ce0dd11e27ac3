// `orca service logs`: one ServiceLogs stream, printed line by line as it comes, each
// container's stdout to stdout and its stderr to stderr, as `docker service logs` does.

import type { Command } from 'commander';
import type { LogSource, ServiceLogsMessage, ServiceLogsRequest } from '../api/control-wire.ts';
import { InterruptedError, OrcaError } from '../errors.ts';
import { hostOf } from './common.ts';
import { streamDaemon } from './control-client.ts';
import { formatLogLine, type LogLineStyle, slotWidth } from './log-format.ts';
import { type LogsFlags, logsRequest } from './logs-options.ts';

interface ServiceLogsFlags extends LogsFlags {
  readonly taskIds?: boolean;
  readonly trunc?: boolean;
  readonly raw?: boolean;
}

export function addServiceLogsCommand(service: Command): void {
  service
    .command('logs')
    .description('fetch the logs of a service (all its tasks, ended ones too) or of one task')
    .argument('<service|task>', 'service id, name or unique id prefix; or a task id')
    .option('-f, --follow', 'keep printing lines as they are written, until Ctrl-C')
    .option('-n, --tail <lines>', "lines to show from the end of each task's log, or all", 'all')
    .option('--since <time>', 'only lines since a time (2013-01-02T13:23:37Z) or a while ago (42m)')
    .option('-t, --timestamps', 'show the time each line was written')
    .option('--no-task-ids', 'leave task ids out of the prefix')
    .option('--no-trunc', 'show ids in full')
    .option('--raw', 'no prefix: the lines as the containers wrote them')
    .addHelpText(
      'after',
      `
Each line is prefixed with the task that wrote it, as Docker does:
  web.1.0b5kqvzq8cgn@host-a    | listening on :8080

Examples:
  orca service logs web
  orca service logs -f --tail 10 web
  orca service logs --since 1h30m --timestamps web
  orca service logs --raw web 2>/dev/null | grep error
  orca service logs 0b5kqvzq8cgn             # one task, by its id`,
    )
    .action(async (ref: string, o: ServiceLogsFlags, cmd: Command) => {
      const request = logsRequest(o, new Date());
      const host = hostOf(cmd);
      const printer = new LogPrinter({
        raw: o.raw === true,
        taskIds: o.taskIds !== false,
        trunc: o.trunc !== false,
        timestamps: request.timestamps === true,
      });
      const interrupt = new Interrupt();
      try {
        await streamTarget(host, ref, request, printer, interrupt.signal);
      } finally {
        interrupt.dispose();
      }
      if (interrupt.caught !== null) throw new InterruptedError(interrupt.caught);
      if (printer.errors > 0) {
        throw new OrcaError(
          'ORCA_LOGS_INCOMPLETE',
          'the log stream is incomplete: some logs could not be read (see above)',
        );
      }
    });
}

/** As Docker: REF is a service if one has that name or id, else a task. */
async function streamTarget(
  host: string,
  ref: string,
  request: Omit<ServiceLogsRequest, 'service'>,
  printer: LogPrinter,
  signal: AbortSignal,
): Promise<void> {
  const print = (msg: ServiceLogsMessage) => printer.print(msg);
  try {
    await streamDaemon(host, 'ServiceLogs', { ...request, service: ref }, print, signal);
    return;
  } catch (err) {
    if (!(err instanceof OrcaError && err.code === 'ORCA_NOT_FOUND' && printer.messages === 0)) {
      throw err;
    }
  }
  try {
    await streamDaemon(host, 'ServiceLogs', { ...request, task: ref }, print, signal);
  } catch (err) {
    if (err instanceof OrcaError && err.code === 'ORCA_NOT_FOUND' && printer.messages === 0) {
      throw new OrcaError('ORCA_NOT_FOUND', `no such service or task: ${ref}`);
    }
    throw err;
  }
}

class LogPrinter {
  readonly #style: LogLineStyle;
  readonly #sources = new Map<string, LogSource>();
  #width = 1;
  messages = 0;
  errors = 0;

  constructor(style: LogLineStyle) {
    this.#style = style;
  }

  /** A promise while stdout or stderr is full: the stream waits for the terminal or pipe. */
  print(msg: ServiceLogsMessage): Promise<void> | undefined {
    this.messages++;
    if (msg.sources !== undefined && msg.sources.length > 0) {
      for (const s of msg.sources) this.#sources.set(s.taskId, s);
      this.#width = slotWidth(this.#sources.values());
    }
    for (const e of msg.errors ?? []) {
      process.stderr.write(`orca: ${e}\n`);
      this.errors++;
    }
    let out = '';
    let err = '';
    for (const line of msg.lines) {
      const text = formatLogLine(line, this.#sources.get(line.taskId), this.#style, this.#width);
      if (line.stream === 'stderr') err += text;
      else out += text;
    }
    const waits: Promise<void>[] = [];
    if (out !== '' && !process.stdout.write(out)) waits.push(drained(process.stdout));
    if (err !== '' && !process.stderr.write(err)) waits.push(drained(process.stderr));
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => {});
  }
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', resolve));
}

/** Ctrl-C or SIGTERM ends the stream (cancelling the daemon's work), not the process. */
class Interrupt {
  readonly #abort = new AbortController();
  caught: 'SIGINT' | 'SIGTERM' | null = null;
  readonly #onInt = () => this.#stop('SIGINT');
  readonly #onTerm = () => this.#stop('SIGTERM');

  constructor() {
    process.once('SIGINT', this.#onInt);
    process.once('SIGTERM', this.#onTerm);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  dispose(): void {
    process.off('SIGINT', this.#onInt);
    process.off('SIGTERM', this.#onTerm);
  }

  #stop(signal: 'SIGINT' | 'SIGTERM'): void {
    this.caught ??= signal;
    this.#abort.abort();
  }
}
