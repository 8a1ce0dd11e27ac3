import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CpuMeter, cpuPercentBetween, cpuTimes } from '../../src/worker/cpu-usage.ts';
import {
  type EngineFacts,
  engineFacts,
  readEngineFacts,
  unknownEngine,
} from '../../src/worker/engine-info.ts';
import { goPlatform, HostDescriber } from '../../src/worker/host-description.ts';

const cpu = (user: number, idle: number) => ({ times: { user, nice: 0, sys: 0, idle, irq: 0 } });

describe('CPU use', () => {
  it('is the busy share of all CPUs between two readings, whatever the number of cores', () => {
    const before = cpuTimes([cpu(1000, 9000), cpu(500, 9500)]);
    // One core saturated for a second, the other idle: 50% of a 2-core host.
    const after = cpuTimes([cpu(2000, 9000), cpu(500, 10_500)]);
    assert.equal(cpuPercentBetween(before, after), 50);
    assert.equal(cpuPercentBetween(before, before), null, 'no time passed');
  });

  it('re-uses the last measurement for a window too short to mean anything', () => {
    let now = 0;
    let busy = 0;
    let total = 0;
    const meter = new CpuMeter(
      () => ({ busyMs: busy, totalMs: total }),
      () => now,
      500,
    );
    assert.equal(meter.percent(), null, 'no time passed since the baseline');
    now = 1000;
    busy = 250;
    total = 1000;
    assert.equal(meter.percent(), 25);
    now = 1010;
    busy = 260;
    total = 1010;
    assert.equal(meter.percent(), 25, '10 ms later: the same');
    now = 2000;
    busy = 1000;
    total = 2000;
    assert.equal(meter.percent(), 75, 'measured over the time since the last window');
  });
});

describe('engine facts', () => {
  it("reads the version and the daemon's labels from GET /info", () => {
    assert.deepEqual(
      engineFacts({
        ServerVersion: '27.1.1',
        Labels: ['zone=east', 'ssd', 'eq=a=b', 'zone=west', 7],
      }),
      { version: '27.1.1', labels: { zone: 'west', ssd: '', eq: 'a=b' } },
    );
    assert.deepEqual(engineFacts({ Labels: null }), unknownEngine);
    assert.deepEqual(engineFacts('nonsense'), unknownEngine);
  });

  it('asks the engine on its socket, and reports none where nothing answers', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'orca-engine-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const socket = path.join(dir, 'docker.sock');
    const paths: string[] = [];
    const engine = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ServerVersion: '27.1.1', Labels: ['zone=east'], Containers: 3 }));
    });
    await new Promise<void>((resolve) => engine.listen(socket, resolve));
    t.after(() => engine.close());
    assert.deepEqual(await readEngineFacts(`unix://${socket}`), {
      version: '27.1.1',
      labels: { zone: 'east' },
    });
    assert.deepEqual(paths, ['/info']);
    assert.deepEqual(await readEngineFacts(`unix://${path.join(dir, 'none.sock')}`), unknownEngine);
  });
});

describe('the host description', () => {
  it('spells platforms as Go does', () => {
    assert.deepEqual(goPlatform('linux', 'x64'), { os: 'linux', arch: 'amd64' });
    assert.deepEqual(goPlatform('win32', 'arm64'), { os: 'windows', arch: 'arm64' });
  });

  it('reports usage with its time, and asks the engine once a minute unless it did not answer', async () => {
    let now = Date.parse('2025-01-01T00:00:00.000Z');
    let busy = 0;
    let total = 0;
    const answers: EngineFacts[] = [unknownEngine, { version: '27.1', labels: { ssd: '' } }];
    let asked = 0;
    const host = new HostDescriber({
      dockerHost: 'unix:///nowhere',
      now: () => now,
      readEngine: async () => answers[Math.min(asked++, answers.length - 1)]!,
      readMemory: async () => ({ totalBytes: 8000, activeBytes: 2000 }),
      readCpuTimes: () => ({ busyMs: busy, totalMs: total }),
    });
    const first = await host.describe();
    assert.equal(first.usage, null, 'no CPU time measured yet');
    assert.equal(first.engine.version, '');
    assert.equal(first.resources.memoryBytes, 8000);

    now += 10_000;
    busy = 5000;
    total = 20_000;
    const second = await host.describe();
    assert.deepEqual(second.usage, {
      cpuPercent: 25,
      memoryBytes: 2000,
      measuredAt: '2025-01-01T00:00:10.000Z',
    });
    assert.deepEqual(second.engine, { version: '27.1', labels: { ssd: '' } }, 'asked again');

    now += 10_000;
    await host.describe();
    assert.equal(asked, 2, 'an answer is kept for a minute');
    now += 60_000;
    await host.describe();
    assert.equal(asked, 3);
  });
});
