// The control socket's two transports against the daemon's own ControlServer (with stand-in
// methods): the CLI's gRPC-Web client (answers, errors with their orca code, streams read in
// order, cancellation the server sees, deadlines, no server at all), and gRPC (@grpc/grpc-js)
// on the same socket, as other clients use it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CONTROL_SERVICE_PATH } from '../../src/api/control-names.ts';
import { controlService, type JsonMessage } from '../../src/api/control-wire.ts';
import { decodeJsonMessage, encodeJsonMessage } from '../../src/api/grpc-frames.ts';
import {
  CallError,
  call,
  GRPC_DEADLINE_EXCEEDED,
  GRPC_UNAVAILABLE,
} from '../../src/cli/grpc-web.ts';
import { ControlServer } from '../../src/daemon/control-server.ts';
import { createLogger } from '../../src/daemon/logger.ts';
import { OrcaError } from '../../src/errors.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'orca-grpc-web-'));
const socketPath = path.join(dir, 'control.sock');
let server: ControlServer;
let cancelled = 0;
let written = 0;

/** The methods the tests call; the rest are never reached. */
const impl = {
  Info: async (req: { x?: string }) => ({ X: req.x?.toUpperCase() }),
  NodeList: async () => {
    throw new OrcaError('ORCA_NOT_FOUND', 'node nope not found: 100% sure');
  },
  NodeInspect: () => new Promise(() => {}),
  ServiceList: async () => ({}),
  ServiceLogs: async function* (req: { count: number }, signal: AbortSignal) {
    signal.addEventListener('abort', () => cancelled++, { once: true });
    while (written < req.count && !signal.aborted) {
      written++;
      yield { n: written, pad: 'x'.repeat(1024) };
    }
  },
};

before(async () => {
  server = await ControlServer.start(
    socketPath,
    impl as unknown as Parameters<typeof ControlServer.start>[1],
    createLogger({ level: 'silent', format: 'json' }),
  );
});

after(async () => {
  await server.stop();
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

describe('the CLI control client (gRPC-Web)', () => {
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
    assert.deepEqual(await unaryCall('ServiceList', '{}'), ['{}']);
  });

  it('reports a refusal with its status, message and orca code', async () => {
    await assert.rejects(unaryCall('NodeList', '{}'), (err: unknown) => {
      assert.ok(err instanceof CallError);
      assert.equal(err.grpcCode, grpc.status.NOT_FOUND);
      assert.equal(err.message, 'node nope not found: 100% sure');
      assert.equal(err.metadata['orca-code'], 'ORCA_NOT_FOUND');
      return true;
    });
    await assert.rejects(unaryCall('Info', '[1]'), (err: unknown) => {
      assert.ok(err instanceof CallError);
      assert.equal(err.metadata['orca-code'], 'ORCA_BAD_REQUEST');
      assert.match(err.message, /Info: the body is not a JSON object/);
      return true;
    });
    await assert.rejects(unaryCall('NoSuchMethod', '{}'), { grpcCode: grpc.status.UNIMPLEMENTED });
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

  it('keeps serving after clients that leave before saying which protocol they speak', async () => {
    for (const bytes of ['', 'P']) {
      const s = connect(socketPath);
      await once(s, 'connect');
      if (bytes !== '') s.write(bytes);
      s.destroy();
      await once(s, 'close');
    }
    assert.deepEqual(await unaryCall('Info', '{"x":"still"}'), ['{"X":"STILL"}']);
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

describe('gRPC on the same control socket', () => {
  const Client = grpc.makeGenericClientConstructor(controlService, 'Control');
  // biome-ignore lint/suspicious/noExplicitAny: a generic client's methods are untyped
  let client: any;
  before(() => {
    client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  });
  after(() => client.close());

  it('answers a unary call, and refuses with the orca code', async () => {
    const answer = await new Promise<JsonMessage>((resolve, reject) =>
      client.Info({ json: '{"x":"grpc"}' }, (err: Error | null, res: JsonMessage) =>
        err ? reject(err) : resolve(res),
      ),
    );
    assert.equal(answer.json, '{"X":"GRPC"}');
    const refused = await new Promise<grpc.ServiceError>((resolve) =>
      client.NodeList({ json: '{}' }, (err: grpc.ServiceError) => resolve(err)),
    );
    assert.equal(refused.code, grpc.status.NOT_FOUND);
    assert.equal(refused.metadata.get('orca-code')[0], 'ORCA_NOT_FOUND');
  });

  it('streams, and a cancel reaches the method', async () => {
    written = 0;
    const before = cancelled;
    const stream = client.ServiceLogs({
      json: JSON.stringify({ count: 1e9 }),
    }) as grpc.ClientReadableStream<JsonMessage>;
    stream.on('error', () => {});
    const first = await new Promise<JsonMessage>((resolve) => stream.once('data', resolve));
    assert.equal((JSON.parse(first.json) as { n: number }).n, 1);
    stream.cancel();
    await waitFor(() => cancelled > before, { what: 'the method told of the cancel' });
  });
});

describe('stopping the control server', () => {
  it('lets a gRPC-Web call in flight answer, tells a stream the daemon stops, cuts a silent client, then removes the socket', async () => {
    const sock = path.join(dir, 'stopping.sock');
    let release: () => void = () => {};
    const slow = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const stopping = await ControlServer.start(
      sock,
      {
        Info: async () => {
          started++;
          await slow;
          return { answered: true };
        },
        ServiceLogs: async function* (_req: unknown, signal: AbortSignal) {
          yield { n: 1 };
          await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        },
      } as unknown as Parameters<typeof ControlServer.start>[1],
      createLogger({ level: 'silent', format: 'json' }),
    );
    const answer: string[] = [];
    const unaryDone = call({
      socketPath: sock,
      path: `${CONTROL_SERVICE_PATH}Info`,
      json: '{}',
      onMessage: (m) => {
        answer.push(m);
      },
    });
    let streaming = false;
    const streamDone = call({
      socketPath: sock,
      path: `${CONTROL_SERVICE_PATH}ServiceLogs`,
      json: '{}',
      onMessage: () => {
        streaming = true;
      },
    });
    const streamEnd = streamDone.then(
      () => null,
      (err: unknown) => err,
    );
    await waitFor(() => started === 1 && streaming, { what: 'both calls under way' });
    // A client that connected and never said a word does not hold the stop past its deadline.
    const silent = connect(sock);
    await once(silent, 'connect');
    const silentClosed = once(silent, 'close');
    const stopped = stopping.stop();
    release();
    await unaryDone;
    assert.deepEqual(answer, ['{"answered":true}']);
    const err = await streamEnd;
    assert.ok(err instanceof CallError, `the stream ended with ${String(err)}`);
    assert.equal(err.metadata['orca-code'], 'ORCA_STOPPED');
    await stopped;
    await silentClosed;
    await assert.rejects(
      call({
        socketPath: sock,
        path: `${CONTROL_SERVICE_PATH}Info`,
        json: '{}',
        onMessage: () => {},
      }),
      { grpcCode: GRPC_UNAVAILABLE },
    );
  });
});
