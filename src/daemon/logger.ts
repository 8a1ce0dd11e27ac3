import { pino } from 'pino';

export type Logger = pino.Logger;

export type LogFormat = 'json' | 'pretty';

/**
 * Logs go to stderr so that stdout stays free for what a command prints for people and
 * scripts. `pretty` is a one-line human format without extra dependencies.
 */
export function createLogger(opts: { level: string; format: LogFormat; name?: string }): Logger {
  const destination = pino.destination({ fd: 2, sync: false });
  if (opts.format === 'json') {
    return pino(
      { level: opts.level, ...(opts.name === undefined ? {} : { name: opts.name }) },
      destination,
    );
  }
  return pino(
    {
      level: opts.level,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      timestamp: false,
      base: undefined,
      formatters: { level: (label) => ({ level: label }) },
    },
    {
      write(line: string) {
        const { level, msg, name, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
        process.stderr.write(
          `${new Date().toISOString()} ${String(level).toUpperCase()}${name === undefined ? '' : ` [${name}]`} ${msg}${extra}\n`,
        );
      },
    },
  );
}
