// How `service logs` prints a line, as Docker's: `web.1.<task>@<host>    | text`, the task part
// padded so that the bars of slots 1 to 10 line up, and the timestamp first when asked for.

import type { LogSource } from '../api/control-wire.ts';
import type { TaskLogLine } from '../api/objects.ts';
import { shortId } from './service-format.ts';

export interface LogLineStyle {
  /** No prefix at all: the container's own bytes, line by line (with -t, the timestamp). */
  readonly raw: boolean;
  readonly taskIds: boolean;
  readonly trunc: boolean;
  readonly timestamps: boolean;
}

/**
 * `web.1.<task>@<host>`, or `web.<node id>.<task>@<host>` for a global task (slot 0), as `service
 * ps` names tasks. `slotWidth` pads slot numbers to the widest one shown.
 */
export function logPrefix(source: LogSource, style: LogLineStyle, slotWidth: number): string {
  const name = source.slot > 0 ? String(source.slot) : source.nodeId;
  const task = style.taskIds ? `.${style.trunc ? shortId(source.taskId) : source.taskId}` : '';
  const host = source.nodeHostname === '' ? source.nodeId : source.nodeHostname;
  const padding = source.slot > 0 ? ' '.repeat(Math.max(slotWidth - name.length, 0)) : '';
  return `${source.serviceName}.${name}${task}@${host}${padding}`;
}

/** The widest slot number among the sources, for logPrefix's padding. */
export function slotWidth(sources: Iterable<LogSource>): number {
  let width = 1;
  for (const s of sources) if (s.slot > 0) width = Math.max(width, String(s.slot).length);
  return width;
}

/**
 * One printed line, newline included. A line whose task is unknown (the daemon always sends
 * the source first, so only a buggy daemon) is printed with its task id as the prefix.
 */
export function formatLogLine(
  line: TaskLogLine,
  source: LogSource | undefined,
  style: LogLineStyle,
  width: number,
): string {
  const stamp = style.timestamps && line.timestamp !== null ? `${line.timestamp} ` : '';
  if (style.raw) return `${stamp}${line.text}\n`;
  const prefix = source === undefined ? line.taskId : logPrefix(source, style, width);
  return `${stamp}${prefix}    | ${line.text}\n`;
}
