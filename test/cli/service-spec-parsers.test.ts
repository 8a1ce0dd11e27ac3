import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, parseBytes } from '../../src/cli/service-spec/bytes.ts';
import { parseConstraint, parsePlacementPref } from '../../src/cli/service-spec/constraints.ts';
import { formatCpus, parseCpus } from '../../src/cli/service-spec/cpus.ts';
import {
  formatDuration,
  goDurationNs,
  parseDuration,
} from '../../src/cli/service-spec/durations.ts';
import {
  mergeEnv,
  parseEnvFile,
  parseEnvFlag,
  parseLabel,
} from '../../src/cli/service-spec/env-file.ts';
import { parseMount, splitCsvLine } from '../../src/cli/service-spec/mounts.ts';
import { parseChoice, parseRatio, parseWhole } from '../../src/cli/service-spec/numbers.ts';
import { splitShellWords } from '../../src/cli/service-spec/shell-words.ts';
import { parseStopSignal } from '../../src/cli/service-spec/signals.ts';
import { throwsProblem } from './problems.ts';

describe('durations (Go time.ParseDuration, in ms)', () => {
  it('parses every form Docker takes', () => {
    assert.equal(parseDuration('300ms', '--x'), 300);
    assert.equal(parseDuration('10s', '--x'), 10_000);
    assert.equal(parseDuration('1m30s', '--x'), 90_000);
    assert.equal(parseDuration('1h', '--x'), 3_600_000);
    assert.equal(parseDuration('1.5s', '--x'), 1500);
    assert.equal(parseDuration('.5s', '--x'), 500);
    assert.equal(parseDuration('1h2m3s4ms', '--x'), 3_723_004);
    assert.equal(parseDuration('0', '--x'), 0);
    assert.equal(parseDuration('0s', '--x'), 0);
    assert.equal(parseDuration('+2s', '--x'), 2000);
    assert.equal(parseDuration('1000000ns', '--x'), 1);
    assert.equal(parseDuration('2000us', '--x'), 2);
    assert.equal(parseDuration('2000µs', '--x'), 2);
    assert.equal(parseDuration('168h', '--x'), 604_800_000);
  });
  it('keeps Go grammar exactly', () => {
    assert.equal(goDurationNs('-1.5h'), -5_400_000_000_000n);
    assert.equal(goDurationNs('1.s'), 1_000_000_000n);
    for (const bad of ['', '5', '1.5', 's', '.s', '1x', '1s2', '--1s', '1 s', 'ms']) {
      assert.equal(goDurationNs(bad), null, bad);
    }
  });
  it('refuses a bare number, negatives, sub-millisecond values and more than a week', () => {
    throwsProblem(
      () => parseDuration('5', '--restart-delay'),
      '--restart-delay: "5" is not a duration (examples: 300ms, 10s, 1m30s, 1h)',
    );
    throwsProblem(
      () => parseDuration('-5s', '--update-delay'),
      '--update-delay: "-5s" is not a duration >= 0',
    );
    throwsProblem(
      () => parseDuration('1500us', '--health-interval'),
      '--health-interval: "1500us" is not a whole number of milliseconds',
    );
    throwsProblem(
      () => parseDuration('169h', '--restart-window'),
      '--restart-window: "169h" is more than 168h',
    );
  });
  it('formats for messages', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(5000), '5s');
    assert.equal(formatDuration(90_500), '1m30.5s');
    assert.equal(formatDuration(3_600_000), '1h');
  });
});

describe('sizes (Docker RAMInBytes)', () => {
  it('takes b, k/kb/kib .. p, any case, decimals, an optional space', () => {
    assert.equal(parseBytes('4096', '--x'), 4096);
    assert.equal(parseBytes('10b', '--x'), 10);
    assert.equal(parseBytes('1k', '--x'), 1024);
    assert.equal(parseBytes('1KB', '--x'), 1024);
    assert.equal(parseBytes('1KiB', '--x'), 1024);
    assert.equal(parseBytes('512M', '--x'), 512 * 1024 ** 2);
    assert.equal(parseBytes('512mb', '--x'), 512 * 1024 ** 2);
    assert.equal(parseBytes('1.5G', '--x'), 1.5 * 1024 ** 3);
    assert.equal(parseBytes('1 g', '--x'), 1024 ** 3);
    assert.equal(parseBytes('2t', '--x'), 2 * 1024 ** 4);
    assert.equal(parseBytes('1p', '--x'), 1024 ** 5);
    assert.equal(parseBytes('0.5k', '--x'), 512);
    assert.equal(parseBytes('1.1b', '--x'), 1);
  });
  it('refuses anything else, naming the flag', () => {
    for (const bad of ['12Q', '', 'G', '-1G', '1gb2', '1ib', '1 gig', '1e3', '1kbb']) {
      throwsProblem(
        () => parseBytes(bad, '--limit-memory'),
        `--limit-memory: "${bad}" is not a size (examples: 512M, 1.5G)`,
      );
    }
    throwsProblem(() => parseBytes('2p', '--limit-memory'), '--limit-memory: "2p" is more than 1P');
  });
  it('formats exactly', () => {
    assert.equal(formatBytes(1024 ** 3), '1G');
    assert.equal(formatBytes(1536 * 1024 ** 2), '1536M');
    assert.equal(formatBytes(1500), '1500');
  });
});

describe('CPUs (decimal -> nanoCPUs)', () => {
  it('converts exactly', () => {
    assert.equal(parseCpus('1.5', '--x'), 1_500_000_000);
    assert.equal(parseCpus('0.1', '--x'), 100_000_000);
    assert.equal(parseCpus('2', '--x'), 2_000_000_000);
    assert.equal(parseCpus('.25', '--x'), 250_000_000);
    assert.equal(parseCpus('0', '--x'), 0);
    assert.equal(parseCpus('0.000000001', '--x'), 1);
    assert.equal(parseCpus('1.5000000000', '--x'), 1_500_000_000);
    assert.equal(formatCpus(1_500_000_000), '1.5');
    assert.equal(formatCpus(2_000_000_000), '2');
  });
  it('refuses non-numbers, excess precision and more than 4096', () => {
    for (const bad of ['', '.', 'abc', '-1', '1e3', '1,5', '1/2']) {
      throwsProblem(
        () => parseCpus(bad, '--limit-cpu'),
        `--limit-cpu: "${bad}" is not a number of CPUs (examples: 0.5, 2)`,
      );
    }
    throwsProblem(
      () => parseCpus('0.0000000001', '--limit-cpu'),
      '--limit-cpu: "0.0000000001" is more precise than 0.000000001 CPU',
    );
    throwsProblem(
      () => parseCpus('5000', '--limit-cpu'),
      '--limit-cpu: "5000" is more than 4096 CPUs',
    );
  });
});

describe('numbers and choices', () => {
  it('whole numbers within bounds', () => {
    assert.equal(parseWhole('3', '--replicas', 0, 10), 3);
    throwsProblem(
      () => parseWhole('-1', '--replicas', 0, 10),
      '--replicas: "-1" is not a whole number >= 0',
    );
    throwsProblem(
      () => parseWhole('1.5', '--replicas', 0, 10),
      '--replicas: "1.5" is not a whole number >= 0',
    );
    throwsProblem(
      () => parseWhole('0x10', '--replicas', 0, 10),
      '--replicas: "0x10" is not a whole number >= 0',
    );
    throwsProblem(() => parseWhole('11', '--replicas', 0, 10), '--replicas: "11" is more than 10');
    throwsProblem(
      () => parseWhole('0', '--max-concurrent', 1, 10),
      '--max-concurrent: "0" is not a whole number >= 1',
    );
  });
  it('ratios in [0, 1]', () => {
    assert.equal(parseRatio('0.25', '--x'), 0.25);
    assert.equal(parseRatio('1', '--x'), 1);
    throwsProblem(
      () => parseRatio('1.5', '--x'),
      '--x: "1.5" is not a number from 0 to 1 (example: 0.2)',
    );
    throwsProblem(
      () => parseRatio('-0.1', '--x'),
      '--x: "-0.1" is not a number from 0 to 1 (example: 0.2)',
    );
  });
  it('choices', () => {
    assert.equal(parseChoice('global', '--mode', ['replicated', 'global']), 'global');
    throwsProblem(
      () => parseChoice('Global', '--mode', ['replicated', 'global']),
      '--mode: "Global" is not one of replicated, global',
    );
  });
});

describe('env files (Docker kvfile format)', () => {
  const lookup = (k: string) => ({ HOME: '/root', EMPTY: '' })[k];
  const file = (text: string) => new TextEncoder().encode(text);
  it('reads KEY=VALUE, skips comments and blanks, looks up bare keys', () => {
    const text =
      '\uFEFF# comment\n\nA=1\r\n  B= spaced \nC="quoted"\nHOME\nEMPTY\nUNSET\nD=x=y\nE=\n';
    assert.deepEqual(parseEnvFile(file(text), 'x.env', lookup), [
      'A=1',
      'B= spaced ',
      'C="quoted"',
      'HOME=/root',
      'EMPTY=',
      'D=x=y',
      'E=',
    ]);
  });
  it('names the file, the line and the problem', () => {
    throwsProblem(
      () => parseEnvFile(file('A=1\n=oops\n'), './x.env', lookup),
      '--env-file: ./x.env line 2: "=oops" has no variable name',
    );
    throwsProblem(
      () => parseEnvFile(file('MY VAR=1\n'), './x.env', lookup),
      '--env-file: ./x.env line 1: "MY VAR" has whitespace in the variable name',
    );
    throwsProblem(
      () => parseEnvFile(new Uint8Array([0x41, 0x3d, 0xff]), './x.env', lookup),
      '--env-file: ./x.env is not valid UTF-8',
    );
  });
  it('-e values and merging: later wins and moves last, a bare unset KEY unsets', () => {
    assert.equal(parseEnvFlag('A=1', '--env', lookup), 'A=1');
    assert.equal(parseEnvFlag('HOME', '--env', lookup), 'HOME=/root');
    assert.equal(parseEnvFlag('UNSET', '--env', lookup), 'UNSET');
    throwsProblem(
      () => parseEnvFlag('=1', '--env', lookup),
      '--env: "=1" has no variable name (expected KEY=VALUE or KEY)',
    );
    assert.deepEqual(mergeEnv(['A=1', 'B=2', 'A=3', 'C=4', 'C']), ['B=2', 'A=3']);
  });
  it('labels', () => {
    assert.deepEqual(parseLabel('a=b=c', '--label'), ['a', 'b=c']);
    assert.deepEqual(parseLabel('flag', '--label'), ['flag', '']);
    throwsProblem(
      () => parseLabel('=x', '--label'),
      '--label: "=x" has no label name (expected KEY=VALUE or KEY)',
    );
  });
});

describe('shell words (--entrypoint, --args)', () => {
  it('splits like a shell without expanding', () => {
    assert.deepEqual(splitShellWords('nginx -g "daemon off;"', '--x'), [
      'nginx',
      '-g',
      'daemon off;',
    ]);
    assert.deepEqual(splitShellWords(` sh  -c 'echo $HOME' `, '--x'), ['sh', '-c', 'echo $HOME']);
    assert.deepEqual(splitShellWords('a\\ b "c\\"d" e""f', '--x'), ['a b', 'c"d', 'ef']);
    assert.deepEqual(splitShellWords('""', '--x'), ['']);
    assert.deepEqual(splitShellWords('   ', '--x'), []);
  });
  it('refuses unclosed quotes', () => {
    throwsProblem(
      () => splitShellWords(`sh -c 'x`, '--entrypoint'),
      `--entrypoint: "sh -c 'x" has an unclosed single quote`,
    );
    throwsProblem(
      () => splitShellWords('a "b', '--args'),
      '--args: "a "b" has an unclosed double quote',
    );
  });
});

describe('mounts', () => {
  it('parses Docker forms and aliases', () => {
    assert.deepEqual(parseMount('type=bind,source=/srv,target=/data,readonly', '--mount', '/cwd'), {
      type: 'bind',
      source: '/srv',
      target: '/data',
      readOnly: true,
    });
    assert.deepEqual(parseMount('src=vol1,dst=/v', '--mount', '/cwd'), {
      type: 'volume',
      source: 'vol1',
      target: '/v',
      readOnly: false,
    });
    assert.deepEqual(parseMount('Type=volume,destination=/anon,ro=false', '--mount', '/cwd'), {
      type: 'volume',
      target: '/anon',
      readOnly: false,
    });
    assert.deepEqual(parseMount('type=tmpfs,dst=/tmp,ro=1', '--mount', '/cwd'), {
      type: 'tmpfs',
      target: '/tmp',
      readOnly: true,
    });
    assert.deepEqual(parseMount('type=bind,src=./conf,dst=/etc/app', '--mount', '/home/me'), {
      type: 'bind',
      source: '/home/me/conf',
      target: '/etc/app',
      readOnly: false,
    });
    assert.deepEqual(parseMount('type=bind,"src=/a,b",dst=/x', '--mount', '/'), {
      type: 'bind',
      source: '/a,b',
      target: '/x',
      readOnly: false,
    });
  });
  it('splits CSV as Go does', () => {
    assert.deepEqual(splitCsvLine('a,"b,c","d""e",', '--m'), ['a', 'b,c', 'd"e', '']);
  });
  it('refuses what Docker or Swarm would, naming the flag', () => {
    const f = '--mount';
    throwsProblem(
      () => parseMount('type=npipe,dst=/x', f, '/'),
      '--mount: type "npipe" in "type=npipe,dst=/x" is not one of bind, volume, tmpfs',
    );
    throwsProblem(
      () => parseMount('type=bind,src=/a', f, '/'),
      '--mount: "type=bind,src=/a" has no target (target=/path)',
    );
    throwsProblem(
      () => parseMount('type=bind,dst=/a', f, '/'),
      '--mount: "type=bind,dst=/a" is a bind mount without a source',
    );
    throwsProblem(
      () => parseMount('type=bind,src=rel,dst=/a', f, '/'),
      /bind source "rel" .* is not an absolute path/,
    );
    throwsProblem(
      () => parseMount('src=v,dst=rel', f, '/'),
      '--mount: target "rel" in "src=v,dst=rel" is not an absolute path',
    );
    throwsProblem(
      () => parseMount('type=tmpfs,src=x,dst=/t', f, '/'),
      '--mount: "type=tmpfs,src=x,dst=/t" is a tmpfs mount, which takes no source',
    );
    throwsProblem(
      () => parseMount('src=/host,dst=/t', f, '/'),
      /volume name "\/host" .*\(for a host path use type=bind\)/,
    );
    throwsProblem(
      () => parseMount('src=v,dst=/t,ro=maybe', f, '/'),
      '--mount: "ro=maybe" in "src=v,dst=/t,ro=maybe" is not ro=true or ro=false',
    );
    throwsProblem(
      () => parseMount('src=v,dst=/t,tmpfs-size=1G', f, '/'),
      /"tmpfs-size" .* is a Docker mount option orca does not support yet/,
    );
    throwsProblem(
      () => parseMount('src=v,dst=/t,colour=red', f, '/'),
      /"colour" .* is not a mount option/,
    );
    throwsProblem(() => parseMount('src=v,dst=/t,bogus', f, '/'), /"bogus" in .* is not key=value/);
  });
});

describe('constraints and placement preferences', () => {
  it('parses field, operator and value', () => {
    assert.deepEqual(parseConstraint('node.role==manager', '--c'), {
      field: 'node.role',
      operator: '==',
      value: 'manager',
    });
    assert.deepEqual(parseConstraint(' node.labels.zone != east ', '--c'), {
      field: 'node.labels.zone',
      operator: '!=',
      value: 'east',
    });
    assert.deepEqual(parseConstraint('engine.labels.ssd==true', '--c'), {
      field: 'engine.labels.ssd',
      operator: '==',
      value: 'true',
    });
    assert.deepEqual(parseConstraint('Node.Platform.OS==linux', '--c'), {
      field: 'Node.Platform.OS',
      operator: '==',
      value: 'linux',
    });
    parseConstraint('node.hostname==web-1.example.com', '--c');
    parseConstraint('node.id==abc123', '--c');
    parseConstraint('node.platform.arch==x86_64', '--c');
  });
  it('refuses unknown fields, bad syntax and bad values', () => {
    throwsProblem(
      () => parseConstraint('node.colour==red', '--constraint'),
      '--constraint: "node.colour" is not a known field (node.id, node.hostname, node.role, node.labels.<key>, engine.labels.<key>, node.platform.os, node.platform.arch)',
    );
    throwsProblem(
      () => parseConstraint('node.role=manager', '--constraint'),
      '--constraint: "node.role=manager" is not field==value or field!=value (example: node.role==manager)',
    );
    throwsProblem(() => parseConstraint('node.labels.==x', '--constraint'), /is not a known field/);
    throwsProblem(
      () => parseConstraint('==x', '--constraint'),
      '--constraint: "==x" has no valid field before ==',
    );
    throwsProblem(
      () => parseConstraint('node.role==', '--constraint'),
      '--constraint: "node.role==" has no value after ==',
    );
    throwsProblem(
      () => parseConstraint('node.labels.a==b@c', '--constraint'),
      /value with characters Swarm does not allow/,
    );
    throwsProblem(
      () => parseConstraint('node.role==boss', '--constraint'),
      '--constraint: "node.role==boss": node.role is manager or worker',
    );
  });
  it('placement preferences: spread over a label only', () => {
    assert.deepEqual(parsePlacementPref('spread=node.labels.zone', '--p'), {
      spread: 'node.labels.zone',
    });
    assert.deepEqual(parsePlacementPref('spread=engine.labels.rack', '--p'), {
      spread: 'engine.labels.rack',
    });
    throwsProblem(
      () => parsePlacementPref('binpack=node.labels.zone', '--placement-pref'),
      '--placement-pref: "binpack" in "binpack=node.labels.zone" is not a placement strategy (only spread is)',
    );
    throwsProblem(
      () => parsePlacementPref('node.labels.zone', '--placement-pref'),
      '--placement-pref: "node.labels.zone" is not spread=<label> (example: spread=node.labels.zone)',
    );
    throwsProblem(
      () => parsePlacementPref('spread=node.hostname', '--placement-pref'),
      '--placement-pref: "node.hostname" in "spread=node.hostname" is not node.labels.<key> or engine.labels.<key>',
    );
  });
});

describe('stop signals', () => {
  it('takes names with or without SIG, numbers, real-time signals', () => {
    for (const s of [
      'SIGTERM',
      'TERM',
      'sigquit',
      'SIGUSR1',
      '15',
      '9',
      'SIGRTMIN+3',
      'RTMAX-1',
      'RTMIN',
    ]) {
      assert.equal(parseStopSignal(s, '--stop-signal'), s);
    }
  });
  it('refuses the rest', () => {
    for (const s of ['SIGFOO', '0', '65', 'RTMIN+99', '-1']) {
      throwsProblem(
        () => parseStopSignal(s, '--stop-signal'),
        `--stop-signal: "${s}" is not a signal (examples: SIGTERM, SIGINT, 15)`,
      );
    }
  });
});
