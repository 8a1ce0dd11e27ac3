// Linearizability of orca's Raft key-value store under real faults: three `orca raft-kv`
// processes, each in its own network namespace, serve concurrent clients while a nemesis kills,
// pauses and cuts them off. Every operation is recorded with its call and return time and the
// whole history goes through the checker in test/support/linearizability.ts. The only oracle is
// the history itself, so no seed is needed to reproduce a verdict: a failure prints the
// checker's explanation, and the member logs, data dirs and the history are kept.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { RaftStatus } from '../../src/raft/node.ts';
import { checkKv, describeOperation, type Operation } from '../support/linearizability.ts';
import { waitFor } from '../support/wait.ts';
import { KvClient, KvRecorder, memberStatus } from './kv-client.ts';
import { type Host, NetnsCluster, netnsSkip, netnsUnsupported, type Proc } from './netns.ts';

const skip = netnsSkip();

const ORCA = fileURLToPath(new URL('../../bin/orca', import.meta.url));
const RAFT_PORT = 7001;
const CLIENT_PORT = 8001;
const CLIENTS = 8;
const KEYS = ['k0', 'k1', 'k2', 'k3'];
/** Clients run this long at least; the nemesis starts a fault only within NEMESIS_MS. */
const RUN_MS = 25_000;
const NEMESIS_MS = 19_000;
/** Clients keep going this long against the healed cluster, so recovery is checked too. */
const HEALED_MS = 4_000;
const CLIENT_TIMEOUT_MS = 2_000;
const MIN_OK_WRITES = 200;
const MIN_HEALED_WRITES = 20;
const CHECK_TIMEOUT_MS = 20_000;
/**
 * Far below the default, so that members compact their logs several times in a run and a member
 * that was down or cut off may have to catch up from a snapshot: those paths face faults too.
 */
const SNAPSHOT_EVERY = 500;

interface Member {
  readonly id: string;
  readonly host: Host;
  readonly client: string;
  readonly dataDir: string;
  readonly logFile: string;
  proc: Proc | undefined;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const between = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);

describe('Raft KV linearizability under faults', { skip }, () => {
  let cluster: NetnsCluster | undefined;
  let dataRoot: string | undefined;
  let members: Member[] = [];
  let recorder: KvRecorder | undefined;
  let failed = false;
  // Also set by the after hook: client loops left running by a failure or a timeout would keep
  // the test process alive.
  let stopClients = false;
  const faults: string[] = [];

  after(async () => {
    stopClients = true;
    try {
      await cluster?.destroy();
    } finally {
      const keep = failed || Boolean(process.env.ORCA_TEST_KEEP_LOGS);
      if (keep) {
        if (cluster && recorder) {
          writeFileSync(join(cluster.logDir, 'history.json'), historyJson(recorder.history));
        }
        console.error(
          `kept member logs and history.json in ${cluster?.logDir}, data dirs in ${dataRoot}`,
        );
      } else {
        if (cluster) rmSync(cluster.logDir, { recursive: true, force: true });
        if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
      }
    }
  });

  const where = () =>
    `faults: ${faults.join('; ')}\nmember logs: ${members.map((m) => m.logFile).join(', ')}; data dirs under ${dataRoot}`;

  async function start(m: Member): Promise<void> {
    const initial = members.map((x) => `${x.id}=${x.host.ip}:${RAFT_PORT}`).join(',');
    // One log per member, appended across restarts, so its whole story reads in order.
    m.proc = cluster!.spawn(
      m.host,
      process.execPath,
      [
        ORCA,
        'raft-kv',
        '--id',
        m.id,
        '--data-dir',
        m.dataDir,
        '--listen',
        `${m.host.ip}:${RAFT_PORT}`,
        '--client-listen',
        m.client,
        '--initial-cluster',
        initial,
        '--snapshot-every',
        String(SNAPSHOT_EVERY),
        '--log-level',
        'info',
      ],
      { logFile: m.logFile },
    );
    await m.proc.waitForOutput('ready {', 15_000);
  }

  async function statuses(): Promise<(RaftStatus | undefined)[]> {
    return (await Promise.all(members.map((m) => memberStatus(m.client)))) as (
      | RaftStatus
      | undefined
    )[];
  }

  /** The member that claims leadership in the highest term, if any answers. */
  async function leader(): Promise<Member | undefined> {
    const ss = await statuses();
    let best: number | undefined;
    ss.forEach((s, i) => {
      if (s?.role === 'leader' && (best === undefined || s.term > ss[best]!.term)) best = i;
    });
    return best === undefined ? undefined : members[best];
  }

  it('keeps a history of concurrent puts, gets and cas linearizable through kills, pauses and partitions', {
    timeout: 120_000,
  }, async (t) => {
    try {
      const unsupported = netnsUnsupported();
      if (unsupported) assert.fail(`ORCA_TEST_REQUIRE_NETNS is set but: ${unsupported}`);
      cluster = await NetnsCluster.create({ hosts: 3, keepLogs: true });
      dataRoot = mkdtempSync(join(tmpdir(), 'orca-lin-'));
      const root = dataRoot;
      const logDir = cluster.logDir;
      members = cluster.hosts.map((host, i) => ({
        id: `n${i + 1}`,
        host,
        client: `${host.ip}:${CLIENT_PORT}`,
        dataDir: join(root, `n${i + 1}`),
        logFile: join(logDir, `n${i + 1}.log`),
        proc: undefined,
      }));
      await Promise.all(members.map(start));
      await waitFor(leader, { timeoutMs: 15_000, what: 'a leader to be elected' });

      const rec = new KvRecorder();
      recorder = rec;
      const startedAt = performance.now();

      const runClient = async (id: number): Promise<void> => {
        const client = new KvClient(id, rec, CLIENT_TIMEOUT_MS);
        // What this client last saw in each key: what its cas expects.
        const seen = new Map<string, string | null>();
        let seq = 0;
        while (!stopClients) {
          const m = pick(members);
          const key = pick(KEYS);
          const r = Math.random();
          let refused = false;
          if (r < 0.4) {
            const got = await client.get(m.client, key);
            if (got) seen.set(key, got.value);
            else refused = true;
          } else if (r < 0.75) {
            const value = `c${id}-${seq++}`;
            const res = await client.put(m.client, key, value);
            if (res === 'ok') seen.set(key, value);
            refused = res !== 'ok';
          } else {
            const value = `c${id}-${seq++}`;
            const expect = Math.random() < 0.1 ? null : (seen.get(key) ?? null);
            const res = await client.cas(m.client, key, expect, value);
            if (typeof res === 'object') seen.set(key, res.ok ? value : res.value);
            refused = typeof res !== 'object';
          }
          // A client that failed backs off a little, as a real one would, instead of spinning on
          // a member that is down or has no leader.
          if (refused) await delay(between(20, 80));
        }
      };

      const nemesis = async (): Promise<void> => {
        const kinds = ['kill', 'partition-leader', 'one-way', 'pause'] as const;
        let order: (typeof kinds)[number][] = [];
        const stamp = () => `${((performance.now() - startedAt) / 1000).toFixed(1)}s`;
        // A healthy spell first, so the run has acknowledged writes before any fault.
        await delay(1500);
        while (performance.now() - startedAt < NEMESIS_MS) {
          // Every kind once before any repeats.
          if (order.length === 0) order = [...kinds].sort(() => Math.random() - 0.5);
          const kind = order.shift()!;
          const lead = await leader();
          switch (kind) {
            case 'kill': {
              const m = Math.random() < 0.5 && lead ? lead : pick(members);
              faults.push(`${stamp()} kill -9 ${m.id}${m === lead ? ' (leader)' : ''}`);
              await cluster!.kill9(m.proc!);
              await delay(between(500, 1500));
              await start(m);
              break;
            }
            case 'partition-leader': {
              const m = lead ?? pick(members);
              const others = members.filter((x) => x !== m);
              faults.push(`${stamp()} cut ${m.id}${lead ? ' (leader)' : ''} off from the others`);
              for (const o of others) await cluster!.cut(m.host, o.host);
              await delay(between(1500, 3000));
              for (const o of others) await cluster!.heal(m.host, o.host);
              break;
            }
            case 'one-way': {
              const a = lead ?? pick(members);
              const b = pick(members.filter((x) => x !== a));
              const [from, to] = Math.random() < 0.5 ? [a, b] : [b, a];
              faults.push(`${stamp()} drop packets ${from.id} -> ${to.id}`);
              await cluster!.oneWay(from.host, to.host);
              await delay(between(1500, 2500));
              await cluster!.healOneWay(from.host, to.host);
              break;
            }
            case 'pause': {
              const m = Math.random() < 0.5 && lead ? lead : pick(members);
              faults.push(`${stamp()} SIGSTOP ${m.id}${m === lead ? ' (leader)' : ''}`);
              await cluster!.pause(m.proc!);
              // Sometimes past the client timeout, so that requests it held are given up on and
              // then applied.
              await delay(between(1000, 3500));
              await cluster!.resume(m.proc!);
              break;
            }
          }
          await delay(between(400, 900));
        }
      };

      const clients = Array.from({ length: CLIENTS }, (_, i) => runClient(i));
      let healedAt = Infinity;
      try {
        await nemesis().finally(async () => {
          // Whatever the nemesis left behind, the cluster ends whole: all healed, all running.
          await cluster!.healAll();
          for (const m of members) {
            if (m.proc?.paused) await cluster!.resume(m.proc);
            if (!m.proc?.running) await start(m);
          }
        });
        healedAt = performance.now();
        faults.push(`${((healedAt - startedAt) / 1000).toFixed(1)}s all healed`);
        await delay(Math.max(HEALED_MS, RUN_MS - (healedAt - startedAt)));
      } finally {
        stopClients = true;
        await Promise.all(clients);
      }
      const runMs = performance.now() - startedAt;

      const s = rec.stats;
      t.diagnostic(
        `${(runMs / 1000).toFixed(1)} s, ${rec.history.length} ops recorded: ${s.okWrites} ok writes, ` +
          `${s.failedCas} failed cas, ${s.okGets} gets, ${s.unknownWrites} unknown writes; ` +
          `left out: ${s.refusedWrites} refused writes, ${s.failedGets} failed gets`,
      );
      t.diagnostic(`faults: ${faults.join('; ')}`);
      t.diagnostic(
        `failures: ${[...s.failures].map(([why, n]) => `${why} x${n}`).join(', ') || 'none'}`,
      );
      // Counted before the heal: a cluster that served nothing while faults ran would leave a
      // history with nothing in it to check.
      const acked = rec.history.filter(
        (op) =>
          op.output !== null &&
          (op.input.op === 'put' || (op.input.op === 'cas' && op.output.ok === true)),
      );
      const underFaults = acked.filter((op) => op.call < healedAt).length;
      const healed = acked.length - underFaults;
      t.diagnostic(`acknowledged writes: ${underFaults} under faults, ${healed} after the heal`);
      assert.ok(
        underFaults >= MIN_OK_WRITES,
        `only ${underFaults} writes acknowledged under faults (want >= ${MIN_OK_WRITES}): the history is too thin to mean anything; ${where()}`,
      );
      assert.ok(
        healed >= MIN_HEALED_WRITES,
        `only ${healed} writes acknowledged after the cluster was healed (want >= ${MIN_HEALED_WRITES}): it did not recover; ${where()}`,
      );

      // With the clients stopped and the network whole, nothing excuses a member that lags or
      // follows another leader.
      await waitFor(
        async () => {
          const ss = await statuses();
          if (ss.some((x) => x === undefined)) return false;
          const all = ss as RaftStatus[];
          const lead = all[0]!.leader;
          return (
            lead !== null &&
            all.every((x) => x.leader === lead && x.applied === all[0]!.applied) &&
            all.every((x) => x.commit === all[0]!.commit)
          );
        },
        {
          timeoutMs: 20_000,
          what: `the members to agree on a leader and the applied index (${where()})`,
        },
      );
      // Linearizable reads through every member; they join the history, so the checker also
      // sees that the final values follow from the writes.
      const final = new KvClient(CLIENTS, rec, 5000);
      for (const key of KEYS) {
        const values: (string | null)[] = [];
        for (const m of members) {
          const got = await waitFor(() => final.get(m.client, key), {
            timeoutMs: 10_000,
            what: `a linearizable get of ${key} through ${m.id}`,
          });
          values.push(got.value);
        }
        assert.ok(
          values.every((v) => v === values[0]),
          `members disagree on ${key}: ${members.map((m, i) => `${m.id}=${JSON.stringify(values[i])}`).join(' ')}; ${where()}`,
        );
      }

      const checkStart = performance.now();
      const verdict = checkKv(rec.history, { timeoutMs: CHECK_TIMEOUT_MS });
      t.diagnostic(
        `checker: ${verdict.result} in ${((performance.now() - checkStart) / 1000).toFixed(1)} s`,
      );
      if (verdict.result !== 'ok') {
        assert.fail(
          `${verdict.result === 'illegal' ? `not linearizable, key ${verdict.key}:\n${verdict.detail}` : `no verdict: ${verdict.reason}`}\n` +
            `history: ${join(cluster.logDir, 'history.json')}\n${where()}`,
        );
      }
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('flags the same history as illegal once a stale read is added to it', (t) => {
    try {
      assert.ok(recorder, 'the first test recorded no history');
      const bad = staleRead(recorder.history);
      assert.ok(bad, 'no key has two acknowledged writes, one returning before the other began');
      t.diagnostic(`added: ${describeOperation(bad.read)}`);
      const verdict = checkKv([...recorder.history, bad.read], { timeoutMs: CHECK_TIMEOUT_MS });
      assert.equal(verdict.result, 'illegal', JSON.stringify(verdict));
      assert.equal(verdict.key, bad.read.input.key);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});

/**
 * A get that returns the value of an acknowledged write P although it starts after another
 * acknowledged write W of the same key returned, and W began after P returned: every
 * linearization puts P, then W, then the get, and values are unique, so no order can explain
 * it. Writes from before the key's first unknown outcome are preferred: the checker's proof of
 * illegality then covers the short prefix before the read, not every placement of every unknown
 * write.
 */
function staleRead(history: readonly Operation[]): { read: Operation } | undefined {
  const written = (op: Operation): string | undefined => {
    if (op.output === null) return undefined;
    if (op.input.op === 'put') return op.input.value;
    if (op.input.op === 'cas' && op.output.ok === true) return op.input.value;
    return undefined;
  };
  const earliestReturn = (ops: Operation[]): Operation | undefined =>
    ops.reduce<Operation | undefined>(
      (best, op) => (best === undefined || op.return < best.return ? op : best),
      undefined,
    );
  for (const beforeUnknowns of [true, false]) {
    for (const key of KEYS) {
      const ops = history.filter((op) => op.input.key === key);
      const unknownCalls = ops.filter((op) => op.output === null).map((op) => op.call);
      const limit = beforeUnknowns ? Math.min(...unknownCalls, Infinity) : Infinity;
      const writes = ops.filter((op) => written(op) !== undefined);
      const p = earliestReturn(writes);
      if (p === undefined) continue;
      const w = earliestReturn(writes.filter((op) => op.call > p.return));
      if (w === undefined) continue;
      // Strictly after W's return: the checker counts equal stamps as concurrent.
      const call = w.return + 0.001;
      if (call >= limit) continue;
      return {
        read: {
          client: 999,
          input: { op: 'get', key },
          call,
          return: call + 0.001,
          output: { value: written(p)! },
        },
      };
    }
  }
  return undefined;
}

// Infinity does not survive JSON; an unknown outcome is `"return": null` there.
function historyJson(history: readonly Operation[]): string {
  return `[\n${history.map((op) => JSON.stringify(op)).join(',\n')}\n]\n`;
}
