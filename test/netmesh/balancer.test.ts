import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConnectionCounts,
  createBalancer,
  LeastConnections,
  PowerOfTwo,
  RoundRobin,
} from '../../src/netmesh/balancer.ts';
import type { MeshBackend } from '../../src/netmesh/data-path.ts';

const b = (id: string): MeshBackend => ({ id, host: '10.0.0.1', port: 80 });
const abc = [b('a'), b('b'), b('c')];

/** Returns the given values in turn, forever. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('RoundRobin', () => {
  it('takes each backend in turn', () => {
    const rr = new RoundRobin();
    const picks = Array.from({ length: 7 }, () => rr.pick(abc)?.id);
    assert.deepEqual(picks, ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('skips excluded backends and moves on from the one it picked', () => {
    const rr = new RoundRobin();
    assert.equal(rr.pick(abc, new Set(['a']))?.id, 'b');
    assert.equal(rr.pick(abc)?.id, 'c');
    assert.equal(rr.pick(abc, new Set(['a', 'b', 'c'])), undefined);
  });

  it('has nothing to pick from an empty table', () => {
    assert.equal(new RoundRobin().pick([]), undefined);
  });

  it('keeps going after the table shrinks', () => {
    const rr = new RoundRobin();
    rr.pick(abc);
    rr.pick(abc);
    const ab = [b('a'), b('b')];
    const picks = Array.from({ length: 3 }, () => rr.pick(ab)?.id);
    assert.deepEqual(picks, ['a', 'b', 'a']);
  });
});

describe('LeastConnections', () => {
  it('picks the backend with the fewest open connections', () => {
    const counts = new ConnectionCounts();
    counts.add('a');
    counts.add('a');
    counts.add('b');
    const lc = new LeastConnections(counts);
    assert.equal(lc.pick(abc)?.id, 'c');
    counts.add('c');
    counts.add('c');
    assert.equal(lc.pick(abc)?.id, 'b');
  });

  it('spreads ties instead of always taking the first', () => {
    const lc = new LeastConnections(new ConnectionCounts());
    const picks = Array.from({ length: 3 }, () => lc.pick(abc)?.id);
    assert.deepEqual(picks, ['a', 'b', 'c']);
  });

  it('reads counts by task id, so they survive a table swap', () => {
    const counts = new ConnectionCounts();
    const lc = new LeastConnections(counts);
    counts.add('b');
    // A new table with the same task b and a new task d.
    assert.equal(lc.pick([b('b'), b('d')])?.id, 'd');
    assert.equal(lc.pick([b('d'), b('b')])?.id, 'd');
  });

  it('skips excluded backends', () => {
    const lc = new LeastConnections(new ConnectionCounts());
    assert.equal(lc.pick(abc, new Set(['a', 'b']))?.id, 'c');
    assert.equal(lc.pick(abc, new Set(['a', 'b', 'c'])), undefined);
  });
});

describe('PowerOfTwo', () => {
  it('draws two distinct backends and takes the one with fewer connections', () => {
    const counts = new ConnectionCounts();
    counts.add('a');
    // First draw index 0 (a); second draws from the others: 0 -> b.
    const p2c = new PowerOfTwo(counts, sequence(0, 0));
    assert.equal(p2c.pick(abc)?.id, 'b');
  });

  it('keeps the first drawn on a tie', () => {
    const p2c = new PowerOfTwo(new ConnectionCounts(), sequence(0.5, 0.9));
    // 0.5*3 -> index 1 (b); second: 1 + 1 + floor(0.9*2)=1 -> index 0 (a); tie -> b.
    assert.equal(p2c.pick(abc)?.id, 'b');
  });

  it('never draws the same backend twice', () => {
    const counts = new ConnectionCounts();
    counts.add('c');
    counts.add('c');
    // 0.99 draws c; the second draw cannot be c again, so the less loaded one wins.
    const p2c = new PowerOfTwo(counts, sequence(0.99, 0.99));
    assert.notEqual(p2c.pick(abc)?.id, 'c');
  });

  it('draws only among backends not excluded', () => {
    const p2c = new PowerOfTwo(new ConnectionCounts(), sequence(0, 0));
    assert.equal(p2c.pick(abc, new Set(['a', 'b']))?.id, 'c');
    assert.equal(p2c.pick(abc, new Set(['a', 'b', 'c'])), undefined);
    assert.equal(p2c.pick([b('x')])?.id, 'x');
  });

  it('balances a skewed load better than chance', () => {
    const counts = new ConnectionCounts();
    let seed = 1;
    const rand = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const p2c = new PowerOfTwo(counts, rand);
    const many = Array.from({ length: 10 }, (_, i) => b(`t${i}`));
    for (let i = 0; i < 1000; i++) counts.add(p2c.pick(many)!.id);
    const loads = many.map((x) => counts.get(x.id));
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 3, `loads ${loads.join(',')}`);
  });
});

describe('ConnectionCounts', () => {
  it('forgets an id once its connections are closed', () => {
    const counts = new ConnectionCounts();
    counts.add('a');
    counts.add('a');
    counts.remove('a');
    assert.equal(counts.get('a'), 1);
    counts.remove('a');
    assert.equal(counts.get('a'), 0);
    assert.equal(counts.size, 0);
  });
});

describe('createBalancer', () => {
  it('makes the policy it is named for', () => {
    const counts = new ConnectionCounts();
    assert.equal(createBalancer('round-robin', counts).policy, 'round-robin');
    assert.equal(createBalancer('least-conn', counts).policy, 'least-conn');
    assert.equal(createBalancer('p2c', counts).policy, 'p2c');
  });
});
