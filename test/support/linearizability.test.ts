import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CheckResult,
  checkKv,
  describeOperation,
  type KvInput,
  type KvOutput,
  type Operation,
} from './linearizability.ts';
import { prng } from './prng.ts';

const OK: KvOutput = { ok: true };

function op(
  client: number,
  input: KvInput,
  call: number,
  ret: number,
  output: KvOutput | null,
): Operation {
  return { client, input, call, return: ret, output };
}
const put = (c: number, key: string, value: string, call: number, ret: number): Operation =>
  op(c, { op: 'put', key, value }, call, ret, OK);
const get = (c: number, key: string, value: string | null, call: number, ret: number): Operation =>
  op(c, { op: 'get', key }, call, ret, { value });
const cas = (
  c: number,
  key: string,
  expect: string | null,
  value: string,
  ok: boolean,
  call: number,
  ret: number,
): Operation => op(c, { op: 'cas', key, expect, value }, call, ret, { ok });
const del = (c: number, key: string, call: number, ret: number): Operation =>
  op(c, { op: 'delete', key }, call, ret, OK);
const unknownPut = (c: number, key: string, value: string, call: number): Operation =>
  op(c, { op: 'put', key, value }, call, Infinity, null);

function assertOk(r: CheckResult): void {
  assert.deepEqual(r, { result: 'ok' });
}
function assertIllegal(r: CheckResult, key: string): string {
  assert.equal(r.result, 'illegal', JSON.stringify(r));
  assert.ok(r.result === 'illegal');
  assert.equal(r.key, key);
  return r.detail;
}

describe('linearizable histories', () => {
  test('a sequential history of every kind of op', () => {
    assertOk(
      checkKv([
        get(0, 'x', null, 0, 1),
        put(0, 'x', '1', 2, 3),
        get(1, 'x', '1', 4, 5),
        cas(0, 'x', '1', '2', true, 6, 7),
        cas(1, 'x', '1', '3', false, 8, 9),
        get(0, 'x', '2', 10, 11),
        del(1, 'x', 12, 13),
        get(0, 'x', null, 14, 15),
        cas(1, 'x', null, '4', true, 16, 17),
        get(0, 'x', '4', 18, 19),
      ]),
    );
  });

  test('an empty history', () => {
    assertOk(checkKv([]));
  });

  test('a get overlapping a put may see the value before or after it', () => {
    for (const seen of [null, '1']) {
      assertOk(checkKv([put(0, 'x', '1', 0, 10), get(1, 'x', seen, 2, 8)]));
    }
  });

  test('two overlapping puts may land in either order', () => {
    for (const last of ['1', '2']) {
      assertOk(
        checkKv([put(0, 'x', '1', 0, 10), put(1, 'x', '2', 1, 9), get(2, 'x', last, 11, 12)]),
      );
    }
  });

  test('reads during an overlapping put may flip once, not back', () => {
    const h = [put(0, 'x', 'a', 0, 1), put(1, 'x', 'b', 2, 20)];
    assertOk(checkKv([...h, get(2, 'x', 'a', 3, 4), get(2, 'x', 'b', 5, 6)]));
    assertIllegal(checkKv([...h, get(2, 'x', 'b', 3, 4), get(2, 'x', 'a', 5, 6)]), 'x');
  });

  test('keys are independent registers', () => {
    assertOk(checkKv([put(0, 'x', '1', 0, 1), put(1, 'y', '2', 0, 1), get(2, 'x', '1', 2, 3)]));
  });

  test('a call stamped at the instant another op returned counts as concurrent', () => {
    // The get may be ordered before the put: equal timestamps do not order ops.
    assertOk(checkKv([put(0, 'x', '1', 0, 5), get(1, 'x', null, 5, 6)]));
    // Strictly later, it must see the put.
    assertIllegal(checkKv([put(0, 'x', '1', 0, 5), get(1, 'x', null, 5.5, 6)]), 'x');
  });
});

describe('non-linearizable histories', () => {
  test('a stale read after two completed puts', () => {
    const detail = assertIllegal(
      checkKv([put(0, 'x', '1', 0, 1), put(1, 'x', '2', 2, 3), get(2, 'x', '1', 4, 5)]),
      'x',
    );
    assert.match(detail, /get\(\) → "1"/);
    assert.match(detail, /longest linearizable prefix: 2 ops/);
  });

  test('a read of a value never written', () => {
    assertIllegal(checkKv([put(0, 'x', '1', 0, 10), get(1, 'x', 'ghost', 2, 8)]), 'x');
  });

  test('two sequential cas with the same expected value both succeeding', () => {
    assertIllegal(
      checkKv([
        put(0, 'x', '0', 0, 1),
        cas(1, 'x', '0', '1', true, 2, 3),
        cas(2, 'x', '0', '2', true, 4, 5),
      ]),
      'x',
    );
  });

  test('a cas that failed although the register held the expected value', () => {
    assertIllegal(checkKv([put(0, 'x', '0', 0, 1), cas(1, 'x', '0', '1', false, 2, 3)]), 'x');
  });

  test('a lost write: later reads still return the old value', () => {
    assertIllegal(
      checkKv([
        put(0, 'x', 'old', 0, 1),
        put(0, 'x', 'new', 2, 3),
        get(1, 'x', 'old', 4, 5),
        get(2, 'x', 'old', 6, 7),
      ]),
      'x',
    );
  });

  test('a lost delete', () => {
    assertIllegal(
      checkKv([put(0, 'x', 'a', 0, 1), del(0, 'x', 2, 3), get(1, 'x', 'a', 4, 5)]),
      'x',
    );
  });

  test('the failing key is named when the other keys are fine', () => {
    const r = checkKv([
      put(0, 'x', '1', 0, 1),
      get(1, 'x', '1', 2, 3),
      put(0, 'y', '1', 0, 1),
      put(0, 'y', '2', 2, 3),
      get(1, 'y', '1', 4, 5),
      put(2, 'z', '1', 0, 1),
    ]);
    const detail = assertIllegal(r, 'y');
    assert.match(detail, /key "y"/);
  });
});

describe('operations with unknown outcome', () => {
  test('an unknown put whose value is read later', () => {
    assertOk(checkKv([unknownPut(0, 'x', '1', 0), get(1, 'x', '1', 5, 6)]));
  });

  test('an unknown put whose value is never read', () => {
    assertOk(
      checkKv([unknownPut(0, 'x', '1', 0), get(1, 'x', null, 5, 6), get(1, 'x', null, 7, 8)]),
    );
  });

  test('an unknown put that lands late, after the reads that missed it', () => {
    assertOk(
      checkKv([
        put(1, 'x', 'a', 0, 1),
        unknownPut(0, 'x', 'b', 2),
        get(1, 'x', 'a', 3, 4),
        get(1, 'x', 'b', 100, 101),
      ]),
    );
  });

  test('an unknown put that was observed cannot be undone', () => {
    assertIllegal(
      checkKv([
        put(1, 'x', 'a', 0, 1),
        unknownPut(0, 'x', 'b', 2),
        get(1, 'x', 'b', 3, 4),
        get(1, 'x', 'a', 5, 6),
      ]),
      'x',
    );
  });

  test('a get cannot read a value written only by an op called after it returned', () => {
    assertIllegal(checkKv([get(0, 'x', '1', 0, 1), unknownPut(1, 'x', '1', 2)]), 'x');
    assertIllegal(checkKv([get(0, 'x', '1', 0, 1), put(1, 'x', '1', 2, 3)]), 'x');
  });

  test('an unknown cas may or may not have applied', () => {
    const c = op(0, { op: 'cas', key: 'x', expect: null, value: '1' }, 0, Infinity, null);
    assertOk(checkKv([c, get(1, 'x', '1', 5, 6)]));
    assertOk(checkKv([c, get(1, 'x', null, 5, 6)]));
  });

  test('an unknown get constrains nothing', () => {
    const g = op(0, { op: 'get', key: 'x' }, 0, Infinity, null);
    assertOk(checkKv([put(1, 'x', '1', 0, 1), g, get(1, 'x', '1', 2, 3)]));
  });

  test('a null output with a finite return (the time the client gave up) is unknown', () => {
    const gaveUp = op(0, { op: 'put', key: 'x', value: '1' }, 0, 5, null);
    assertOk(checkKv([gaveUp, get(1, 'x', null, 6, 7), get(1, 'x', '1', 8, 9)]));
  });
});

describe('limits and input checks', () => {
  test('a search that cannot finish in time answers unknown', () => {
    // Concurrent puts of distinct values followed by an impossible read: the
    // search must try every subset of the puts before giving up.
    const h: Operation[] = [];
    for (let i = 0; i < 40; i++) h.push(put(i, 'x', String(i), 0, 10));
    h.push(get(99, 'x', 'ghost', 20, 21));
    const r = checkKv(h, { timeoutMs: 50 });
    assert.equal(r.result, 'unknown');
    assert.ok(r.result === 'unknown');
    assert.match(r.reason, /key "x"/);
  });

  test('malformed operations are rejected', () => {
    assert.throws(() => checkKv([put(0, 'x', '1', 5, 4)]), TypeError);
    assert.throws(() => checkKv([op(0, { op: 'get', key: 'x' }, 0, 1, {})]), TypeError);
    assert.throws(
      () => checkKv([op(0, { op: 'cas', key: 'x', expect: null, value: '1' }, 0, 1, {})]),
      TypeError,
    );
    assert.throws(() => checkKv([op(0, { op: 'put', key: 'x', value: '1' }, 0, Infinity, OK)]));
  });

  test('operations are described on one line', () => {
    assert.equal(
      describeOperation(cas(2, 'x', null, 'a', true, 10, 14)),
      'c2 cas(null → "a") → ok [10, 14]',
    );
    assert.equal(describeOperation(unknownPut(1, 'x', 'b', 3)), 'c1 put("b") → ? [3, ∞)');
  });
});

// ---- randomized histories from a simulated linearizable store ----

interface SimOptions {
  ops: number;
  keys: number;
  clients: number;
  unknownRate: number;
}

/**
 * Clients issue ops back to back against a perfect register; each op takes
 * effect at a random instant inside its [call, return] interval, and outputs
 * are computed by applying ops in that order. Integer timestamps make equal
 * call/return stamps common. An op with unknown outcome takes effect at a
 * random instant after its call, possibly long after, or never.
 */
function simulate(seed: number, o: SimOptions): Operation[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  const values = ['a', 'b', 'c', 'd'];
  const free = Array.from({ length: o.clients }, () => Math.floor(rand() * 5));
  const history: Operation[] = [];
  const effects: { at: number; op: Operation }[] = [];

  for (let i = 0; i < o.ops; i++) {
    let client = 0;
    for (let c = 1; c < o.clients; c++) if (free[c]! < free[client]!) client = c;
    const key = pick(keys);
    const r = rand();
    const input: KvInput =
      r < 0.35
        ? { op: 'put', key, value: pick(values) }
        : r < 0.7
          ? { op: 'get', key }
          : r < 0.9
            ? { op: 'cas', key, expect: pick([null, ...values]), value: pick(values) }
            : { op: 'delete', key };
    const call = free[client]!;
    const duration = 1 + Math.floor(rand() * 20);
    const unknown = rand() < o.unknownRate;
    const o1: Operation = { client, input, call, return: call + duration, output: null };
    if (unknown) {
      o1.return = Infinity;
      if (rand() < 0.5) effects.push({ at: call + rand() * 200, op: o1 });
    } else {
      effects.push({ at: call + rand() * duration, op: o1 });
    }
    history.push(o1);
    free[client] = call + duration + Math.floor(rand() * 5);
  }

  effects.sort((a, b) => a.at - b.at);
  const store = new Map<string, string>();
  for (const { op: e } of effects) {
    const input = e.input;
    const current = store.get(input.key) ?? null;
    let output: KvOutput;
    switch (input.op) {
      case 'put':
        store.set(input.key, input.value);
        output = { ok: true };
        break;
      case 'get':
        output = { value: current };
        break;
      case 'cas':
        if (current === input.expect) store.set(input.key, input.value);
        output = { ok: current === input.expect };
        break;
      case 'delete':
        store.delete(input.key);
        output = { ok: true };
        break;
    }
    if (e.return !== Infinity) e.output = output;
  }
  return history;
}

describe('randomized histories', () => {
  test('simulated linearizable histories pass, and fail once one read is corrupted', () => {
    const opts = { ops: 200, keys: 3, clients: 5, unknownRate: 0.03 };
    for (let seed = 1; seed <= 200; seed++) {
      const history = simulate(seed, opts);
      assert.deepEqual(checkKv(history), { result: 'ok' }, `seed ${seed}`);

      const reads = history.filter((o) => o.input.op === 'get' && o.output !== null);
      assert.ok(reads.length > 0, `seed ${seed} has no completed read`);
      const victim = reads[Math.floor(prng(seed)() * reads.length)]!;
      const corrupted = history.map((o) =>
        o === victim ? { ...o, output: { value: 'never-written' } } : o,
      );
      const r = checkKv(corrupted);
      assert.equal(r.result, 'illegal', `seed ${seed}`);
      assert.ok(r.result === 'illegal');
      assert.equal(r.key, victim.input.key, `seed ${seed}`);
    }
  });

  test('a large history: 2000 ops over 5 keys from 10 clients', () => {
    const history = simulate(12345, { ops: 2000, keys: 5, clients: 10, unknownRate: 0.01 });
    assert.deepEqual(checkKv(history), { result: 'ok' });
  });
});

// ---- cross-check against an exhaustive search on tiny histories ----

/**
 * Straight from the definition: some order of the ops respects real time
 * (a before b whenever a returned strictly before b was called) and the
 * register's specification, where each op with unknown outcome is either left
 * out or placed anywhere after its call, with any output.
 */
function linearizableByBruteForce(history: readonly Operation[]): boolean {
  const known = (o: Operation): boolean => o.output !== null;
  const go = (remaining: Operation[], store: Map<string, string>): boolean => {
    if (!remaining.some(known)) return true;
    for (const o of remaining) {
      const blocked = remaining.some((r) => r !== o && known(r) && r.return < o.call);
      if (blocked) continue;
      const input = o.input;
      const current = store.get(input.key) ?? null;
      const next = new Map(store);
      if (input.op === 'put') next.set(input.key, input.value);
      else if (input.op === 'delete') next.delete(input.key);
      else if (input.op === 'cas' && current === input.expect) next.set(input.key, input.value);
      if (known(o)) {
        if (input.op === 'get' && o.output!.value !== current) continue;
        if (input.op === 'cas' && o.output!.ok !== (current === input.expect)) continue;
      }
      if (
        go(
          remaining.filter((r) => r !== o),
          next,
        )
      )
        return true;
    }
    return false;
  };
  return go([...history], new Map());
}

test('agrees with an exhaustive search on 2000 tiny random histories', () => {
  const rand = prng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const values = ['a', 'b'];
  let illegal = 0;
  for (let n = 0; n < 2000; n++) {
    const history: Operation[] = [];
    const size = 1 + Math.floor(rand() * 7);
    for (let i = 0; i < size; i++) {
      const key = pick(['x', 'y']);
      const call = Math.floor(rand() * 10);
      const ret = call + Math.floor(rand() * 4);
      const r = rand();
      let o: Operation;
      if (r < 0.3) o = put(i, key, pick(values), call, ret);
      else if (r < 0.65) o = get(i, key, pick([null, ...values]), call, ret);
      else if (r < 0.9)
        o = cas(i, key, pick([null, ...values]), pick(values), rand() < 0.5, call, ret);
      else o = del(i, key, call, ret);
      if (rand() < 0.15) o = { ...o, return: Infinity, output: null };
      history.push(o);
    }
    const expected = linearizableByBruteForce(history);
    const got = checkKv(history).result;
    assert.equal(got, expected ? 'ok' : 'illegal', JSON.stringify(history));
    if (!expected) illegal++;
  }
  // Both verdicts must be well represented for the agreement to mean anything.
  assert.ok(illegal > 400 && illegal < 1600, `${illegal} illegal of 2000`);
});
