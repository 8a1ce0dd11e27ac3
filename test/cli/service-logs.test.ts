// `service logs` without a daemon: its flags, and how its lines are printed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogSource } from '../../src/api/control-wire.ts';
import type { TaskLogLine } from '../../src/api/objects.ts';
import { formatLogLine, type LogLineStyle, slotWidth } from '../../src/cli/log-format.ts';
import { logsRequest, parseSince, parseTail } from '../../src/cli/logs-options.ts';
import { throwsProblem } from './problems.ts';

const now = new Date('2026-03-01T12:00:00.000Z');

describe('service logs flags', () => {
  it('reads --tail as a number of lines or all', () => {
    assert.equal(parseTail('all'), undefined);
    assert.equal(parseTail('0'), 0);
    assert.equal(parseTail('25'), 25);
    for (const bad of ['-3', '1.5', 'ten', '']) {
      throwsProblem(() => parseTail(bad), `--tail: "${bad}" is not a number of lines >= 0, or all`);
    }
  });

  it('reads --since as a time, a date, a Unix timestamp or a while ago', () => {
    assert.equal(parseSince('2013-01-02T13:23:37Z', now), '2013-01-02T13:23:37.000Z');
    assert.equal(parseSince('2013-01-02T13:23:37.25+02:00', now), '2013-01-02T11:23:37.250Z');
    assert.equal(parseSince('10m', now), '2026-03-01T11:50:00.000Z');
    assert.equal(parseSince('1h30m', now), '2026-03-01T10:30:00.000Z');
    assert.equal(parseSince('1700000000', now), '2023-11-14T22:13:20.000Z');
    assert.equal(parseSince('0', now), '1970-01-01T00:00:00.000Z');
    // Without a zone, as Docker: this machine's local time.
    assert.equal(parseSince('2013-01-02', now), new Date(2013, 0, 2).toISOString());
    assert.equal(parseSince('2013-01-02T13:23', now), new Date(2013, 0, 2, 13, 23).toISOString());
  });

  it('refuses a --since that is no time, naming the flag', () => {
    for (const bad of ['yesterday', '2013-02-30', '2013-01-02T25:00:00Z', '']) {
      throwsProblem(() => parseSince(bad, now), new RegExp(`^--since: "${bad}" is not a time`));
    }
    throwsProblem(() => parseSince('-10m', now), /^--since: "-10m" is a negative duration/);
  });

  it('builds the request, with every bad flag reported at once', () => {
    assert.deepEqual(logsRequest({}, now), { follow: false, timestamps: false });
    assert.deepEqual(logsRequest({ follow: true, timestamps: true, tail: '5', since: '1m' }, now), {
      follow: true,
      timestamps: true,
      tail: 5,
      since: '2026-03-01T11:59:00.000Z',
    });
    const bad = () => logsRequest({ tail: '-3', since: 'yesterday' }, now);
    throwsProblem(bad, /^--tail: "-3"/);
    throwsProblem(bad, /^--since: "yesterday"/);
  });
});

describe('service logs lines', () => {
  const style: LogLineStyle = { raw: false, taskIds: true, trunc: true, timestamps: false };
  const replica = (slot: number): LogSource => ({
    taskId: `task${slot}abcdefghijklmnopqrstu`,
    serviceName: 'web',
    slot,
    nodeId: 'node0000000000000000000001',
    nodeHostname: 'host-a',
  });
  const global: LogSource = { ...replica(0), nodeId: 'nodeglobal000000000000001' };
  const line = (text: string, timestamp: string | null = null): TaskLogLine => ({
    taskId: 'x',
    stream: 'stdout',
    text,
    timestamp,
  });

  it('prefixes a line with service, slot, short task id and host, as Docker', () => {
    assert.equal(
      formatLogLine(line('hello'), replica(1), style, 1),
      'web.1.task1abcdefg@host-a    | hello\n',
    );
  });

  it('pads slots to the widest one, so the bars line up', () => {
    const width = slotWidth([replica(1), replica(10), global]);
    assert.equal(width, 2);
    assert.equal(
      formatLogLine(line('a'), replica(1), style, width),
      'web.1.task1abcdefg@host-a     | a\n',
    );
    assert.equal(
      formatLogLine(line('b'), replica(10), style, width),
      'web.10.task10abcdef@host-a    | b\n',
    );
  });

  it('names a global task by its node', () => {
    assert.equal(
      formatLogLine(line('g'), global, style, 1),
      'web.nodeglobal000000000000001.task0abcdefg@host-a    | g\n',
    );
  });

  it('leaves task ids out, shows them in full, or prints the line raw', () => {
    assert.equal(
      formatLogLine(line('a'), replica(2), { ...style, taskIds: false }, 1),
      'web.2@host-a    | a\n',
    );
    assert.equal(
      formatLogLine(line('a'), replica(2), { ...style, trunc: false }, 1),
      'web.2.task2abcdefghijklmnopqrstu@host-a    | a\n',
    );
    assert.equal(formatLogLine(line('a'), replica(2), { ...style, raw: true }, 1), 'a\n');
  });

  it('puts the timestamp first when asked for', () => {
    const ts = '2026-03-01T11:59:59.123456789Z';
    assert.equal(
      formatLogLine(line('a', ts), replica(1), { ...style, timestamps: true }, 1),
      `${ts} web.1.task1abcdefg@host-a    | a\n`,
    );
    assert.equal(
      formatLogLine(line('a', ts), replica(1), { ...style, raw: true, timestamps: true }, 1),
      `${ts} a\n`,
    );
  });
});
