// Swarm placement constraints (`--constraint node.labels.zone==east`), parsed once where a spec
// is accepted and evaluated against each node by the constraints filter.
//
// Semantics follow swarmkit's manager/constraint so a Swarm user's constraints mean the same
// here: field names are case-insensitive, the label key after `node.labels.` / `engine.labels.`
// is case-sensitive, and values compare case-insensitively for every field (swarmkit uses
// strings.EqualFold throughout). A missing label reads as the empty string, and since a value may
// not be empty, `==` never matches a missing label and `!=` always does.
//
// One deliberate difference: swarmkit accepts any well-formed key and a key it does not know
// simply never matches, leaving the tasks pending. orca refuses unknown fields at parse time,
// where the person who typed them can still fix them.

import type { Node } from '../../api/objects.ts';
import { InvalidConstraintError } from '../../errors.ts';

export type ConstraintOperator = '==' | '!=';

export type ConstraintField =
  | { readonly kind: 'node.id' }
  | { readonly kind: 'node.hostname' }
  | { readonly kind: 'node.role' }
  | { readonly kind: 'node.platform.os' }
  | { readonly kind: 'node.platform.arch' }
  | { readonly kind: 'node.labels'; readonly key: string }
  | { readonly kind: 'engine.labels'; readonly key: string };

export interface Constraint {
  /** As the user wrote it, for messages. */
  readonly text: string;
  readonly field: ConstraintField;
  readonly operator: ConstraintOperator;
  readonly value: string;
}

// The key and value alphabets are swarmkit's, so anything Swarm accepts parses here; the value
// excludes characters like `<`, `>`, `~` and `=` that future operators may need.
const keyPattern = /^[a-z_][a-z0-9\-_.]+$/i;
const valuePattern = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

const plainFields = [
  'node.id',
  'node.hostname',
  'node.role',
  'node.platform.os',
  'node.platform.arch',
] as const;
const labelFields = ['node.labels', 'engine.labels'] as const;

/** Parses one constraint; the error message names it and the expected form (for `--constraint`). */
export function parseConstraint(text: string): Constraint {
  // `==` is looked for first, as swarmkit does, so `a!=b` and `a==b` are never ambiguous.
  const operator: ConstraintOperator | null = text.includes('==')
    ? '=='
    : text.includes('!=')
      ? '!='
      : null;
  if (operator === null) throw new InvalidConstraintError(text, 'no operator (== or !=)');
  const at = text.indexOf(operator);
  const key = text.slice(0, at).trim();
  const value = text.slice(at + operator.length).trim();
  if (key === '') throw new InvalidConstraintError(text, 'no field before the operator');
  if (!keyPattern.test(key)) throw new InvalidConstraintError(text, `field "${key}" is malformed`);
  if (value === '') throw new InvalidConstraintError(text, 'no value after the operator');
  if (!valuePattern.test(value)) {
    throw new InvalidConstraintError(text, `value "${value}" contains a character not allowed`);
  }
  return { text, field: parseField(text, key), operator, value };
}

export function parseConstraints(texts: readonly string[]): Constraint[] {
  return texts.map(parseConstraint);
}

function parseField(text: string, key: string): ConstraintField {
  const lower = key.toLowerCase();
  for (const kind of plainFields) if (lower === kind) return { kind };
  for (const kind of labelFields) {
    const prefix = `${kind}.`;
    if (!lower.startsWith(prefix)) continue;
    // Only the prefix folds case: label keys are case-sensitive, as on the node.
    const label = key.slice(prefix.length);
    if (label === '') throw new InvalidConstraintError(text, `no label key after "${prefix}"`);
    return { kind, key: label };
  }
  throw new InvalidConstraintError(text, `unknown field "${key}"`);
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
