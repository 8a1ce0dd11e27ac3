import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidConstraintError } from '../../../src/errors.ts';
import { matchesConstraint, parseConstraint } from '../../../src/manager/scheduler/constraint.ts';
import { makeNode } from './harness.ts';

const node = makeNode('n1abc', {
  hostname: 'web-1',
  role: 'manager',
  os: 'linux',
  arch: 'x86_64',
  labels: { zone: 'east', Disk: 'ssd' },
  engineLabels: { storage: 'fast' },
});

const matches = (text: string) => matchesConstraint(node, parseConstraint(text));

describe('parseConstraint', () => {
  it('reads field, operator and value, trimming spaces', () => {
    assert.deepEqual(parseConstraint(' node.labels.zone == east '), {
      text: ' node.labels.zone == east ',
      field: { kind: 'node.labels', key: 'zone' },
      operator: '==',
      value: 'east',
    });
    assert.deepEqual(parseConstraint('node.role!=manager').operator, '!=');
  });

  it('folds the case of field names but keeps label keys as written', () => {
    assert.deepEqual(parseConstraint('Node.Labels.Disk==ssd').field, {
      kind: 'node.labels',
      key: 'Disk',
    });
    assert.deepEqual(parseConstraint('NODE.HOSTNAME==x').field, { kind: 'node.hostname' });
  });

  const refused: [string, RegExp][] = [
    ['node.labels.zone=east', /no operator \(== or !=\)/],
    ['==east', /no field before the operator/],
    ['node.labels.zone==', /no value after the operator/],
    ['node.labels.zone==  ', /no value after the operator/],
    ['node.labels.zone==a=b', /value "a=b" contains a character not allowed/],
    ['node.labels.zone==east<', /value "east<" contains a character not allowed/],
    ['node labels==x', /field "node labels" is malformed/],
    ['node.labels.==x', /no label key after "node.labels."/],
    ['engine.labels.==x', /no label key after "engine.labels."/],
    ['node.ip==10.0.0.1', /unknown field "node.ip"/],
    ['zone==east', /unknown field "zone"/],
  ];
  for (const [text, problem] of refused) {
    it(`refuses ${JSON.stringify(text)}, naming it and the expected form`, () => {
      assert.throws(
        () => parseConstraint(text),
        (err: unknown) => {
          assert.ok(err instanceof InvalidConstraintError);
          assert.equal(err.code, 'ORCA_BAD_REQUEST');
          assert.equal(err.constraint, text);
          assert.match(err.message, problem);
          assert.ok(err.message.startsWith(`invalid constraint ${JSON.stringify(text)}: `));
          assert.match(err.message, /expected <field>==<value> or <field>!=<value>/);
          return true;
        },
      );
    });
  }

  it('accepts the characters Swarm accepts in values', () => {
    assert.equal(
      parseConstraint('node.labels.path==/a/b:c_d-e.f*(g)?+[h]|^$ i').value,
      '/a/b:c_d-e.f*(g)?+[h]|^$ i',
    );
  });
});

describe('matching a node', () => {
  // Each field with ==, with != and with a value of a different case: Swarm compares every value
  // case-insensitively.
  const cases: [field: string, value: string, other: string][] = [
    ['node.id', 'n1abc', 'n2'],
    ['node.hostname', 'web-1', 'web-2'],
    ['node.role', 'manager', 'worker'],
    ['node.platform.os', 'linux', 'windows'],
    ['node.platform.arch', 'x86_64', 'aarch64'],
    ['node.labels.zone', 'east', 'west'],
    ['engine.labels.storage', 'fast', 'slow'],
  ];
  for (const [field, value, other] of cases) {
    it(`${field}: == and != against the node's value`, () => {
      assert.equal(matches(`${field}==${value}`), true);
      assert.equal(matches(`${field}==${other}`), false);
      assert.equal(matches(`${field}!=${value}`), false);
      assert.equal(matches(`${field}!=${other}`), true);
      assert.equal(matches(`${field}==${value.toUpperCase()}`), true);
      assert.equal(matches(`${field}!=${value.toUpperCase()}`), false);
    });
  }

  it('a missing label never equals and always differs', () => {
    assert.equal(matches('node.labels.rack==r1'), false);
    assert.equal(matches('node.labels.rack!=r1'), true);
    assert.equal(matches('engine.labels.gpu==yes'), false);
    assert.equal(matches('engine.labels.gpu!=yes'), true);
  });

  it('label keys are case-sensitive', () => {
    assert.equal(matches('node.labels.Disk==ssd'), true);
    assert.equal(matches('node.labels.disk==ssd'), false);
    assert.equal(matches('node.labels.disk!=ssd'), true);
  });

  it('node labels and engine labels are separate', () => {
    assert.equal(matches('engine.labels.zone==east'), false);
    assert.equal(matches('node.labels.storage==fast'), false);
  });
});
