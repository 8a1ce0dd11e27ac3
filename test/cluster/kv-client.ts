// A client of `orca raft-kv`'s HTTP API that records every operation it sends, with call and
// return times, in the form the linearizability checker reads (test/support/linearizability.ts).
//
// The hard part is the outcome of a request that did not come back cleanly. Only these answers
// prove that a write did not take effect, and those ops are left out of the history:
// - 400: the member rejected the input before proposing anything;
// - 503 ORCA_NOT_LEADER: the member had no leader to propose to, and said so before submitting;
// - a connection refused (the member is down): the request was never sent.
// Everything else (504, another 503, 409, 500, a reset connection, a client timeout, a body that
// is not JSON) may have been applied or may be applied later, so it is recorded as unknown:
// output null, return Infinity. A get that did not come back constrains nothing and is dropped.

import type { KvInput, KvOutput, Operation } from '../support/linearizability.ts';

export interface KvStats {
  /** Writes acknowledged: puts answered 200 and cas answered ok: true. */
  okWrites: number;
  /** cas answered 200 with ok: false (the register held another value). */
  failedCas: number;
  okGets: number;
  /** Writes whose outcome is unknown, recorded with output null. */
  unknownWrites: number;
  /** Writes the cluster definitely refused (400, 503 ORCA_NOT_LEADER), left out. */
  refusedWrites: number;
  /** Gets that did not return a value, left out. */
  failedGets: number;
  /** Status codes and error names of everything that did not succeed, for the report. */
  failures: Map<string, number>;
}

/** The shared history and counters of every client of one run. */
export class KvRecorder {
  readonly history: Operation[] = [];
  readonly stats: KvStats = {
    okWrites: 0,
    failedCas: 0,
    okGets: 0,
    unknownWrites: 0,
    refusedWrites: 0,
    failedGets: 0,
    failures: new Map(),
  };

  noteFailure(what: string): void {
    this.stats.failures.set(what, (this.stats.failures.get(what) ?? 0) + 1);
  }
}

type Reply =
  | { kind: 'ok'; body: Record<string, unknown> }
  | { kind: 'refused'; why: string }
  | { kind: 'unknown'; why: string };

export class KvClient {
  readonly id: number;
  readonly #recorder: KvRecorder;
  readonly #timeoutMs: number;

  constructor(id: number, recorder: KvRecorder, timeoutMs = 2000) {
    this.id = id;
    this.#recorder = recorder;
    this.#timeoutMs = timeoutMs;
  }

  /** `addr` is the member's client address, ip:port. */
  async put(addr: string, key: string, value: string): Promise<'ok' | 'refused' | 'unknown'> {
    const input: KvInput = { op: 'put', key, value };
    const call = performance.now();
    const reply = await this.#post(addr, '/v1/put', { key, value });
    return this.#recordWrite(input, call, reply, () => ({ ok: true }));
  }

  /** The ok of a cas that came back, or 'refused' / 'unknown'; `value` is the register's now. */
  async cas(
    addr: string,
    key: string,
    expect: string | null,
    value: string,
  ): Promise<{ ok: boolean; value: string | null } | 'refused' | 'unknown'> {
    const input: KvInput = { op: 'cas', key, expect, value };
    const call = performance.now();
    const reply = await this.#post(addr, '/v1/cas', { key, expect, value });
    let result: { ok: boolean; value: string | null } | undefined;
    const outcome = this.#recordWrite(input, call, reply, (body) => {
      if (typeof body.ok !== 'boolean') return undefined;
      result = { ok: body.ok, value: typeof body.value === 'string' ? body.value : null };
      return { ok: body.ok };
    });
    if (result === undefined) return outcome === 'refused' ? 'refused' : 'unknown';
    if (result.ok) this.#recorder.stats.okWrites++;
    else this.#recorder.stats.failedCas++;
    return result;
  }

  /** The value read, or undefined when the get failed (and was left out of the history). */
  async get(addr: string, key: string): Promise<{ value: string | null } | undefined> {
    const call = performance.now();
    const reply = await this.#post(addr, '/v1/get', { key });
    const ret = performance.now();
    const value = reply.kind === 'ok' ? reply.body.value : undefined;
    if (value !== null && typeof value !== 'string') {
      this.#recorder.stats.failedGets++;
      this.#recorder.noteFailure(
        `get ${reply.kind === 'ok' ? 'answered without a value' : reply.why}`,
      );
      return undefined;
    }
    this.#recorder.stats.okGets++;
    this.#recorder.history.push({
      client: this.id,
      input: { op: 'get', key },
      call,
      return: ret,
      output: { value },
    });
    return { value };
  }

  #recordWrite(
    input: KvInput,
    call: number,
    reply: Reply,
    output: (body: Record<string, unknown>) => KvOutput | undefined,
  ): 'ok' | 'refused' | 'unknown' {
    const ret = performance.now();
    const stats = this.#recorder.stats;
    if (reply.kind === 'refused') {
      stats.refusedWrites++;
      this.#recorder.noteFailure(`${input.op} ${reply.why}`);
      return 'refused';
    }
    const out = reply.kind === 'ok' ? output(reply.body) : undefined;
    if (out === undefined) {
      stats.unknownWrites++;
      this.#recorder.noteFailure(
        `${input.op} ${reply.kind === 'ok' ? 'answered 200 without a result' : reply.why}`,
      );
      this.#recorder.history.push({
        client: this.id,
        input,
        call,
        return: Infinity,
        output: null,
      });
      return 'unknown';
    }
    if (input.op === 'put') stats.okWrites++;
    this.#recorder.history.push({ client: this.id, input, call, return: ret, output: out });
    return 'ok';
  }

  async #post(addr: string, path: string, body: unknown): Promise<Reply> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`http://${addr}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const why = errorName(err);
      // Refused at connect: not a byte of the request left this process.
      if (why === 'ECONNREFUSED') return { kind: 'refused', why };
      return { kind: 'unknown', why };
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { kind: 'unknown', why: `${res.status} with a body that is not JSON` };
    }
    if (res.status === 200) return { kind: 'ok', body: json };
    const why = `${res.status} ${String(json.error)}`;
    if (res.status === 400 || (res.status === 503 && json.error === 'ORCA_NOT_LEADER')) {
      return { kind: 'refused', why };
    }
    return { kind: 'unknown', why };
  }
}

/** GET /v1/status, or undefined when the member does not answer in time. */
export async function memberStatus(
  addr: string,
  timeoutMs = 500,
): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(`http://${addr}/v1/status`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) return undefined;
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

// fetch wraps the cause (ECONNREFUSED, UND_ERR_SOCKET...) in a TypeError "fetch failed".
function errorName(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'client timeout';
  const cause = err.cause as { code?: unknown } | undefined;
  return typeof cause?.code === 'string' ? cause.code : err.message;
}
