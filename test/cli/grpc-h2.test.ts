// The CLI's own gRPC client against the server the daemon runs (@grpc/grpc-js with the control
// service), on a unix socket: answers, errors with their orca code, streams read in order,
// cancellation the server sees, deadlines, and no server at all.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CONTROL_SERVICE_PATH } from '../../src/api/control-names.ts';
import { controlService, type JsonMessage } from '../../src/api/control-wire.ts';
import {
  CallError,
  call,
  decodeJsonMessage,
  encodeJsonMessage,
  GRPC_DEADLINE_EXCEEDED,
  GRPC_UNAVAILABLE,
} from '../../src/cli/grpc-h2.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'orca-grpc-h2-'));
const socketPath = path.join(dir, 'control.sock');
const server = new grpc.Server();
let cancelled = 0;
let written = 0;

type Unary = grpc.handleUnaryCall<JsonMessage, JsonMessage>;
const unary = (fn: (json: string) => Promise<string> | string): Unary =>
  async function handle(callIn, callback) {
    try {
      callback(null, { json: await fn(callIn.request.json) });
    } catch (err) {
      const metadata = new grpc.Metadata();
      metadata.set('orca-code', 'ORCA_NOT_FOUND');
      callback({ code: grpc.status.NOT_FOUND, details: (err as Error).message, metadata });
    }
  };

before(async () => {
  const handlers: grpc.UntypedServiceImplementation = {
    Info: unary((json) => json.toUpperCase()),
    NodeList: unary(() => {
      throw new Error('node nope not found: 100% sure');
    }),
    NodeInspect: unary(() => new Promise(() => {})),
    ServiceList: unary(() => ''),
    ServiceLogs: (stream: grpc.ServerWritableStream<JsonMessage, JsonMessage>) => {
      const count = Number(JSON.parse(stream.request.json).count);
      stream.on('cancelled', () => cancelled++);
      const next = () => {
        while (written < count) {
          written++;
          if (!stream.write({ json: JSON.stringify({ n: written, pad: 'x'.repeat(64 * 1024) }) })) {
            stream.once('drain', next);
            return;
          }
        }
        stream.end();
      };
      next();
    },
  };
  for (const name of Object.keys(controlService)) {
    handlers[name] ??= unary(() => '');
  }
  server.addService(controlService, handlers);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err === null ? resolve() : reject(err),
    ),
  );
});

after(() => {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function unaryCall(method: string, json: string, timeoutMs = 5000): Promise<string[]> {
  const got: string[] = [];
  await call({
    socketPath,
    path: `${CONTROL_SERVICE_PATH}${method}`,
    json,
    onMessage: (m) => {
      got.push(m);
    },
    timeoutMs,
  });
  return got;
}

describe('the CLI gRPC client (node:http2)', () => {
  it('encodes and decodes the Json message as protobuf does', () => {
    assert.deepEqual(encodeJsonMessage(''), Buffer.alloc(0));
    const long = `{"a":"${'é'.repeat(300)}"}`;
    assert.equal(decodeJsonMessage(encodeJsonMessage(long)), long);
    // Unknown fields (varint 2, fixed64 3, fixed32 4) are skipped.
    const withUnknown = Buffer.concat([
      Buffer.from([0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4]),
      encodeJsonMessage('{}'),
    ]);
    assert.equal(decodeJsonMessage(withUnknown), '{}');
  });

  it('gets a unary answer, and an empty one', async () => {
    assert.deepEqual(await unaryCall('Info', '{"x":"y"}'), ['{"X":"Y"}']);
    assert.deepEqual(await unaryCall('ServiceList', '{}'), ['']);
  });

  it('reports a refusal with its status, message and orca code', async () => {
    await assert.rejects(unaryCall('NodeList', '{}'), (err: unknown) => {
      assert.ok(err instanceof CallError);
      assert.equal(err.grpcCode, grpc.status.NOT_FOUND);
      assert.equal(err.message, 'node nope not found: 100% sure');
      assert.equal(err.metadata['orca-code'], 'ORCA_NOT_FOUND');
      return true;
    });
  });

  it('gives up at the deadline', async () => {
    await assert.rejects(unaryCall('NodeInspect', '{}', 200), { grpcCode: GRPC_DEADLINE_EXCEEDED });
  });

  it('says unavailable when nothing listens', async () => {
    await assert.rejects(
      call({
        socketPath: path.join(dir, 'nobody.sock'),
        path: `${CONTROL_SERVICE_PATH}Info`,
        json: '{}',
        onMessage: () => {},
      }),
      { grpcCode: GRPC_UNAVAILABLE },
    );
  });

  it('streams every message in order to a reader that takes its time', async () => {
    written = 0;
    const seen: number[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const done = call({
      socketPath,
      path: `${CONTROL_SERVICE_PATH}ServiceLogs`,
      json: JSON.stringify({ count: 200 }),
      onMessage: async (m) => {
        seen.push((JSON.parse(m) as { n: number }).n);
        if (seen.length === 1) await held;
      },
    });
    // Messages keep arriving while the first is held: none is handed over before it is done.
    // (On a busy machine the server may be well ahead before the first message is read.)
    await waitFor(() => seen.length > 0 && written > 10, { what: 'the server writing' });
    assert.equal(seen.length, 1);
    release();
    await done;
    assert.deepEqual(
      seen,
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
  });

  it('cancels a stream on abort, and the server sees it', async () => {
    written = 0;
    const before = cancelled;
    const abort = new AbortController();
    let first = true;
    await call({
      socketPath,
      path: `${CONTROL_SERVICE_PATH}ServiceLogs`,
      json: JSON.stringify({ count: 1e9 }),
      onMessage: () => {
        if (first) abort.abort();
        first = false;
      },
      signal: abort.signal,
    });
    await waitFor(() => cancelled > before, { what: 'the server told of the cancel' });
  });
});
