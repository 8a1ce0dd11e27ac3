import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSeeds } from './seeds.ts';
import { runWorld, Violation } from './world.ts';

// 500 seeds of 3- and 5-member clusters under drops, duplicates, delays, partitions (symmetric
// and one-way), crashes that lose unsynced writes, membership changes and snapshots. Each world
// checks the safety properties after every step and liveness after the faults heal.
test('500 simulated clusters keep every safety property and recover once faults heal', () => {
  const outcome = runSeeds({ first: 1, count: 500 });
  assert.equal(outcome.violation, null, outcome.violation?.message);
  // The worlds must actually exercise what they claim to.
  const t = outcome.totals;
  assert.ok(t.committed > 10_000, `only ${t.committed} proposals committed`);
  assert.ok(t.snapshots > 1_000, `only ${t.snapshots} snapshots`);
  assert.ok(t.confChanges > 100, `only ${t.confChanges} membership changes`);
  assert.ok(t.crashes > 100, `only ${t.crashes} crashes`);
  assert.ok(t.leaders > 500, `only ${t.leaders} leaderships`);
  assert.ok(t.readsServed > 10_000, `only ${t.readsServed} linearizable reads`);
  assert.ok(t.transfers > 50, `only ${t.transfers} leadership transfers`);
});

test('a seed replays exactly', () => {
  const a = runWorld({ seed: 42, members: 5, faultMs: 3000, livenessMs: 6000, snapshotEvery: 25 });
  const b = runWorld({ seed: 42, members: 5, faultMs: 3000, livenessMs: 6000, snapshotEvery: 25 });
  assert.deepEqual(a, b);
});

test('a world given no time to recover is reported as a liveness violation with its seed', () => {
  // Faults for longer than the world allows for recovery: a partitioned majority cannot elect,
  // so the world must say so rather than pass.
  assert.throws(
    () => runWorld({ seed: 7, members: 3, faultMs: 3000, livenessMs: 0, snapshotEvery: 25 }),
    (err: unknown) => err instanceof Violation && /seed 7 step \d+: liveness/.test(err.message),
  );
});
