import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import type { ServiceSpec } from '../../src/api/objects.ts';
import {
  addServiceCreateOptions,
  type ServiceCreateOptions,
  serviceCreateHelpText,
  serviceSpecFromCreate,
} from '../../src/cli/service-spec/create-flags.ts';
import type { SpecContext } from '../../src/cli/service-spec/shared-flags.ts';
import { InvalidFlagsError } from '../../src/errors.ts';
import { throwsProblem } from './problems.ts';

const files: Record<string, string> = {
  '/srv/app.env': '# app settings\nLOG_LEVEL=info\nPORT=80\nFROM_HOST\n',
  '/srv/more.env': 'PORT=8080\n',
};
const ctx: SpecContext = {
  cwd: '/srv',
  lookupEnv: (k) => ({ FROM_HOST: 'yes', TOKEN: 's3cret' })[k],
  readFile: (path) => {
    const text = files[path];
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    }
    return new TextEncoder().encode(text);
  },
};

/** Parses a `service create` line as the real command will: flags, IMAGE, then COMMAND ARGS. */
function parseCreate(argv: string[]): ServiceSpec {
  const cmd = addServiceCreateOptions(
    new Command('create')
      .exitOverride()
      .argument('<image>')
      .argument('[args...]')
      .passThroughOptions(),
  );
  cmd.parse(argv, { from: 'user' });
  const [image, args] = cmd.processedArgs as [string, string[]];
  return serviceSpecFromCreate(image, args, cmd.opts<ServiceCreateOptions>(), ctx);
}

const bare: ServiceSpec = {
  name: '',
  labels: {},
  task: {
    container: {
      image: 'busybox',
      env: [],
      labels: {},
      init: false,
      stopGracePeriodMs: 10_000,
      mounts: [],
    },
    resources: {
      limits: { nanoCpus: 0, memoryBytes: 0 },
      reservations: { nanoCpus: 0, memoryBytes: 0 },
    },
    restart: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], preferences: [], maxReplicasPerNode: 0 },
    forceUpdate: 0,
  },
  mode: { kind: 'replicated', replicas: 1 },
  update: {
    parallelism: 1,
    delayMs: 0,
    failureAction: 'pause',
    monitorMs: 5000,
    maxFailureRatio: 0,
    order: 'stop-first',
  },
  rollback: {
    parallelism: 1,
    delayMs: 0,
    failureAction: 'pause',
    monitorMs: 5000,
    maxFailureRatio: 0,
    order: 'stop-first',
  },
};

describe('service create: defaults', () => {
  it('a bare `create busybox` gets exactly Swarm defaults', () => {
    assert.deepStrictEqual(parseCreate(['busybox']), bare);
  });
  it('COMMAND and ARGs after the image are the args, flags there included', () => {
    const spec = parseCreate(['--name', 'x', 'busybox', 'echo', '-n', '--name', 'hi']);
    assert.deepStrictEqual(spec.task.container.args, ['echo', '-n', '--name', 'hi']);
    assert.equal(spec.name, 'x');
  });
  it('jobs: Docker/Swarm defaults for max-concurrent and total completions', () => {
    assert.deepStrictEqual(parseCreate(['--mode', 'replicated-job', 'busybox']).mode, {
      kind: 'replicated-job',
      maxConcurrent: 1,
      totalCompletions: 1,
    });
    assert.deepStrictEqual(parseCreate(['--mode', 'replicated-job', '--replicas', '5', 'b']).mode, {
      kind: 'replicated-job',
      maxConcurrent: 5,
      totalCompletions: 5,
    });
    assert.deepStrictEqual(
      parseCreate(['--mode', 'replicated-job', '--max-concurrent', '2', 'b']).mode,
      { kind: 'replicated-job', maxConcurrent: 2, totalCompletions: 2 },
    );
    assert.deepStrictEqual(
      parseCreate(['--mode', 'replicated-job', '--replicas', '10', '--max-concurrent', '3', 'b'])
        .mode,
      { kind: 'replicated-job', maxConcurrent: 3, totalCompletions: 10 },
    );
    assert.deepStrictEqual(parseCreate(['--mode', 'global-job', 'b']).mode, { kind: 'global-job' });
    assert.deepStrictEqual(parseCreate(['--mode', 'global', 'b']).mode, { kind: 'global' });
  });
});

describe('service create: every flag on one command line', () => {
  it('parses into the exact ServiceSpec', () => {
    const spec = parseCreate([
      '--name',
      'web',
      '--replicas',
      '3',
      '--mode',
      'replicated',
      '-e',
      'A=1',
      '--env',
      'TOKEN',
      '--env',
      'PORT=9090',
      '--env-file',
      'app.env',
      '--env-file',
      '/srv/more.env',
      '--label',
      'com.example.team=web',
      '-l',
      'tier',
      '--container-label',
      'logging=json',
      '--constraint',
      'node.role==worker',
      '--constraint',
      'node.labels.zone!=east',
      '--placement-pref',
      'spread=node.labels.zone',
      '--replicas-max-per-node',
      '2',
      '--reserve-cpu',
      '0.25',
      '--reserve-memory',
      '128M',
      '--limit-cpu',
      '1.5',
      '--limit-memory',
      '1G',
      '--restart-condition',
      'on-failure',
      '--restart-delay',
      '10s',
      '--restart-max-attempts',
      '3',
      '--restart-window',
      '2m',
      '--health-cmd',
      'curl -f http://localhost/ || exit 1',
      '--health-interval',
      '30s',
      '--health-timeout',
      '5s',
      '--health-retries',
      '4',
      '--health-start-period',
      '1m',
      '--mount',
      'type=bind,src=/srv/www,dst=/usr/share/nginx/html,ro',
      '--mount',
      'type=volume,source=cache,target=/var/cache/nginx',
      '--mount',
      'type=tmpfs,destination=/tmp',
      '--workdir',
      '/app',
      '-u',
      'nginx:nginx',
      '--entrypoint',
      '/docker-entrypoint.sh -x',
      '--hostname',
      'web-{{.Task.Slot}}',
      '--init',
      '--stop-signal',
      'SIGQUIT',
      '--stop-grace-period',
      '30s',
      '--update-parallelism',
      '2',
      '--update-delay',
      '10s',
      '--update-failure-action',
      'rollback',
      '--update-monitor',
      '30s',
      '--update-max-failure-ratio',
      '0.2',
      '--update-order',
      'start-first',
      '--rollback-parallelism',
      '0',
      '--rollback-delay',
      '1s',
      '--rollback-failure-action',
      'continue',
      '--rollback-monitor',
      '10s',
      '--rollback-max-failure-ratio',
      '0.5',
      '--rollback-order',
      'start-first',
      '-d',
      'nginx:1.27',
      'nginx',
      '-g',
      'daemon off;',
    ]);
    const expected: ServiceSpec = {
      name: 'web',
      labels: { 'com.example.team': 'web', tier: '' },
      task: {
        container: {
          image: 'nginx:1.27',
          entrypoint: ['/docker-entrypoint.sh', '-x'],
          args: ['nginx', '-g', 'daemon off;'],
          // files first, then -e, later wins and moves last; FROM_HOST and TOKEN from the env
          env: ['LOG_LEVEL=info', 'FROM_HOST=yes', 'A=1', 'TOKEN=s3cret', 'PORT=9090'],
          labels: { logging: 'json' },
          user: 'nginx:nginx',
          workdir: '/app',
          hostname: 'web-{{.Task.Slot}}',
          init: true,
          stopSignal: 'SIGQUIT',
          stopGracePeriodMs: 30_000,
          mounts: [
            { type: 'bind', source: '/srv/www', target: '/usr/share/nginx/html', readOnly: true },
            { type: 'volume', source: 'cache', target: '/var/cache/nginx', readOnly: false },
            { type: 'tmpfs', target: '/tmp', readOnly: false },
          ],
          healthcheck: {
            test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
            intervalMs: 30_000,
            timeoutMs: 5000,
            retries: 4,
            startPeriodMs: 60_000,
          },
        },
        resources: {
          limits: { nanoCpus: 1_500_000_000, memoryBytes: 1024 ** 3 },
          reservations: { nanoCpus: 250_000_000, memoryBytes: 128 * 1024 ** 2 },
        },
        restart: { condition: 'on-failure', delayMs: 10_000, maxAttempts: 3, windowMs: 120_000 },
        placement: {
          constraints: ['node.role==worker', 'node.labels.zone!=east'],
          preferences: [{ spread: 'node.labels.zone' }],
          maxReplicasPerNode: 2,
        },
        forceUpdate: 0,
      },
      mode: { kind: 'replicated', replicas: 3 },
      update: {
        parallelism: 2,
        delayMs: 10_000,
        failureAction: 'rollback',
        monitorMs: 30_000,
        maxFailureRatio: 0.2,
        order: 'start-first',
      },
      rollback: {
        parallelism: 0,
        delayMs: 1000,
        failureAction: 'continue',
        monitorMs: 10_000,
        maxFailureRatio: 0.5,
        order: 'start-first',
      },
    };
    assert.deepStrictEqual(spec, expected);
  });
  it('--no-healthcheck disables the image HEALTHCHECK', () => {
    assert.deepStrictEqual(parseCreate(['--no-healthcheck', 'b']).task.container.healthcheck, {
      test: ['NONE'],
      intervalMs: 0,
      timeoutMs: 0,
      retries: 0,
      startPeriodMs: 0,
    });
  });
  it('--health-* without --health-cmd keeps the image command (empty test)', () => {
    assert.deepStrictEqual(parseCreate(['--health-retries', '2', 'b']).task.container.healthcheck, {
      test: [],
      intervalMs: 0,
      timeoutMs: 0,
      retries: 2,
      startPeriodMs: 0,
    });
  });
  it('every option has a description, and there is an examples text', () => {
    const cmd = addServiceCreateOptions(new Command('create').configureHelp({ helpWidth: 250 }));
    for (const opt of cmd.options) assert.ok(opt.description.length > 5, opt.flags);
    assert.match(serviceCreateHelpText, /Examples:/);
    assert.match(
      cmd.helpInformation(),
      /--restart-delay <duration>\s+Delay between restart attempts \(ms\|s\|m\|h\) \(default 5s\)/,
    );
  });
});

describe('service create: validation', () => {
  const o = (opts: ServiceCreateOptions) => () => serviceSpecFromCreate('busybox', [], opts, ctx);
  it('each bad value names the flag, the value and the expected form', () => {
    throwsProblem(o({ replicas: '-1' }), '--replicas: "-1" is not a whole number >= 0');
    throwsProblem(o({ replicas: '100001' }), '--replicas: "100001" is more than 100000');
    throwsProblem(
      o({ limitMemory: '12Q' }),
      '--limit-memory: "12Q" is not a size (examples: 512M, 1.5G)',
    );
    throwsProblem(
      o({ limitMemory: '1M' }),
      '--limit-memory: "1M" is less than 4M, the least Swarm accepts (0: no limit)',
    );
    throwsProblem(
      o({ mode: 'foo' }),
      '--mode: "foo" is not one of replicated, global, replicated-job, global-job',
    );
    throwsProblem(
      o({ limitCpu: '0.000000001' }),
      '--limit-cpu: "0.000000001" is less than 0.001 CPU, the least Swarm accepts (0: no limit)',
    );
    throwsProblem(o({ restartDelay: '5' }), /^--restart-delay: "5" is not a duration/);
    throwsProblem(o({ updateDelay: '-1s' }), '--update-delay: "-1s" is not a duration >= 0');
    throwsProblem(
      o({ restartCondition: 'always' }),
      '--restart-condition: "always" is not one of none, on-failure, any',
    );
    throwsProblem(
      o({ updateFailureAction: 'stop' }),
      '--update-failure-action: "stop" is not one of pause, continue, rollback',
    );
    throwsProblem(
      o({ rollbackFailureAction: 'rollback' }),
      '--rollback-failure-action: "rollback" is not one of pause, continue',
    );
    throwsProblem(
      o({ updateOrder: 'random' }),
      '--update-order: "random" is not one of stop-first, start-first',
    );
    throwsProblem(
      o({ updateMaxFailureRatio: '2' }),
      '--update-max-failure-ratio: "2" is not a number from 0 to 1 (example: 0.2)',
    );
    throwsProblem(o({ healthRetries: '-3' }), '--health-retries: "-3" is not a whole number >= 0');
    throwsProblem(o({ workdir: 'app' }), '--workdir: "app" is not an absolute path');
    throwsProblem(o({ stopSignal: 'SIGNOPE' }), /^--stop-signal: "SIGNOPE" is not a signal/);
    throwsProblem(o({ entrypoint: '"sh' }), /^--entrypoint: .* unclosed double quote/);
    throwsProblem(
      o({ env: ['=x'] }),
      '--env: "=x" has no variable name (expected KEY=VALUE or KEY)',
    );
    throwsProblem(
      o({ label: ['=x'] }),
      '--label: "=x" has no label name (expected KEY=VALUE or KEY)',
    );
    throwsProblem(
      o({ mount: ['src=ab,dst=/x', 'type=tmpfs,dst=/x'] }),
      '--mount: target /x is mounted twice',
    );
  });
  it('names', () => {
    assert.equal(serviceSpecFromCreate('b', [], { name: 'a.b_c-1' }, ctx).name, 'a.b_c-1');
    assert.equal(serviceSpecFromCreate('b', [], { name: 'x'.repeat(63) }, ctx).name.length, 63);
    for (const bad of ['-web', 'my web', 'x'.repeat(64), '', 'wéb']) {
      throwsProblem(o({ name: bad }), new RegExp(`^--name: "${bad}" is not a service name`));
    }
    throwsProblem(
      () => serviceSpecFromCreate('', [], {}, ctx),
      'IMAGE: "" is not an image reference',
    );
  });
  it('constraints and placement preferences', () => {
    throwsProblem(
      o({ constraint: ['node.colour==red'] }),
      '--constraint: "node.colour" is not a known field (node.id, node.hostname, node.role, node.labels.<key>, engine.labels.<key>, node.platform.os, node.platform.arch)',
    );
    throwsProblem(
      o({ placementPref: ['spread'] }),
      /^--placement-pref: "spread" is not spread=<label>/,
    );
  });
  it('env files', () => {
    throwsProblem(
      o({ envFile: ['./missing.env'] }),
      '--env-file: cannot read ./missing.env: no such file',
    );
  });
  it('flags that do not fit the mode', () => {
    throwsProblem(
      o({ mode: 'global', replicas: '3' }),
      '--replicas cannot be used with --mode global',
    );
    throwsProblem(
      o({ mode: 'global-job', replicas: '3' }),
      '--replicas cannot be used with --mode global-job',
    );
    throwsProblem(o({ maxConcurrent: '2' }), '--max-concurrent is only for --mode replicated-job');
    throwsProblem(
      o({ mode: 'global', maxConcurrent: '2' }),
      '--max-concurrent is only for --mode replicated-job',
    );
    throwsProblem(
      o({ mode: 'global', replicasMaxPerNode: '1' }),
      '--replicas-max-per-node cannot be used with --mode global',
    );
    throwsProblem(
      o({ mode: 'replicated-job', updateDelay: '1s', rollbackOrder: 'start-first' }),
      '--update-delay, --rollback-order cannot be used with --mode replicated-job: jobs are not updated or rolled back',
    );
  });
  it('resources: a reservation above its limit', () => {
    throwsProblem(
      o({ reserveMemory: '2G', limitMemory: '1G' }),
      '--reserve-memory 2G exceeds --limit-memory 1G',
    );
    throwsProblem(o({ reserveCpu: '2', limitCpu: '1' }), '--reserve-cpu 2 exceeds --limit-cpu 1');
    // no limit: any reservation
    serviceSpecFromCreate('b', [], { reserveMemory: '2G', reserveCpu: '4' }, ctx);
  });
  it('health flags against --no-healthcheck', () => {
    throwsProblem(
      o({ healthcheck: false, healthCmd: 'true', healthInterval: '1s' }),
      '--no-healthcheck cannot be used with --health-cmd, --health-interval',
    );
  });
  it('reports every problem at once', () => {
    try {
      serviceSpecFromCreate(
        'busybox',
        [],
        { replicas: 'x', limitMemory: '12Q', mode: 'foo', name: '-' },
        ctx,
      );
      assert.fail('no error');
    } catch (err) {
      assert.ok(err instanceof InvalidFlagsError);
      assert.deepEqual(err.problems, [
        '--name: "-" is not a service name (letters, digits, _ . -, starting with a letter or digit, at most 63 characters)',
        '--mode: "foo" is not one of replicated, global, replicated-job, global-job',
        '--replicas: "x" is not a whole number >= 0',
        '--limit-memory: "12Q" is not a size (examples: 512M, 1.5G)',
      ]);
      assert.match(err.message, /^4 problems:\n {2}--name/);
    }
  });
  it('a bad value on the command line surfaces through commander unchanged', () => {
    throwsProblem(
      () => parseCreate(['--replicas', '-1', 'busybox']),
      '--replicas: "-1" is not a whole number >= 0',
    );
  });
});
