// The grammar of Swarm's placement constraints (`--constraint node.labels.zone==east`), shared by
// the CLI (which checks a flag where the person typing it can fix it) and the manager (which
// checks every spec it accepts and matches the parsed form against nodes). One reader, two
// wordings: each side turns a ConstraintProblem into its own message.
//
// Semantics follow swarmkit's manager/constraint: `==` is looked for before `!=`; field names are
// case-insensitive while the label key after `node.labels.` / `engine.labels.` keeps its case; the
// key and value alphabets are swarmkit's, so anything Swarm accepts parses (the value excludes
// `<`, `>`, `~` and `=`, which future operators may need). One deliberate difference: swarmkit
// accepts any well-formed key and an unknown one never matches; orca refuses unknown fields.

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

export type ConstraintProblem =
  | { readonly kind: 'no-operator' }
  | { readonly kind: 'no-field'; readonly operator: ConstraintOperator }
  | {
      readonly kind: 'malformed-field';
      readonly key: string;
      readonly operator: ConstraintOperator;
    }
  | { readonly kind: 'no-value'; readonly operator: ConstraintOperator }
  | { readonly kind: 'bad-value'; readonly value: string }
  | { readonly kind: 'unknown-field'; readonly key: string }
  | { readonly kind: 'no-label-key'; readonly key: string; readonly prefix: string };

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

export function readConstraint(
  text: string,
): { readonly constraint: Constraint } | { readonly problem: ConstraintProblem } {
  const operator: ConstraintOperator | null = text.includes('==')
    ? '=='
    : text.includes('!=')
      ? '!='
      : null;
  if (operator === null) return { problem: { kind: 'no-operator' } };
  const at = text.indexOf(operator);
  const key = text.slice(0, at).trim();
  const value = text.slice(at + operator.length).trim();
  if (key === '') return { problem: { kind: 'no-field', operator } };
  if (!keyPattern.test(key)) return { problem: { kind: 'malformed-field', key, operator } };
  const field = readField(key);
  if ('problem' in field) return field;
  if (value === '') return { problem: { kind: 'no-value', operator } };
  if (!valuePattern.test(value)) return { problem: { kind: 'bad-value', value } };
  return { constraint: { text, field: field.field, operator, value } };
}

function readField(
  key: string,
): { readonly field: ConstraintField } | { readonly problem: ConstraintProblem } {
  const lower = key.toLowerCase();
  for (const kind of plainFields) if (lower === kind) return { field: { kind } };
  for (const kind of labelFields) {
    const prefix = `${kind}.`;
    if (!lower.startsWith(prefix)) continue;
    // Only the prefix folds case: label keys are case-sensitive, as on the node.
    const label = key.slice(prefix.length);
    if (label === '') return { problem: { kind: 'no-label-key', key, prefix } };
    return { field: { kind, key: label } };
  }
  return { problem: { kind: 'unknown-field', key } };
}
