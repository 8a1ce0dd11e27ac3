// Swarm placement constraints evaluated against each node by the constraints filter; the
// grammar (shared with the CLI) is src/api/constraint-grammar.ts. A missing label reads as the
// empty string, and since a value may not be empty, `==` never matches a missing label and `!=`
// always does. Values compare case-insensitively for every field (swarmkit's strings.EqualFold).

import {
  type Constraint,
  type ConstraintField,
  type ConstraintProblem,
  readConstraint,
} from '../../api/constraint-grammar.ts';
import type { Node } from '../../api/objects.ts';
import { InvalidConstraintError } from '../../errors.ts';

export type {
  Constraint,
  ConstraintField,
  ConstraintOperator,
} from '../../api/constraint-grammar.ts';

/** Parses one constraint; the error message names it and the expected form (for `--constraint`). */
export function parseConstraint(text: string): Constraint {
  const read = readConstraint(text);
  if ('problem' in read) throw new InvalidConstraintError(text, describe(read.problem));
  return read.constraint;
}

export function parseConstraints(texts: readonly string[]): Constraint[] {
  return texts.map(parseConstraint);
}

function describe(problem: ConstraintProblem): string {
  switch (problem.kind) {
    case 'no-operator':
      return 'no operator (== or !=)';
    case 'no-field':
      return 'no field before the operator';
    case 'malformed-field':
      return `field "${problem.key}" is malformed`;
    case 'no-value':
      return 'no value after the operator';
    case 'bad-value':
      return `value "${problem.value}" contains a character not allowed`;
    case 'unknown-field':
      return `unknown field "${problem.key}"`;
    case 'no-label-key':
      return `no label key after "${problem.prefix}"`;
  }
}

/** The node's value for a field; '' where the node has none (a missing label). */
export function fieldValue(node: Node, field: ConstraintField): string {
  switch (field.kind) {
    case 'node.id':
      return node.meta.id;
    case 'node.hostname':
      return node.description.hostname;
    case 'node.role':
      return node.spec.role;
    case 'node.platform.os':
      return node.description.platform.os;
    case 'node.platform.arch':
      return node.description.platform.arch;
    case 'node.labels':
      return node.spec.labels[field.key] ?? '';
    case 'engine.labels':
      return node.description.engine.labels[field.key] ?? '';
  }
}

export function matchesConstraint(node: Node, constraint: Constraint): boolean {
  const equal = fieldValue(node, constraint.field).toLowerCase() === constraint.value.toLowerCase();
  return constraint.operator === '==' ? equal : !equal;
}

export function matchesConstraints(node: Node, constraints: readonly Constraint[]): boolean {
  for (const constraint of constraints) if (!matchesConstraint(node, constraint)) return false;
  return true;
}
