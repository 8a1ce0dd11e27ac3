import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallGate } from '../../src/worker/call-gate.ts';
import { waitFor } from '../support/wait.ts';

/** A call the test settles by hand, recording when it began. */
function manual(started: string[], name: string) {
  let settle!: (ok: boolean) => void;
  const done = new Promise<string>((resolve, reject) => {
    settle = (ok) => (ok ? resolve(name) : reject(new Error(`${name} failed`)));
  });
  return {
    call: () => {
      started.push(name);
      return done;
    },
    settle,
  };
}

describe('CallGate', () => {
  it('runs at most `width` calls at once, the others in the order they came', async () => {
    const gate = new CallGate(2, 60_000);
    const started: string[] = [];
    const calls = ['a', 'b', 'c', 'd'].map((n) => manual(started, n));
    const results = Promise.allSettled(calls.map((c) => gate.run(c.call)));
    await waitFor(() => started.length === 2, { what: 'two calls started' });
    assert.deepEqual(started, ['a', 'b']);
    assert.equal(gate.waiting, 2);

    calls[1]!.settle(true);
    await waitFor(() => started.length === 3, { what: 'the third call started' });
    assert.deepEqual(started, ['a', 'b', 'c']);
    assert.equal(gate.inFlight, 2);

    calls[0]!.settle(false); // a failure gives its slot up as well
    await waitFor(() => started.length === 4, { what: 'the fourth call started' });
    calls[2]!.settle(true);
    calls[3]!.settle(true);
    const settled = await results;
    assert.deepEqual(
      settled.map((s) => s.status),
      ['rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
    );
    assert.equal(gate.inFlight, 0);
    assert.equal(gate.waiting, 0);
  });

  it('lets the next call go once a call has held its slot for holdMs, without cutting it off', async () => {
    const gate = new CallGate(1, 30);
    const started: string[] = [];
    const stuck = manual(started, 'stuck');
    const next = manual(started, 'next');
    const stuckResult = gate.run(stuck.call);
    const nextResult = gate.run(next.call);
    await waitFor(() => started.length === 2, { what: 'the waiting call started' });
    next.settle(true);
    assert.equal(await nextResult, 'next');
    stuck.settle(true);
    assert.equal(await stuckResult, 'stuck');
    assert.equal(gate.inFlight, 0);
  });

  it('refuses a width below one', () => {
    assert.throws(() => new CallGate(0, 1000), RangeError);
  });
});
