import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import type { ServiceSpec } from '../../src/api/objects.ts';
import { serviceSpecFromCreate } from '../../src/cli/service-spec/create-flags.ts';
import type { Draft, SpecContext } from '../../src/cli/service-spec/shared-flags.ts';
import {
  addServiceUpdateOptions,
  type ServiceUpdateOptions,
  serviceSpecFromUpdate,
  serviceUpdateHelpText,
} from '../../src/cli/service-spec/update-flags.ts';
import { throwsProblem } from './problems.ts';

const ctx: SpecContext = {
  cwd: '/srv',
  lookupEnv: (k) => ({ FROM_HOST: 'yes' })[k],
  readFile: () => {
    throw new Error('no files here');
  },
};

const current: ServiceSpec = serviceSpecFromCreate(
  'nginx:1.27',
  ['nginx', '-g', 'daemon off;'],
  {
    name: 'web',
    replicas: '3',
    env: ['A=1', 'B=2', 'C=3'],
    label: ['team=web', 'tier=front'],
    containerLabel: ['logging=json', 'trace=on'],
    constraint: ['node.role==worker', 'node.labels.zone!=east'],
    placementPref: ['spread=node.labels.zone', 'spread=node.labels.rack'],
    mount: ['type=volume,src=data,dst=/data', 'type=tmpfs,dst=/tmp'],
    limitMemory: '1G',
    reserveMemory: '256M',
    healthCmd: 'true',
    init: true,
  },
  ctx,
);
const frozen = structuredClone(current);

/** Parses a `service update` line (flags then SERVICE) and applies it to `spec`. */
function parseUpdate(argv: string[], spec: ServiceSpec = current): ServiceSpec {
  const cmd = addServiceUpdateOptions(new Command('update').exitOverride().argument('<service>'));
  cmd.parse(argv, { from: 'user' });
  assert.equal(cmd.processedArgs[0], 'web');
  return serviceSpecFromUpdate(spec, cmd.opts<ServiceUpdateOptions>(), ctx);
}

/** `current` with `change` applied to a deep copy. */
function expect(change: (s: Draft<ServiceSpec>) => void): ServiceSpec {
  const s = structuredClone(current) as Draft<ServiceSpec>;
  change(s);
  return s;
}

describe('service update', () => {
  it('no flags: the spec comes back deep-equal, and the input is not mutated', () => {
    assert.deepStrictEqual(parseUpdate(['web']), current);
    assert.deepStrictEqual(parseUpdate(['-d', '-q', 'web']), current);
    assert.deepStrictEqual(serviceSpecFromUpdate(current, {}, ctx), current);
    assert.notEqual(serviceSpecFromUpdate(current, {}, ctx), current);
    parseUpdate(['--env-add', 'A=9', '--replicas', '7', '--mount-rm', '/data', '--force', 'web']);
    assert.deepStrictEqual(current, frozen);
  });

  it('--force bumps forceUpdate, each time', () => {
    const once = parseUpdate(['--force', 'web']);
    assert.equal(once.task.forceUpdate, 1);
    assert.equal(parseUpdate(['--force', 'web'], once).task.forceUpdate, 2);
    assert.deepStrictEqual({ ...once, task: { ...once.task, forceUpdate: 0 } }, current);
  });

  it('--image and --args', () => {
    const s = parseUpdate(['--image', 'nginx:1.28', '--args', 'nginx -T', 'web']);
    assert.equal(s.task.container.image, 'nginx:1.28');
    assert.deepStrictEqual(s.task.container.args, ['nginx', '-T']);
    const cleared = parseUpdate(['--args', '', 'web']);
    assert.equal('args' in cleared.task.container, false);
    throwsProblem(
      () => parseUpdate(['--image', '', 'web']),
      '--image: "" is not an image reference',
    );
  });

  it('--env-add / --env-rm: in place, appended, removed, looked up', () => {
    const s = parseUpdate([
      '--env-add',
      'B=20',
      '--env-add',
      'D=4',
      '--env-add',
      'FROM_HOST',
      '--env-rm',
      'A',
      'web',
    ]);
    assert.deepStrictEqual(s.task.container.env, ['B=20', 'C=3', 'D=4', 'FROM_HOST=yes']);
    assert.deepStrictEqual(parseUpdate(['--env-add', 'C', 'web']).task.container.env, [
      'A=1',
      'B=2',
    ]);
    assert.deepStrictEqual(parseUpdate(['--env-rm', 'NOPE', 'web']), current);
    throwsProblem(
      () => parseUpdate(['--env-add', '=1', 'web']),
      '--env-add: "=1" has no variable name (expected KEY=VALUE or KEY)',
    );
  });

  it('--label-add / --label-rm', () => {
    const s = parseUpdate([
      '--label-add',
      'tier=back',
      '--label-add',
      'new=1',
      '--label-rm',
      'team',
      'web',
    ]);
    assert.deepStrictEqual(s.labels, { tier: 'back', new: '1' });
    assert.deepStrictEqual(s.task.container.labels, current.task.container.labels);
  });

  it('--container-label-add / --container-label-rm', () => {
    const s = parseUpdate(['--container-label-add', 'x=y', '--container-label-rm', 'trace', 'web']);
    assert.deepStrictEqual(s.task.container.labels, { logging: 'json', x: 'y' });
    assert.deepStrictEqual(s.labels, current.labels);
  });

  it('--constraint-add / --constraint-rm: exact text, no duplicates', () => {
    const s = parseUpdate([
      '--constraint-add',
      'node.labels.ssd==true',
      '--constraint-add',
      'node.role==worker',
      '--constraint-rm',
      'node.labels.zone!=east',
      'web',
    ]);
    assert.deepStrictEqual(s.task.placement.constraints, [
      'node.role==worker',
      'node.labels.ssd==true',
    ]);
    throwsProblem(
      () => parseUpdate(['--constraint-add', 'node.colour==red', 'web']),
      /^--constraint-add: "node.colour" is not a known field/,
    );
  });

  it('--placement-pref-add / --placement-pref-rm', () => {
    const s = parseUpdate([
      '--placement-pref-rm',
      'spread=node.labels.zone',
      '--placement-pref-add',
      'spread=engine.labels.dc',
      'web',
    ]);
    assert.deepStrictEqual(s.task.placement.preferences, [
      { spread: 'node.labels.rack' },
      { spread: 'engine.labels.dc' },
    ]);
  });

  it('--mount-add / --mount-rm: same target replaced in place, removed by target', () => {
    const s = parseUpdate([
      '--mount-add',
      'type=bind,src=/srv/data,dst=/data,ro',
      '--mount-add',
      'src=logs,dst=/logs',
      '--mount-rm',
      '/tmp',
      'web',
    ]);
    assert.deepStrictEqual(s.task.container.mounts, [
      { type: 'bind', source: '/srv/data', target: '/data', readOnly: true },
      { type: 'volume', source: 'logs', target: '/logs', readOnly: false },
    ]);
    throwsProblem(
      () => parseUpdate(['--mount-add', 'src=ab,dst=/x', '--mount-add', 'src=cd,dst=/x', 'web']),
      '--mount-add: target /x is mounted twice',
    );
  });

  it('--replicas and --max-concurrent follow the mode', () => {
    assert.deepStrictEqual(parseUpdate(['--replicas', '0', 'web']).mode, {
      kind: 'replicated',
      replicas: 0,
    });
    const job = expect((s) => {
      s.mode = {
        kind: 'replicated-job',
        maxConcurrent: 1,
        totalCompletions: 1,
      };
    });
    assert.deepStrictEqual(
      parseUpdate(['--replicas', '8', '--max-concurrent', '4', 'web'], job).mode,
      {
        kind: 'replicated-job',
        maxConcurrent: 4,
        totalCompletions: 8,
      },
    );
    const global = expect((s) => {
      s.mode = { kind: 'global' };
    });
    throwsProblem(
      () => parseUpdate(['--replicas', '2', 'web'], global),
      '--replicas cannot be used with a global service',
    );
    throwsProblem(
      () => parseUpdate(['--max-concurrent', '2', 'web']),
      '--max-concurrent is only for replicated-job services, not a replicated service',
    );
    throwsProblem(
      () => parseUpdate(['--replicas-max-per-node', '1', 'web'], global),
      '--replicas-max-per-node cannot be used with a global service',
    );
    throwsProblem(
      () => parseUpdate(['--update-delay', '1s', 'web'], job),
      '--update-delay cannot be used with a replicated-job service: jobs are not updated or rolled back',
    );
  });

  it('shared flags change only their own field', () => {
    const s = parseUpdate([
      '--update-parallelism',
      '5',
      '--restart-delay',
      '1s',
      '--limit-cpu',
      '2',
      '--stop-grace-period',
      '1m',
      'web',
    ]);
    assert.deepStrictEqual(
      s,
      expect((x) => {
        Object.assign(x.update, { parallelism: 5 });
        Object.assign(x.task.restart, { delayMs: 1000 });
        Object.assign(x.task.resources.limits, { nanoCpus: 2_000_000_000 });
        Object.assign(x.task.container, { stopGracePeriodMs: 60_000 });
      }),
    );
  });

  it('empty strings reset optional container fields', () => {
    const withAll = parseUpdate([
      '--workdir',
      '/app',
      '--user',
      'www',
      '--hostname',
      'h',
      '--entrypoint',
      'tini --',
      '--stop-signal',
      'SIGINT',
      'web',
    ]);
    assert.deepStrictEqual(withAll.task.container.entrypoint, ['tini', '--']);
    const reset = parseUpdate(
      [
        '--workdir',
        '',
        '--user',
        '',
        '--hostname',
        '',
        '--entrypoint',
        '',
        '--stop-signal',
        '',
        'web',
      ],
      withAll,
    );
    assert.deepStrictEqual(reset, current);
  });

  it('--init / --no-init', () => {
    assert.equal(parseUpdate(['--no-init', 'web']).task.container.init, false);
    assert.equal(
      parseUpdate(['--init', 'web'], parseUpdate(['--no-init', 'web'])).task.container.init,
      true,
    );
  });

  it('health: tuned in place, NONE, and back to the image command', () => {
    const tuned = parseUpdate(['--health-interval', '10s', 'web']);
    assert.deepStrictEqual(tuned.task.container.healthcheck, {
      test: ['CMD-SHELL', 'true'],
      intervalMs: 10_000,
      timeoutMs: 0,
      retries: 0,
      startPeriodMs: 0,
    });
    const none = parseUpdate(['--no-healthcheck', 'web']);
    assert.deepStrictEqual(none.task.container.healthcheck?.test, ['NONE']);
    assert.deepStrictEqual(
      parseUpdate(['--health-retries', '3', 'web'], none).task.container.healthcheck?.test,
      [],
    );
    assert.deepStrictEqual(
      parseUpdate(['--health-cmd', '', 'web']).task.container.healthcheck?.test,
      [],
    );
  });

  it('limits checked against the resulting spec', () => {
    throwsProblem(
      () => parseUpdate(['--reserve-memory', '2G', 'web']),
      '--reserve-memory 2G exceeds --limit-memory 1G',
    );
    throwsProblem(
      () => parseUpdate(['--limit-memory', '128M', 'web']),
      '--reserve-memory 256M exceeds --limit-memory 128M',
    );
    assert.equal(parseUpdate(['--limit-memory', '0', 'web']).task.resources.limits.memoryBytes, 0);
  });

  it('update has no create-only flags, and every option is described', () => {
    const cmd = addServiceUpdateOptions(new Command('update').exitOverride().argument('<service>'));
    cmd.configureOutput({ writeErr: () => {} });
    assert.throws(
      () => cmd.parse(['--mode', 'global', 'web'], { from: 'user' }),
      /unknown option '--mode'/,
    );
    for (const opt of cmd.options) assert.ok(opt.description.length > 5, opt.flags);
    assert.match(serviceUpdateHelpText, /Examples:/);
  });
});
