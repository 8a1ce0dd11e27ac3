import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogLineSplitter } from '../../src/worker/log-lines.ts';
import type { LogLine } from '../../src/worker/runtime.ts';

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

async function split(chunks: Buffer[], timestamps = false): Promise<LogLine[]> {
  const splitter = new LogLineSplitter(timestamps);
  for (const c of chunks) splitter.write(c);
  splitter.end();
  const lines: LogLine[] = [];
  for await (const line of splitter) lines.push(line as LogLine);
  return lines;
}

describe('LogLineSplitter', () => {
  it('splits frames into lines per stream, joining lines across frames and chunks', async () => {
    const bytes = Buffer.concat([
      frame(1, 'one\ntw'),
      frame(2, 'err\n'),
      frame(1, 'o\nthree'),
      frame(1, ' and more\nlast without newline'),
    ]);
    // Cut the bytes mid-header and mid-payload: the splitter must not care where chunks end.
    const lines = await split([bytes.subarray(0, 5), bytes.subarray(5, 17), bytes.subarray(17)]);
    assert.deepEqual(lines, [
      { stream: 'stdout', text: 'one', timestamp: null },
      { stream: 'stderr', text: 'err', timestamp: null },
      { stream: 'stdout', text: 'two', timestamp: null },
      { stream: 'stdout', text: 'three and more', timestamp: null },
      { stream: 'stdout', text: 'last without newline', timestamp: null },
    ]);
  });

  it('takes the timestamp off the front of each line when asked', async () => {
    const lines = await split(
      [frame(1, '2024-05-01T10:00:00.123456789Z hello world\n2024-05-01T10:00:01Z \n')],
      true,
    );
    assert.deepEqual(lines, [
      { stream: 'stdout', text: 'hello world', timestamp: '2024-05-01T10:00:00.123456789Z' },
      { stream: 'stdout', text: '', timestamp: '2024-05-01T10:00:01Z' },
    ]);
  });
});
