import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Level } from 'level';
import { DataDirError } from '../../src/errors.ts';
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeSnapshot,
  entryKey,
} from '../../src/raft/codec.ts';
import { initialHardState, RaftStorage } from '../../src/raft/storage.ts';
import type { Entry, Snapshot } from '../../src/raft/types.ts';
import { aesGcmCipher } from '../../src/raft/value-cipher.ts';

const me = { clusterId: 'cluster-a', nodeId: 'n1' };

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'orca-storage-test-'));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

let dirs = 0;
function freshDir(): string {
  return path.join(tempRoot, `d${++dirs}`);
}

function entry(index: number, term: number, text = `cmd ${index}@${term}`): Entry {
  return { index, term, type: 'normal', data: Buffer.from(text) };
}

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

function snapshot(index: number, term: number, text = `state@${index}`): Snapshot {
  return {
    meta: { index, term, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } },
    data: Buffer.from(text),
  };
}

/** Entries as plain comparable values (data as text). */
function plain(es: readonly Entry[]): Array<[number, number, string, string]> {
  return es.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString()]);
}

async function reopen(dir: string): Promise<RaftStorage> {
  return RaftStorage.open(dir, me);
}

/** Edits the store behind orca's back, as a disk fault or an operator might. */
async function tamper(dir: string, fn: (db: Level<Buffer, Buffer>) => Promise<void>) {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

describe('codec', () => {
  it('round-trips entries, including empty data, conf entries and indexes past 2^32', () => {
    const cases: Entry[] = [
      { index: 1, term: 1, type: 'normal', data: new Uint8Array(0) },
      { index: 7, term: 3, type: 'conf', data: Buffer.from('{"type":"addVoter"}') },
      { index: 2 ** 40 + 5, term: 2 ** 33, type: 'normal', data: Buffer.alloc(1000, 7) },
    ];
    for (const e of cases) {
      const back = decodeEntry(encodeEntry(e));
      assert.deepEqual(plain([back]), plain([e]));
    }
  });

  it('round-trips hard states with and without a vote', () => {
    for (const hs of [
      initialHardState,
      { term: 9, vote: 'n2', commit: 41 },
      { term: 2 ** 35, vote: 'nœud-é', commit: 2 ** 34 },
    ]) {
      assert.deepEqual(decodeHardState(encodeHardState(hs)), hs);
    }
  });

  it('round-trips snapshots with their membership', () => {
    const s = snapshot(100, 4, 'x'.repeat(10_000));
    const back = decodeSnapshot(encodeSnapshot(s));
    assert.deepEqual(back.meta, s.meta);
    assert.deepEqual(Buffer.from(back.data), Buffer.from(s.data));
  });

  it('refuses truncated or unknown records', () => {
    assert.throws(() => decodeEntry(Buffer.from([1, 0, 0])));
    assert.throws(() => decodeEntry(Buffer.alloc(18, 9)));
    assert.throws(() => decodeHardState(Buffer.from('garbage')));
    assert.throws(() => decodeSnapshot(encodeSnapshot(snapshot(3, 1)).subarray(0, 20)));
  });
});

describe('RaftStorage', () => {
  it('starts a new data dir empty and returns what was saved after a restart', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    assert.equal(s.isNew, true);
    assert.deepEqual(await s.load(), { hardState: initialHardState, snapshot: null, entries: [] });

    await s.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 3, 1) });
    await s.save({ hardState: { term: 1, vote: 'n1', commit: 3 }, entries: entries(4, 5, 1) });
    await s.save({ hardState: { term: 2, vote: null, commit: 4 } });
    const live = await s.load();
    await s.close();

    const again = await reopen(dir);
    assert.equal(again.isNew, false);
    const loaded = await again.load();
    assert.deepEqual(loaded.hardState, { term: 2, vote: null, commit: 4 });
    assert.equal(loaded.snapshot, null);
    assert.deepEqual(plain(loaded.entries), plain(entries(1, 5, 1)));
    assert.deepEqual(plain(live.entries), plain(loaded.entries));
    assert.equal(again.lastIndex, 5);
    await again.close();
  });

  it('replaces a conflicting suffix of the log with the new entries', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    await s.save({ entries: entries(1, 5, 1) });
    await s.save({ hardState: { term: 2, vote: 'n2', commit: 2 }, entries: [entry(3, 2, 'new')] });
    assert.equal(s.lastIndex, 3);
    const expected = [...entries(1, 2, 1), entry(3, 2, 'new')];
    assert.deepEqual(plain((await s.load()).entries), plain(expected));

    // The next append continues from the truncated tail, not from the old one.
    await s.save({ entries: [entry(4, 2)] });
    await s.close();

    const again = await reopen(dir);
    assert.deepEqual(plain((await again.load()).entries), plain([...expected, entry(4, 2)]));
    await again.close();
  });

  it('refuses an append that would leave a hole in the log', async () => {
    const s = await RaftStorage.open(freshDir(), me);
    await s.save({ entries: entries(1, 2, 1) });
    await assert.rejects(s.save({ entries: [entry(4, 1)] }), /gap/);
    await assert.rejects(s.save({ entries: [entry(3, 1), entry(5, 1)] }), /contiguous/);
    // A refused append changes nothing and does not poison later writes.
    await s.save({ entries: [entry(3, 1)] });
    assert.deepEqual(plain((await s.load()).entries), plain(entries(1, 3, 1)));
    await s.close();
  });

  it('compaction keeps the snapshot and drops the log up to its index', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    await s.save({ hardState: { term: 1, vote: 'n1', commit: 10 }, entries: entries(1, 10, 1) });
    await s.compact(snapshot(6, 1));
    assert.equal(s.firstIndex, 7);
    await s.close();

    const again = await reopen(dir);
    const loaded = await again.load();
    assert.deepEqual(loaded.snapshot?.meta, snapshot(6, 1).meta);
    assert.equal(Buffer.from(loaded.snapshot!.data).toString(), 'state@6');
    assert.deepEqual(plain(loaded.entries), plain(entries(7, 10, 1)));

    // The dropped entries are gone from disk, not merely hidden.
    await again.close();
    await tamper(dir, async (db) => {
      assert.equal(await db.get(entryKey(6)), undefined);
      assert.notEqual(await db.get(entryKey(7)), undefined);
    });
  });

  it('a snapshot from the leader replaces a log that disagrees with it', async () => {
    const s = await RaftStorage.open(freshDir(), me);
    await s.save({ entries: entries(1, 8, 1) });
    // The leader's entry 5 has term 2: everything this member holds from 5 on is stale.
    await s.save({ hardState: { term: 2, vote: null, commit: 5 }, snapshot: snapshot(5, 2) });
    let loaded = await s.load();
    assert.equal(loaded.snapshot?.meta.index, 5);
    assert.deepEqual(loaded.entries, []);
    assert.equal(s.lastIndex, 5);

    // The log continues right after the snapshot.
    await s.save({ entries: entries(6, 7, 2) });
    loaded = await s.load();
    assert.deepEqual(plain(loaded.entries), plain(entries(6, 7, 2)));
    await s.close();
  });

  it('a snapshot that agrees with the log keeps the entries after it', async () => {
    const s = await RaftStorage.open(freshDir(), me);
    await s.save({ entries: entries(1, 8, 1) });
    await s.save({ snapshot: snapshot(5, 1) });
    assert.deepEqual(plain((await s.load()).entries), plain(entries(6, 8, 1)));
    await s.close();
  });

  it('refuses a data dir that belongs to another cluster, naming both', async () => {
    const dir = freshDir();
    await (await RaftStorage.open(dir, me)).close();
    await assert.rejects(RaftStorage.open(dir, { clusterId: 'cluster-b', nodeId: 'n1' }), (err) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /cluster-a/);
      assert.match(err.message, /cluster-b/);
      assert.match(err.message, /--data-dir/);
      return true;
    });
  });

  it('refuses a data dir that belongs to another node, naming both', async () => {
    const dir = freshDir();
    await (await RaftStorage.open(dir, me)).close();
    await assert.rejects(RaftStorage.open(dir, { clusterId: 'cluster-a', nodeId: 'n7' }), (err) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /\bn1\b/);
      assert.match(err.message, /\bn7\b/);
      return true;
    });
    // The refusal changed nothing: the rightful owner still opens it.
    await (await reopen(dir)).close();
  });

  it('refuses a data dir whose identity record is garbage', async () => {
    const dir = freshDir();
    await (await RaftStorage.open(dir, me)).close();
    await tamper(dir, (db) => db.put(Buffer.from('i'), Buffer.from([0xff, 0x00, 0x13])));
    await assert.rejects(reopen(dir), (err) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /corrupt/);
      assert.match(err.message, /identity/);
      return true;
    });
  });

  it('refuses a data dir written in an unknown format version', async () => {
    const dir = freshDir();
    await (await RaftStorage.open(dir, me)).close();
    const record = JSON.stringify({ format: 99, clusterId: 'cluster-a', nodeId: 'n1' });
    await tamper(dir, (db) => db.put(Buffer.from('i'), Buffer.from(record)));
    await assert.rejects(reopen(dir), (err) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /format version 99/);
      return true;
    });
  });

  it('refuses a log with a missing entry as corrupt, without repairing it', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    await s.save({ hardState: { term: 1, vote: 'n1', commit: 2 }, entries: entries(1, 5, 1) });
    await s.close();
    await tamper(dir, (db) => db.del(entryKey(3)));
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(reopen(dir), (err) => {
        assert.ok(err instanceof DataDirError);
        assert.match(err.message, /corrupt/);
        assert.match(err.message, /gap/);
        assert.match(err.message, /entries 3 to 3 are missing/);
        return true;
      });
    }
  });

  it('refuses a log entry stored under the wrong index', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    await s.save({ entries: entries(1, 3, 1) });
    await s.close();
    await tamper(dir, (db) => db.put(entryKey(2), encodeEntry(entry(9, 1))));
    await assert.rejects(reopen(dir), /corrupt.*index 2 says it is entry 9/);
  });

  it('refuses log entries older than the snapshot', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    await s.save({ entries: entries(1, 6, 1) });
    await s.compact(snapshot(4, 1));
    await s.close();
    await tamper(dir, (db) => db.put(entryKey(4), encodeEntry(entry(4, 1))));
    await assert.rejects(reopen(dir), /corrupt.*older than the snapshot/);
  });

  it('refuses a data dir already open in another orca', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me);
    await assert.rejects(reopen(dir), (err) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /another orca/);
      return true;
    });
    await s.close();
  });

  it('keeps every acknowledged entry when the process is killed mid-write', async () => {
    const dir = freshDir();
    const storageUrl = new URL('../../src/raft/storage.ts', import.meta.url).href;
    const script = path.join(tempRoot, `writer-${dirs}.mjs`);
    fs.writeFileSync(
      script,
      `
import { RaftStorage } from ${JSON.stringify(storageUrl)};
const s = await RaftStorage.open(${JSON.stringify(dir)}, ${JSON.stringify(me)});
for (let i = 1; ; i++) {
  const data = Buffer.alloc(200 + (i % 7) * 100, i % 251);
  await s.save({ hardState: { term: 1, vote: 'n1', commit: i - 1 }, entries: [{ index: i, term: 1, type: 'normal', data }] });
  process.stdout.write('saved ' + i + '\\n');
}
`,
    );
    const acknowledged = 40;
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    let seen = 0;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('saved ') && seen < acknowledged) {
          seen = Number(line.slice(6));
          if (seen >= acknowledged) child.kill('SIGKILL');
        }
      }
    });
    assert.equal(await exited, 'SIGKILL', 'the writer died before it was killed');
    assert.ok(seen >= acknowledged);

    const s = await reopen(dir);
    const loaded = await s.load();
    assert.ok(loaded.entries.length >= seen, `only ${loaded.entries.length} of ${seen} entries`);
    for (let i = 1; i <= seen; i++) {
      const e = loaded.entries[i - 1]!;
      assert.equal(e.index, i);
      assert.deepEqual(Buffer.from(e.data), Buffer.alloc(200 + (i % 7) * 100, i % 251));
    }
    assert.ok(loaded.hardState.commit >= seen - 1);
    await s.close();
  });
});

describe('RaftStorage encrypted at rest', () => {
  const key = randomBytes(32);
  const sealed = () => ({ cipher: aesGcmCipher(key) });

  it('keeps entries and snapshots sealed on disk and reads them back with the key', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me, sealed());
    await s.save({
      hardState: { term: 1, vote: 'n1', commit: 6 },
      entries: entries(1, 8, 1).map((e) => entry(e.index, e.term, `secret-${e.index}`)),
    });
    await s.compact(snapshot(4, 1, 'secret-state'));
    // A conflicting suffix is still found by term through the seal.
    await s.save({ entries: [entry(7, 2, 'secret-7b')] });
    await s.close();

    await tamper(dir, async (db) => {
      for await (const [, value] of db.iterator()) {
        assert.ok(!value.toString('latin1').includes('secret'), 'no plaintext value on disk');
      }
    });

    const again = await RaftStorage.open(dir, me, sealed());
    const loaded = await again.load();
    assert.equal(Buffer.from(loaded.snapshot!.data).toString(), 'secret-state');
    assert.deepEqual(
      loaded.entries.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]),
      [
        [5, 1, 'secret-5'],
        [6, 1, 'secret-6'],
        [7, 2, 'secret-7b'],
      ],
    );
    await again.close();
  });

  it('refuses to open an encrypted store without its key, or with another key', async () => {
    const dir = freshDir();
    const s = await RaftStorage.open(dir, me, sealed());
    await s.save({ hardState: { term: 1, vote: 'n1', commit: 1 }, entries: entries(1, 1, 1) });
    await s.close();

    await assert.rejects(
      RaftStorage.open(dir, me),
      (err: unknown) => err instanceof DataDirError && /is encrypted, and no key/.test(err.message),
    );
    await assert.rejects(
      RaftStorage.open(dir, me, { cipher: aesGcmCipher(randomBytes(32)) }),
      (err: unknown) =>
        err instanceof DataDirError && /does not decrypt with the store's key/.test(err.message),
    );
  });

  it('refuses a plain store opened with a key', async () => {
    const dir = freshDir();
    await (await RaftStorage.open(dir, me)).close();
    await assert.rejects(
      RaftStorage.open(dir, me, sealed()),
      (err: unknown) => err instanceof DataDirError && /not encrypted/.test(err.message),
    );
  });
});
